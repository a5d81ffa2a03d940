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
    with app.app_context():
        rows = db.session.execute(select(Booking.start_at, Booking.end_at)).all()
    # Someone won: 10:00 alone, or 09:30 and 10:30 (which do not overlap each other); every
    # other request lost cleanly.
    assert set(statuses) <= {201, 409}, statuses
    assert 1 <= statuses[201] == len(rows) <= 2, statuses
    assert statuses[409] == len(payloads) - statuses[201]
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
        # The counsellor's busy time, written past the application too.
        db.session.execute(
            text(
                "INSERT INTO occupancy (user_id, role, start_at, end_at, is_active, booking_id)"
                " SELECT counsellor_id, 'counsellor', start_at, end_at, status <> 'cancelled', id"
                " FROM booking WHERE reference = :ref"
            ),
            {"ref": f"R{start_at:%H%M}{minutes}{status[:2]}"},
        )

    with app.app_context():
        insert(start, 45)
        db.session.commit()
        insert(start + timedelta(minutes=45), 60)  # adjacent: fine
        db.session.commit()
        insert(start + timedelta(minutes=30), 60, status="cancelled")  # cancelled: fine
        db.session.commit()
        with pytest.raises(IntegrityError, match="ex_occupancy_user_overlap"):
            insert(start + timedelta(minutes=30), 60)  # overlaps both active ones
        db.session.rollback()


@pytest.mark.backends("pg", "sqlite")
def test_concurrent_bookings_of_one_address_stop_at_the_cap(app, make_centre, db_backend):
    """The per-address cap (3) holds when the requests come at once: on PostgreSQL an
    advisory lock per address serialises them; without it all would count 0 and pass."""
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre(counsellors=2)
    monday, tuesday = next_working_day(0), next_working_day(1)
    starts = [at(day, hour) for day in (monday, tuesday) for hour in range(8, 15)]
    payloads = [booking_payload(start, email="Same.Person@example.org") for start in starts]
    statuses = race(app, payloads)
    assert statuses == Counter({201: 3, 409: len(payloads) - 3}), statuses
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 3


@pytest.mark.backends("pg")
def test_two_outbox_workers_at_once_never_send_a_mail_twice(
    app, make_centre, db_backend, make_booking
):
    """Two workers claim at the same moment: FOR UPDATE SKIP LOCKED gives each row to one."""
    from aiosmtpd.controller import Controller

    from booking import outbox
    from booking.models import OutboxMessage, utcnow
    from tests.helpers import Inbox, free_port

    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre(counsellors=2)
    days = [next_working_day(d) for d in range(5)]
    for day in days:
        for hour in range(8, 14):
            make_booking(at(day, hour), centre="test", service="short")
    with app.app_context():
        due = db.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.state == "pending", OutboxMessage.due_at <= utcnow())
        )
    assert due == 30
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    barrier = threading.Barrier(2)
    results = []

    def worker():
        with app.app_context():
            barrier.wait()
            results.append(outbox.send_due(app, now=utcnow(), limit=due))
            db.session.remove()

    try:
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        controller.stop()
    ids = Counter(message["Message-ID"] for _, message in inbox.messages)
    assert len(inbox.messages) == due and set(ids.values()) == {1}, ids.most_common(3)
    assert sum(sent for sent, _ in results) == due
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.state == "sent")
            )
            == due
        )
