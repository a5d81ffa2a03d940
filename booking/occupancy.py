"""The only writer of the occupancy table: who is busy when, whatever made them busy.

A subject (a booking, an event) says whom it holds, in which role, and when; at every flush
this module brings the subject's Occupancy rows in step with it, in the same transaction
as the subject's own change, so the two never drift whichever writer changed the subject
(book, move, cancel, hand over, attendance). The database has the last word on overlaps
(models.Occupancy); on SQLite the check before the write is here (``OccupancyOverlap``).

A new subject joins in three steps: a foreign key column and a term of ONE_SUBJECT in
models.Occupancy (and a migration), a relationship from the subject to its rows, and a
``Subject`` in ``SUBJECTS`` below naming the attributes that change whom it holds or when
(e.g. an event: its leaders, start and end, whether it is cancelled). A booking that holds
two people (a joint appointment) returns both from its ``holds``.

A held booking (waiting for the family's confirmation) is busy like any other, but its rows
carry ``expires_at``: from then on the slot search counts them free, and writers mark such
holds expired (bookings.release_expired_holds) before they write, so the constraint never
meets a hold that ran out.

A writer that lost a race (the constraint, a deadlock between two inserts, a serialization
failure) asks ``is_lost_race`` and answers as for a time no longer free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy import event, exists, inspect, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from booking.models import COUNSELLOR, OFFICER, Booking, Event, Occupancy, User

# SQLSTATEs of a lost race on PostgreSQL: exclusion_violation, unique_violation,
# deadlock_detected (two overlapping inserts waiting on each other under the exclusion
# constraint), serialization_failure.
LOST_RACE_STATES = frozenset({"23P01", "23505", "40P01", "40001"})


class OccupancyOverlap(IntegrityError):
    """SQLite: an active row would overlap another active row of the same person (what the
    exclusion constraint raises on PostgreSQL)."""

    def __init__(self, user_id: int) -> None:
        super().__init__(
            "occupancy overlap check", {"user_id": user_id}, Exception("occupancy overlap")
        )


def is_lost_race(error: DBAPIError) -> bool:
    """Whether ``error`` means another transaction took the time first."""
    if isinstance(error, IntegrityError):
        return True
    return getattr(error.orig, "sqlstate", None) in LOST_RACE_STATES


@dataclass(frozen=True)
class Hold:
    """One person a subject makes busy: an account (or its id) and the role held in."""

    role: str
    user: int | User


@dataclass(frozen=True)
class Subject:
    """What makes people busy, as this module keeps it: its model, the relationship to its
    Occupancy rows, the attributes whose change changes its rows, whom it holds, and its
    span and whether it is active."""

    model: type
    rows: str
    watched: frozenset[str]
    holds: Callable[[object], list[Hold]]
    span: Callable[[object], tuple[datetime, datetime, bool]]
    # The instant its rows stop making anyone busy by the clock alone (a hold), or None.
    expiry: Callable[[object], datetime | None] = lambda _subject: None


def _changed_holder(obj, id_attr: str, relation: str) -> int | User | None:
    """The account in ``relation`` when it was just set, else the id in ``id_attr`` (set
    directly by the writers), else the related account (a subject not yet flushed)."""
    added = inspect(obj).attrs[relation].history.added
    if added:
        return added[0]
    value = getattr(obj, id_attr)
    return value if value is not None else getattr(obj, relation)


def booking_holds(booking: Booking) -> list[Hold]:
    """Whom a booking makes busy: its counsellor, and a joint appointment's officer."""
    holds = [Hold(COUNSELLOR, _changed_holder(booking, "counsellor_id", "counsellor"))]
    officer = _changed_holder(booking, "officer_id", "officer")
    if officer is not None:
        holds.append(Hold(OFFICER, officer))
    return holds


def booking_span(booking: Booking) -> tuple[datetime, datetime, bool]:
    return booking.start_at, booking.end_at, booking.status not in ("cancelled", "expired")


