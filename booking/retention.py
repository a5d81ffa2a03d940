"""Retention (SPEC "Production"): personal data is erased, what the reports count stays.

The only writer of erasures. Erasing a booking blanks the family's name and removes their
e-mail address, phone number and message, and the bodies, snapshots (what a mail not yet
composed will say: names, addresses, manage links) and recipients of the mails about it; it
keeps reference, centre, service, counsellor, times, status, channel, language, interpreter
need and number of persons, so every report adds up as before. When a family erases its
data, mails still waiting to be sent keep their body until they are sent (the cancellation
must still reach the family's calendar); the next purge erases them. Past retention, waiting
mails are erased and given up.

- ``purge(now, retention_days)``: bookings whose appointment ended more than
  RETENTION_DAYS ago (`flask --app wsgi purge`, run daily); and the mails of every subject
  (mail_kinds.SUBJECTS: bookings, ...) erased before and sent since, and mails whose subject
  was deleted, once RETENTION_DAYS old; "find my booking" requests no worker answered
  (find_requests.py), once RETENTION_DAYS old.
  A hold that ran out unconfirmed (status "expired") never became a booking: the next
  purge erases it, whatever the retention time.
- ``erase_booking(booking, now)``: a family's own wish, from the manage page, once the
  booking is cancelled.
Both are idempotent and recorded in the audit log (counts only).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, func, or_, select, update

from booking import audit, throttling
from booking.extensions import db
from booking.mail_kinds import BOOKING, INVITATION, REGISTRATION, SUBJECTS, subject_columns
from booking.models import (
    Booking,
    Centre,
    Event,
    FindRequest,
    IdempotencyKey,
    Invitation,
    OutboxMessage,
    Registration,
    SignInFailure,
)

ERASED_NAME = ""


class NotErasable(ValueError):
    """The booking cannot be erased yet (it is not cancelled)."""


@dataclass
class PurgeCounts:
    """What a purge erased (or would erase): counts, never personal data."""

    bookings: int = 0
    expired_holds: int = 0
    registrations: int = 0
    mails: int = 0
    sign_in_records: int = 0
    invitations: int = 0
    find_requests: int = 0
    per_centre: Counter = field(default_factory=Counter)

    def describe(self) -> str:
        return (
            f"{self.bookings} bookings erased, "
            f"{self.expired_holds} unconfirmed holds erased, "
            f"{self.invitations} invitations erased, "
            f"{self.registrations} event registrations erased, "
            f"{self.mails} mail bodies erased, {self.sign_in_records} old sign-in records deleted, "
            f"{self.find_requests} unanswered link requests deleted"
        )


def _erasable_mails(owned_by, *, waiting_too: bool = False):
    """Outbox rows matching ``owned_by`` that still hold a body, a snapshot or a recipient
    (and are no longer waiting to be sent, unless ``waiting_too``)."""
    conditions = [
        owned_by,
        or_(
            func.length(OutboxMessage.raw) > 0,
            OutboxMessage.snapshot.is_not(None),
            OutboxMessage.recipient != "",
            OutboxMessage.last_error.is_not(None),
        ),
    ]
    if not waiting_too:
        conditions.append(OutboxMessage.state != "pending")
    return conditions


def _erase_mails(owned_by, *, waiting_too: bool = False) -> int:
    """Blank the mails matching ``owned_by``; returns how many. With ``waiting_too``, mails
    still waiting are erased as well and given up (dead)."""
    return db.session.execute(
        update(OutboxMessage)
        .where(*_erasable_mails(owned_by, waiting_too=waiting_too))
        .values(
            raw=b"",
            snapshot=None,
            recipient="",
            last_error=None,
            state=case((OutboxMessage.state == "pending", "dead"), else_=OutboxMessage.state),
        )
        .execution_options(synchronize_session=False)
    ).rowcount


def _erase(booking_ids, now: datetime, *, waiting_too: bool = False) -> int:
    """Blank the personal fields of these bookings and their mails; returns the mails.

    With ``waiting_too`` (retention), mails still waiting are erased as well and given up:
    months after the appointment they have nothing left to say."""
    if not booking_ids:
        return 0
    db.session.execute(
        update(Booking)
        .where(Booking.id.in_(booking_ids))
        .values(
            name=ERASED_NAME,
            email=None,
            phone=None,
            phone_normalised=None,
            message=None,
            erased_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    mails = _erase_mails(BOOKING.column.in_(booking_ids), waiting_too=waiting_too)
    # The stored hash of a submitted form or API request is derived from personal data.
    db.session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.booking_id.in_(booking_ids))
        .execution_options(synchronize_session=False)
    )
    return mails


def _erase_invitations(cutoff: datetime, now: datetime) -> int:
    """Invitations past retention: unused ones expired before ``cutoff``, used ones whose
    appointment ended before it (or is gone). Names, contacts and the case note go; the
    dates the reports count stay. Their mails are erased with them. Returns how many."""
    appointment_ended = select(Booking.id).where(Booking.end_at < cutoff)
    due = select(Invitation.id).where(
        Invitation.erased_at.is_(None),
        or_(
            and_(Invitation.used_at.is_(None), Invitation.expires_at < cutoff),
            and_(
                Invitation.used_at.is_not(None),
                or_(Invitation.booking_id.is_(None), Invitation.booking_id.in_(appointment_ended)),
                Invitation.used_at < cutoff,
            ),
        ),
    )
    ids = list(db.session.scalars(due))
    if not ids:
        return 0
    db.session.execute(
        update(Invitation)
        .where(Invitation.id.in_(ids))
        .values(name=ERASED_NAME, email=None, phone=None, case_note=None, erased_at=now)
        .execution_options(synchronize_session=False)
    )
    _erase_mails(INVITATION.column.in_(ids), waiting_too=True)
    return len(ids)


def _erase_late_mails(cutoff: datetime) -> int:
    """Mails of every subject (mail_kinds.SUBJECTS) erased before, sent since; and mails
    whose subject was deleted, once older than the retention time. Returns how many."""
    mails = 0
    for subject in SUBJECTS.values():
        erased = select(subject.model.id).where(subject.erased_at.is_not(None))
        mails += _erase_mails(subject.column.in_(erased))
    # A mail whose subject is gone (every subject column NULL) has nothing left to erase
    # it with: it goes when the retention time has passed since it was written.
    orphaned = and_(*(column.is_(None) for column in subject_columns()))
    mails += _erase_mails(and_(orphaned, OutboxMessage.created_at < cutoff), waiting_too=True)
    return mails


def purge(now: datetime, retention_days: int, *, dry_run: bool = False) -> PurgeCounts:
    """Erase the personal data of bookings that ended more than ``retention_days`` ago,
    and mail bodies of erased subjects sent since; commits (rolls back on a dry run)."""
    cutoff = now - timedelta(days=retention_days)
    due = db.session.execute(
        select(Booking.id, Booking.centre_id).where(
            Booking.end_at < cutoff, Booking.erased_at.is_(None)
        )
    ).all()
    counts = PurgeCounts(bookings=len(due), per_centre=Counter(c for _id, c in due))
    counts.mails = _erase([i for i, _c in due], now, waiting_too=True)
    # Holds that ran out unconfirmed: never booked, so not kept until the retention time.
    # Their mails' link hashes stay, so the confirmation link still says "expired".
    holds = db.session.execute(
        select(Booking.id, Booking.centre_id).where(
            Booking.status == "expired", Booking.end_at >= cutoff, Booking.erased_at.is_(None)
        )
    ).all()
    counts.expired_holds = len(holds)
    counts.per_centre.update(c for _id, c in holds)
    counts.mails += _erase([i for i, _c in holds], now, waiting_too=True)
    counts.invitations = _erase_invitations(cutoff, now)
    counts.registrations, registration_mails = _erase_registrations(cutoff, now)
    counts.mails += registration_mails
    counts.mails += _erase_late_mails(cutoff)
    counts.sign_in_records = db.session.execute(
        delete(SignInFailure)
        .where(SignInFailure.last_failed_at < now - throttling.PAIR.forget_after)
        .execution_options(synchronize_session=False)
    ).rowcount
    # "Find my booking" requests no worker answered (find_requests.py): keyed hashes of an
    # address and a reference, gone once the retention time has passed since they were made.
    counts.find_requests = db.session.execute(
        delete(FindRequest)
        .where(FindRequest.requested_at < cutoff)
        .execution_options(synchronize_session=False)
    ).rowcount
    if dry_run:
        db.session.rollback()
        return counts
    # Every centre's audit log shows every purge, also one that found nothing there.
    for centre_id in db.session.scalars(select(Centre.id).order_by(Centre.id)):
        audit.record(
            None,
            "purge",
            centre_id=centre_id,
            detail=(
                f"{counts.per_centre[centre_id]} bookings past {retention_days} days or "
                "unconfirmed erased "
                f"(all centres: {counts.describe()})"
            ),
            now=now,
        )
    db.session.commit()
    return counts


def _erase_registrations(cutoff: datetime, now: datetime) -> tuple[int, int]:
    """Erase the registrants of events that ended before ``cutoff`` (SPEC "Events"): name,
    contacts, organisation, and the mails about them; persons, status and attendance stay
    for the reports. Returns the registrations and mails erased."""
    due = list(
        db.session.scalars(
            select(Registration.id)
            .join(Event, Event.id == Registration.event_id)
            .where(Event.end_at < cutoff, Registration.erased_at.is_(None))
        )
    )
    if not due:
        return 0, 0
    db.session.execute(
        update(Registration)
        .where(Registration.id.in_(due))
        .values(
            name=ERASED_NAME,
            email=None,
            email_key=None,
            phone=None,
            organisation=None,
            erased_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    mails = _erase_mails(REGISTRATION.column.in_(due), waiting_too=True)
    # The stored hash of a submitted registration form is derived from personal data.
    db.session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.registration_id.in_(due))
        .execution_options(synchronize_session=False)
    )
    return len(due), mails


# The tables whose rows a purge blanks: on PostgreSQL the old row versions keep the erased
# values in the table files until VACUUM makes their space reusable.
_ERASED_TABLES = (
    "booking",
    "registration",
    "outbox_message",
    "idempotency_key",
    "sign_in_failure",
    "find_request",
)


def vacuum_erased() -> list[str]:
    """On PostgreSQL, VACUUM (ANALYZE) the tables a purge changed, so the erased values'
    old row versions are cleaned away now rather than whenever autovacuum comes by. Returns
    the tables vacuumed (none on SQLite)."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return []
    # VACUUM cannot run inside a transaction block.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in _ERASED_TABLES:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
    return list(_ERASED_TABLES)


def erase_booking(booking: Booking, now: datetime) -> bool:
    """A family erases its own data after cancelling. False when it was erased already."""
    if booking.erased_at is not None:
        db.session.rollback()
        return False
    if not booking.is_cancelled:
        db.session.rollback()
        raise NotErasable(booking.reference)
    mails = _erase([booking.id], now)
    audit.record(
        None, "erase", booking, detail=f"by the family; {mails} mail bodies erased", now=now
    )
    db.session.commit()
    return True
