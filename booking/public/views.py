"""Public pages, server-rendered, working without JavaScript."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from flask import abort, redirect, render_template, request, session, url_for
from flask_babel import format_time
from flask_babel import gettext as _
from markupsafe import Markup

from booking import availability, availability_cache
from booking.clock import request_now
from booking.i18n import (
    COMMON_LANGUAGES,
    current_language,
    day_label,
    from_url_code,
    html_lang,
    language_name,
    offered_languages,
)
from booking.lookups import centre_and_service_or_404, centre_or_404
from booking.models import Centre, Closure, closure_reason_in
from booking.needs import Need
from booking.public.blueprint import bp
from booking.validation import FieldError, clean_day, clean_language, parse_language


def weekly_hours_by_day(centre: Centre, today: date) -> list[tuple[int, list]]:
    """Opening intervals valid today, grouped by weekday (0 = Monday), in order."""
    by_day: dict[int, list] = defaultdict(list)
    for hours in centre.hours_on(today):
        by_day[hours.weekday].append(hours)
    return sorted(by_day.items())


def page_key(name: str, known: tuple[str, ...] = ()) -> tuple | None:
    """What a page is kept under in the availability cache: its address with the query and
    the language it is shown in. None when the page would show something of this visitor's
    own (a message waiting in the session), or when its query holds anything but the
    arguments in ``known``, once each, written as the page itself writes them: such a page
    is neither served from the cache nor kept, so that made-up queries (which the language
    links repeat) cannot push useful pages out of the bounded cache."""
    if session.get("_flashes") or not _is_plain_query(known):
        return None
    return (name, current_language(), request.path, request.query_string)


def _is_plain_query(known: tuple[str, ...]) -> bool:
    for name, values in request.args.lists():
        if name not in known or len(values) != 1:
            return False
        value = values[0]
        if name == "lang":
            plain = from_url_code(value, offered_languages()) is not None
        elif name == "week":
            plain = _is_monday(value)
        else:  # a language
            try:
                plain = value == clean_language(value) and value is not None
            except FieldError:
                plain = False
        if not plain:
            return False
    return True


def _is_monday(value: str) -> bool:
    try:
        return clean_day(value).weekday() == 0 and value == clean_day(value).isoformat()
    except FieldError:
        return False


@bp.get("/")
def index():
    now = request_now()
    key = page_key("index", ("lang",))
    kept = key and availability_cache.lookup(key, now)
    if kept:
        return kept
    centres = availability.all_centres()
    page = render_template(
        "public/index.html",
        centres=[(c, weekly_hours_by_day(c, c.today(now))) for c in centres],
    )
    if key:
        # The hours shown are those valid today: the page holds until a centre's midnight.
        # Kept under the common number alone: a change of a centre's row or opening hours
        # raises it, a booking does not.
        until = min(
            (availability_cache.valid_until([], c.min_notice, c.timezone, now) for c in centres),
            default=now + timedelta(hours=1),
        )
        availability_cache.keep(key, now, until, page)
    return page


@bp.get("/centres/<centre_slug>")
def centre_page(centre_slug: str):
    centre = centre_or_404(centre_slug)
    # A service booked by invitation (and by staff) is not on the public list.
    services = [s for s in availability.active_services(centre) if not s.is_by_invitation]
    return render_template(
        "public/centre.html",
        centre=centre,
        hours=weekly_hours_by_day(centre, centre.today(request_now())),
        services=services,
        language=current_language(),
    )


def _week_start(raw: str | None, default: date) -> date:
    """The Monday of the week asked for (``?week=YYYY-MM-DD``), else of ``default``'s week."""
    try:
        chosen = clean_day(raw) if raw else default
    except FieldError:
        chosen = default
    return chosen - timedelta(days=chosen.weekday())


