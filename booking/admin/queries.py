"""What the admin pages read, each in a fixed number of queries."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import defer, selectinload

from booking import reports
from booking.extensions import db
from booking.models import (
    UNCONFIRMED_STATUSES,
    Booking,
    Centre,
    Event,
    Invitation,
    OutboxMessage,
    Registration,
    Service,
    User,
)
from booking.reports import BookingFact, InvitationFact


def admin_centres(user: User) -> list[Centre]:
    """The centres an admin manages, by name."""
    ids = user.centre_ids
    if not ids:
        return []
    return list(db.session.scalars(select(Centre).where(Centre.id.in_(ids)).order_by(Centre.name)))


def centre_of(user: User, slug: str) -> Centre | None:
    """The admin's centre with this slug (None for unknown centres and those of others)."""
    centre = db.session.scalar(
        select(Centre).where(Centre.slug == slug).options(selectinload(Centre.opening_hours))
    )
    if centre is None or centre.id not in user.centre_ids:
        return None
    return centre


def services_of(centre: Centre) -> list[Service]:
    """All services of the centre, offered or not, in their order."""
    return list(
        db.session.scalars(
            select(Service)
            .where(Service.centre_id == centre.id)
            .options(selectinload(Service.counsellors))
            .order_by(Service.position, Service.slug)
        )
    )


def service_by_slug(centre: Centre, slug: str | None) -> Service | None:
    return db.session.scalar(
        select(Service).where(Service.centre_id == centre.id, Service.slug == (slug or ""))
    )


def active_counsellors_of(service: Service) -> list[User]:
    """The active staff who can hold the service: without any, it has no free times."""
    return [u for u in service.counsellors if u.is_active and u.can_hold(service)]


def staff_of(centre: Centre) -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .where(User.centre_id == centre.id)
            .options(selectinload(User.services))
            .order_by(User.is_active.desc(), User.name)
        )
    )


def report_facts(centre: Centre, year: int) -> list[BookingFact]:
    """The kept fields of the bookings starting in ``year`` (local time), in one query.

    Never names, e-mails, phones or messages: the report must read the same after the
    personal data is purged.
    """
    zone = ZoneInfo(centre.timezone)
    start_at = datetime(year, 1, 1, tzinfo=zone)
    end_at = datetime(year + 1, 1, 1, tzinfo=zone)
    rows = db.session.execute(
        select(
            Booking.start_at,
            Booking.service_id,
            Booking.language,
            Booking.interpreter_language.is_not(None),
            Booking.channel,
            Booking.status,
            Booking.persons,
            Booking.counsellor_id,
            Booking.interpreter_language,
        ).where(
            Booking.centre_id == centre.id,
            Booking.start_at >= start_at,
            Booking.start_at < end_at,
            # A hold is not (or not yet) an appointment.
            Booking.status.not_in(UNCONFIRMED_STATUSES),
        )
    )
    return [
        BookingFact(
            start,
            service_id,
            language,
            bool(interpreter),
            channel,
            status,
            persons or 1,
            counsellor_id,
            interpreter_language,
        )
        for (
            start,
            service_id,
            language,
            interpreter,
            channel,
            status,
            persons,
            counsellor_id,
            interpreter_language,
        ) in rows
    ]


def invitation_facts(centre: Centre, year: int) -> list[InvitationFact]:
    """The dates of the invitations made in ``year`` (local time) and of the appointments
    booked through them; one query, no personal data."""
    zone = ZoneInfo(centre.timezone)
    start_at = datetime(year, 1, 1, tzinfo=zone)
    end_at = datetime(year + 1, 1, 1, tzinfo=zone)
    rows = db.session.execute(
        select(
            Invitation.created_at,
            Invitation.expires_at,
            Invitation.used_at,
            Invitation.withdrawn_at,
            Booking.start_at,
        )
        .outerjoin(Booking, Booking.id == Invitation.booking_id)
        .where(
            Invitation.centre_id == centre.id,
            Invitation.created_at >= start_at,
            Invitation.created_at < end_at,
        )
    )
    return [InvitationFact(*row) for row in rows]


def staff_names(ids) -> dict[int, str]:
    """Names of staff accounts by id (for the report's rows per counsellor)."""
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all())


def dead_mails(centre: Centre) -> list[OutboxMessage]:
    """Mails about the centre's bookings that were given up, newest first."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .join(Booking, Booking.id == OutboxMessage.booking_id)
            .where(Booking.centre_id == centre.id, OutboxMessage.state == "dead")
            .options(defer(OutboxMessage.raw))
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        )
    )


def dead_mail_counts(centres: list[Centre]) -> dict[int, int]:
    """Per centre, how many mails were given up."""
    if not centres:
        return {}
    rows = db.session.execute(
        select(Booking.centre_id, func.count())
        .select_from(OutboxMessage)
        .join(Booking, Booking.id == OutboxMessage.booking_id)
        .where(Booking.centre_id.in_([c.id for c in centres]), OutboxMessage.state == "dead")
        .group_by(Booking.centre_id)
    )
    return dict(rows.all())


def dead_mail_of(centre: Centre, message_id: int) -> tuple[OutboxMessage, Booking] | None:
    row = db.session.execute(
        select(OutboxMessage, Booking)
        .join(Booking, Booking.id == OutboxMessage.booking_id)
        .where(OutboxMessage.id == message_id, Booking.centre_id == centre.id)
    ).first()
    return (row[0], row[1]) if row else None


def event_facts(centre: Centre, year: int) -> list[reports.EventFact]:
    """The events starting in ``year`` (the centre's time) with their registrations' kept
    fields, in one query."""
    zone = ZoneInfo(centre.timezone)
    start = datetime(year, 1, 1, tzinfo=zone)
    end = datetime(year + 1, 1, 1, tzinfo=zone)
    rows = db.session.execute(
        select(
            Event.id,
            Event.audience,
            Event.start_at,
            Event.status,
            Registration.status,
            Registration.persons,
            Registration.attendance,
        )
        .outerjoin(Registration, Registration.event_id == Event.id)
        .where(Event.centre_id == centre.id, Event.start_at >= start, Event.start_at < end)
        .order_by(Event.id)
    ).all()
    events: dict[int, tuple] = {}
    registrations: dict[int, list[reports.RegistrationFact]] = {}
    for event_id, audience, start_at, status, r_status, persons, attendance in rows:
        events[event_id] = (audience, start_at.astimezone(zone).month, status == "cancelled")
        found = registrations.setdefault(event_id, [])
        if r_status is not None:
            found.append(reports.RegistrationFact(r_status, persons, attendance))
    return [
        reports.EventFact(*facts, tuple(registrations[event_id]))
        for event_id, facts in events.items()
    ]
