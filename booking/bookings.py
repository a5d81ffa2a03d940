"""The only place that writes bookings: book, cancel, reschedule. Commits; raises domain errors.

Every function checks the rules (the slot engine decides what is free), writes the booking
and its mail in one transaction, commits, and then asks the outbox to send. The database
has the last word on overlaps: the counsellor's Occupancy row (booking/occupancy.py keeps it
in step with the booking at every flush) meets the exclusion constraint (PostgreSQL) or the
serialised writer's check behind a unique index (SQLite); whatever the database calls the
lost race (occupancy.is_lost_race), the writer answers SlotUnavailable.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from booking import audit, availability, invitations, notifications, occupancy
from booking.extensions import db
from booking.models import (
    OFFICER,
    Absence,
    Booking,
    Centre,
    Closure,
    IdempotencyKey,
    Invitation,
    Occupancy,
    OutboxMessage,
    Service,
    User,
    hash_token,
)
from booking.needs import Need, speaks
from booking.transactions import commit, committed
from booking.validation import BookingDetails

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out on the phone


class BookingError(Exception):
    """A rule of SPEC "Bookings" refuses the request; ``problem`` names it for the API."""

    problem = "booking-error"
    status = 409


class SlotUnavailable(BookingError):
    """The start asked for is not (or no longer) a free slot."""

    problem = "slot-unavailable"


class TooManyActiveBookings(BookingError):
    """The e-mail address already holds the centre's maximum of active future bookings."""

    problem = "too-many-active-bookings"


class NotOnlineBookable(BookingError):
    """The service is booked by phone only."""

    problem = "service-not-online-bookable"


class BookingNotChangeable(BookingError):
    """The booking is cancelled or already past, so it cannot be moved or cancelled."""

    problem = "booking-not-changeable"


class IdempotencyMismatch(BookingError):
    """The idempotency key was used before for a different request."""

    problem = "idempotency-key-reused"
    status = 422


@dataclass(frozen=True)
class Idempotency:
    """A repeated submission carries the same key; ``fingerprint`` hashes the request."""

    scope: str
    key: str
    fingerprint: str

    @classmethod
    def of_form(cls, scope: str, nonce: str | None, *parts: str) -> Idempotency | None:
        """The one-time nonce of an HTML form and what was asked; None without a nonce."""
        key = (nonce or "").strip()[:200]
        if not key:
            return None
        fingerprint = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
        return cls(scope=scope, key=key, fingerprint=fingerprint)

    def claim(self) -> IdempotencyKey:
        """Write the key before anything else (after no replay was found): a concurrent twin
        waits on its unique index, then replays what this request writes."""
        key_row = IdempotencyKey(scope=self.scope, key=self.key, request_hash=self.fingerprint)
        db.session.add(key_row)
        db.session.flush()
        return key_row


@dataclass(frozen=True)
class BookingRequest:
    """One request for a booking, built by each caller from its form or JSON.

    The place for what a request will also carry as booking grows (seats at a group
    event, the invitation it answers), so that ``book_slot`` keeps one argument for it.
    ``counsellor_id`` asks for one counsellor (staff only); ``created_by`` is the staff
    member who books on someone's behalf.
    """

    centre: Centre
    service: Service
    start_at: datetime
    details: BookingDetails
    channel: str = "online"
    locale: str = "de"
    idempotency: Idempotency | None = None
    created_by: User | None = None
    counsellor_id: int | None = None
    # The invitation the family books through: used up in the booking's transaction.
    invitation: Invitation | None = None

    @property
    def by_staff(self) -> bool:
        """Staff (phone, walk-in) book at any notice and may choose the counsellor."""
        return self.channel != "online"


@dataclass
class BookingResult:
    booking: Booking
    manage_token: str
    replayed: bool = False
    stored_response: tuple[int, dict] | None = None