def booking_expiry(booking: Booking) -> datetime | None:
    """A held booking stops making anyone busy when its hold runs out."""
    return booking.hold_expires_at if booking.is_held else None


def event_holds(event: Event) -> list[Hold]:
    """Whom an event makes busy: its leaders."""
    return [Hold("leader", user) for user in event.leaders]


def event_span(event: Event) -> tuple[datetime, datetime, bool]:
    return event.start_at, event.end_at, not event.is_cancelled


SUBJECTS: tuple[Subject, ...] = (
    Subject(
        model=Booking,
        rows="occupancies",
        watched=frozenset(
            {
                "start_at",
                "end_at",
                "status",
                "hold_expires_at",
                "counsellor_id",
                "counsellor",
                "officer_id",
                "officer",
            }
        ),
        holds=booking_holds,
        span=booking_span,
        expiry=booking_expiry,
    ),
    Subject(
        model=Event,
        rows="occupancies",
        watched=frozenset({"start_at", "end_at", "status", "leaders"}),
        holds=event_holds,
        span=event_span,
    ),
)
_BY_MODEL = {s.model: s for s in SUBJECTS}


def init_app(app: Flask) -> None:
    """Keep occupancy in step at every flush of every session (registered once)."""
    if not event.contains(Session, "before_flush", _sync_before_flush):
        event.listen(Session, "before_flush", _sync_before_flush)


def _is_changed(obj, subject: Subject) -> bool:
    attrs = inspect(obj).attrs
    return any(attrs[name].history.has_changes() for name in subject.watched)


def _sync_before_flush(session: Session, flush_context, instances) -> None:
    changed = [
        (obj, subject)
        for obj in (*session.new, *session.dirty)
        if (subject := _BY_MODEL.get(type(obj))) is not None
        and (obj in session.new or _is_changed(obj, subject))
    ]
    if not changed:
        return
    with session.no_autoflush:
        for obj, subject in changed:
            sync(session, obj, subject)


def _key(hold: Hold) -> tuple[str, object]:
    user = hold.user
    if isinstance(user, User):
        user = user.id if user.id is not None else user
    return hold.role, user


def sync(session: Session, obj, subject: Subject) -> None:
    """Make ``obj``'s Occupancy rows say whom it holds, when, and whether it is active."""
    start_at, end_at, is_active = subject.span(obj)
    expires_at = subject.expiry(obj)
    rows: list[Occupancy] = getattr(obj, subject.rows)
    existing = {(row.role, row.user_id): row for row in rows}
    kept = []
    for hold in subject.holds(obj):
        row = existing.pop(_key(hold), None)
        if row is None:
            row = Occupancy(role=hold.role)
            if isinstance(hold.user, User):
                row.user = hold.user
            else:
                row.user_id = hold.user
            rows.append(row)
        row.start_at, row.end_at, row.is_active = start_at, end_at, is_active
        row.expires_at = expires_at
        kept.append(row)
    for row in existing.values():
        rows.remove(row)  # delete-orphan: the row goes with this flush
    if is_active and session.get_bind().dialect.name == "sqlite":
        for row in kept:
            _check_free(session, row)


def _check_free(session: Session, row: Occupancy) -> None:
    """SQLite: refuse an active row overlapping another active row of the same person.
    The transaction holds the write lock from its BEGIN IMMEDIATE, so nothing can come
    between this check and the write."""
    user_id = row.user_id if row.user_id is not None else row.user.id
    if user_id is None:
        return  # an account made in this very flush holds nothing else yet
    other = select(Occupancy.id).where(
        Occupancy.user_id == user_id,
        Occupancy.is_active.is_(True),
        Occupancy.start_at < row.end_at,
        Occupancy.end_at > row.start_at,
    )
    if row.id is not None:
        other = other.where(Occupancy.id != row.id)
    if session.scalar(select(exists(other))):
        raise OccupancyOverlap(user_id)
