"""The only writer of events, their leaders and registrations (SPEC "Events").

Seats are never oversold: every change of who holds a seat locks the event's row first
(``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite every transaction already holds the
write lock from its ``BEGIN IMMEDIATE``), recounts the persons of the confirmed
registrations and decides with the pure rules of booking/event_rules.py; the check
``not_oversold`` on the event refuses a count above the seats. When seats free up, the
earliest waiting registrations that fit are confirmed in the same transaction, and their
mails go into the outbox with it (booking/event_mail.py).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import selectinload

from booking import audit, event_mail, event_rules
from booking.bookings import (
    Idempotency,
    IdempotencyMismatch,
    hash_token,
    manage_token_for,
    new_reference,
    release_expired_holds,
)
from booking.extensions import db
from booking.models import (
    Centre,
    Event,
    IdempotencyKey,
    Occupancy,
    Registration,
    User,
)
from booking.occupancy import is_lost_race
from booking.transactions import committed
from booking.validation import RegistrationDetails


class EventError(Exception):
    """A rule of SPEC "Events" refuses the request; ``problem`` names it for the API."""

    problem = "event-error"
    status = 409


class EventFull(EventError):
    """No seat is free and the event keeps no waiting list."""

    problem = "event-full"


class RegistrationClosed(EventError):
    """Registration has closed (or the event is cancelled or has begun)."""

    problem = "registration-closed"


class AlreadyRegistered(EventError):
    """The address holds an active registration for this event already."""

    problem = "already-registered"


class RegistrationNotChangeable(EventError):
    """The registration is cancelled, or its event has begun."""

    problem = "registration-not-changeable"


class EventNotChangeable(EventError):
    """The event is cancelled or over."""

    problem = "event-not-changeable"


class LeaderBusy(EventError):
    """A leader holds an appointment or leads another event at that time."""

    problem = "leader-busy"

    def __init__(self, names: list[str]):
        super().__init__(", ".join(names))
        self.names = names


class SeatsBelowConfirmed(EventError):
    """Fewer seats than persons already confirmed."""

    problem = "seats-below-confirmed"


@dataclass(frozen=True)
class EventDetails:
    """What an admin says about an event, besides its times and leaders."""

    titles: dict
    descriptions: dict = field(default_factory=dict)
    audience: str = "everyone"
    place: str | None = None
    seats: int = 20
    has_waiting_list: bool = True
    # None: 24 hours before each start.
    closes_before: timedelta | None = None
    languages: tuple[str, ...] = ("de",)


@dataclass
class RegistrationResult:
    registration: Registration
    manage_token: str
    waiting_position: int | None = None
    # A repeated form (the same nonce): the first registration, nothing written.
    replayed: bool = False


# --- reads -------------------------------------------------------------------------


def find_by_token(token: str) -> Registration | None:
    """The registration a manage token belongs to."""
    if not token or len(token) > 128:
        return None
    return db.session.scalar(
        select(Registration).where(Registration.manage_token_hash == hash_token(token))
    )


def waiting_position(registration: Registration) -> int | None:
    """1 for the first in line; None unless waiting."""
    if registration.status != "waiting":
        return None
    ahead = db.session.scalar(
        select(func.count())
        .select_from(Registration)
        .where(
            Registration.event_id == registration.event_id,
            Registration.status == "waiting",
            Registration.id < registration.id,
        )
    )
    return ahead + 1


def waiting_persons(event_ids: list[int]) -> dict[int, int]:
    """Persons on each event's waiting list."""
    if not event_ids:
        return {}
    return dict(
        db.session.execute(
            select(Registration.event_id, func.sum(Registration.persons))
            .where(Registration.event_id.in_(event_ids), Registration.status == "waiting")
            .group_by(Registration.event_id)
        ).all()
    )


def upcoming_events(
    centre_ids: list[int] | None,
    now: datetime,
    *,
    audience: str | None = None,
    start_from: datetime | None = None,
    start_to: datetime | None = None,
    include_cancelled: bool = False,
) -> list[Event]:
    """Events not yet over, soonest first; ``audience`` also finds those for everyone."""
    query = select(Event).where(Event.end_at > (start_from or now)).order_by(Event.start_at)
    if start_to is not None:
        query = query.where(Event.start_at < start_to)
    if centre_ids is not None:
        query = query.where(Event.centre_id.in_(centre_ids))
    if audience in ("families", "professionals"):
        query = query.where(Event.audience.in_((audience, "everyone")))
    if not include_cancelled:
        query = query.where(Event.status == "scheduled")
    return list(db.session.scalars(query))