def new_reference() -> str:
    """A short reference to read out, e.g. "K7PQ-2QXM"."""
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def manage_token_for(idempotency: Idempotency | None) -> str:
    """A fresh random token; derived from the key when the request can be repeated.

    Only the token's hash is stored. A repeated request must answer with the same manage
    link, so its token is an HMAC of the idempotency key under the secret key (256 bits,
    unguessable without the secret), and the answer can be rebuilt without storing it.
    """
    if idempotency is None:
        return secrets.token_urlsafe(32)
    secret = current_app.config["SECRET_KEY"].encode()
    message = f"manage-token:{idempotency.scope}:{idempotency.key}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def find_by_token(token: str) -> Booking | None:
    """The booking a manage token belongs to."""
    if not token or len(token) > 128:
        return None
    found = hash_token(token)
    # The booking's own link, or the link a mail minted when it was sent (the reminder);
    # a hold's confirmation link confirms, it does not manage (find_by_confirm_token).
    minted = select(OutboxMessage.booking_id).where(
        OutboxMessage.link_hash == found,
        OutboxMessage.kind != notifications.HOLD_REQUEST.name,
    )
    return db.session.scalar(
        select(Booking).where(or_(Booking.manage_token_hash == found, Booking.id.in_(minted)))
    )


def renew_manage_token(booking: Booking) -> str:
    """A new manage token for ``booking``: every older link stops working, the ones its sent
    mails minted too. Returns the token, which only the new mail carries."""
    token = secrets.token_urlsafe(32)
    booking.manage_token_hash = hash_token(token)
    db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.booking_id == booking.id,
            OutboxMessage.link_hash.is_not(None),
            # A hold's confirmation link is no manage link: it keeps working.
            OutboxMessage.kind != notifications.HOLD_REQUEST.name,
        )
        .values(link_hash=None)
        .execution_options(synchronize_session=False)
    )
    return token


def free_slot_at(
    centre: Centre,
    service: Service,
    start_at: datetime,
    now: datetime,
    exclude_booking_id: int | None = None,
    need: Need | None = None,
    *,
    counsellor_id: int | None = None,
    min_notice: timedelta | None = None,
):
    """The free slot starting exactly at ``start_at`` with someone who meets ``need``, or
    None."""
    local_day = centre.today(start_at)
    found = availability.find_slots(
        centre,
        service,
        local_day,
        local_day,
        now,
        need,
        exclude_booking_id=exclude_booking_id,
        counsellor_id=counsellor_id,
        min_notice=min_notice,
    )
    return next((s for s in found if s.start_at == start_at), None)


def _choose_counsellor(centre: Centre, slot, need: Need, keep: int | None = None) -> int:
    """Keep the current counsellor if free, else prefer speakers of the family's language
    (even when an interpreter comes), then the one least busy that day (occupancy)."""
    candidates = list(slot.counsellor_ids)
    if keep in candidates:
        return keep
    if len(candidates) == 1:
        return candidates[0]
    if need.language:
        rows = db.session.execute(
            select(User.id, User.languages).where(User.id.in_(candidates))
        ).all()
        speaking = [uid for uid, langs in rows if speaks(langs or (), need.language)]
        candidates = speaking or candidates
    return _least_loaded(centre, slot, candidates)


def _choose_officer(centre: Centre, slot, keep: int | None = None) -> int | None:
    """A joint slot's officer: the current one if free, else the least loaded that day;
    None when the service needs no officer."""
    candidates = list(slot.ids_of(OFFICER))
    if not candidates:
        return None
    if keep in candidates:
        return keep
    return _least_loaded(centre, slot, candidates)


def _least_loaded(centre: Centre, slot, candidates: list[int]) -> int:
    """Of ``candidates``, the one with the fewest commitments on the slot's day."""
    zone = ZoneInfo(centre.timezone)
    day_start = datetime.combine(slot.start_at.astimezone(zone).date(), datetime.min.time(), zone)
    # Whatever keeps them busy that day counts, not only bookings.
    load = dict(
        db.session.execute(
            select(Occupancy.user_id, func.count())
            .where(
                Occupancy.user_id.in_(candidates),
                Occupancy.is_active.is_(True),
                Occupancy.start_at >= day_start,
                Occupancy.start_at < day_start + timedelta(days=1),
            )
            .group_by(Occupancy.user_id)
        ).all()
    )
    return min(candidates, key=lambda uid: (load.get(uid, 0), uid))


