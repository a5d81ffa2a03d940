""" "Find my booking" (/find): the request is queued, the outbox worker answers it.

The only writer of find_request. The page does the same work whether or not a booking
matches, so its answer time tells nobody whether a reference or an address is known: it
writes one row holding keyed hashes (HMAC-SHA256 under a key derived from SECRET_KEY) of
the lower-cased address and of the reference, never the values, and answers.

The outbox worker (``flask outbox send|work``) resolves the rows: it reads the bookings
that could match once per round, hashes their address and reference the same way, and for
each request renews the manage token of every booking it matches (the old links stop
working then, not before) and queues the manage-link mail in the booking's language; a
request that matches nothing is dropped. Each request is deleted in the transaction that
queues its mails, so two workers never answer one twice. Rows a worker never reached are
deleted by retention (``retention.purge``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

from flask import Flask, current_app
from sqlalchemy import delete, select
from sqlalchemy.exc import InterfaceError, OperationalError

from booking import bookings, notifications
from booking.error_log import log_error
from booking.extensions import db
from booking.models import Booking, FindRequest
from booking.transactions import commit, committed

# At most this many links go out for one address at once (the centre's own limit of
# active bookings per address is usually lower).
MAX_LINKS_PER_ADDRESS = 10
# Requests a worker resolves in one round (one read of the bookings for all of them).
BATCH = 100


def _key() -> bytes:
    """The hashes' key: derived from SECRET_KEY, for this use only."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"ki-booking find request", hashlib.sha256).digest()


def _hash(key: bytes, field: str, value: str) -> str:
    return hmac.new(key, f"{field}:{value}".encode(), hashlib.sha256).hexdigest()


def _normal_email(email: str) -> str:
    return email.strip().lower()


def _normal_reference(reference: str) -> str:
    """ "K7PQ-2QXM", "k7pq 2qxm" and "K7PQ2QXM" are one reference."""
    return "".join(reference.split()).upper().replace("-", "")


def request_links(reference: str | None, email: str, *, now: datetime) -> None:
    """Queue a family's request for new manage links (the inputs are checked by the view);
    commits. The same statements run whether or not anything will match."""
    key = _key()
    with committed():
        db.session.add(
            FindRequest(
                email_hash=_hash(key, "email", _normal_email(email)),
                reference_hash=(
                    _hash(key, "reference", _normal_reference(reference)) if reference else None
                ),
                requested_at=now,
            )
        )


def _matches(requests: list[FindRequest], now: datetime, key: bytes) -> dict[int, list[int]]:
    """The booking ids each request matches: with a reference, that booking (past and
    cancelled ones too) when its address is the one given; with the address alone, its
    upcoming bookings, the earliest first. One read of the bookings for all requests."""
    found: dict[int, list[int]] = {request.id: [] for request in requests}
    by_address = {}
    by_reference = {}
    for request in requests:
        if request.reference_hash is None:
            by_address.setdefault(request.email_hash, []).append(request.id)
        else:
            by_reference.setdefault((request.reference_hash, request.email_hash), []).append(
                request.id
            )
    if by_address:
        rows = db.session.execute(
            select(Booking.id, Booking.email)
            .where(Booking.email.is_not(None), Booking.is_changeable(now))
            .order_by(Booking.start_at, Booking.id)
        )
        for booking_id, email in rows:
            for request_id in by_address.get(_hash(key, "email", _normal_email(email)), ()):
                if len(found[request_id]) < MAX_LINKS_PER_ADDRESS:
                    found[request_id].append(booking_id)
    if by_reference:
        references = {reference_hash for reference_hash, _email in by_reference}
        rows = db.session.execute(
            select(Booking.id, Booking.reference, Booking.email).where(Booking.email.is_not(None))
        )
        for booking_id, reference, email in rows:
            reference_hash = _hash(key, "reference", _normal_reference(reference))
            if reference_hash not in references:
                continue
            pair = (reference_hash, _hash(key, "email", _normal_email(email)))
            for request_id in by_reference.get(pair, ()):
                found[request_id].append(booking_id)
    return found


def _answer(request_id: int, booking_ids: Iterable[int], now: datetime) -> bool:
    """Delete the request and, in the same transaction, renew and mail each booking's link;
    commits. False when another worker took the request first. The mails are sent by the
    round's ``outbox.send_due`` that follows, not by a thread after the commit (a one-shot
    ``outbox send`` would end before it)."""
    with committed():
        taken = db.session.execute(
            delete(FindRequest)
            .where(FindRequest.id == request_id)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not taken:
            return False
        for booking_id in booking_ids:
            booking = db.session.get(Booking, booking_id)
            if booking is None or not booking.email:
                continue
            token = bookings.renew_manage_token(booking)
            notifications.enqueue_manage_link(booking, token, now)
    return True


def _drop(request_id: int) -> None:
    """Give up a request that could not be answered (the family can ask again); commits."""
    db.session.execute(
        delete(FindRequest)
        .where(FindRequest.id == request_id)
        .execution_options(synchronize_session=False)
    )
    commit()


def resolve_pending(app: Flask, *, now: datetime, limit: int = BATCH) -> int:
    """Answer up to ``limit`` waiting requests (the outbox worker, once per round). Returns
    how many were answered, matched or not."""
    requests = list(db.session.scalars(select(FindRequest).order_by(FindRequest.id).limit(limit)))
    if not requests:
        db.session.rollback()
        return 0
    found = _matches(requests, now, _key())
    ids = [request.id for request in requests]
    db.session.rollback()  # the read ends here; each request is its own transaction
    answered = 0
    mailed: set[int] = set()
    # The links are absolute: SERVER_NAME and PREFERRED_URL_SCHEME name the host, as for
    # every mail sent outside a request (never a request's Host header).
    with app.test_request_context():
        for request_id in ids:
            # A request asked twice within one round is mailed once.
            booking_ids = [b for b in found[request_id] if b not in mailed]
            try:
                if not _answer(request_id, booking_ids, now):
                    continue
            except (OperationalError, InterfaceError):
                raise  # a database gone away is the worker's to wait for; the row stays
            except Exception as error:  # noqa: BLE001 - one bad request must not stop the rest
                log_error(app.logger, error, "find request %s could not be answered", request_id)
                _drop(request_id)
            else:
                mailed.update(booking_ids)
            answered += 1
    return answered
