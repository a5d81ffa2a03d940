"""Language of a request, and formatting helpers for templates."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_skeleton, get_day_names
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import format_date, format_time, get_locale, gettext, lazy_gettext
from werkzeug.exceptions import HTTPException

# Language names in their own language, for the switcher.
LANGUAGE_NAMES = {"de": "Deutsch", "en": "English"}


def select_locale() -> str:
    """Explicit choice (?lang=, kept in the session), else the browser's, else German."""
    supported = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if request.blueprint == "api":
        # The API is cookie-less: only the Accept-Language header counts.
        return request.accept_languages.best_match(supported) or "de"
    chosen = request.args.get("lang")
    if chosen in supported:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in supported:
        return session["lang"]
    return (
        request.accept_languages.best_match(supported) or current_app.config["BABEL_DEFAULT_LOCALE"]
    )


def current_language() -> str:
    """The language code of the current request, e.g. "de"."""
    return str(get_locale() or "de").split("_")[0]


def language_name(code: str) -> str:
    """The name of a language in the current language, e.g. "tr" -> "Türkisch"."""
    try:
        return Locale.parse(code).get_display_name(get_locale()) or code
    except (ValueError, UnknownLocaleError):
        return code


def day_label(day: date) -> str:
    """A weekday with day and month in the current language: "Montag, 23. November"."""
    return format_skeleton("MMMMEEEEd", day, locale=get_locale())


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
}


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
    if error.description and error.description != type(error).description:
        return error.description
    if error.code == 404:
        return str(lazy_gettext("The address may be mistyped, or the page no longer exists."))
    return str(lazy_gettext("Please try again later, or call the centre."))


def local_time(value: datetime, timezone: str) -> datetime:
    """An aware datetime shown in the centre's wall time."""
    return value.astimezone(ZoneInfo(timezone))


def init_app(app: Flask) -> None:
    """Template helpers and the <html lang dir> values."""

    @app.context_processor
    def inject_language():
        lang = current_language()
        return {
            "current_language": lang,
            "text_direction": "rtl" if lang in {"ar", "fa", "he", "ur"} else "ltr",
            "language_names": LANGUAGE_NAMES,
            "supported_languages": app.config["LANGUAGES"],
        }

    # Globals rather than context, so that imported macros see them too.
    app.jinja_env.globals.update(
        language_name=language_name,
        weekday_name=weekday_name,
        day_label=day_label,
        format_date=format_date,
        error_title=error_title,
        error_text=error_text,
        status_label=status_label,
        service_format_label=service_format_label,
        consultation_language=consultation_language,
    )

    @app.template_filter("local_date")
    def local_date_filter(value: datetime, timezone: str, fmt: str = "full") -> str:
        return format_date(local_time(value, timezone).date(), fmt)

    @app.template_filter("local_time")
    def local_time_filter(value: datetime, timezone: str) -> str:
        return format_time(local_time(value, timezone).time(), "HH:mm")