def events_between(
    centre_ids: list[int] | None,
    start_at: datetime,
    end_at: datetime,
    *,
    leader_id: int | None = None,
    include_cancelled: bool = False,
) -> list[Event]:
    """Events overlapping ``[start_at, end_at)``, soonest first, each once (however many
    leaders, occupancy rows or registrations it has); ``leader_id``: only those they lead."""
    query = (
        select(Event)
        .where(Event.start_at < end_at, Event.end_at > start_at)
        .options(selectinload(Event.leaders), selectinload(Event.centre))
        .order_by(Event.start_at, Event.id)
    )
    if centre_ids is not None:
        query = query.where(Event.centre_id.in_(centre_ids))
    if leader_id is not None:
        query = query.where(Event.leaders.any(User.id == leader_id))
    if not include_cancelled:
        query = query.where(Event.status == "scheduled")
    return list(db.session.scalars(query))


def registrations_of(event: Event, *, active_only: bool = False) -> list[Registration]:
    """An event's registrations: confirmed first, then the waiting list in order, then the
    cancelled ones."""
    query = select(Registration).where(Registration.event_id == event.id)
    if active_only:
        query = query.where(Registration.status != "cancelled")
    rows = list(db.session.scalars(query.order_by(Registration.id)))
    order = {"confirmed": 0, "waiting": 1, "cancelled": 2}
    return sorted(rows, key=lambda r: (order[r.status], r.id))


@dataclass
class Audience:
    """Who hears of a change of an event: by mail, or (no address) by phone from staff."""

    by_mail: list[Registration]
    by_phone: list[Registration]


def who_is_told(event: Event) -> Audience:
    """The active registrations a move or cancellation of ``event`` reaches."""
    active = registrations_of(event, active_only=True)
    return Audience(
        by_mail=[r for r in active if r.email],
        by_phone=[r for r in active if not r.email],
    )


# --- locking and seats ---------------------------------------------------------------


