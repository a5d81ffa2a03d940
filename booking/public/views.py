"""Public pages, server-rendered, working without JavaScript."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from booking import availability
from booking.extensions import db
from booking.i18n import current_language, day_label, language_name
from booking.lookups import centre_or_404
from booking.models import Centre, Closure, Service, utcnow
from booking.public.blueprint import bp
from booking.public.forms import COMMON_LANGUAGES
from booking.validation import FieldError, clean_day, parse_language


def weekly_hours_by_day(centre: Centre, today: date) -> list[tuple[int, list]]:
    """Opening intervals valid today, grouped by weekday (0 = Monday), in order."""
    by_day: dict[int, list] = defaultdict(list)
    for hours in centre.hours_on(today):
        by_day[hours.weekday].append(hours)
    return sorted(by_day.items())


@bp.get("/")
def index():
    centres = availability.all_centres()
    return render_template(
        "public/index.html",
        centres=[(c, weekly_hours_by_day(c, c.today(utcnow()))) for c in centres],
    )


@bp.get("/centres/<centre_slug>")
def centre_page(centre_slug: str):
    centre = centre_or_404(centre_slug)
    services = availability.active_services(centre)
    return render_template(
        "public/centre.html",
        centre=centre,
        hours=weekly_hours_by_day(centre, centre.today(utcnow())),
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


def closure_notice(closure: Closure, zone: ZoneInfo) -> str:
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
    else:
        text = _(
            "Closed from %(first)s to %(last)s",
            first=day(first_day) + ("" if from_midnight else f" {start:%H:%M}"),
            last=day(last_day) + ("" if to_midnight else f" {end:%H:%M}"),
        )
    return f"{text}: {closure.reason}" if closure.reason else text


def week_closures(centre: Centre, monday: date) -> list[str]:
    """The notices of the closures reaching into the week that starts on ``monday``."""
    zone = ZoneInfo(centre.timezone)
    week_start = datetime.combine(monday, time(0), zone)
    week_end = datetime.combine(monday + timedelta(days=7), time(0), zone)
    closures = db.session.scalars(
        select(Closure)
        .where(
            Closure.centre_id == centre.id,
            Closure.start_at < week_end,
            Closure.end_at > week_start,
        )
        .order_by(Closure.start_at)
    ).all()
    return [closure_notice(c, zone) for c in closures]


def build_week(
    centre: Centre,
    service: Service,
    week_raw: str | None,
    *,
    language: str | None,
    week_url,
    exclude_booking_id: int | None = None,
    current_start: datetime | None = None,
) -> dict:
    """What a week of free slots shows: days with their slots and the neighbouring weeks.

    With no week asked for, the page opens on the week of the next free time. When the
    week shown has none, ``next_free`` is the next free time within the booking horizon,
    and ``horizon_empty`` says there is none at all, so the page can say so once.
    When moving a booking (``exclude_booking_id``), its ``current_start`` is not offered.
    """
    today = centre.today(utcnow())
    monday = _week_start(week_raw, today)
    last_bookable = today + timedelta(days=centre.horizon_days)
    # Weeks before this one or past the horizon have nothing to offer; clamp to the range.
    monday = max(monday, today - timedelta(days=today.weekday()))
    monday = min(monday, last_bookable - timedelta(days=last_bookable.weekday()))
    sunday = monday + timedelta(days=6)
    zone = ZoneInfo(centre.timezone)

    def local_day(slot) -> date:
        return slot.start_at.astimezone(zone).date()

    def search(first: date, last: date) -> list:
        return availability.find_slots(
            centre, service, first, last, utcnow(), language, exclude_booking_id=exclude_booking_id
        )

    # Nothing asked for: look through the whole horizon in the same call, so that the page
    # opens on the week of the next free time instead of an empty week.
    found = search(monday, last_bookable if week_raw is None else sunday)
    found = [s for s in found if s.start_at != current_start]
    if found and local_day(found[0]) > sunday:
        monday = local_day(found[0]) - timedelta(days=local_day(found[0]).weekday())
        sunday = monday + timedelta(days=6)
    week_slots = [s for s in found if local_day(s) <= sunday]
    next_free = None
    horizon_empty = False
    if not week_slots:
        later = found if week_raw is None else search(today, last_bookable)
        next_free = next((s for s in later if local_day(s) > sunday), None) or next(
            iter(later), None
        )
        horizon_empty = next_free is None
    days: dict[date, list] = {monday + timedelta(days=i): [] for i in range(7)}
    for slot in week_slots:
        days[local_day(slot)].append(slot)
    next_free_monday = (
        local_day(next_free) - timedelta(days=local_day(next_free).weekday()) if next_free else None
    )
    return {
        "centre": centre,
        "service": service,
        "service_name": service.name_in(current_language()),
        "days": days,
        "slot_count": len(week_slots),
        "monday": monday,
        "closures": week_closures(centre, monday),
        "previous_week_url": week_url(monday - timedelta(days=7)) if monday > today else None,
        "next_week_url": week_url(monday + timedelta(days=7)) if sunday < last_bookable else None,
        "next_free": next_free,
        "next_free_url": week_url(next_free_monday) if next_free_monday else None,
        "horizon_empty": horizon_empty,
        "horizon_days": centre.horizon_days,
    }


def spoken_languages(service: Service) -> list[str]:
    """The languages some active counsellor of the service speaks, by name in the page's
    language (the page's own language first)."""
    codes = {lang for c in service.counsellors if c.is_active for lang in c.languages}
    own = current_language()
    return sorted(codes, key=lambda code: (code != own, language_name(code).casefold()))


def interpreter_languages(spoken: list[str], also: str | None = None) -> list[str]:
    """Languages an interpreter can be asked for: common ones no counsellor speaks, and
    ``also`` (a language the family asked for that is not among them)."""
    codes = {code for code in COMMON_LANGUAGES if code not in spoken}
    if also and also not in spoken:
        codes.add(also)
    return sorted(codes, key=lambda code: language_name(code).casefold())


@bp.get("/centres/<centre_slug>/<service_slug>")
def service_week(centre_slug: str, service_slug: str):
    centre = centre_or_404(centre_slug)
    service = availability.get_service(centre, service_slug)
    if service is None:
        abort(404, description=_("This centre offers no service of this name."))
    if service.slug != service_slug:  # an old link: to the neutral address
        return redirect(
            url_for(
                "public.service_week",
                centre_slug=centre.slug,
                service_slug=service.slug,
                **request.args,
            ),
            code=301,
        )
    if not service.online_bookable:
        abort(404, description=_("This consultation is booked by phone only."))
    errors: dict[str, list[str]] = {}
    language = parse_language(request.args.get("language"), "language", errors)
    interpreter = parse_language(request.args.get("interpreter"), "interpreter", errors)
    spoken = spoken_languages(service)
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
        return render_template("public/week.html", choose_language=True, **context)
    choice = {"language": language} if language else {"interpreter": interpreter}
    week = build_week(
        centre,
        service,
        request.args.get("week"),
        language=language,
        week_url=lambda monday: url_for(
            "public.service_week",
            centre_slug=centre.slug,
            service_slug=service.slug,
            week=monday.isoformat(),
            **choice,
        ),
    )
    context.update(week)
    return render_template(
        "public/week.html",
        choose_language=False,
        choice=choice,
        change_language_url=url_for(
            "public.service_week", centre_slug=centre.slug, service_slug=service.slug
        ),
        **context,
    )
