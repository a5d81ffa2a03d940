"""The outbox: claim due mails, compose them, send them, retry with backoff, never lose one.

A row arrives with the snapshot its transaction wrote (notifications.py); every attempt
composes the message from it with its kind's composer (mail_kinds.py), with the row's
Message-ID and the event's Date, so every retry says the same. A snapshot that cannot be
composed fails like a send: retried, then dead. Once sent, neither snapshot nor message is
kept: no working manage link stays in the database (a reminder mints its link as it is sent,
and the row keeps only that token's hash).

Rows are claimed for a while before sending, so several workers never send the same row:
on PostgreSQL with ``FOR UPDATE SKIP LOCKED``; on SQLite every transaction already holds
the write lock. A row that fails is due again after an exponential backoff; after
MAX_ATTEMPTS it is marked dead for an admin to look at. Without MAIL_SERVER, mails are
written as .eml files into the instance folder.
"""

from __future__ import annotations

import os
import re
import secrets
import smtplib
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import partial
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import delete, func, inspect, or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError

from booking import audit, mail_kinds
from booking.db_events import end_session
from booking.error_log import log_error
from booking.extensions import db
from booking.models import Booking, OutboxMessage, User, WorkerHeartbeat, hash_token, utcnow

MAX_ATTEMPTS = 8
CLAIM_FOR = timedelta(minutes=5)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)
# How long a worker keeps trying to record an attempt (or to take back a claim whose commit
# broke off) while the database is away.
RECORD_PATIENCE = timedelta(seconds=60)


# --- what a writer's transaction puts in the outbox ------------------------------------


def store(rows: list[OutboxMessage]) -> list[int]:
    """Add the mails a transaction writes; their ids, to send after its commit."""
    # One flush for all of them: on PostgreSQL one INSERT ... RETURNING.
    db.session.add_all(rows)
    db.session.flush()
    return [row.id for row in rows]


def drop_pending(kind: mail_kinds.MailKind, subject_id: int) -> None:
    """Delete the unsent mails of ``kind`` about one subject (a booking, a registration, an
    invitation): an unsent reminder of an old time is obsolete, not lost, and the mail
    written with it replaces it."""
    db.session.execute(
        delete(OutboxMessage).where(
            kind.subject.column == subject_id,
            OutboxMessage.kind == kind.name,
            OutboxMessage.state == "pending",
        )
    )


# --- sending ---------------------------------------------------------------------------


def backoff(attempts: int, base: timedelta = BACKOFF_BASE) -> timedelta:
    """Wait after the ``attempts``-th failure: base, 2 × base, 4 × base, ... at most 6 hours
    (1, 2, 4, ... minutes by default)."""
    exponent = min(max(attempts - 1, 0), 30)  # 2^30 × any base is past the cap already
    return min(base * (2**exponent), BACKOFF_MAX)


