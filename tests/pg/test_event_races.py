"""Seats are never oversold: 40 registrations at once for the last seats, on both databases."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select

from booking import events
from booking.extensions import db
from booking.models import Event, OutboxMessage, Registration, utcnow
from tests.events_helpers import event_url, make_event, registration_payload

REQUESTS = 40
SEATS = 12
TAKEN = 7  # persons confirmed before the race; 5 seats are left


def race(app, payloads, url) -> list[tuple[int, dict]]:
    """Each payload from its own thread and client (its own connection), all at once."""
    barrier = threading.Barrier(len(payloads))
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def one(payload):
        client = app.test_client()
        barrier.wait()
        response = client.post(url, json=payload)
        with lock:
            answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=one, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


@pytest.mark.backends("pg", "sqlite")
def test_40_concurrent_registrations_for_the_last_seats(app, make_centre, db_backend):
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre()
    event_id = make_event(app, seats=SEATS)
    client = app.test_client()
    for i, persons in enumerate((4, 3)):
        first = client.post(
            event_url(event_id),
            json=registration_payload(email=f"early{i}@example.org", persons=persons),
        )
        assert first.json["status"] == "confirmed"
    # One or two persons each, fixed (no randomness): 1, 2, 1, 2, ...
    payloads = [
        registration_payload(email=f"p{i}@example.org", persons=1 + i % 2) for i in range(REQUESTS)
    ]
    answers = race(app, payloads, event_url(event_id))
    statuses = Counter(status for status, _body in answers)
    assert statuses == Counter({201: REQUESTS}), statuses

    with app.app_context():
        event = db.session.get(Event, event_id)
        rows = db.session.execute(
            select(Registration.id, Registration.status, Registration.persons).where(
                Registration.event_id == event_id
            )
        ).all()
        confirmed = sum(p for _i, s, p in rows if s == "confirmed")
        raced_confirmed = confirmed - TAKEN
        waiting = sorted(i for i, s, _p in rows if s == "waiting")
        assert confirmed <= SEATS
        assert event.confirmed_persons == confirmed
        # Every free seat went to someone: the smallest party (1 person) always fits.
        assert confirmed == SEATS
        positions = sorted(
            body["waiting_position"] for status, body in answers if body["status"] == "waiting"
        )
        assert positions == list(range(1, len(waiting) + 1))
        print(
            f"\n[{db_backend}] {REQUESTS} requests for {SEATS - TAKEN} free seats: "
            f"{raced_confirmed} persons confirmed, {len(waiting)} waiting (positions 1..{len(waiting)})"
        )

        # One person cancels: one seat is free; the first in line whose party fits (one
        # person) is confirmed, and only they get a mail.
        one = db.session.scalar(
            select(Registration).where(
                Registration.event_id == event_id,
                Registration.status == "confirmed",
                Registration.persons == 1,
            )
        )
        line = [db.session.get(Registration, i) for i in waiting]
        expected = next(r.id for r in line if r.persons == 1)
        one_id = one.id

    with app.test_request_context():
        events.cancel_registration(db.session.get(Registration, one_id), now=utcnow())
        promoted = db.session.scalars(
            select(Registration.id).where(
                Registration.id.in_(waiting), Registration.status == "confirmed"
            )
        ).all()
        assert promoted == [expected]
        seat_mails = db.session.scalars(
            select(OutboxMessage.registration_id).where(OutboxMessage.kind == "event_seat")
        ).all()
        assert seat_mails == [expected]
        assert db.session.get(Event, event_id).confirmed_persons == SEATS
    print(
        f"[{db_backend}] a cancel of one person confirmed registration {expected} "
        f"(position {waiting.index(expected) + 1}), 1 mail"
    )


@pytest.mark.backends("pg", "sqlite")
def test_the_same_form_sent_eight_times_at_once_registers_once(app, make_centre, db_backend):
    """Twins of one form (one nonce) racing: one registration, one confirmation, and every
    answer leads to that registration's page."""
    app.config.update(OUTBOX_SEND_AFTER_COMMIT="off", WTF_CSRF_ENABLED=False)
    make_centre()
    event_id = make_event(app, seats=SEATS)
    url = f"/centres/test/events/{event_id}"
    form = {
        "nonce": "one-nonce-for-all-twins",
        "name": "Noor Al-Sayed",
        "email": "noor@example.org",
        "persons": "2",
        "consent": "y",
    }
    twins = 8
    barrier = threading.Barrier(twins)
    answers: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def one():
        client = app.test_client()
        barrier.wait()
        response = client.post(url, data=form)
        with lock:
            answers.append((response.status_code, response.headers.get("Location")))

    threads = [threading.Thread(target=one) for _ in range(twins)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == twins
    assert {status for status, _location in answers} == {303}, answers
    assert len({location for _status, location in answers}) == 1
    with app.app_context():
        assert len(db.session.scalars(select(Registration)).all()) == 1
        kinds = Counter(db.session.scalars(select(OutboxMessage.kind)))
        assert kinds == Counter({"event_confirmation": 1, "event_reminder": 1})
        assert db.session.get(Event, event_id).confirmed_persons == 2


@pytest.mark.backends("pg")
def test_a_lost_leader_race_names_the_leader(app, make_centre, db_backend, database_url):
    """Another transaction books the leader for that hour and commits while the event's
    insert waits on its row under the exclusion constraint: the admin's message names the
    leader, as when the appointment was there before."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.orm import Session

    from booking import bookings
    from booking.models import Booking, Service, User
    from tests.helpers import at, next_working_day

    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre()
    monday = next_working_day(0)
    start_at = datetime.fromisoformat(at(monday, 10)).astimezone(UTC)
    with app.app_context():
        leader = db.session.scalar(select(User).where(User.email == "c0@test.example"))
        service = db.session.scalar(select(Service).where(Service.slug == "short"))
        leader_id, leader_name = leader.id, leader.name
        centre_id, service_id = service.centre_id, service.id
    engine = create_engine(database_url)
    outcome: dict = {}

    def create() -> None:
        try:
            make_event(app, start_at=start_at, hours=1, leaders=("c0@test.example",))
        except events.LeaderBusy as error:
            outcome["error"] = error

    try:
        with Session(engine) as other:
            other.add(
                Booking(
                    reference=bookings.new_reference(),
                    centre_id=centre_id,
                    service_id=service_id,
                    counsellor_id=leader_id,
                    start_at=start_at,
                    end_at=start_at + timedelta(minutes=45),
                    name="X",
                    manage_token_hash=bookings.hash_token(bookings.new_reference()),
                )
            )
            other.flush()
            thread = threading.Thread(target=create)
            thread.start()
            # Wait until the event's insert waits on our uncommitted row, then commit it.
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
            other.commit()
            thread.join(timeout=60)
    finally:
        engine.dispose()
    error = outcome["error"]
    assert isinstance(error.__cause__, DBAPIError)  # the race path, not the check before
    assert error.names == [leader_name]
    with app.app_context():
        assert db.session.scalar(select(Event.id)) is None