def _lock_email(email: str) -> None:
    """Serialise bookings of one e-mail address so the hoarding limit cannot be raced."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": "booking-email:" + email.lower()},
        )
    # SQLite: every transaction already holds the write lock from its BEGIN IMMEDIATE.


def _check_active_limit(centre: Centre, email: str, now: datetime) -> None:
    active = db.session.scalar(
        select(func.count())
        .select_from(Booking)
        .where(
            Booking.centre_id == centre.id,
            func.lower(Booking.email) == email.lower(),
            Booking.is_changeable(now),
        )
    )
    if active >= centre.max_active_bookings_per_email:
        raise TooManyActiveBookings()


def holds_online_booking(request: BookingRequest) -> bool:
    """Whether this booking waits for the family's confirmation from the mail: an online
    booking (form, API) at a centre that holds them; never staff, never an invitation's."""
    return (
        request.channel == "online"
        and request.invitation is None
        and request.centre.hold_online_bookings
    )


def release_expired_holds(now: datetime) -> int:
    """Mark every hold that ran out by ``now`` expired, so its occupancy stops making anyone
    busy (booking/occupancy.py), in the caller's transaction; its waiting "please confirm"
    mail goes. A writer calls it before it books, so a hold that ran out is free for it
    even before the sweep (``expire_holds``) came by. Returns how many."""
    query = (
        select(Booking)
        .where(Booking.status == "held", Booking.hold_expires_at <= now)
        .order_by(Booking.id)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        # A hold another transaction has locked (a confirmation with an earlier clock, or
        # another writer releasing it) is left to it: a booking over its time then waits
        # at the exclusion constraint for that transaction, and is refused or goes ahead.
        query = query.with_for_update(skip_locked=True)
    expired = db.session.scalars(query).all()
    for booking in expired:
        booking.status = "expired"
        notifications.drop_hold_request(booking.id)
    if expired:
        db.session.flush()
    return len(expired)


def expire_holds(now: datetime) -> int:
    """The sweep (the outbox worker runs it every round): release the holds that ran out
    by ``now``; commits. No mail goes: the "please confirm" mail said until when."""
    with committed():
        count = release_expired_holds(now)
        if not count:
            db.session.rollback()
    return count


def find_by_confirm_token(token: str) -> Booking | None:
    """The booking whose "please confirm" mail carried this token (only its hash is kept,
    on the mail's outbox row, as for every link a mail mints when it is sent)."""
    if not token or len(token) > 128:
        return None
    return db.session.scalar(
        select(Booking)
        .join(OutboxMessage, OutboxMessage.booking_id == Booking.id)
        .where(
            OutboxMessage.link_hash == hash_token(token),
            OutboxMessage.kind == notifications.HOLD_REQUEST.name,
        )
    )


class HoldExpired(BookingError):
    """The family confirms a hold that ran out: the time was released, nothing is booked."""

    problem = "hold-expired"
    status = 410


def confirm_hold(booking: Booking, *, now: datetime) -> bool:
    """The family confirms a held booking from the mail: it is confirmed, and the
    confirmation with its invitation (and later the reminder) goes out. Returns False when
    it was confirmed already. Raises HoldExpired when its time ran out (or it was cancelled),
    TooManyActiveBookings when the address meanwhile holds the most bookings allowed (told
    only here, to whoever has the mail)."""
    with committed() as outbox_ids:
        if db.session.get_bind().dialect.name == "postgresql":
            db.session.execute(select(Booking.id).where(Booking.id == booking.id).with_for_update())
            db.session.refresh(booking)
        if booking.status == "confirmed":
            db.session.rollback()
            return False
        if booking.status != "held" or booking.is_hold_over(now):
            if booking.is_held:  # ran out, not yet swept: marked here (its row is locked)
                booking.status = "expired"
                notifications.drop_hold_request(booking.id)
                db.session.commit()
            raise HoldExpired()
        if booking.email:
            _lock_email(booking.email)
            _check_active_limit(booking.centre, booking.email, now)
        booking.status = "confirmed"
        booking.hold_expires_at = None
        db.session.flush()
        outbox_ids += notifications.enqueue_confirmation(booking, None, now)
    return True


def _replay(idempotency: Idempotency) -> BookingResult | None:
    row = db.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.scope == idempotency.scope, IdempotencyKey.key == idempotency.key
        )
    )
    if row is None:
        return None
    if row.request_hash != idempotency.fingerprint:
        raise IdempotencyMismatch()
    booking = db.session.get(Booking, row.booking_id) if row.booking_id else None
    stored = (row.response_status, row.response_body) if row.response_status else None
    return BookingResult(
        booking=booking,
        manage_token=manage_token_for(idempotency),
        replayed=True,
        stored_response=stored,
    )