def _lock(event: Event) -> Event:
    """Hold the event's row until the commit and read it afresh."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            select(Event)
            .where(Event.id == event.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    else:
        # SQLite: the transaction took the write lock at BEGIN IMMEDIATE.
        db.session.refresh(event)
    return event


def _recount(event: Event) -> int:
    """Persons of the confirmed registrations, counted anew (never trusted from before)."""
    return db.session.scalar(
        select(func.coalesce(func.sum(Registration.persons), 0)).where(
            Registration.event_id == event.id, Registration.status == "confirmed"
        )
    )


def _waiting(event: Event) -> list[Registration]:
    """The waiting list, first in line first."""
    return list(
        db.session.scalars(
            select(Registration)
            .where(Registration.event_id == event.id, Registration.status == "waiting")
            .order_by(Registration.id)
        )
    )


def _fill_from_waiting_list(event: Event, now: datetime) -> list[int]:
    """Confirm the earliest waiting registrations that fit; their mails. Under the lock."""
    confirmed = _recount(event)
    free = event.seats - confirmed
    if free <= 0 or event.is_cancelled:
        event.confirmed_persons = confirmed
        return []
    waiting = _waiting(event)
    chosen = set(event_rules.promote(free, [event_rules.Waiting(r.id, r.persons) for r in waiting]))
    outbox_ids: list[int] = []
    for registration in waiting:
        if registration.id in chosen:
            registration.status = "confirmed"
            registration.confirmed_at = now
            confirmed += registration.persons
    event.confirmed_persons = confirmed
    db.session.flush()
    for registration in waiting:
        if registration.id in chosen:
            outbox_ids += event_mail.enqueue_seat_free(registration, _new_token(registration), now)
    return outbox_ids


def _new_token(registration: Registration) -> str:
    """A fresh manage link for a mail; the one before stops working."""
    token = secrets.token_urlsafe(32)
    registration.manage_token_hash = hash_token(token)
    return token


# --- registrations -------------------------------------------------------------------


def register(
    event: Event,
    details: RegistrationDetails,
    *,
    now: datetime,
    locale: str = "de",
    channel: str = "online",
    created_by: User | None = None,
    idempotency: Idempotency | None = None,
) -> RegistrationResult:
    """Register ``details`` for ``event``: confirmed when the whole party fits, else waiting
    (or EventFull); commits and sends the mail.

    Families register until registration closes; staff (``created_by``) until the start,
    and without an e-mail address. Raises RegistrationClosed, EventFull, AlreadyRegistered,
    IdempotencyMismatch. A repeated form (the same ``idempotency`` key) returns the first
    registration and writes nothing, as a repeated booking form does (bookings.book_slot).
    """
    token = manage_token_for(idempotency)
    try:
        with committed(keep_loaded=True) as outbox_ids:
            if idempotency is not None:
                replay = _replay(idempotency)
                if replay is not None:
                    db.session.rollback()
                    return replay
                key_row = idempotency.claim()
            _lock(event)
            if event.is_cancelled or now >= event.start_at:
                raise RegistrationClosed()
            if created_by is None and not event.is_open_for_registration(now):
                raise RegistrationClosed()
            if details.email and _has_active(event, details.email):
                raise AlreadyRegistered()
            confirmed = _recount(event)
            decision = event_rules.decide(
                details.persons, event.seats, confirmed, event.has_waiting_list
            )
            if decision == "full":
                raise EventFull()
            registration = Registration(
                reference=new_reference(),
                event_id=event.id,
                status=decision,
                channel=channel,
                created_by_id=created_by.id if created_by is not None else None,
                name=details.name,
                email=details.email,
                email_key=details.email.lower() if details.email else None,
                phone=details.phone,
                organisation=details.organisation,
                language=details.language,
                persons=details.persons,
                consent_at=now if created_by is None else None,
                locale=locale,
                manage_token_hash=hash_token(token),
                sequence=0,
                created_at=now,
                confirmed_at=now if decision == "confirmed" else None,
            )
            registration.event = event
            db.session.add(registration)
            event.confirmed_persons = confirmed + (
                details.persons if decision == "confirmed" else 0
            )
            db.session.flush()
            if idempotency is not None:
                key_row.registration_id = registration.id
            position = waiting_position(registration)
            if created_by is not None:
                _audit(created_by, event, f"registered {registration.reference} ({channel})", now)
            if decision == "confirmed":
                outbox_ids += event_mail.enqueue_confirmation(registration, token, now)
            else:
                outbox_ids += event_mail.enqueue_waiting(registration, token, position, now)
    except IntegrityError as error:
        if idempotency is not None and "idempotency" in str(error.orig).lower():
            # A twin of this very form committed meanwhile: answer with its registration.
            replay = _replay(idempotency)
            db.session.rollback()
            if replay is not None:
                return replay
        # The unique index saw a twin of this address that committed meanwhile.
        if "email_key" in str(error.orig).lower() or "uq_registration_event_email" in str(
            error.orig
        ):
            raise AlreadyRegistered() from error
        raise
    return RegistrationResult(registration, token, position)


def _replay(idempotency: Idempotency) -> RegistrationResult | None:
    """The first registration of a repeated form, or None the first time."""
    row = db.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.scope == idempotency.scope, IdempotencyKey.key == idempotency.key
        )
    )
    if row is None:
        return None
    if row.request_hash != idempotency.fingerprint or row.registration_id is None:
        raise IdempotencyMismatch()
    registration = db.session.get(Registration, row.registration_id)
    return RegistrationResult(
        registration,
        manage_token_for(idempotency),
        waiting_position(registration),
        replayed=True,
    )


def _has_active(event: Event, email: str) -> bool:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Registration)
            .where(
                Registration.event_id == event.id,
                Registration.status != "cancelled",
                Registration.email_key == email.lower(),
            )
        )
        > 0
    )


def cancel_registration(
    registration: Registration, *, now: datetime, by_staff: User | None = None
) -> bool:
    """Cancel one registration: a CANCEL to this registrant alone; the seats go to the
    waiting list at once. False when it was cancelled already."""
    event = registration.event
    with committed() as outbox_ids:
        _lock(event)
        db.session.refresh(registration)
        if registration.status == "cancelled":
            db.session.rollback()
            return False
        if now >= event.start_at:
            raise RegistrationNotChangeable()
        was_confirmed = registration.status == "confirmed"
        registration.status = "cancelled"
        registration.cancelled_at = now
        registration.sequence += 1
        db.session.flush()
        if by_staff is not None:
            _audit(by_staff, event, f"cancelled {registration.reference}", now)
        outbox_ids += event_mail.enqueue_registration_cancelled(registration, was_confirmed, now)
        outbox_ids += _fill_from_waiting_list(event, now)
    return True


def mark_attendance(registration: Registration, attendance: str | None, actor: User, *, now):
    """Staff note who came (``attended``, ``no_show``, or None to clear it)."""
    if attendance not in (None, "attended", "no_show"):
        raise ValueError(f"unknown attendance {attendance!r}")
    if registration.status != "confirmed":
        raise RegistrationNotChangeable()
    with committed():
        registration.attendance = attendance
        _audit(actor, registration.event, f"{registration.reference}: {attendance or '-'}", now)


# --- events --------------------------------------------------------------------------


def _audit(actor: User | None, event: Event, detail: str, now: datetime) -> None:
    audit.record(
        actor, "event", centre_id=event.centre_id, detail=f"event {event.id}: {detail}", now=now
    )


def _busy_leaders(
    leaders: list[User], times: list[tuple[datetime, datetime]], exclude_event_id: int | None
) -> list[str]:
    """The leaders already busy (occupancy: an appointment, another event) at one of
    ``times``; the database has the last word (``LeaderBusy`` from a lost race)."""
    ids = [u.id for u in leaders]
    busy = set()
    for start_at, end_at in times:
        query = select(Occupancy.user_id).where(
            Occupancy.user_id.in_(ids),
            Occupancy.is_active.is_(True),
            Occupancy.start_at < end_at,
            Occupancy.end_at > start_at,
        )
        if exclude_event_id is not None:
            query = query.where(
                or_(Occupancy.event_id.is_(None), Occupancy.event_id != exclude_event_id)
            )
        busy.update(db.session.scalars(query))
    return sorted(u.name for u in leaders if u.id in busy)


def _race_winners(
    leaders: list[User], times: list[tuple[datetime, datetime]], exclude_event_id: int | None
) -> list[str]:
    """After a lost race (rolled back): the leaders whom the other transaction made busy,
    read now that it has committed; all of them if it has since let go again."""
    names = _busy_leaders(leaders, times, exclude_event_id) or sorted(u.name for u in leaders)
    db.session.rollback()  # only read: end the transaction the reading began
    return names


def create_events(
    centre: Centre,
    details: EventDetails,
    times: list[tuple[datetime, datetime]],
    leaders: list[User],
    actor: User | None,
    *,
    now: datetime,
) -> list[Event]:
    """One event per (start, end) of ``times`` (a series is separate events sharing a key);
    commits. Raises LeaderBusy when a leader is not free at one of the times."""
    try:
        return _create_events(centre, details, times, leaders, actor, now=now)
    except DBAPIError as error:
        if is_lost_race(error):
            raise LeaderBusy(_race_winners(leaders, times, None)) from error
        raise


def _create_events(centre, details, times, leaders, actor, *, now) -> list[Event]:
    with committed(keep_loaded=True):
        release_expired_holds(now)  # a booking's hold that ran out does not keep a leader
        busy = _busy_leaders(leaders, times, None)
        if busy:
            raise LeaderBusy(busy)
        series_key = uuid.uuid4().hex if len(times) > 1 else None
        made = []
        for start_at, end_at in times:
            event = Event(
                centre_id=centre.id,
                titles=dict(details.titles),
                descriptions=dict(details.descriptions),
                audience=details.audience,
                start_at=start_at,
                end_at=end_at,
                place=details.place,
                seats=details.seats,
                confirmed_persons=0,
                has_waiting_list=details.has_waiting_list,
                registration_closes_at=_closing(start_at, details.closes_before),
                languages=list(details.languages),
                status="scheduled",
                series_key=series_key,
                created_at=now,
                updated_at=now,
            )
            event.centre = centre
            event.leaders = list(leaders)
            db.session.add(event)
            made.append(event)
        db.session.flush()
        for event in made:
            _audit(actor, event, "created", now)
    return made


def _closing(start_at: datetime, closes_before: timedelta | None) -> datetime:
    if closes_before is None:
        return event_rules.default_closing(start_at)
    return start_at - closes_before


def change_event(
    event: Event,
    details: EventDetails,
    start_at: datetime,
    end_at: datetime,
    leaders: list[User],
    actor: User | None,
    *,
    now: datetime,
) -> list[int]:
    """Change an event; commits. A new time or place sends every confirmed registration its
    invitation again (same UID, higher SEQUENCE) and every waiting one a mail with the new
    time and its place in line, all in this one transaction; more seats confirm waiting
    registrations. Returns the ids of the registrations told of a move."""
    try:
        return _change_event(event, details, start_at, end_at, leaders, actor, now=now)
    except DBAPIError as error:
        if is_lost_race(error):
            raise LeaderBusy(_race_winners(leaders, [(start_at, end_at)], event.id)) from error
        raise


def _change_event(event, details, start_at, end_at, leaders, actor, *, now) -> list[int]:
    with committed() as outbox_ids:
        _lock(event)
        if event.is_cancelled or now >= event.end_at:
            raise EventNotChangeable()
        release_expired_holds(now)
        busy = _busy_leaders(leaders, [(start_at, end_at)], event.id)
        if busy:
            raise LeaderBusy(busy)
        if details.seats < _recount(event):
            raise SeatsBelowConfirmed()
        moved = (start_at, end_at, details.place) != (event.start_at, event.end_at, event.place)
        event.titles = dict(details.titles)
        event.descriptions = dict(details.descriptions)
        event.audience = details.audience
        event.place = details.place
        event.seats = details.seats
        event.has_waiting_list = details.has_waiting_list
        event.languages = list(details.languages)
        event.start_at, event.end_at = start_at, end_at
        event.registration_closes_at = _closing(start_at, details.closes_before)
        event.leaders = list(leaders)
        event.updated_at = now
        db.session.flush()
        told = []
        if moved:
            for registration in registrations_of(event, active_only=True):
                if registration.status != "confirmed":
                    continue
                registration.sequence += 1
                told.append(registration.id)
                db.session.flush()
                outbox_ids += event_mail.enqueue_moved(registration, _new_token(registration), now)
        outbox_ids += _fill_from_waiting_list(event, now)
        if moved:
            # Those still waiting hold no seat and no invitation: a mail with the new time,
            # their place in line unchanged.
            for position, registration in enumerate(_waiting(event), start=1):
                told.append(registration.id)
                if registration.email:
                    token = _new_token(registration)
                    outbox_ids += event_mail.enqueue_moved_waiting(
                        registration, token, position, now
                    )
        _audit(actor, event, "moved" if moved else "changed", now)
    return told


def cancel_event(event: Event, reason: str, actor: User | None, *, now: datetime) -> int:
    """Cancel an event: each confirmed registration gets a CANCEL with the reason, each
    waiting one a mail; the leaders are free again. Returns how many were told by mail."""
    with committed() as outbox_ids:
        _lock(event)
        if event.is_cancelled:
            db.session.rollback()
            return 0
        if now >= event.end_at:
            raise EventNotChangeable()
        event.status = "cancelled"
        event.cancel_reason = reason
        event.cancelled_at = now
        told = 0
        for registration in registrations_of(event, active_only=True):
            was_confirmed = registration.status == "confirmed"
            registration.status = "cancelled"
            registration.cancelled_at = now
            registration.sequence += 1
            db.session.flush()
            ids = event_mail.enqueue_event_cancelled(registration, was_confirmed, reason, now)
            told += bool(ids)
            outbox_ids += ids
        event.confirmed_persons = 0
        _audit(actor, event, "cancelled", now)
    return told


def message_registrants(event: Event, text: str, actor: User, *, now: datetime) -> int:
    """A message from staff to every active registrant with an address; returns how many."""
    with committed() as outbox_ids:
        key = uuid.uuid4().hex
        count = 0
        for registration in registrations_of(event, active_only=True):
            ids = event_mail.enqueue_message(registration, text, key, now)
            count += bool(ids)
            outbox_ids += ids
        _audit(actor, event, f"message to {count} registrants", now)
    return count
