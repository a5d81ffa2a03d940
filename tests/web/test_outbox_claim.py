"""The outbox claim itself (outbox.claim), without a mail server: which due rows a worker
takes. A row another worker holds is never taken twice: on PostgreSQL a row locked by
another transaction is skipped (FOR UPDATE SKIP LOCKED), and on both databases a row claimed
until a time is not taken again before that time, and is taken after it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from booking import outbox
from booking.extensions import db
from booking.models import OutboxMessage, utcnow

pytestmark = pytest.mark.backends("sqlite", "pg")


def add_due_rows(app, count: int, now) -> list[int]:
    """``count`` pending rows due at ``now`` (already composed: nothing else is needed)."""
    with app.app_context():
        rows = [
            OutboxMessage(
                event_key=f"test-claim-{n}",
                kind="reminder",
                recipient=f"family{n}@example.org",
                message_id=f"claim-{n}@test",
                raw=b"Subject: test\r\n\r\nbody",
                state="pending",
                due_at=now - timedelta(minutes=n),  # row 0 is the last in claim order
            )
            for n in range(count)
        ]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def claimed_ids(app, now, **over) -> list[int]:
    with app.app_context():
        return [row.id for row in outbox.claim(app, now, **over)]


def test_a_claimed_row_is_not_taken_again_before_its_claim_ends(app):
    now = utcnow()
    (row_id,) = add_due_rows(app, 1, now)

    assert claimed_ids(app, now) == [row_id]
    with app.app_context():
        assert db.session.get(OutboxMessage, row_id).claimed_until == now + outbox.CLAIM_FOR
    # Another worker, while the claim lasts (up to and including its last instant).
    assert claimed_ids(app, now) == []
    assert claimed_ids(app, now + outbox.CLAIM_FOR - timedelta(seconds=1)) == []
    assert claimed_ids(app, now + outbox.CLAIM_FOR) == []
    # After it: the first worker died with the row, so another takes it again.
    later = now + outbox.CLAIM_FOR + timedelta(seconds=1)
    assert claimed_ids(app, later) == [row_id]
    with app.app_context():
        assert db.session.get(OutboxMessage, row_id).claimed_until == later + outbox.CLAIM_FOR


def test_a_claim_takes_only_due_pending_rows_up_to_the_limit(app):
    now = utcnow()
    ids = add_due_rows(app, 3, now)
    with app.app_context():
        db.session.get(OutboxMessage, ids[2]).state = "sent"
        db.session.get(OutboxMessage, ids[1]).due_at = now + timedelta(seconds=1)
        db.session.commit()

    assert claimed_ids(app, now, limit=5) == [ids[0]]


@pytest.mark.backends("pg")
def test_a_row_locked_by_another_transaction_is_skipped_not_waited_for(app, database_url):
    now = utcnow()
    oldest, newest = reversed(add_due_rows(app, 2, now))
    other = create_engine(database_url)
    try:
        with other.connect() as connection:
            # Another worker is in the middle of its claim of the oldest row.
            connection.execute(
                text("SELECT id FROM outbox_message WHERE id = :id FOR UPDATE"), {"id": oldest}
            )
            with app.app_context():
                # A claim that waited for the lock would fail here, not hang.
                db.session.execute(text("SET lock_timeout = '3s'"))
                assert [row.id for row in outbox.claim(app, now)] == [newest]
            connection.rollback()
        # The lock is gone (and the other worker claimed nothing): the row is taken now.
        assert claimed_ids(app, now) == [oldest]
    finally:
        other.dispose()