def book_slot(request: BookingRequest, *, now: datetime) -> BookingResult:
    """Book what ``request`` asks for; commit; send mail.

    Staff (phone, walk-in) book at any notice, even for today, but never in the past.
    Raises SlotUnavailable, TooManyActiveBookings, NotOnlineBookable, IdempotencyMismatch.
    A repeated request (same idempotency key) returns the first booking and writes nothing.
    """
    centre, service, details = request.centre, request.service, request.details
    channel, idempotency, created_by = request.channel, request.idempotency, request.created_by
    try:
        # The caller answers with what was just written: no need to read it back.
        with committed(keep_loaded=True) as outbox_ids:
            if idempotency is not None:
                replay = _replay(idempotency)
                if replay is not None:
                    db.session.rollback()
                    return replay
                key_row = idempotency.claim()

            # A hold that ran out is free before the sweep marks it: release it here.
            release_expired_holds(now)
            held = holds_online_booking(request)
            invitation = request.invitation
            if invitation is not None:
                # Held until the commit: a second booking through the link finds it used.
                invitations.lock_open(invitation, now)
            elif channel == "online" and (not service.online_bookable or service.is_by_invitation):
                raise NotOnlineBookable()
            if details.email:
                _lock_email(details.email)
                # A held booking is counted when it is confirmed: the answer to an online
                # request then never tells whether the address holds bookings already.
                if channel == "online" and not held:
                    _check_active_limit(centre, details.email, now)
            by_staff = request.by_staff
            replaced = _replaced_booking(invitation, now)
            need = Need(details.language, details.interpreter_language)
            slot = free_slot_at(
                centre,
                service,
                request.start_at,
                now,
                exclude_booking_id=replaced.id if replaced is not None else None,
                need=need,
                counsellor_id=request.counsellor_id if by_staff else None,
                min_notice=availability.STAFF_MIN_NOTICE if by_staff else None,
            )
            if slot is None:
                raise SlotUnavailable()
            if replaced is not None:
                # "Invite again": the family's new choice replaces the old appointment in
                # this transaction, one change mail (same calendar UID, higher SEQUENCE).
                token = renew_manage_token(replaced)
                replaced.counsellor_id = _choose_counsellor(centre, slot, need)
                replaced.officer_id = _choose_officer(centre, slot)
                replaced.start_at, replaced.end_at = slot.start_at, slot.end_at
                replaced.kept_despite_conflict_at = None
                replaced.sequence += 1
                db.session.flush()
                audit.record(
                    None, "move", replaced, detail=f"invitation {invitation.reference}", now=now
                )
                invitations.use(invitation, replaced, now)
                outbox_ids += notifications.enqueue_move(replaced, token, now)
                return BookingResult(booking=replaced, manage_token=token)

            token = manage_token_for(idempotency)
            booking = Booking(
                reference=new_reference(),
                centre=centre,
                service=service,
                counsellor_id=_choose_counsellor(centre, slot, need),
                officer_id=_choose_officer(centre, slot),
                start_at=slot.start_at,
                end_at=slot.end_at,
                status="held" if held else "confirmed",
                hold_expires_at=min(now + centre.hold_for, slot.start_at) if held else None,
                channel=channel,
                name=details.name,
                email=details.email,
                phone=details.phone,
                language=details.language,
                interpreter_language=details.interpreter_language,
                persons=details.persons,
                message=details.message,
                consent_at=now if channel == "online" else None,
                manage_token_hash=hash_token(token),
                locale=request.locale,
                sequence=0,
                created_by_id=created_by.id if created_by is not None else None,
            )
            db.session.add(booking)
            db.session.flush()
            if created_by is not None:
                audit.record(created_by, "book", booking, detail=channel, now=now)
            if idempotency is not None:
                key_row.booking_id = booking.id
            if invitation is not None:
                audit.record(
                    None, "book", booking, detail=f"invitation {invitation.reference}", now=now
                )
                invitations.use(invitation, booking, now)
            if held:
                outbox_ids += notifications.enqueue_hold_request(booking, now)
            else:
                outbox_ids += notifications.enqueue_confirmation(booking, token, now)
    except DBAPIError as error:
        if not occupancy.is_lost_race(error):
            raise
        if (
            idempotency is not None
            and isinstance(error, IntegrityError)
            and "idempotency" in str(error.orig).lower()
        ):
            replay = _replay(idempotency)
            db.session.rollback()
            if replay is not None:
                return replay
        raise SlotUnavailable() from error
    return BookingResult(booking=booking, manage_token=token)


