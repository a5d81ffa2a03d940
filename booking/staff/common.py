"""Helpers shared by the staff views: the user's centres, local days, the next free slots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import abort
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
) -> list:
    """The first ``count`` free slots from ``first_day`` on, up to the centre's horizon.

    Looks a week ahead first, then further: a few queries per window, whatever the count.
    """
    last_day = centre_today(centre, now) + timedelta(days=centre.horizon_days)
    found: list = []
    start = first_day
    for span in (7, 21, centre.horizon_days):
        if start > last_day or len(found) >= count:
            break
        end = min(start + timedelta(days=span - 1), last_day)
        found += availability.find_slots(
            centre, service, start, end, now, language, exclude_booking_id=exclude_booking_id
        )
        start = end + timedelta(days=1)
    return found[:count]


def group_by_day(centre: Centre, items: list, key: Callable = lambda s: s.start_at) -> list:
    """``items`` (in time order) as [(local date, [items])]."""
    zone = ZoneInfo(centre.timezone)
    days: dict[date, list] = {}
    for item in items:
        days.setdefault(key(item).astimezone(zone).date(), []).append(item)
    return list(days.items())
