"""Language of a request, and formatting helpers for templates."""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime, get_day_names, match_skeleton
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, has_request_context, request, session, url_for
from flask_babel import (
    format_date,
    format_time,
    format_timedelta,
    get_locale,
    gettext,
    lazy_gettext,
    ngettext,
)
from jinja2 import pass_eval_context
from markupsafe import Markup
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError

from booking import messages

# Languages often spoken by the families the centres serve, by ISO 639-1 code: the choices
# of the language fields (public, intake, staff accounts) before the rest.
COMMON_LANGUAGES = (
    "de",
    "ar",
    "fa",
    "tr",
    "ru",
    "uk",
    "ku",
    "ps",
    "ti",
    "so",
    "ro",
    "bg",
    "pl",
    "sq",
    "sr",
    "hr",
    "bs",
    "it",
    "es",
    "fr",
    "en",
    "el",
    "ur",
    "ta",
    "vi",
    "zh",
)

# Language names in their own language, for the switcher.
LANGUAGE_NAMES = {
    "de": "Deutsch",
    "de@easy": "Leichte Sprache",
    "en": "English",
    "tr": "Türkçe",
    "ar": "العربية",
    "fa": "فارسی",
    "uk": "Українська",
    "ru": "Русский",
    "bg": "Български",
    "ro": "Română",
}
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur"})
# The languages families read, in the order admin forms offer texts in them (German first:
# the text every other language falls back to).
PUBLIC_LANGUAGES = ("de", "en", "tr", "ar", "fa", "uk", "ru", "bg", "ro", "de@easy")
# Staff and admin pages speak German and English only.
STAFF_LANGUAGES = ("de", "en")
STAFF_BLUEPRINTS = frozenset({"staff", "admin", "feeds"})


def url_code(code: str) -> str:
    """A language code as it appears in ``?lang=``: "de@easy" -> "de-easy"."""
    return code.replace("@", "-")


def from_url_code(value: str | None, supported) -> str | None:
    """The language code of a ``?lang=`` value ("de-easy" or "de@easy"), if supported."""
    if not value:
        return None
    for code in supported:
        if value in (code, url_code(code)):
            return code
    return None


def field_suffix(code: str) -> str:
    """A language code as part of a form field's name: "de@easy" -> "de_easy"."""
    return code.replace("@", "_")


def language_label(code: str, in_language: str) -> str:
    """The name of language ``code`` in ``in_language`` ("Türkisch" in German), for staff."""
    if code == "de@easy":
        return LANGUAGE_NAMES[code]
    try:
        return Locale.parse(code).get_display_name(Locale.parse(html_lang(in_language))) or code
    except (UnknownLocaleError, ValueError):
        return LANGUAGE_NAMES.get(code, code)


def html_lang(code: str) -> str:
    """The BCP 47 tag of a language code for lang= and Content-Language: "de@easy" -> "de"."""
    return code.split("@")[0].replace("_", "-")


def text_direction(code: str) -> str:
    """ "rtl" for Arabic and Persian (and other right-to-left scripts), else "ltr"."""
    return "rtl" if code.split("@")[0].split("_")[0] in RTL_LANGUAGES else "ltr"


def is_staff_request() -> bool:
    return has_request_context() and request.blueprint in STAFF_BLUEPRINTS


def offered_languages() -> tuple[str, ...]:
    """The languages the current page can be read in."""
    if is_staff_request():
        return STAFF_LANGUAGES
    return tuple(current_app.config["LANGUAGES"])


def _browser_language(supported) -> str | None:
    # A browser never asks for a modifier such as "@easy": match plain languages only.
    return request.accept_languages.best_match([c for c in supported if "@" not in c])


def select_locale() -> str:
    """Explicit choice (?lang=, kept in the session), else the browser's, else German.

    Staff and admin pages offer German and English only; any other choice reads German there.
    """
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    if not has_request_context():
        return default
    languages = tuple(current_app.config["LANGUAGES"])
    if request.blueprint == "api" or request.path.startswith("/api/"):
        # The API is cookie-less: only the Accept-Language header counts.
        return _browser_language(languages) or default
    offered = offered_languages()
    chosen = from_url_code(request.args.get("lang"), languages)
    if chosen:
        session["lang"] = chosen
    else:
        chosen = session.get("lang") if session.get("lang") in languages else None
    if chosen:
        return chosen if chosen in offered else default
    return _browser_language(offered) or default


def current_language() -> str:
    """The language code of the current request, e.g. "de", "ar" or "de@easy"."""
    locale = get_locale()
    if locale is None:
        return "de"
    return locale.language + (f"@{locale.modifier}" if locale.modifier else "")