def _replaced_booking(invitation: Invitation | None, now: datetime) -> Booking | None:
    """The upcoming appointment an "invite again" invitation replaces, if still upcoming."""
    if invitation is None or invitation.replaces_booking_id is None:
        return None
    booking = db.session.get(Booking, invitation.replaces_booking_id)
    return booking if booking is not None and booking.is_changeable(now) else None


def store_response(idempotency: Idempotency, status: int, body: dict) -> None:
    """Keep the API's first answer for a key, so a repeat answers the same."""
    row = db.session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.scope == idempotency.scope, IdempotencyKey.key == idempotency.key
        )
    )
    if row is not None and row.response_status is None:
        row.response_status = status
        row.response_body = body
        commit()


def _check_changeable(booking: Booking, now: datetime) -> None:
    if not booking.is_changeable(now):
        raise BookingNotChangeable()


def cancel_booking(
    booking: Booking, *, now: datetime, by_staff: bool = False, at_request: bool = False
) -> bool:
    """Cancel; send a CANCEL invitation. Returns False when it was already cancelled.

    Staff cancel for the centre (the mail apologises and says why), or ``at_request`` of
    the family (the mail says it was cancelled as they asked)."""
    with committed() as outbox_ids:
        if booking.is_cancelled:
            db.session.rollback()
            return False
        if booking.is_held:
            # The family gives back a time it has not confirmed: no invitation was sent,
            # so no CANCEL goes either.
            if booking.is_hold_over(now):
                raise BookingNotChangeable()
            booking.status = "cancelled"
            booking.cancelled_at = now
            booking.hold_expires_at = None
            notifications.drop_hold_request(booking.id)
            return True
        if not by_staff:
            _check_changeable(booking, now)
        booking.status = "cancelled"
        booking.cancelled_at = now
        booking.sequence += 1
        db.session.flush()
        by_centre = _centre_cancellation(booking, now) if by_staff and not at_request else None
        outbox_ids += notifications.enqueue_cancellation(
            booking, now, by_centre, at_request=by_staff and at_request
        )
    return True


def reschedule_booking(
    booking: Booking,
    new_start_at: datetime,
    *,
    now: datetime,
    manage_token: str | None = None,
    min_notice: timedelta | None = None,
) -> Booking:
    """Move to another free slot of the same service; send an updated invitation.

    Keeps the counsellor when they are free at the new time, and the booking's need (its
    language, unless an interpreter comes). ``manage_token`` (known when the person moves
    it themselves) goes into the reminder mail's link; ``min_notice`` replaces the centre's
    (staff move at any notice).
    """
    try:
        with committed() as outbox_ids:
            _check_changeable(booking, now)
            release_expired_holds(now)
            slot = free_slot_at(
                booking.centre,
                booking.service,
                new_start_at,
                now,
                exclude_booking_id=booking.id,
                need=Need.of_booking(booking),
                min_notice=min_notice,
            )
            if slot is None:
                raise SlotUnavailable()
            booking.counsellor_id = _choose_counsellor(
                booking.centre, slot, Need.of_booking(booking), keep=booking.counsellor_id
            )
            booking.start_at = slot.start_at
            booking.end_at = slot.end_at
            outbox_ids += _announce_change(booking, manage_token, now)
    except DBAPIError as error:
        if not occupancy.is_lost_race(error):
            raise
        raise SlotUnavailable() from error
    return booking


