"""Helpers shared by the staff views: the user's centres, local days, the next free slots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import abort, flash
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from booking import availability
from booking.extensions import db
from booking.models import Centre, Service, User, utcnow
from booking.validation import FieldError, clean_day

# How many free times the intake and the move page offer at once.
NEXT_SLOTS = 12


def acting_user() -> User:
    """The signed-in account itself (not Flask-Login's proxy), for services and access."""
    return current_user._get_current_object()


def staff_centres(user: User) -> list[Centre]:
    """The centres the user works for: their own centre first, then the others by name."""
    ids = user.centre_ids
    if not ids:
        return []
    centres = db.session.scalars(
        select(Centre).where(Centre.id.in_(ids)).options(selectinload(Centre.opening_hours))
    ).all()
    return sorted(centres, key=lambda c: (c.id != user.centre_id, c.name))


def pick_centre(centres: list[Centre], slug: str | None) -> Centre:
    """The centre asked for by slug among the user's, else the first; 403 without any."""
    if not centres:
        abort(403)
    return next((c for c in centres if c.slug == slug), centres[0])


def centre_today(centre: Centre, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(centre.timezone)).date()


def local_midnight(centre: Centre, day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), ZoneInfo(centre.timezone))


def parse_day(raw: str | None, default: date) -> date:
    """The day of a query string (YYYY-MM-DD); ``default`` when it is missing or unusable."""
    try:
        return clean_day(raw) if raw else default
    except FieldError:
        return default


def active_services(centre: Centre) -> list[Service]:
    return list(
        db.session.scalars(
            select(Service)
            .where(Service.centre_id == centre.id, Service.is_active.is_(True))
            .order_by(Service.position, Service.slug)
        )
    )


def centre_counsellors(centre: Centre) -> list[User]:
    """The active counsellors of the centre, by name."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.centre_id == centre.id,
                User.role == "counsellor",
                User.is_active.is_(True),
            )
            .order_by(User.name, User.id)
        )
    )


def next_free_slots(
    centre: Centre,
    service: Service,
    first_day: date,
    now: datetime,
    *,
    language: str | None = None,
    exclude_booking_id: int | None = None,
    count: int = NEXT_SLOTS,
    counsellor_id: int | None = None,
    weekday: int | None = None,
    after: datetime | None = None,
    min_notice: timedelta | None = None,
) -> list:
    """The first ``count`` free slots from ``first_day`` on, up to the centre's horizon;
    only one counsellor's, only on one weekday, only after ``after`` when asked.

    Looks a week ahead first, then further: a few queries per window, whatever the count.
    """
    last_day = centre_today(centre, now) + timedelta(days=centre.horizon_days)
    zone = ZoneInfo(centre.timezone)
    found: list = []
    start = first_day
    for span in (7, 21, centre.horizon_days):
        if start > last_day or len(found) >= count:
            break
        end = min(start + timedelta(days=span - 1), last_day)
        found += [
            slot
            for slot in availability.find_slots(
                centre,
                service,
                start,
                end,
                now,
                language,
                exclude_booking_id=exclude_booking_id,
                counsellor_id=counsellor_id,
                min_notice=min_notice,
            )
            if (after is None or slot.start_at > after)
            and (weekday is None or slot.start_at.astimezone(zone).weekday() == weekday)
        ]
        start = end + timedelta(days=1)
    return found[:count]


def group_by_day(centre: Centre, items: list, key: Callable = lambda s: s.start_at) -> list:
    """``items`` (in time order) as [(local date, [items])]."""
    zone = ZoneInfo(centre.timezone)
    days: dict[date, list] = {}
    for item in items:
        days.setdefault(key(item).astimezone(zone).date(), []).append(item)
    return list(days.items())


def posted_ids(values: list[str]) -> list[int]:
    """Booking ids from a form's repeated field; anything else is left out."""
    return [int(v) for v in values if v.isdigit() and len(v) < 12]


def posted_colleagues(form, booking_ids: list[int]) -> dict[int, int]:
    """The colleague chosen in each conflict row (field ``colleague-<booking id>``)."""
    chosen = {}
    for booking_id in booking_ids:
        raw = form.get(f"colleague-{booking_id}", "")
        if raw.isdigit() and len(raw) < 12:
            chosen[booking_id] = int(raw)
    return chosen


def settle_flash(done) -> None:
    """Tell what a decision on conflicting bookings did."""
    if done.handed_over:
        flash(
            ngettext(
                "%(num)d appointment handed over to a colleague; the family has been told.",
                "%(num)d appointments handed over to colleagues; the families have been told.",
                len(done.handed_over),
            ),
            "success",
        )
    if done.cancelled:
        flash(
            ngettext(
                "%(num)d appointment cancelled; the family has been told.",
                "%(num)d appointments cancelled; the families have been told.",
                len(done.cancelled),
            ),
            "success",
        )
    if done.failed:
        flash(
            _(
                "Could not be settled (no free colleague, or already cancelled or past): "
                "%(references)s",
                references=", ".join(done.failed),
            ),
            "error",
        )