def language_url(code: str) -> str:
    """The current page in another language: the same address and query, ``lang`` replaced."""
    args = request.args.to_dict(flat=False)
    args["lang"] = [url_code(code)]
    query = "?" + urlencode(args, doseq=True)
    if request.endpoint and request.url_rule is not None and request.method == "GET":
        # The query is appended as it is, never handed to url_for as arguments: a crafted
        # ?centre_slug=, ?_method= or ?_scheme= would change or break the address built.
        try:
            return url_for(request.endpoint, **(request.view_args or {})) + query
        except BuildError:
            pass
    return query


def language_name(code: str) -> str:
    """The name of a language in the current language, e.g. "tr" -> "Türkisch"."""
    try:
        return Locale.parse(code).get_display_name(get_locale()) or code
    except (ValueError, UnknownLocaleError):
        return code


def language_list(codes) -> str:
    """Languages by name in the current language, joined as its locale joins a list:
    "Deutsch und Arabisch", "الألمانية والعربية" (never a Latin comma in Arabic)."""
    names = [language_name(code) for code in codes or ()]
    if not names:
        return ""
    return format_list(names, locale=get_locale() or "de")


def day_label(day: date) -> str:
    """A weekday with day and month in the current language: "Montag, 23. November"."""
    locale = get_locale()
    return format_datetime(day, skeleton_pattern(locale, "MMMMEEEEd"), locale=locale)


# A run of one to three "E" in a date pattern: an abbreviated weekday ("Mo.", "Pzt").
SHORT_WEEKDAY = re.compile(r"(?<!E)E{1,3}(?!E)")


@lru_cache(maxsize=64)
def skeleton_pattern(locale: Locale, skeleton: str) -> str:
    """The locale's date pattern for a CLDR skeleton, as Babel's format_skeleton finds it;
    kept, since finding it compares the skeleton with every one the locale has.

    Most locales have no skeleton with a full weekday, so the nearest match abbreviates
    it; a skeleton that asks for "EEEE" gets the weekday widened again, as ICU's pattern
    generator does ("Mittwoch, 23. Dezember", never "Mi., 23. Dezember")."""
    skeletons = locale.datetime_skeletons
    matched = skeleton
    if matched not in skeletons:
        matched = match_skeleton(skeleton, skeletons) or skeleton
    pattern = str(skeletons[matched])
    if "EEEE" in skeleton:
        pattern = SHORT_WEEKDAY.sub("EEEE", pattern)
    return pattern


def weekday_name(weekday: int) -> str:
    """The name of a weekday (0 = Monday) in the current language."""
    return get_day_names("wide", locale=get_locale())[weekday]


ERROR_TITLES = {
    400: lazy_gettext("The request could not be understood"),
    403: lazy_gettext("Access denied"),
    404: lazy_gettext("Page not found"),
    405: lazy_gettext("This action is not possible here"),
    409: lazy_gettext("Conflict"),
    413: lazy_gettext("The request is too large"),
    422: lazy_gettext("Please check your input"),
    429: lazy_gettext("Too many requests – please wait a moment"),
    500: lazy_gettext("Something went wrong on our side"),
}


STATUS_LABELS = {
    "confirmed": lazy_gettext("confirmed"),
    "cancelled": lazy_gettext("cancelled"),
    "attended": lazy_gettext("attended"),
    "no_show": lazy_gettext("not attended"),
    "held": lazy_gettext("awaiting confirmation"),
    "expired": lazy_gettext("expired"),
}


INVITATION_STATUS_LABELS = {
    "open": lazy_gettext("open"),
    "used": lazy_gettext("used"),
    "expired": lazy_gettext("expired"),
    "withdrawn": lazy_gettext("withdrawn"),
}


def invitation_status_label(status: str) -> str:
    """An invitation's status in words of the current language."""
    return str(INVITATION_STATUS_LABELS.get(status, status))


SERVICE_FORMAT_LABELS = {
    "in_person": lazy_gettext("In person at the centre"),
    "phone": lazy_gettext("By phone"),
    "video": lazy_gettext("By video call"),
}


def service_format_label(service_format: str) -> str:
    """How a consultation takes place, in words of the current language."""
    return str(SERVICE_FORMAT_LABELS.get(service_format, service_format))


def consultation_language(booking) -> str:
    """The booking's language in words: "Arabic", or "Pashto, with an interpreter"."""
    if booking.interpreter_language:
        return gettext(
            "%(language)s, with an interpreter",
            language=language_name(booking.interpreter_language),
        )
    return language_name(booking.language) if booking.language else ""


def status_label(status: str) -> str:
    """A booking status in words of the current language."""
    return str(STATUS_LABELS.get(status, status))


def error_title(code: int | None) -> str:
    """A translated title for an HTTP error page."""
    return str(ERROR_TITLES.get(code or 500, ERROR_TITLES[500]))


