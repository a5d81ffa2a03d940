"""When one of a joint appointment's two becomes absent, the appointment needs attention:
hand it over to a free colleague of the same role, or invite the family again (booking
through the new invitation replaces the old appointment in one transaction, one mail)."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from sqlalchemy import select

from booking import availability, bookings
from booking.extensions import db
from booking.models import (
    Absence,
    Booking,
    Centre,
    OutboxMessage,
    Service,
    User,
    WorkingHours,
    utcnow,
)
from tests.conftest import csrf_from
from tests.helpers import at, local, next_working_day
from tests.web.test_invitations import invite

pytestmark = pytest.mark.backends("sqlite", "pg")


@pytest.fixture
def joint_booking(app, client, runner, joint):
    """A joint appointment on Tuesday 10:00 through an invitation, and a second officer
    who also works then."""
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "joint"))
        service = db.session.scalar(select(Service).where(Service.slug == "joint"))
        db.session.add(
            User(
                email="officer2@joint.example",
                name="Second Officer",
                role="school_supervision",
                centre=centre,
                languages=["de"],
                services=[service],
                working_hours=[WorkingHours(weekday=1, opens=time(9), closes=time(12))],
            )
        )
        db.session.commit()
    token = invite(runner, "--email", "haddad@example.org")
    day = next_working_day(1)
    response = client.post(
        f"/api/v1/invitations/{token}/booking", json={"start": at(day, 10), "consent": True}
    )
    assert response.status_code == 201
    with app.app_context():
        booking = db.session.scalar(select(Booking))
        first_officer = booking.officer_id
    return {"day": day, "officer": first_officer}


def mark_absent(app, email: str, day):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        db.session.add(
            Absence(
                user=user,
                start_at=local(at(day, 8)),
                end_at=local(at(day, 16)),
                note="krank",
            )
        )
        db.session.commit()


def test_an_absent_officer_puts_the_joint_appointment_on_the_list(app, joint_booking):
    with app.app_context():
        officer = db.session.get(User, joint_booking["officer"])
        email = officer.email
    mark_absent(app, email, joint_booking["day"])
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "joint"))
        entries = availability.bookings_needing_attention(centre, utcnow())
        assert [reasons for _b, reasons in entries] == [[availability.OFFICER_ABSENT]]
        booking = entries[0][0]
        colleagues = availability.free_colleagues([booking], utcnow())[booking.id]
        assert [c.email for c in colleagues] == ["officer2@joint.example"]
        # Listed on the absence page of the officer as well.
        assert availability.bookings_needing_attention(centre, utcnow(), counsellor_id=officer.id)


def test_hand_over_to_the_free_officer_keeps_the_time_and_sends_one_change(app, joint_booking):
    with app.app_context():
        email = db.session.get(User, joint_booking["officer"]).email
    mark_absent(app, email, joint_booking["day"])
    with app.test_request_context():
        booking = db.session.scalar(select(Booking))
        counsellor, start = booking.counsellor_id, booking.start_at
        admin = User(email="a@joint.example", name="Admin", role="admin", centre=booking.centre)
        db.session.add(admin)
        db.session.commit()
        second = db.session.scalar(select(User).where(User.email == "officer2@joint.example"))

        bookings.hand_over(booking, second.id, admin, now=utcnow())

        booking = db.session.scalar(select(Booking))
        assert (booking.officer_id, booking.counsellor_id, booking.start_at) == (
            second.id,
            counsellor,
            start,
        )
        kinds = db.session.scalars(
            select(OutboxMessage.kind).where(OutboxMessage.booking_id == booking.id)
        ).all()
        assert kinds.count("change") == 1 and "cancellation" not in kinds
        assert availability.bookings_needing_attention(booking.centre, utcnow()) == []


def test_inviting_again_replaces_the_old_appointment_in_one_transaction_with_one_mail(
    app, client, joint_booking, make_staff, sign_in
):
    with app.app_context():
        email = db.session.get(User, joint_booking["officer"]).email
        second = db.session.scalar(select(User).where(User.email == "officer2@joint.example"))
        second.is_active = False
        db.session.commit()
    mark_absent(app, email, joint_booking["day"])
    make_staff("reception@joint.example", "reception", "joint")
    reception = app.test_client()
    sign_in(reception, "reception@joint.example")
    page = reception.get("/staff/absences").get_data(as_text=True)
    with app.app_context():
        old = db.session.scalar(select(Booking))
        old_id, old_start, old_sequence = old.id, old.start_at, old.sequence

    made = reception.post(
        f"/staff/bookings/{old_id}/invite-again", data={"csrf_token": csrf_from(page)}
    )
    assert made.status_code == 200
    token = re.search(r"/i/([A-Za-z0-9_-]{40,})", made.get_data(as_text=True)).group(1)
    # The officer is back on Thursday; the family picks that time.
    with app.app_context():
        officer = db.session.get(User, joint_booking["officer"])
        officer.working_hours.append(WorkingHours(weekday=3, opens=time(10), closes=time(11)))
        db.session.commit()
    thursday = joint_booking["day"] + timedelta(days=2)
    slots = client.get(f"/api/v1/invitations/{token}/slots?from={thursday}&to={thursday}")
    assert [s["start"] for s in slots.json["slots"]] == [at(thursday, 10)]

    response = client.post(
        f"/api/v1/invitations/{token}/booking", json={"start": at(thursday, 10), "consent": True}
    )

    assert response.status_code == 201
    with app.app_context():
        rows = db.session.scalars(select(Booking)).all()
        assert [b.id for b in rows] == [old_id]  # the same appointment, at its new time
        moved = rows[0]
        assert moved.start_at != old_start and moved.sequence == old_sequence + 1
        assert moved.status == "confirmed"
        mails = db.session.scalars(
            select(OutboxMessage.kind)
            .where(OutboxMessage.booking_id == old_id)
            .order_by(OutboxMessage.id)
        ).all()
        assert mails.count("change") == 1 and "cancellation" not in mails
        assert availability.bookings_needing_attention(moved.centre, utcnow()) == []
