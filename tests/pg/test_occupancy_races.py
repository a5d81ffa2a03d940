"""Lost races on one person's time: whatever PostgreSQL calls them (exclusion or unique
violation, deadlock between two overlapping inserts, serialization failure), the writer
answers 409, and never do two active rows of one person overlap."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from booking import bookings, occupancy
from booking.extensions import db
from booking.models import Booking, Occupancy, Service, User
from tests.helpers import at, booking_payload, next_working_day

THREADS = 24
ROUNDS = 10


def overlapping(rows) -> list[tuple]:
    """Pairs of active rows of one person that overlap (none, ever)."""
    rows = sorted(rows)
    return [
        (a, b)
        for a, b in zip(rows, rows[1:], strict=False)
        if a.user_id == b.user_id and b.start_at < a.end_at
    ]


def active_rows(session) -> list:
    return session.execute(
        select(Occupancy.user_id, Occupancy.start_at, Occupancy.end_at).where(
            Occupancy.is_active.is_(True)
        )
    ).all()


@pytest.mark.backends("pg")
def test_24_connections_inserting_overlapping_times_of_one_person(
    app, make_centre, db_backend, database_url
):
    """Each round, 24 connections insert at once a booking of the same counsellor, an hour
    long, starting 0, 5, ... 55 minutes after 09:00 (each start twice): every insert that
    fails is a lost race by ``occupancy.is_lost_race``, deadlocks included, and the rows
    left never overlap."""
    make_centre()
    with app.app_context():
        counsellor_id = db.session.scalar(select(User.id))
        service = db.session.scalar(select(Service).where(Service.slug == "long"))
        centre_id, service_id = service.centre_id, service.id
    engine = create_engine(database_url, pool_size=THREADS, max_overflow=0)
    outcomes: Counter = Counter()
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def one(barrier: threading.Barrier, start_at: datetime) -> None:
        with Session(engine) as session:
            session.add(
                Booking(
                    reference=bookings.new_reference(),
                    centre_id=centre_id,
                    service_id=service_id,
                    counsellor_id=counsellor_id,
                    start_at=start_at,
                    end_at=start_at + timedelta(hours=1),
                    name="X",
                    manage_token_hash=bookings.hash_token(bookings.new_reference()),
                )
            )
            barrier.wait()
            try:
                session.commit()
                outcome = "inserted"
            except DBAPIError as error:
                session.rollback()
                if not occupancy.is_lost_race(error):
                    raise
                outcome = error.orig.sqlstate
            except BaseException as error:  # noqa: BLE001 - counted, then failed below
                with lock:
                    unexpected.append(error)
                return
            with lock:
                outcomes[outcome] += 1

    try:
        for day in range(ROUNDS):
            base = datetime(2031, 3, 3 + day, 9, tzinfo=UTC)
            barrier = threading.Barrier(THREADS)
            threads = [
                threading.Thread(target=one, args=(barrier, base + timedelta(minutes=5 * (i % 12))))
                for i in range(THREADS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert not any(t.is_alive() for t in threads)
        with Session(engine) as session:
            rows = active_rows(session)
    finally:
        engine.dispose()
    assert unexpected == []
    assert sum(outcomes.values()) == THREADS * ROUNDS
    assert set(outcomes) <= {"inserted", *occupancy.LOST_RACE_STATES}, outcomes
    # Within each round's two hours, one insert or two that touch won; the others lost.
    assert ROUNDS <= outcomes["inserted"] == len(rows) <= 2 * ROUNDS, outcomes
    assert overlapping(rows) == []
    print(f"\n{THREADS} connections x {ROUNDS} rounds: {dict(outcomes)}")


def race(app, payloads) -> Counter:
    """Post the payloads at once, one thread each; count the status codes."""
    barrier = threading.Barrier(len(payloads))
    statuses: Counter = Counter()
    lock = threading.Lock()

    def one(payload):
        client = app.test_client()
        barrier.wait()
        status = client.post("/api/v1/centres/test/bookings", json=payload).status_code
        with lock:
            statuses[status] += 1

    threads = [threading.Thread(target=one, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


@pytest.mark.backends("pg", "sqlite")
def test_24_overlapping_api_requests_for_one_counsellor_are_201_or_409(
    app, make_centre, db_backend
):
    """Starts every half hour from 08:00, an hour long, a Turkish speaker asked for (one
    counsellor of two speaks it): only 201 and 409, and the bookings made never overlap."""
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre(counsellors=2)
    monday = next_working_day(0)
    payloads = [
        booking_payload(
            at(monday, 8 + i // 2, 30 * (i % 2)), "long", email=f"p{i}@example.org", language="tr"
        )
        for i in range(14)
    ] * 2
    assert len(payloads) >= 20
    statuses = race(app, payloads)
    assert set(statuses) <= {201, 409}, statuses
    with app.app_context():
        rows = active_rows(db.session)
        assert statuses[201] == len(rows) >= 1
        assert overlapping(rows) == []
        speakers = {u.id for u in db.session.scalars(select(User)) if "tr" in u.languages}
        assert {r.user_id for r in rows} <= speakers


@pytest.mark.backends("pg")
def test_a_booking_that_loses_a_deadlock_is_a_409(app, make_centre, db_backend, database_url):
    """A real deadlock (40P01) in the booking writer: another transaction holds the
    counsellor's overlapping row uncommitted, the API request waits on it under the
    exclusion constraint, and the other then waits for the request's lock of the same
    e-mail address. PostgreSQL aborts the request's transaction (the other one checks for
    deadlocks only after 30 s): the family gets a clean 409, not a 503."""
    from sqlalchemy import text

    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre()
    monday = next_working_day(0)
    start = at(monday, 10)
    with app.app_context():
        counsellor_id = db.session.scalar(select(User.id))
        service = db.session.scalar(select(Service).where(Service.slug == "short"))
        centre_id, service_id = service.centre_id, service.id
    engine = create_engine(database_url)
    answer: dict = {}

    def request() -> None:
        payload = booking_payload(start, email="same@example.org")
        response = app.test_client().post("/api/v1/centres/test/bookings", json=payload)
        answer["status"] = response.status_code
        answer["body"] = response.get_json()

    try:
        with Session(engine) as other:
            other.execute(text("SET LOCAL deadlock_timeout = '30s'"))
            start_at = datetime.fromisoformat(start).astimezone(UTC)
            other.add(
                Booking(
                    reference=bookings.new_reference(),
                    centre_id=centre_id,
                    service_id=service_id,
                    counsellor_id=counsellor_id,
                    start_at=start_at,
                    end_at=start_at + timedelta(minutes=45),
                    name="X",
                    manage_token_hash=bookings.hash_token(bookings.new_reference()),
                )
            )
            other.flush()
            thread = threading.Thread(target=request)
            thread.start()
            # Wait until the request waits on our uncommitted row (it holds the e-mail lock).
            with engine.connect() as watcher:
                waiting = 0
                while not waiting and thread.is_alive():
                    waiting = watcher.execute(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE NOT granted "
                            "AND locktype = 'transactionid'"
                        )
                    ).scalar()
                    watcher.rollback()
            other.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": "booking-email:same@example.org"},
            )
            thread.join(timeout=60)
            other.rollback()
    finally:
        engine.dispose()
    assert answer["status"] == 409, answer
    assert answer["body"]["type"].endswith("slot-unavailable")
