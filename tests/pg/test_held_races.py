"""Held bookings under concurrency: a hold that ran out goes to exactly one new booking, and
a confirmation racing bookings of the same time leaves the time to one of them."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from booking import bookings
from booking.extensions import db
from booking.models import Booking, Centre, Service, utcnow
from booking.validation import BookingDetails
from tests.helpers import at, local, next_working_day

REQUESTS = 12


def at_once(app, jobs) -> Counter:
    """Run the jobs (each given a fresh app context) at once; count what they returned."""
    barrier = threading.Barrier(len(jobs))
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(job):
        with app.test_request_context():
            barrier.wait()
            try:
                outcome = job()
            except bookings.BookingError as error:
                outcome = error.problem
            finally:
                db.session.remove()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return Counter(outcomes)


def request(start, email: str) -> bookings.BookingRequest:
    centre = db.session.scalar(select(Centre).where(Centre.slug == "test"))
    service = db.session.scalar(select(Service).where(Service.slug == "short"))
    return bookings.BookingRequest(
        centre, service, start, BookingDetails(name="Omar Nassar", email=email)
    )


@pytest.fixture
def held(app, make_centre):
    """A centre holding online bookings for 30 minutes, one counsellor, and a hold at 10:00
    of the next working Monday, made now; returns (booking id, start, now)."""
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre(hold_online_bookings=True)
    start = local(at(next_working_day(0), 10))
    now = utcnow()
    with app.test_request_context():
        result = bookings.book_slot(request(start, "first@example.org"), now=now)
        assert result.booking.status == "held"
        return result.booking.id, start, now


def booked_at(app, start) -> list[tuple[str, str]]:
    with app.app_context():
        return sorted(
            db.session.execute(
                select(Booking.status, Booking.email).where(Booking.start_at == start)
            ).all()
        )


@pytest.mark.backends("pg", "sqlite")
def test_a_run_out_hold_goes_to_exactly_one_of_many_bookings(app, held, db_backend):
    booking_id, start, now = held
    later = now + timedelta(minutes=31)
    jobs = [
        (
            lambda i=i: (
                bookings.book_slot(request(start, f"p{i}@example.org"), now=later).booking.status
            )
        )
        for i in range(REQUESTS)
    ]
    outcomes = at_once(app, jobs)
    assert outcomes == Counter({"held": 1, "slot-unavailable": REQUESTS - 1}), outcomes
    rows = booked_at(app, start)
    assert [status for status, _ in rows] == ["expired", "held"], rows


@pytest.mark.backends("pg", "sqlite")
def test_a_confirmation_racing_bookings_leaves_the_time_to_one(app, held, db_backend):
    """The family confirms a second before the hold runs out while others book a second
    after: whoever the database lets first, the time is taken once."""
    booking_id, start, now = held
    expiry = now + timedelta(minutes=30)

    def confirm():
        booking = db.session.get(Booking, booking_id)
        return (
            "confirmed"
            if bookings.confirm_hold(booking, now=expiry - timedelta(seconds=1))
            else "again"
        )

    jobs = [confirm] + [
        (
            lambda i=i: (
                bookings.book_slot(
                    request(start, f"p{i}@example.org"), now=expiry + timedelta(seconds=1)
                ).booking.status
            )
        )
        for i in range(REQUESTS - 1)
    ]
    outcomes = at_once(app, jobs)
    rows = booked_at(app, start)
    if outcomes["confirmed"]:
        assert outcomes == Counter({"confirmed": 1, "slot-unavailable": REQUESTS - 1}), outcomes
        assert rows == [("confirmed", "first@example.org")]
    else:
        assert outcomes == Counter(
            {"hold-expired": 1, "held": 1, "slot-unavailable": REQUESTS - 2}
        ), outcomes
        assert [status for status, _ in rows] == ["expired", "held"], rows