def closure_notice(closure: Closure, zone: ZoneInfo, reasons: dict | None = None) -> Markup:
    """What families read about a closure: "Closed on Wednesday, 24. December: reason"."""
    start = closure.start_at.astimezone(zone)
    end = closure.end_at.astimezone(zone)
    from_midnight, to_midnight = start.time() == time(0), end.time() == time(0)
    first_day = start.date()
    last_day = end.date() - timedelta(days=1) if to_midnight else end.date()
    last_day = max(last_day, first_day)

    def day(value: date) -> str:
        return day_label(value)

    if from_midnight and to_midnight:
        if first_day == last_day:
            text = _("Closed on %(day)s", day=day(first_day))
        else:
            text = _("Closed from %(first)s to %(last)s", first=day(first_day), last=day(last_day))
    elif first_day == last_day and to_midnight:
        text = _("Closed on %(day)s from %(start)s", day=day(first_day), start=f"{start:%H:%M}")
    elif first_day == last_day and from_midnight:
        text = _("Closed on %(day)s until %(end)s", day=day(first_day), end=f"{end:%H:%M}")
    elif first_day == last_day:
        text = _(
            "Closed on %(day)s from %(start)s to %(end)s",
            day=day(first_day),
            start=f"{start:%H:%M}",
            end=f"{end:%H:%M}",
        )
    elif to_midnight:
        # Over several days, the times get their own wording per language ("um 10:00 Uhr"):
        # a time glued to a day would read "Mittwoch, 23. Dezember 10:00".
        text = _(
            "Closed from %(first)s, %(start)s to %(last)s",
            first=day(first_day),
            start=f"{start:%H:%M}",
            last=day(last_day),
        )
    elif from_midnight:
        text = _(
            "Closed from %(first)s to %(last)s, %(end)s",
            first=day(first_day),
            last=day(last_day),
            end=f"{end:%H:%M}",
        )
    else:
        text = _(
            "Closed from %(first)s, %(start)s to %(last)s, %(end)s",
            first=day(first_day),
            start=f"{start:%H:%M}",
            last=day(last_day),
            end=f"{end:%H:%M}",
        )
    reason, reason_language = closure_reason_in(closure.reason, reasons, current_language())
    if not reason:
        return Markup.escape(text)
    if html_lang(reason_language) != html_lang(current_language()):
        # The reason was given in German only: marked so inside another language's page.
        return Markup('%s: <span lang="%s">%s</span>') % (text, html_lang(reason_language), reason)
    return Markup("%s: %s") % (text, reason)


def week_closures(search: availability.SlotSearch, monday: date) -> list[str]:
    """The notices of the closures reaching into the week that starts on ``monday``, of
    those the search has read (its windows cover the week shown)."""
    zone = ZoneInfo(search.centre.timezone)
    week_start = datetime.combine(monday, time(0), zone)
    week_end = datetime.combine(monday + timedelta(days=7), time(0), zone)
    closures = sorted(
        (c for c in search.closures.values() if c.start_at < week_end and c.end_at > week_start),
        key=lambda c: c.start_at,
    )
    # The reasons in other languages are read only when there is a closure to tell of on a
    # page in another language than German (the German reason is in the closure's row;
    # Leichte Sprache has its own).
    wanted = closures and current_language() != "de"
    reasons = availability.closure_reasons([c.owner_id for c in closures]) if wanted else {}
    return [closure_notice(c, zone, reasons.get(c.owner_id)) for c in closures]


class WeekSlot(NamedTuple):
    """A time on the week page, formatted: its link, its words for screen readers."""

    start_at: datetime
    end_at: datetime
    iso: str  # the start in UTC, for <time datetime> and the link
    time: str  # "09:30" in the centre's wall time
    url: str
    label: str  # "Book Monday, 14 December at 09:30"
    is_current: bool = False


def url_with_start(endpoint: str, **values) -> Callable[[str], str]:
    """A function of a start (ISO 8601) giving ``url_for(endpoint, start=..., **values)``,
    with url_for called once: the week page links every one of its times."""
    placeholder = "START"
    url = url_for(endpoint, start=placeholder, **values)
    before, after = url.split(placeholder, 1)
    return lambda iso: before + quote(iso, safe=":") + after


def week_slots(
    found: list, zone: ZoneInfo, day_labels: dict[date, str], url_of, label_pattern: str
) -> list[WeekSlot]:
    """The slots formatted for the page; each wall time formatted once."""
    clock: dict[tuple[int, int], str] = {}
    formatted = []
    for slot in found:
        local = slot.start_at.astimezone(zone)
        key = (local.hour, local.minute)
        if key not in clock:
            clock[key] = format_time(local.time(), "HH:mm")
        iso = slot.start_at.isoformat()
        label = label_pattern % {"day": day_labels[local.date()], "time": clock[key]}
        formatted.append(WeekSlot(slot.start_at, slot.end_at, iso, clock[key], url_of(iso), label))
    return formatted


