"""The only writer of absences: a counsellor's times away, repeated weekly; their slots
disappear at once, bookings are kept (the pages list what no longer fits)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import ngettext

from booking import audit
from booking.extensions import db
from booking.models import Absence, User
from booking.transactions import committed
from booking.validation import FieldError, clean_text


class AbsenceInvalid(ValueError):
    """The absence cannot be saved as given; the message says why, ``field`` where."""

    def __init__(self, message: str, field: str = "end"):
        super().__init__(message)
        self.field = field


MAX_ABSENCE_REPEATS = 53


def absence_times(
    start_at: datetime, end_at: datetime, timezone: str, repeat_until: date | None
) -> list[tuple[datetime, datetime]]:
    """The absence and its weekly repetitions up to ``repeat_until`` (a local date), each at
    the same wall-clock times, so summer and winter time do not shift them."""
    zone = ZoneInfo(timezone)
    first = start_at.astimezone(zone).replace(tzinfo=None)
    last = end_at.astimezone(zone).replace(tzinfo=None)
    found = [(start_at, end_at)]
    if repeat_until is None:
        return found
    if repeat_until < first.date():
        raise AbsenceInvalid(
            _("The repetition must end on or after the first day."), "repeat_until"
        )
    week = 1
    while (first + timedelta(weeks=week)).date() <= repeat_until:
        if week >= MAX_ABSENCE_REPEATS:
            raise AbsenceInvalid(
                ngettext(
                    "At most %(num)d week can be repeated at once.",
                    "At most %(num)d weeks can be repeated at once.",
                    MAX_ABSENCE_REPEATS,
                ),
                "repeat_until",
            )
        shift = timedelta(weeks=week)
        found.append(((first + shift).replace(tzinfo=zone), (last + shift).replace(tzinfo=zone)))
        week += 1
    return found


def add_absence(
    user: User,
    start_at: datetime,
    end_at: datetime,
    note: str,
    actor: User,
    *,
    now: datetime,
    repeat_until: date | None = None,
) -> list[Absence]:
    """Record a time ``user`` is away, repeated weekly up to ``repeat_until``; their slots
    disappear at once. Bookings are kept. All repetitions are saved, or none."""
    if start_at.tzinfo is None or end_at.tzinfo is None:
        raise ValueError("absence times must be aware")
    if not start_at < end_at:
        raise AbsenceInvalid(_("The end must be after the start."))
    if end_at <= now:
        raise AbsenceInvalid(_("The end must be in the future."))
    try:
        note = clean_text(note, max_length=300) or ""
    except FieldError as error:
        raise AbsenceInvalid(str(error), "note") from error
    times = absence_times(start_at, end_at, user.centre.timezone, repeat_until)
    added = []
    with committed():
        for first, last in times:
            absence = Absence(user_id=user.id, start_at=first, end_at=last, note=note)
            db.session.add(absence)
            db.session.flush()
            audit.record(
                actor,
                "absence",
                centre_id=user.centre_id,
                detail=f"added #{absence.id} for {user.name}: "
                f"{first.isoformat()} – {last.isoformat()}",
                now=now,
            )
            added.append(absence)
    return added


def delete_absence(absence: Absence, actor: User, *, now: datetime) -> None:
    """Remove an absence; its times become bookable again."""
    with committed():
        user = absence.user
        audit.record(
            actor,
            "absence",
            centre_id=user.centre_id,
            detail=f"deleted #{absence.id} for {user.name}: "
            f"{absence.start_at.isoformat()} – {absence.end_at.isoformat()}",
            now=now,
        )
        db.session.delete(absence)
