"""The outbox: claim due mails, compose them, send them, retry with backoff, never lose one.

A row arrives with the snapshot its transaction wrote (notifications.py); the first attempt
composes the message from it and keeps the bytes, so every retry sends the same message.
A snapshot that cannot be composed fails like a send: retried, then dead.

Rows are claimed for a while before sending, so several workers never send the same row:
on PostgreSQL with ``FOR UPDATE SKIP LOCKED``; on SQLite every transaction already holds
the write lock. A row that fails is due again after an exponential backoff; after
MAX_ATTEMPTS it is marked dead for an admin to look at. Without MAIL_SERVER, mails are
written as .eml files into the instance folder.
"""

from __future__ import annotations

import smtplib
import threading
import time
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import or_, select

from booking import notifications
from booking.errors import log_error
from booking.extensions import db
from booking.models import OutboxMessage, utcnow

MAX_ATTEMPTS = 8
CLAIM_FOR = timedelta(minutes=5)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=6)


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: 1, 2, 4, ... minutes, at most 6 hours."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def claim(now: datetime, limit: int = 20, ids: list[int] | None = None) -> list[OutboxMessage]:
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
    for row in rows:
        row.claimed_until = now + CLAIM_FOR
    db.session.commit()
    return rows


def deliver(app: Flask, row: OutboxMessage) -> None:
    """Hand one message to the mail server, or write it as an .eml file; raise on failure."""
    config = app.config
    if not config.get("MAIL_SERVER"):
        folder = Path(config["OUTBOX_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{row.created_at:%Y%m%d-%H%M%S}-{row.id:06d}-{row.kind}.eml"
        partial = folder / (name + ".part")
        partial.write_bytes(row.raw)
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
        smtp.sendmail(envelope_from, [row.recipient], row.raw)


def message_of(app: Flask, row: OutboxMessage) -> bytes:
    """The row's message: the bytes sent, or what its snapshot composes to (not stored)."""
    if row.raw:
        return row.raw
    if row.snapshot is None:
        raise ValueError("the mail was erased; there is nothing to send")
    return notifications.compose(
        row.snapshot, message_id=row.message_id, sender=app.config["MAIL_DEFAULT_SENDER"]
    )


def compose(app: Flask, row: OutboxMessage) -> None:
    """Compose the row's message from its snapshot, once; then the snapshot is dropped."""
    row.raw = message_of(app, row)
    row.snapshot = None


def _failed(app: Flask, row: OutboxMessage, now: datetime, error: Exception) -> None:
    row.attempts += 1
    row.last_error = f"{type(error).__name__}: {error}"[:500]
    row.claimed_until = None
    if row.attempts >= MAX_ATTEMPTS:
        row.state = "dead"
        app.logger.error("outbox message %s is dead after %s attempts", row.id, row.attempts)
    else:
        row.due_at = now + backoff(row.attempts)
        app.logger.warning("outbox message %s failed, retry at %s", row.id, row.due_at)


def send_due(
    app: Flask, *, now: datetime, limit: int = 50, ids: list[int] | None = None
) -> tuple[int, int]:
    """Compose and send what is due at ``now`` once. Returns (sent, failed)."""
    sent = failed = 0
    for row in claim(now, limit=limit, ids=ids):
        try:
            compose(app, row)
        except Exception as error:  # noqa: BLE001 - a snapshot that cannot be composed is retried, then dead, like a send
            failed += 1
            _failed(app, row, now, error)
            db.session.commit()
            continue
        try:
            deliver(app, row)
        except (TimeoutError, OSError, smtplib.SMTPException) as error:
            failed += 1
            _failed(app, row, now, error)
        else:
            sent += 1
            row.state = "sent"
            row.sent_at = now
            row.claimed_until = None
            row.attempts += 1
        db.session.commit()
    return sent, failed


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


def work(app: Flask, *, poll_seconds: float = 5.0, max_rounds: int | None = None) -> None:
    """Keep sending: one round, then sleep when nothing was due."""
    rounds = 0
    while max_rounds is None or rounds < max_rounds:
        rounds += 1
        # The worker is the shell that reads the clock, once per round.
        sent, failed = send_due(app, now=utcnow())
        db.session.remove()
        if sent == 0 and failed == 0:
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
