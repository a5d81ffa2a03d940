"""No double booking under concurrency: the database has the last word."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from booking.extensions import db
from booking.models import Booking
from tests.helpers import at, booking_payload, next_working_day

REQUESTS = 50


def race(app, payloads) -> Counter:
    """Send the payloads at once from as many threads; count the status codes."""
    barrier = threading.Barrier(len(payloads))
    statuses: list[int] = []
    lock = threading.Lock()

    def one(payload):
        client = app.test_client()
        barrier.wait()
        status = client.post("/api/v1/centres/test/bookings", json=payload).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return Counter(statuses)


@pytest.mark.backends("pg", "sqlite")
def test_50_concurrent_requests_for_one_slot_give_one_booking(app, make_centre, db_backend):
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {}
    make_centre()
    monday = next_working_day(0)
    payloads = [
        booking_payload(at(monday, 10), email=f"person{i}@example.org") for i in range(REQUESTS)
    ]
    statuses = race(app, payloads)
    assert statuses == Counter({201: 1, 409: REQUESTS - 1}), statuses
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 1


@pytest.mark.backends("pg", "sqlite")
def test_concurrent_overlapping_lengths_give_one_booking(app, make_centre, db_backend):
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre()
    monday = next_working_day(0)
    # 10:00-10:45, 09:30-10:30 and 10:30-11:30 all overlap 10:00-10:45 of the one counsellor.
    payloads = [
        booking_payload(at(monday, 10), "short", email="a@example.org"),
        booking_payload(at(monday, 9, 30), "long", email="b@example.org"),
        booking_payload(at(monday, 10, 30), "long", email="c@example.org"),
    ] * 8
    statuses = race(app, payloads)
    assert statuses[500] == 0
    with app.app_context():
        rows = db.session.execute(select(Booking.start_at, Booking.end_at)).all()
    rows.sort()
    for (_, end), (start, _) in zip(rows, rows[1:], strict=False):
        assert end <= start, rows


@pytest.mark.backends("pg")
def test_exclusion_constraint_refuses_overlap_written_past_the_application(
    app, make_centre, db_backend
):
    make_centre()
    start = datetime(2031, 3, 3, 9, tzinfo=UTC)

    def insert(start_at, minutes, status="confirmed"):
        db.session.execute(
            text(
                "INSERT INTO booking (reference, centre_id, service_id, counsellor_id, start_at,"
                " end_at, status, channel, name, persons, manage_token_hash, sequence, created_at,"
                " updated_at, locale) SELECT :ref, c.id, s.id, u.id, :start, :end, :status,"
                " 'phone', 'X', 1, :ref, 0, now(), now(), 'de' FROM centre c"
                " JOIN service s ON s.centre_id = c.id AND s.slug = 'short'"
                " JOIN staff_user u ON u.centre_id = c.id"
            ),
            {
                "ref": f"R{start_at:%H%M}{minutes}{status[:2]}",
                "start": start_at,
                "end": start_at + timedelta(minutes=minutes),
                "status": status,
            },
        )

    with app.app_context():
        insert(start, 45)
        db.session.commit()
        insert(start + timedelta(minutes=45), 60)  # adjacent: fine
        db.session.commit()
        insert(start + timedelta(minutes=30), 60, status="cancelled")  # cancelled: fine
        db.session.commit()
        with pytest.raises(IntegrityError, match="ex_booking_counsellor_overlap"):
            insert(start + timedelta(minutes=30), 60)  # overlaps both active ones
        db.session.rollback()