def build_week(
    search: availability.SlotSearch,
    week_raw: str | None,
    *,
    need: Need,
    week_url,
    slot_url: Callable[[str], str],
    slot_label: str,
    current_start: datetime | None = None,
    now: datetime | None = None,
) -> dict:
    """What a week of free slots shows: days with their slots and the neighbouring weeks.

    With no week asked for, the page opens on the week of the next free time. When the
    week shown has none, ``next_free`` is the next free time within the booking horizon,
    and ``horizon_empty`` says there is none at all, so the page can say so once.
    When moving a booking (a search leaving it out), its ``current_start`` is not offered.
    ``slot_url`` gives a time's link from its start; ``slot_label`` is its translated
    label, with %(day)s and %(time)s. At most two reads of busy times, whatever the data.
    """
    centre, service = search.centre, search.service
    now = now or request_now()  # one instant for every search: the page is one answer
    today = centre.today(now)
    monday = _week_start(week_raw, today)
    last_bookable = today + timedelta(days=centre.horizon_days)
    # Weeks before this one or past the horizon have nothing to offer; clamp to the range.
    monday = max(monday, today - timedelta(days=today.weekday()))
    monday = min(monday, last_bookable - timedelta(days=last_bookable.weekday()))
    sunday = monday + timedelta(days=6)
    zone = ZoneInfo(centre.timezone)

    def local_day(slot) -> date:
        return slot.start_at.astimezone(zone).date()

    def search_days(first: date, last: date) -> list:
        found = search.find(first, last, now, need)
        return [s for s in found if s.start_at != current_start]

    found = search_days(monday, sunday)
    next_free = None
    horizon_empty = False
    if not found and week_raw is None:
        # Nothing asked for: open on the week of the next free time, not an empty week.
        found = search_days(sunday + timedelta(days=1), last_bookable)
        if found:
            monday = local_day(found[0]) - timedelta(days=local_day(found[0]).weekday())
            sunday = monday + timedelta(days=6)
            found = [s for s in found if local_day(s) <= sunday]
        else:
            horizon_empty = True
    elif not found:
        later = search_days(today, last_bookable)
        next_free = next((s for s in later if local_day(s) > sunday), None) or next(
            iter(later), None
        )
        horizon_empty = next_free is None
    day_labels = {
        monday + timedelta(days=i): day_label(monday + timedelta(days=i)) for i in range(7)
    }
    days: dict[date, list] = {day: [] for day in day_labels}
    for slot in week_slots(found, zone, day_labels, slot_url, slot_label):
        days[local_day(slot)].append(slot)
    next_free_monday = (
        local_day(next_free) - timedelta(days=local_day(next_free).weekday()) if next_free else None
    )
    return {
        "centre": centre,
        "service": service,
        "service_name": service.name_in(current_language()),
        "days": days,
        "day_labels": day_labels,
        "slot_count": len(found),
        "monday": monday,
        "closures": week_closures(search, monday),
        "previous_week_url": week_url(monday - timedelta(days=7)) if monday > today else None,
        "next_week_url": week_url(monday + timedelta(days=7)) if sunday < last_bookable else None,
        "next_free": next_free,
        "next_free_url": week_url(next_free_monday) if next_free_monday else None,
        "horizon_empty": horizon_empty,
        "horizon_days": centre.horizon_days,
    }


def spoken_languages(counsellors) -> list[str]:
    """The languages some of the (active) counsellors speaks, by name in the page's
    language (the page's own language first)."""
    codes = {lang for c in counsellors for lang in c.languages}
    own = current_language()
    return sorted(codes, key=lambda code: (code != own, language_name(code).casefold()))


def interpreter_languages(spoken: list[str], also: str | None = None) -> list[str]:
    """Languages an interpreter can be asked for: common ones no counsellor speaks, and
    ``also`` (a language the family asked for that is not among them)."""
    codes = {code for code in COMMON_LANGUAGES if code not in spoken}
    if also and also not in spoken:
        codes.add(also)
    return sorted(codes, key=lambda code: language_name(code).casefold())


# The query arguments the week page and the booking form read; an old link's redirect
# keeps these and no others.
WEEK_ARGUMENTS = ("language", "interpreter", "week", "lang")
BOOK_ARGUMENTS = ("start", "language", "interpreter", "lang")