def _announce_change(
    booking: Booking, manage_token: str | None, now: datetime, *, handed_over: bool = False
) -> list[int]:
    """A moved or handed-over booking: a higher SEQUENCE and the changed invitation in the
    outbox. Without ``manage_token`` staff changed it: a new link goes out with the change,
    the old one stops working. A hand-over's mail says the time stays, the counsellor
    changes."""
    booking.sequence += 1
    if manage_token is None:
        manage_token = renew_manage_token(booking)
    db.session.flush()
    return notifications.enqueue_move(booking, manage_token, now, handed_over=handed_over)


def _centre_cancellation(booking: Booking, now: datetime) -> notifications.CentreCancellation:
    """Why the centre cancels ``booking`` (a closure, the counsellor's absence, or staff),
    and the next free times to offer instead."""
    closure = db.session.scalar(
        select(Closure)
        .where(
            Closure.centre_id == booking.centre_id,
            Closure.start_at < booking.end_at,
            Closure.end_at > booking.start_at,
        )
        .order_by(Closure.start_at)
        .limit(1)
    )
    absent = db.session.scalar(
        select(Absence.id).where(
            Absence.user_id == booking.counsellor_id,
            Absence.start_at < booking.end_at,
            Absence.end_at > booking.start_at,
        )
    )
    if closure is not None:
        # In the family's language (Leichte Sprache too) when an admin gave it, else German.
        cause, (reason, reason_language) = "closure", closure.reason_in(booking.locale)

    else:
        cause, reason, reason_language = ("absence" if absent is not None else "staff"), "", ""
    starts = tuple(
        s.start_at
        for s in availability.next_free_slots(
            booking.centre,
            booking.service,
            booking.centre.today(now),
            now,
            need=Need.of_booking(booking),
            count=3,
        )
    )
    return notifications.CentreCancellation(
        cause=cause,
        closure_reason=reason,
        closure_reason_lang=reason_language,
        next_starts=starts,
    )


def keep_despite_conflict(booking: Booking, actor: User, *, now: datetime) -> None:
    """Staff decided to keep a booking the changed hours or absences no longer allow."""
    with committed():
        booking.kept_despite_conflict_at = now
        audit.record(actor, "settings", booking, detail="kept despite conflict", now=now)


# --- staff workspace -----------------------------------------------------------------


class AttendanceNotPossible(BookingError):
    """Attendance is marked only for a confirmed or marked booking whose start has passed."""

    problem = "attendance-not-possible"


ATTENDANCE_STATUSES = ("attended", "no_show")


def record_view(actor: User, booking: Booking, *, now: datetime) -> None:
    """Note in the audit log that ``actor`` opened the booking's details."""
    with committed():
        audit.record(actor, "view", booking, now=now)


# The audit detail of a booking cancelled because hours, closures or absences changed.
CONFLICT_CANCEL_REASON = "no longer fits hours, closures or absences"


def staff_cancel(
    booking: Booking,
    actor: User,
    *,
    now: datetime,
    reason: str = "by staff",
    at_family_request: bool = False,
) -> bool:
    """Staff cancel an upcoming booking; the booker gets a CANCEL mail that says what
    happened: cancelled as the family asked, or by the centre (with an apology and why).

    The audit entry is added first, so cancel_booking commits both together or neither.
    Returns False when the booking was already cancelled.
    """
    if booking.is_cancelled:
        return False
    if booking.is_held and not booking.is_hold_over(now):
        # Staff give back a time the family has not confirmed (a mistake, a hoarder): no
        # invitation went out, so no mail goes either.
        audit.record(actor, "cancel", booking, detail="hold given back", now=now)
        return cancel_booking(booking, now=now, by_staff=True)
    _check_changeable(booking, now)
    detail = "at the family's request" if at_family_request else reason
    audit.record(actor, "cancel", booking, detail=detail, now=now)
    return cancel_booking(booking, now=now, by_staff=True, at_request=at_family_request)


