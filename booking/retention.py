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
  RETENTION_DAYS ago (`flask --app wsgi purge`, run daily).
- ``erase_booking(booking, now)``: a family's own wish, from the manage page, once the
  booking is cancelled.
Both are idempotent and recorded in the audit log (counts only).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, or_, select, update

from booking import audit, throttling
from booking.extensions import db
from booking.models import Booking, Centre, IdempotencyKey, OutboxMessage, SignInFailure

ERASED_NAME = ""


class NotErasable(ValueError):
    """The booking cannot be erased yet (it is not cancelled)."""


@dataclass
class PurgeCounts:
    """What a purge erased (or would erase): counts, never personal data."""

    bookings: int = 0
    mails: int = 0
    sign_in_records: int = 0
    per_centre: Counter = field(default_factory=Counter)

    def describe(self) -> str:
        return (
            f"{self.bookings} bookings erased, {self.mails} mail bodies erased, "
            f"{self.sign_in_records} old sign-in records deleted"
        )


def _erasable_mails(booking_ids, *, waiting_too: bool = False):
    """Outbox rows of these bookings that still hold a body or a snapshot (and are no longer
    waiting to be sent, unless ``waiting_too``)."""
    conditions = [
        OutboxMessage.booking_id.in_(booking_ids),
        or_(
            func.length(OutboxMessage.raw) > 0,
            OutboxMessage.snapshot.is_not(None),
            OutboxMessage.recipient != "",
        ),
    ]
    if not waiting_too:
        conditions.append(OutboxMessage.state != "pending")
    return conditions


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
    mails = db.session.execute(
        update(OutboxMessage)
        .where(*_erasable_mails(booking_ids, waiting_too=waiting_too))
        .values(
            raw=b"",
            snapshot=None,
            recipient="",
            state=case((OutboxMessage.state == "pending", "dead"), else_=OutboxMessage.state),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    # The stored hash of a submitted form or API request is derived from personal data.
    db.session.execute(
        delete(IdempotencyKey)
        .where(IdempotencyKey.booking_id.in_(booking_ids))
        .execution_options(synchronize_session=False)
    )
    return mails


def purge(now: datetime, retention_days: int, *, dry_run: bool = False) -> PurgeCounts:
    """Erase the personal data of bookings that ended more than ``retention_days`` ago,
    and mail bodies of erased bookings sent since; commits (rolls back on a dry run)."""
    cutoff = now - timedelta(days=retention_days)
    due = db.session.execute(
        select(Booking.id, Booking.centre_id).where(
            Booking.end_at < cutoff, Booking.erased_at.is_(None)
        )
    ).all()
    counts = PurgeCounts(bookings=len(due), per_centre=Counter(c for _id, c in due))
    erased_before = select(Booking.id).where(Booking.erased_at.is_not(None))
    late_mails = db.session.scalar(
        select(func.count()).select_from(OutboxMessage).where(*_erasable_mails(erased_before))
    )
    counts.mails = _erase([i for i, _c in due], now, waiting_too=True) + late_mails
    if late_mails:
        db.session.execute(
            update(OutboxMessage)
            .where(*_erasable_mails(erased_before))
            .values(raw=b"", snapshot=None, recipient="")
            .execution_options(synchronize_session=False)
        )
    counts.sign_in_records = db.session.execute(
        delete(SignInFailure)
        .where(SignInFailure.last_failed_at < now - throttling.PAIR.forget_after)
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
                f"{counts.per_centre[centre_id]} bookings past {retention_days} days erased "
                f"(all centres: {counts.describe()})"
            ),
            now=now,
        )
    db.session.commit()
    return counts


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
