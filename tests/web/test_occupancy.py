"""Who is busy: every booking's counsellor has one occupancy row in step with it, the
database refuses two overlapping active rows of one person, and migration 0009 carries a
lived-in database over without losing a booking's busy time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from booking import bookings, retention
from booking.extensions import db
from booking.models import Booking, Occupancy, User, utcnow
from tests.helpers import at, local, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")


def occupancy_rows() -> list[tuple]:
    """The rows of bookings (events hold rows of their own: tests/web/test_events.py)."""
    return sorted(
        db.session.execute(
            select(
                Occupancy.booking_id,
                Occupancy.user_id,
                Occupancy.role,
                Occupancy.start_at,
                Occupancy.end_at,
                Occupancy.is_active,
            ).where(Occupancy.booking_id.is_not(None))
        ).all()
    )


def expected_rows() -> list[tuple]:
    """What occupancy must hold: each booking's counsellor, busy unless it is cancelled."""
    return sorted(
        (b.id, b.counsellor_id, "counsellor", b.start_at, b.end_at, b.status != "cancelled")
        for b in db.session.scalars(select(Booking))
    )


def assert_in_step() -> None:
    db.session.expire_all()
    assert occupancy_rows() == expected_rows()


def test_occupancy_never_drifts_from_the_bookings(app, make_centre, db_backend, make_booking):
    """Book, move, hand over, attendance, cancel, erase, delete: after each, the rows say
    exactly who the bookings make busy."""
    make_centre(counsellors=2)
    monday, tuesday = next_working_day(0), next_working_day(1)
    first = make_booking(at(monday, 10), centre="test", service="short")
    second = make_booking(at(monday, 10), centre="test", service="long")
    with app.test_request_context():
        assert_in_step()
        assert len(occupancy_rows()) == 2
        staff = db.session.scalars(select(User).order_by(User.id)).first()
        booking = db.session.get(Booking, first.id)
        bookings.reschedule_booking(booking, local(at(tuesday, 9)), now=utcnow())
        assert_in_step()
        booking = db.session.get(Booking, first.id)
        other = next(
            u.id for u in db.session.scalars(select(User)) if u.id != booking.counsellor_id
        )
        bookings.hand_over(booking, other, staff, now=utcnow())
        assert_in_step()
        assert db.session.get(Booking, first.id).counsellor_id == other
        # A status written by any writer moves the row along (attendance, no-show).
        db.session.get(Booking, second.id).status = "no_show"
        db.session.commit()
        assert_in_step()
        bookings.cancel_booking(db.session.get(Booking, first.id), now=utcnow())
        assert_in_step()
        assert [r[-1] for r in occupancy_rows()] == [False, True]
        retention.erase_booking(db.session.get(Booking, first.id), utcnow())
        assert_in_step()
        db.session.delete(db.session.get(Booking, second.id))
        db.session.commit()
        assert_in_step()
        assert len(occupancy_rows()) == 1


def test_a_cancelled_booking_frees_its_time_for_the_slot_search(
    app, make_centre, db_backend, make_booking
):
    make_centre()
    monday = next_working_day(0)
    made = make_booking(at(monday, 10), centre="test", service="short")
    with pytest.raises(bookings.SlotUnavailable):
        make_booking(at(monday, 10), centre="test", service="short")
    with app.test_request_context():
        bookings.cancel_booking(db.session.get(Booking, made.id), now=utcnow())
    again = make_booking(at(monday, 10), centre="test", service="short")
    assert again.counsellor_id == made.counsellor_id


def test_an_overlap_written_past_the_slot_search_is_refused(
    app, make_centre, db_backend, make_booking
):
    """Two overlapping bookings of one counsellor written straight through the session (no
    slot search): the occupancy check (SQLite) or the exclusion constraint (PostgreSQL)
    refuses the second; touching ones and a cancelled one are fine."""
    make_centre()
    monday = next_working_day(0)
    made = make_booking(at(monday, 10), centre="test", service="short")
    with app.test_request_context():
        first = db.session.get(Booking, made.id)

        def twin(start, minutes, status="confirmed"):
            return Booking(
                reference=bookings.new_reference(),
                centre_id=first.centre_id,
                service_id=first.service_id,
                counsellor_id=first.counsellor_id,
                start_at=start,
                end_at=start + timedelta(minutes=minutes),
                status=status,
                name="X",
                manage_token_hash=bookings.hash_token(bookings.new_reference()),
            )

        db.session.add(twin(first.end_at, 30))
        db.session.add(twin(first.start_at + timedelta(minutes=15), 30, status="cancelled"))
        db.session.commit()
        db.session.add(twin(first.start_at + timedelta(minutes=15), 60))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()
        assert_in_step()
        active = [r for r in occupancy_rows() if r[-1]]
        assert len(active) == 2


def test_migration_0009_keeps_every_booking_busy_on_a_lived_in_database(app, db_backend):
    """The demo with months of bookings (attended, no-shows, cancelled, upcoming): taken
    back to the revision before 0009 (no occupancy, the booking's own constraint), and up
    again, every booking has its row as before and the old constraint has gone."""
    from alembic.script import ScriptDirectory
    from flask_migrate import downgrade, upgrade

    from booking.demo import seed_demo

    with app.app_context():
        made = seed_demo(with_bookings=True)
        db.session.commit()
        assert made["bookings"] > 50
        before = occupancy_rows()
        assert before == expected_rows()
        statuses = {b.status for b in db.session.scalars(select(Booking))}
        assert statuses == {"confirmed", "attended", "no_show", "cancelled"}
        db.session.remove()

        # The revision before 0009 (whatever was merged before it), where no occupancy is.
        config = app.extensions["migrate"].migrate.get_config()
        before_0009 = ScriptDirectory.from_config(config).get_revision("0009").down_revision
        downgrade(revision=before_0009)
        assert "occupancy" not in inspect(db.session.connection()).get_table_names()
        db.session.remove()
        upgrade()

        assert occupancy_rows() == before
        assert occupancy_rows() == expected_rows()
        indexes = {i["name"] for i in inspect(db.session.connection()).get_indexes("booking")}
        assert "uq_booking_counsellor_start_active" not in indexes
        if db_backend == "pg":
            constraints = set(
                db.session.scalars(text("SELECT conname FROM pg_constraint WHERE contype = 'x'"))
            )
            assert constraints == {"ex_occupancy_user_overlap"}
        db.session.remove()


def test_a_booking_goes_to_the_counsellor_least_busy_that_day(
    app, make_centre, db_backend, make_booking
):
    """Both free at 12:00: the one who holds nothing yet that day gets it; at a tie, the
    first by id."""
    make_centre(counsellors=2)
    monday = next_working_day(0)
    first = make_booking(at(monday, 10), centre="test", service="short")
    second = make_booking(at(monday, 12), centre="test", service="short")
    third = make_booking(at(monday, 14), centre="test", service="short")
    assert second.counsellor_id != first.counsellor_id
    assert third.counsellor_id == min(first.counsellor_id, second.counsellor_id)
