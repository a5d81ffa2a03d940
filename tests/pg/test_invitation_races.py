"""Invitations and joint appointments under concurrency: the database has the last word."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import func, select, text

from booking.extensions import db
from booking.models import Booking, Invitation
from tests.helpers import at, booking_payload, next_working_day
from tests.web.test_invitations import invite

ROUNDS = 8


def at_once(app, calls) -> list[tuple[str, int]]:
    """Run (label, method, url, json) calls at once from as many threads; their statuses."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def one(label, url, payload):
        client = app.test_client()
        barrier.wait()
        status = client.post(url, json=payload).status_code
        with lock:
            results.append((label, status))

    threads = [threading.Thread(target=one, args=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.backends("pg", "sqlite")
def test_two_concurrent_bookings_through_one_invitation_one_wins(
    app,
    runner,
    joint,
    db_backend,
):
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    day = next_working_day(1)
    outcomes = Counter()
    for _ in range(ROUNDS):
        token = invite(runner, "--email", "haddad@example.org")
        payload = {"start": at(day, 10), "consent": True}
        url = f"/api/v1/invitations/{token}/booking"
        results = at_once(app, [("a", url, payload), ("b", url, payload)])
        statuses = sorted(status for _, status in results)
        assert statuses[0] == 201 and statuses[1] in (409, 410), statuses
        outcomes.update(statuses)
        with app.app_context():
            booking = db.session.scalar(select(Booking).where(Booking.status == "confirmed"))
            invitation = db.session.scalar(select(Invitation).order_by(Invitation.id.desc()))
            assert invitation.used_at is not None and invitation.booking_id == booking.id
            # Free the time for the next round.
            db.session.execute(text("UPDATE booking SET status = 'cancelled'"))
            db.session.execute(text("UPDATE occupancy SET is_active = false"))
            db.session.commit()
    assert outcomes[201] == ROUNDS


@pytest.mark.backends("pg", "sqlite")
def test_a_joint_booking_racing_a_one_to_one_booking_of_the_counsellor(
    app,
    runner,
    joint,
    db_backend,
):
    """c0 holds the joint service alone; a one-to-one booking of the same hour competes."""
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    day = next_working_day(1)
    winners = Counter()
    for round_number in range(ROUNDS):
        token = invite(runner, "--email", f"family{round_number}@example.org")
        one_to_one = booking_payload(at(day, 10), "long", email=f"other{round_number}@example.org")
        with app.app_context():
            # Only c0 may take the one-to-one booking, so both ask for the same person.
            db.session.execute(
                text(
                    "DELETE FROM counsellor_service WHERE user_id = "
                    "(SELECT id FROM staff_user WHERE email = 'c1@joint.example')"
                )
            )
            db.session.commit()
        results = at_once(
            app,
            [
                (
                    "joint",
                    f"/api/v1/invitations/{token}/booking",
                    {"start": at(day, 10), "consent": True},
                ),
                ("single", "/api/v1/centres/joint/bookings", one_to_one),
            ],
        )
        statuses = dict(results)
        assert all(status < 500 for status in statuses.values()), statuses
        assert sorted(statuses.values()) == [201, 409], statuses
        winners.update(label for label, status in results if status == 201)
        with app.app_context():
            active = db.session.scalars(select(Booking).where(Booking.status == "confirmed")).all()
            assert len(active) == 1
            db.session.execute(text("UPDATE booking SET status = 'cancelled'"))
            db.session.execute(text("UPDATE occupancy SET is_active = false"))
            db.session.commit()
    assert sum(winners.values()) == ROUNDS


@pytest.mark.backends("pg", "sqlite")
def test_the_officer_is_never_double_booked_past_the_application(app, runner, joint, db_backend):
    """Written around the slot search, a second overlapping joint appointment of the same
    officer (with another counsellor) is refused by the officer's occupancy: the exclusion
    constraint on PostgreSQL, the check before the write on SQLite."""
    from sqlalchemy.exc import IntegrityError

    day = next_working_day(1)
    token = invite(runner, "--email", "haddad@example.org")
    client = app.test_client()
    assert (
        client.post(
            f"/api/v1/invitations/{token}/booking", json={"start": at(day, 10), "consent": True}
        ).status_code
        == 201
    )
    with app.app_context():
        first = db.session.scalar(select(Booking))
        copy = {
            c.name: getattr(first, c.name)
            for c in Booking.__table__.columns
            if c.name
            not in ("id", "reference", "manage_token_hash", "counsellor_id", "start_at", "end_at")
        }
        other = db.session.scalar(
            text("SELECT id FROM staff_user WHERE email = 'c1@joint.example'")
        )
        with pytest.raises(IntegrityError, match="ex_occupancy_user_overlap|occupancy overlap"):
            db.session.add(
                Booking(
                    **copy,
                    reference="RACE-0001",
                    manage_token_hash="r" * 64,
                    counsellor_id=other,
                    start_at=first.start_at.replace(minute=30),
                    end_at=first.end_at.replace(minute=30),
                )
            )
            db.session.flush()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 1