def url_keeping_query(endpoint: str, known: tuple[str, ...], **values) -> str:
    """``url_for(endpoint, **values)`` with the request's query arguments named in ``known``
    as its query string. The query is never passed to url_for as arguments, where a crafted
    ``centre_slug``, ``_method`` or ``_scheme`` would break or redirect the address."""
    url = url_for(endpoint, **values)
    kept = [(name, value) for name, value in request.args.items(multi=True) if name in known]
    return f"{url}?{urlencode(kept)}" if kept else url


@bp.get("/centres/<centre_slug>/<service_slug>")
def service_week(centre_slug: str, service_slug: str):
    """The week page; kept in the availability cache by its address, query and language
    (read before the centre and service are: see availability_cache.pin_version), until the
    clock could change it. Only pages of 200 are kept."""
    now = request_now()
    key = page_key("week", WEEK_ARGUMENTS)
    kept = key and availability_cache.lookup(key, now, centre_slug)
    if kept:
        return kept
    result = _service_week(centre_slug, service_slug, now)
    if not isinstance(result, tuple):
        return result  # a redirect
    page, search = result
    if key:
        availability_cache.keep(key, now, search.valid_until(now), page, centre_slug)
    return page


def _service_week(centre_slug: str, service_slug: str, now: datetime):
    """The week page, with the search it was made from; or a redirect."""
    centre, service = centre_and_service_or_404(centre_slug, service_slug)
    if service is None:
        abort(404, description=_("This centre offers no service of this name."))
    if service.slug != service_slug:  # an old link: to the neutral address
        return redirect(
            url_keeping_query(
                "public.service_week",
                WEEK_ARGUMENTS,
                centre_slug=centre.slug,
                service_slug=service.slug,
            ),
            code=301,
        )
    if not service.online_bookable:
        abort(404, description=_("This consultation is booked by phone only."))
    if service.is_by_invitation:
        abort(404, description=_("This centre offers no service of this name."))
    errors: dict[str, list[str]] = {}
    language = parse_language(request.args.get("language"), "language", errors)
    interpreter = parse_language(request.args.get("interpreter"), "interpreter", errors)
    search = availability.SlotSearch(centre, service)
    spoken = spoken_languages(search.counsellors)
    context = {
        "centre": centre,
        "service": service,
        "service_name": service.name_in(current_language()),
        "language": language,
        "interpreter": interpreter,
        "language_error": (errors.get("language") or errors.get("interpreter") or [None])[0],
        "spoken_languages": spoken,
        "interpreter_languages": interpreter_languages(spoken, language or interpreter),
    }
    # The interpreter list preselects only the page's own language (when no counsellor
    # speaks it), never the alphabetically first: one tap must not book the wrong one.
    own = current_language().split("@")[0]
    context["interpreter_default"] = own if own in context["interpreter_languages"] else ""
    if "interpreter" in request.args and not request.args["interpreter"].strip():
        context["language_error"] = _("Please choose a language.")
    if interpreter and interpreter in spoken:
        # A counsellor speaks it: no interpreter needed, and the times are theirs.
        language, interpreter = interpreter, None
        context.update(language=language, interpreter=None)
    if language and language not in spoken:
        # Never offer times of counsellors who do not speak it: offer an interpreter.
        context["unspoken_language"] = language
        language = None
        context["language"] = None
    if not language and not interpreter:
        # The first step: the language of the consultation.
        return render_template("public/week.html", choose_language=True, **context), search
    choice = {"language": language} if language else {"interpreter": interpreter}
    week = build_week(
        search,
        request.args.get("week"),
        need=Need(language, interpreter),
        week_url=lambda monday: url_for(
            "public.service_week",
            centre_slug=centre.slug,
            service_slug=service.slug,
            week=monday.isoformat(),
            **choice,
        ),
        slot_url=url_with_start(
            "public.book", centre_slug=centre.slug, service_slug=service.slug, **choice
        ),
        slot_label=_("Book %(day)s at %(time)s"),
        now=now,
    )
    context.update(week)
    page = render_template(
        "public/week.html",
        choose_language=False,
        choice=choice,
        change_language_url=url_for(
            "public.service_week", centre_slug=centre.slug, service_slug=service.slug
        ),
        **context,
    )
    return page, search