def claim(
    app: Flask, now: datetime, limit: int = 20, ids: list[int] | None = None
) -> list[OutboxMessage]:
    """Take up to ``limit`` due rows for this worker and commit the claim."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.state == "pending",
            OutboxMessage.due_at <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
        .limit(limit)
    )
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(ids))
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(db.session.scalars(query))
    until = now + CLAIM_FOR
    for row in rows:
        row.claimed_until = until
    claimed = [row.id for row in rows]
    try:
        db.session.commit()
    except (OperationalError, InterfaceError):
        # The connection broke at the commit, so whether the claim was stored is unknown.
        # Take it back once the database answers, or the rows would wait CLAIM_FOR for nothing.
        db.session.rollback()
        _patiently(app, lambda: release_claim(claimed, until), f"outbox claim of {claimed}")
        raise
    return rows


def release_claim(ids: list[int], until: datetime) -> int:
    """Make rows claimed until ``until`` due again; caller commits. The exact claim time
    tells this worker's claim from another's. Returns how many rows were released."""
    result = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(ids),
            OutboxMessage.state == "pending",
            OutboxMessage.claimed_until == until,
        )
        .values(claimed_until=None)
    )
    return result.rowcount


def deliver(app: Flask, row: OutboxMessage, message: bytes) -> None:
    """Hand one message to the mail server, or write it as an .eml file; raise on failure."""
    config = app.config
    if not config.get("MAIL_SERVER"):
        folder = Path(config["OUTBOX_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{row.created_at:%Y%m%d-%H%M%S}-{row.id:06d}-{row.kind}.eml"
        partial = folder / (name + ".part")
        partial.write_bytes(message)
        partial.replace(folder / name)
        return
    smtp_class = smtplib.SMTP_SSL if config.get("MAIL_USE_SSL") else smtplib.SMTP
    envelope_from = parseaddr(config["MAIL_DEFAULT_SENDER"])[1]
    with smtp_class(
        config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]
    ) as smtp:
        if config.get("MAIL_USE_TLS"):
            smtp.starttls()
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        smtp.sendmail(envelope_from, [row.recipient], message)


def message_of(app: Flask, row: OutboxMessage, *, link_token: str | None = None) -> bytes:
    """What a waiting row's message is: its body (a mail composed when queued), or what its
    snapshot composes to (not stored). A sent mail is no longer in the database.
    ``link_token`` goes into the links of a kind that mints its link."""
    if row.raw:
        return row.raw
    if row.snapshot is None:
        raise ValueError("the mail was sent or erased; there is nothing to compose")
    snapshot = row.snapshot
    if link_token is not None:
        snapshot = mail_kinds.with_link_token(snapshot, link_token)
    return mail_kinds.compose(
        row.kind,
        snapshot,
        message_id=row.message_id,
        sender=app.config["MAIL_DEFAULT_SENDER"],
    )


def compose(app: Flask, row: OutboxMessage) -> tuple[bytes, str | None]:
    """This attempt's message, and the hash of the manage token it minted (a kind that mints
    its link gets a fresh token on every attempt; only the hash is kept, once it is sent).
    Every attempt composes from the snapshot with the row's Message-ID and the event's Date,
    so a retry says the same."""
    token = None
    if not row.raw and mail_kinds.kind_of(row.kind).mints_link:
        token = secrets.token_urlsafe(32)
    message = message_of(app, row, link_token=token)
    return message, (hash_token(token) if token else None)


_ENHANCED_STATUS = re.compile(rb"\b[245]\.\d{1,3}\.\d{1,3}\b")


def _smtp_status(code: int, text: bytes | str) -> str:
    """The reply code and the enhanced status (RFC 3463), never the server's words: those
    often repeat the refused address."""
    raw = text.encode("utf-8", "replace") if isinstance(text, str) else (text or b"")
    found = _ENHANCED_STATUS.search(raw)
    return f"{code} {found.group().decode()}" if found else str(code)


def failure_reason(error: Exception) -> str:
    """What is kept of a failed attempt (the admin's "undelivered mail" page shows it): for
    sending, the error's class and the SMTP status or the system's error number, never the
    server's text, which could hold the recipient's address."""
    name = type(error).__name__
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        statuses = sorted({_smtp_status(code, text) for code, text in error.recipients.values()})
        return f"{name}: {', '.join(statuses)}"[:500]
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{name}: {_smtp_status(error.smtp_code, error.smtp_error)}"
    if isinstance(error, smtplib.SMTPException | OSError):
        # The rest of smtplib's and the network's: their words can repeat the server's.
        return f"{name}: errno {error.errno}" if getattr(error, "errno", None) else name
    # Composing failed (an unknown kind, a template): the app's own words, which name fields
    # and kinds, never values.
    return f"{name}: {error}"[:500]


def _record_failure(
    app: Flask, row: OutboxMessage, now: datetime, base: timedelta, error: Exception
) -> None:
    """Record a failed attempt (composing or sending): due again after the backoff, or dead."""
    reason = failure_reason(error)
    logged: list = []

    def failure(row: OutboxMessage) -> None:
        row.attempts += 1
        row.last_error = reason
        row.claimed_until = None
        if row.attempts >= MAX_ATTEMPTS:
            row.state = "dead"
        else:
            row.due_at = now + backoff(row.attempts, base)
        # What to log, read before the commit expires the row.
        logged[:] = [row.id, row.state, row.attempts, row.due_at]

    _record(app, row, failure)
    row_id, state, attempts, due_at = logged
    if state == "dead":
        app.logger.error("outbox message %s is dead after %s attempts", row_id, attempts)
    else:
        app.logger.warning("outbox message %s failed, retry at %s", row_id, due_at)


def send_due(
    app: Flask, *, now: datetime, limit: int = 50, ids: list[int] | None = None
) -> tuple[int, int]:
    """Compose and send what is due at ``now`` once. Returns (sent, failed)."""
    sent = failed = 0
    base = timedelta(seconds=app.config.get("OUTBOX_BACKOFF_SECONDS", 60))
    claimed = claim(app, now, limit=limit, ids=ids)
    for position, row in enumerate(claimed):
        try:
            message, link_hash = compose(app, row)
            deliver(app, row, message)
        except (OperationalError, InterfaceError):
            # The database went away before this mail left (its snapshot or body is read from
            # the row): nothing of the rest was sent, so their claim is taken back once it answers.
            rest = [inspect(r).identity[0] for r in claimed[position:]]
            release = partial(release_claim, rest, now + CLAIM_FOR)
            _patiently(app, release, f"outbox claim of {rest}")
            raise
        except Exception as error:  # noqa: BLE001 - a mail server's refusal, or a snapshot that cannot be composed: retried, then dead
            failed += 1
            _record_failure(app, row, now, base, error)
        else:
            sent += 1

            def success(row: OutboxMessage, link_hash: str | None = link_hash) -> None:
                # What was sent is not kept: its links work, and the mail server and the
                # family have it. The minted link's hash is kept so that link works.
                row.raw = b""
                row.snapshot = None
                row.link_hash = link_hash
                row.state = "sent"
                row.sent_at = now
                row.claimed_until = None
                row.attempts += 1

            _record(app, row, success)
    return sent, failed


def _record(app: Flask, row: OutboxMessage, outcome: Callable[[OutboxMessage], None]) -> None:
    """Commit the outcome of one attempt, waiting for a database that is away (a restart).
    The mail server has already answered: giving up here would leave the row claimed, and a
    delivered mail would go out a second time once the claim ends."""
    row_id = row.id  # read now: after a rollback, reading it would need the database
    _patiently(app, lambda: outcome(row), f"outbox message {row_id}")


def _patiently(app: Flask, change: Callable[[], object], what: str) -> None:
    """Apply ``change`` and commit; while the database is away, roll back and try again
    every half second, for up to RECORD_PATIENCE."""
    deadline = time.monotonic() + RECORD_PATIENCE.total_seconds()
    while True:
        try:
            change()
            db.session.commit()
            return
        except (OperationalError, InterfaceError) as error:
            db.session.rollback()  # the change is applied again, to the rows as stored
            if time.monotonic() >= deadline:
                raise
            log_error(app.logger, error, "%s: waiting for the database", what)
            time.sleep(0.5)


def send_after_commit(outbox_ids: list[int]) -> None:
    """Compose and send the new mails now: in a thread (default), inline, or not at all
    ("off": ``outbox work`` does it).

    Whatever fails here stays in the outbox and is retried by ``outbox send|work``.
    """
    mode = current_app.config.get("OUTBOX_SEND_AFTER_COMMIT", "thread")
    if not outbox_ids or mode == "off":
        return
    app = current_app._get_current_object()
    if mode == "inline":
        send_due(app, now=utcnow(), ids=outbox_ids)
        return

    def run() -> None:
        with app.app_context():
            try:
                send_due(app, now=utcnow(), ids=outbox_ids)
            except Exception as error:  # noqa: BLE001 - a thread must not die loudly; the outbox retries
                log_error(
                    app.logger, error, "sending outbox messages %s after commit failed", outbox_ids
                )

    threading.Thread(target=run, name="outbox-after-commit", daemon=True).start()


# A worker writes its heartbeat at most this often; `flask check` wants one younger than
# HEARTBEAT_STALE.
HEARTBEAT_EVERY = timedelta(seconds=30)
HEARTBEAT_STALE = timedelta(minutes=3)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


def beat(worker: str, now: datetime) -> None:
    """Record that ``worker`` is alive at ``now``, and forget workers silent for a day;
    commits."""
    row = db.session.get(WorkerHeartbeat, worker)
    if row is None:
        db.session.add(WorkerHeartbeat(worker=worker, seen_at=now))
    else:
        row.seen_at = now
    db.session.execute(
        delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < now - timedelta(days=1))
    )
    db.session.commit()


def last_heartbeat() -> datetime | None:
    """When any worker last went round its loop, or None."""
    return db.session.scalar(select(func.max(WorkerHeartbeat.seen_at)))


def work(
    app: Flask,
    *,
    poll_seconds: float = 5.0,
    max_rounds: int | None = None,
    before_sending: Callable[..., int] | None = None,
) -> None:
    """Keep sending: one round, then sleep when nothing was due. Every HEARTBEAT_EVERY the
    worker records that it runs (``flask check`` reads it). ``before_sending(app, now=...)``
    runs first in each round (the cli answers "find my booking" requests there, whose mails
    the round then sends) and returns how many things it did."""
    rounds = 0
    worker, beaten = worker_name(), None
    while max_rounds is None or rounds < max_rounds:
        rounds += 1
        try:
            # The worker is the shell that reads the clock, once per round.
            now = utcnow()
            if beaten is None or now - beaten >= HEARTBEAT_EVERY:
                beat(worker, now)
                beaten = now
            done = before_sending(app, now=now) if before_sending else 0
            sent, failed = send_due(app, now=now)
        except (OperationalError, InterfaceError) as error:
            # The database is restarting or unreachable: nothing was marked sent that was not
            # committed, so the next round picks up where this one stopped.
            log_error(app.logger, error, "outbox round failed, database unavailable")
            done = sent = failed = 0
        finally:
            end_session()
        if done == 0 and sent == 0 and failed == 0:
            time.sleep(poll_seconds)


def requeue_dead(row: OutboxMessage, *, now: datetime) -> bool:
    """Give a dead message a fresh start: pending, no attempts, due ``now``. Caller commits.

    The last error is kept for reference. Returns False (and changes nothing) when the
    message is not dead, or it was erased (neither message nor snapshot left).
    """
    if row.state != "dead" or not (row.raw or row.snapshot):  # erased (retention): gone
        return False
    row.state = "pending"
    row.attempts = 0
    row.due_at = now
    row.claimed_until = None
    return True


def requeue_mail(message: OutboxMessage, booking: Booking, actor: User, *, now: datetime) -> bool:
    """An admin sends a dead mail again (requeue_dead), recorded in the audit log; commits.
    False if it was not dead."""
    if not requeue_dead(message, now=now):
        db.session.rollback()
        return False
    audit.record(
        actor, "settings", booking, detail=f"{message.kind} mail {message.id} requeued", now=now
    )
    # The outbox commits its own rows (transactions.py sends through it); nothing to send.
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return True