def error_text(error: HTTPException) -> str:
    """Our own (translated) description, or a generic translated one for the framework's."""
    rate = getattr(getattr(error, "limit", None), "limit", None)  # Flask-Limiter's 429
    if error.code == 429 and rate is not None:
        # Its own description is English ("10 per 1 minute"): said again in the page's words.
        period = format_timedelta(timedelta(seconds=rate.get_expiry()), threshold=1)
        return gettext(
            "At most %(amount)d requests in %(period)s are possible. Please wait a little, "
            "then try again.",
            amount=rate.amount,
            period=period,
        )
    if error.description and error.description != type(error).description:
        return error.description
    if error.code == 404:
        return str(lazy_gettext("The address may be mistyped, or the page no longer exists."))
    return str(lazy_gettext("Please try again later, or call the centre."))


def local_time(value: datetime, timezone: str) -> datetime:
    """An aware datetime shown in the centre's wall time."""
    return value.astimezone(ZoneInfo(timezone))


# Unicode isolates for plain text: LEFT-TO-RIGHT ISOLATE ... POP DIRECTIONAL ISOLATE.
LRI, PDI = "\u2066", "\u2069"


def left_to_right(value, autoescape: bool = True) -> str:
    """Keep ``value`` (a time, phone number, e-mail address, reference) left to right.

    In HTML a ``<bdi dir="ltr">``; in plain text, within right-to-left text only, Unicode
    isolates, so "10:00–10:45" or "02323 16-3530" never read backwards inside Arabic.
    """
    if value is None or value == "":
        return value
    if autoescape:
        return Markup('<bdi dir="ltr">%s</bdi>') % value
    if text_direction(current_language()) == "rtl":
        return f"{LRI}{value}{PDI}"
    return str(value)


def time_range(start_at: datetime, end_at: datetime, timezone: str) -> str:
    """ "10:00–10:45" in the centre's wall time and the current language's digits, by the
    language's own pattern: Leichte Sprache reads "10:00 bis 10:45 Uhr"."""
    return gettext(
        "%(start)s–%(end)s",
        start=format_time(local_time(start_at, timezone).time(), "HH:mm"),
        end=format_time(local_time(end_at, timezone).time(), "HH:mm"),
    )


def compile_stale_catalogues(app: Flask) -> None:
    """Read compiled catalogues that match their .po files, however the app was installed.

    A checkout without `make translations`, or one whose .po files changed since, has no or
    stale .mo files: gettext would fall back to the English msgids while Babel still prints
    dates in the locale's words. Then every catalogue is compiled into the instance folder
    and read from there, so words and dates come from one locale.
    """
    source = Path(app.root_path) / "translations"
    catalogues = sorted(source.glob("*/LC_MESSAGES/messages.po"))
    if all(_is_current(po, po.with_suffix(".mo")) for po in catalogues):
        return
    target = Path(app.instance_path) / "translations"
    for po in catalogues:
        mo = target / po.relative_to(source).with_suffix(".mo")
        if _is_current(po, mo):
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=po.parent.parent.name)
        # Written aside and renamed: several workers may start at once.
        partial = mo.with_name(f"{mo.name}.{os.getpid()}")
        with partial.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=True)
        os.replace(partial, mo)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(target)


def _is_current(po: Path, mo: Path) -> bool:
    return mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime


def init_app(app: Flask) -> None:
    """Template helpers and the <html lang dir> values; the core's messages translated."""
    messages.install(gettext, ngettext)

    @app.context_processor
    def inject_language():
        lang = current_language()
        rtl = text_direction(lang) == "rtl"
        return {
            "current_language": lang,
            "page_lang": html_lang(lang),
            "text_direction": text_direction(lang),
            "language_names": LANGUAGE_NAMES,
            "supported_languages": offered_languages(),
            # Arrows point the way the page reads: "back" is to the right in Arabic.
            "arrow_previous": "→" if rtl else "←",
            "arrow_next": "←" if rtl else "→",
        }

    # Globals rather than context, so that imported macros see them too.
    app.jinja_env.globals.update(
        language_name=language_name,
        language_list=language_list,
        weekday_name=weekday_name,
        day_label=day_label,
        format_date=format_date,
        error_title=error_title,
        error_text=error_text,
        status_label=status_label,
        invitation_status_label=invitation_status_label,
        html_lang=html_lang,
        direction_of=text_direction,
        language_url=language_url,
        url_code=url_code,
        service_format_label=service_format_label,
        consultation_language=consultation_language,
    )

    @app.template_filter("ltr")
    @pass_eval_context
    def ltr_filter(eval_ctx, value):
        return left_to_right(value, autoescape=eval_ctx.autoescape)

    @app.template_filter("time_range")
    def time_range_filter(start_at: datetime, end_at: datetime, timezone: str) -> str:
        return time_range(start_at, end_at, timezone)

    @app.template_filter("local_date")
    def local_date_filter(value: datetime, timezone: str, fmt: str = "full") -> str:
        return format_date(local_time(value, timezone).date(), fmt)

    @app.template_filter("local_time")
    def local_time_filter(value: datetime, timezone: str) -> str:
        return format_time(local_time(value, timezone).time(), "HH:mm")