def staff_move(booking: Booking, new_start_at: datetime, actor: User, *, now: datetime) -> Booking:
    """Staff move a booking to another free slot; the booker gets the change with a new link."""
    old_start, new_start = booking.start_at.astimezone(UTC), new_start_at.astimezone(UTC)
    detail = f"{old_start.isoformat()} -> {new_start.isoformat()}"
    audit.record(actor, "move", booking, detail=detail, now=now)
    return reschedule_booking(
        booking,
        new_start_at,
        now=now,
        manage_token=None,
        min_notice=availability.STAFF_MIN_NOTICE,
    )


def hand_over(booking: Booking, colleague_id: int, actor: User, *, now: datetime) -> Booking:
    """Give the booking to a colleague at the same time; the family gets a "changed" mail.

    The colleague must be free then, offer the service and speak the family's language
    (availability.free_colleagues). The invitation keeps its UID and raises SEQUENCE; a new
    manage link goes out with it, as on every staff move. Raises SlotUnavailable when the
    colleague cannot take it, BookingNotChangeable when it is cancelled or past.
    """
    try:
        with committed() as outbox_ids:
            _check_changeable(booking, now)
            release_expired_holds(now)
            colleagues = availability.free_colleagues([booking], now)[booking.id]
            colleague = next((c for c in colleagues if c.id == colleague_id), None)
            if colleague is None:
                raise SlotUnavailable()
            # A joint appointment hands over the one of the same role.
            taking_over_officer = colleague.role == OFFICER
            before = booking.officer if taking_over_officer else booking.counsellor
            audit.record(
                actor,
                "hand_over",
                booking,
                detail=f"{before.name} -> {colleague.name}",
                now=now,
            )
            if taking_over_officer:
                booking.officer_id = colleague.id
            else:
                booking.counsellor_id = colleague.id
            booking.kept_despite_conflict_at = None
            outbox_ids += _announce_change(booking, None, now, handed_over=True)
    except DBAPIError as error:
        if not occupancy.is_lost_race(error):
            raise
        raise SlotUnavailable() from error
    return booking


CONFLICT_ACTIONS = ("hand_over", "cancel")


@dataclass
class SettledConflicts:
    """What a bulk decision on conflicting bookings did: references, by outcome."""

    handed_over: list[str]
    cancelled: list[str]
    failed: list[str]


def settle_conflicts(
    bookings: list[Booking],
    action: str,
    actor: User,
    *,
    now: datetime,
    colleagues: dict[int, int] | None = None,
) -> SettledConflicts:
    """Hand over or cancel several bookings that no longer fit, each in its own transaction.

    A hand-over goes to the colleague chosen in ``colleagues`` (booking id -> user id), else
    to the first free one. A booking that cannot be settled is reported, never half-written.
    """
    if action not in CONFLICT_ACTIONS:
        raise ValueError(f"unknown conflict action {action!r}")
    chosen = colleagues or {}
    done = SettledConflicts([], [], [])
    for booking in bookings:
        reference = booking.reference
        try:
            if action == "hand_over":
                colleague_id = chosen.get(booking.id)
                if colleague_id is None:
                    free = availability.free_colleagues([booking], now)[booking.id]
                    if not free:
                        raise SlotUnavailable()
                    colleague_id = free[0].id
                hand_over(booking, colleague_id, actor, now=now)
                done.handed_over.append(reference)
            else:
                staff_cancel(booking, actor, now=now, reason=CONFLICT_CANCEL_REASON)
                done.cancelled.append(reference)
        except BookingError:
            done.failed.append(reference)
    return done


def record_search(actor: User, centre_id: int | None, result_count: int, *, now: datetime) -> None:
    """Note that ``actor`` searched bookings and how many they found; never what for."""
    with committed():
        audit.record(
            actor, "search", centre_id=centre_id, detail=f"{result_count} results", now=now
        )


def mark_attendance(booking: Booking, status: str, actor: User, *, now: datetime) -> None:
    """Mark a past booking as attended or not attended (no_show)."""
    if status not in ATTENDANCE_STATUSES:
        raise ValueError(f"unknown attendance status {status!r}")
    if not booking.can_mark_attendance(now):
        raise AttendanceNotPossible()
    with committed():
        booking.status = status
        audit.record(actor, status, booking, now=now)
