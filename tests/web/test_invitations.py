"""Invitations and joint appointments (SPEC "Invitations and joint appointments"): the link,
its single use, 410 with the centre's phone, the CSV list, the reminder, the API."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

import pytest
from sqlalchemy import func, select

from booking import invitations
from booking.extensions import db
from booking.models import (
    AuditEntry,
    Booking,
    Centre,
    Invitation,
    OutboxMessage,
    Service,
    User,
    utcnow,
)
from booking.outbox import send_due
from tests.conftest import csrf_from
from tests.helpers import at, local, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

TOKEN_IN_LINK = re.compile(r"/i/([A-Za-z0-9_-]{40,})")


def invite(runner, *args) -> str:
    result = runner.invoke(
        args=[
            "invite",
            "--centre",
            "joint",
            "--service",
            "joint",
            "--name",
            "Familie Haddad",
            *args,
        ]
    )
    assert result.exit_code == 0, result.output
    return TOKEN_IN_LINK.search(result.output).group(1)


def tuesday_ten() -> str:
    return at(next_working_day(1), 10)


def invitation_of(app, token: str) -> Invitation:
    with app.app_context():
        found = invitations.find_by_token(token)
        db.session.expunge(found)
        return found


def confirm_page_csrf(client, token: str, start: str) -> str:
    """Open the confirmation step of a time; its CSRF token."""
    page = client.get(f"/i/{token}", query_string={"start": start}, follow_redirects=True)
    assert page.status_code == 200, page.get_data(as_text=True)[:400]
    return csrf_from(page.get_data(as_text=True))


def post_booking(client, token: str, start: str, csrf: str, consent: bool = True):
    data = {"csrf_token": csrf, "start": start} | ({"consent": "y"} if consent else {})
    return client.post(f"/i/{token}", data=data)


def test_the_page_offers_only_times_when_both_are_free_and_a_get_leaves_it_open(
    app, client, runner, joint
):
    token = invite(runner, "--email", "haddad@example.org", "--language", "ar")
    day = next_working_day(1)
    monday = day - timedelta(days=day.weekday())
    page = client.get(f"/i/{token}", query_string={"week": monday.isoformat()})
    assert page.status_code == 302 and "lang=ar" in page.headers["Location"]
    page = client.get(page.headers["Location"])
    html = page.get_data(as_text=True)

    assert page.status_code == 200
    assert 'lang="ar"' in html and 'dir="rtl"' in html
    offered = re.findall(r'<time datetime="([^"]+)"', html)
    # The officer works 10:00–11:00 only: 09:30 and 10:30 are not offered.
    assert offered == [local(at(day, 10)).astimezone(UTC).isoformat()]
    assert invitation_of(app, token).used_at is None


def test_booking_through_the_page_holds_both_and_uses_the_invitation_up(app, client, runner, joint):
    token = invite(runner, "--email", "haddad@example.org", "--case-note", "Lina, 11, Gymnasium")

    csrf = confirm_page_csrf(client, token, tuesday_ten())
    without_consent = post_booking(client, token, tuesday_ten(), csrf, consent=False)
    assert without_consent.status_code == 422
    response = post_booking(client, token, tuesday_ten(), csrf)

    assert response.status_code == 303 and "/b/" in response.headers["Location"]
    with app.app_context():
        booking = db.session.scalar(select(Booking))
        officer = db.session.scalar(select(User).where(User.role == "school_supervision"))
        assert booking.officer_id == officer.id
        assert booking.counsellor.email == "c0@joint.example"  # the only one offering it
        assert booking.name == "Familie Haddad" and booking.email == "haddad@example.org"
        invitation = db.session.scalar(select(Invitation))
        assert invitation.used_at is not None and invitation.booking_id == booking.id
    again = post_booking(client, token, tuesday_ten(), csrf)
    assert again.status_code == 410
    assert "02325 000" in again.get_data(as_text=True)
    assert client.get(f"/i/{token}").status_code == 410


def test_expired_and_withdrawn_invitations_answer_410_with_the_phone(app, client, runner, joint):
    expired = invite(runner, "--phone", "0171 1234567", "--expires-days", "1")
    withdrawn = invite(runner, "--phone", "0171 1234567")
    with app.app_context():
        found = invitations.find_by_token(expired)
        found.created_at -= timedelta(days=2)
        found.expires_at = utcnow() - timedelta(minutes=1)
        admin = User(email="a@joint.example", name="Admin", role="admin", centre=found.centre)
        db.session.add(admin)
        db.session.commit()
        assert invitations.withdraw(invitations.find_by_token(withdrawn), admin, now=utcnow())

    for token, status in ((expired, "expired"), (withdrawn, "withdrawn")):
        page = client.get(f"/i/{token}")
        assert page.status_code == 410
        assert "02325 000" in page.get_data(as_text=True)
        api = client.get(f"/api/v1/invitations/{token}/slots?from=2030-01-01&to=2030-01-02")
        assert api.status_code == 410
        assert api.headers["Content-Type"].startswith("application/problem+json")
        assert api.json["phone"] == "02325 000"
        assert api.json["invitation_status"] == status
        assert client.get(f"/api/v1/invitations/{token}").json["status"] == status


def test_the_api_books_once_and_then_answers_410(app, client, runner, joint):
    token = invite(runner, "--email", "haddad@example.org")
    day = next_working_day(1)
    info = client.get(f"/api/v1/invitations/{token}")
    assert info.status_code == 200 and info.json["status"] == "open"
    assert info.json["service"] == "joint" and info.json["centre"] == "joint"
    slots = client.get(f"/api/v1/invitations/{token}/slots?from={day}&to={day}")
    assert [s["start"] for s in slots.json["slots"]] == [at(day, 10)]
    assert client.get(f"/api/v1/invitations/{token}").json["status"] == "open"

    first = client.post(
        f"/api/v1/invitations/{token}/booking", json={"start": at(day, 10), "consent": True}
    )
    second = client.post(
        f"/api/v1/invitations/{token}/booking", json={"start": at(day, 10), "consent": True}
    )

    assert first.status_code == 201, first.json
    assert first.json["service"] == "joint" and first.json["manage_url"]
    assert second.status_code == 410 and second.json["invitation_status"] == "used"
    assert client.get(f"/api/v1/invitations/{token}").json["status"] == "used"


def test_the_api_refuses_a_time_that_is_not_free_and_keeps_the_invitation_open(
    app, client, runner, joint
):
    token = invite(runner, "--email", "haddad@example.org")
    day = next_working_day(1)

    taken = client.post(
        f"/api/v1/invitations/{token}/booking", json={"start": at(day, 9), "consent": True}
    )
    missing = client.post(f"/api/v1/invitations/{token}/booking", json={"start": at(day, 10)})

    assert taken.status_code == 409
    assert missing.status_code == 422 and "consent" in missing.json["errors"]
    assert client.get(f"/api/v1/invitations/{token}").json["status"] == "open"
    assert client.get("/api/v1/invitations/not-a-token").status_code == 404


def test_the_joint_service_is_not_on_the_public_list_and_not_booked_without_invitation(
    app, client, joint
):
    day = next_working_day(1)
    page = client.get("/centres/joint")
    assert "/centres/joint/joint" not in page.get_data(as_text=True)
    assert client.get("/centres/joint/joint").status_code == 404
    services = client.get("/api/v1/centres/joint/services").json
    assert [s["online_bookable"] for s in services if s["slug"] == "joint"] == [False]
    response = client.post(
        "/api/v1/centres/joint/bookings",
        json={
            "service": "joint",
            "start": at(day, 10),
            "name": "X",
            "email": "x@example.org",
            "consent": True,
        },
    )
    assert response.status_code == 409
    assert response.json["type"].endswith("service-not-online-bookable")


CSV_LIST = """name,email,phone,language,case_note
Familie Haddad,haddad@example.org,,ar,"Lina, 11"
Familie Kovalenko,,0171 2345678,uk,
,nobody@example.org,,de,
Familie Popescu,popescu@example,,ro,
Familie Ivanova,ivanova@example.org,,xx,
"""


def test_a_csv_list_invites_good_rows_and_refuses_bad_ones_by_number(app, runner, joint, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(CSV_LIST, encoding="utf-8")

    result = runner.invoke(
        args=["invite", "--centre", "joint", "--service", "joint", "--csv", str(path)]
    )

    assert result.exit_code == 1
    assert "row 4: name" in result.output
    assert "row 5: email" in result.output
    assert "row 6: language" in result.output
    assert "2 invited, 3 rows refused." in result.output
    assert len(TOKEN_IN_LINK.findall(result.output)) == 2
    with app.app_context():
        names = db.session.scalars(select(Invitation.name).order_by(Invitation.id)).all()
        assert names == ["Familie Haddad", "Familie Kovalenko"]
        # The invitation mail for the family with an address; a reminder waits for later.
        kinds = db.session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)).all()
        assert kinds == ["invitation", "invitation_reminder"]


def test_a_csv_list_whose_write_fails_writes_nothing(app, joint, monkeypatch):
    with app.test_request_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "joint"))
        service = db.session.scalar(select(Service).where(Service.slug == "joint"))
        calls = []
        original = invitations._enqueue_mails

        def failing_second(invitation, token, now, **kw):
            calls.append(invitation.id)
            if len(calls) == 2:
                raise RuntimeError("mail table unavailable")
            return original(invitation, token, now, **kw)

        monkeypatch.setattr(invitations, "_enqueue_mails", failing_second)
        with pytest.raises(RuntimeError):
            invitations.invite_list(centre, service, CSV_LIST, actor=None, now=utcnow())
        assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0


def test_one_reminder_after_seven_days_unused_through_the_outbox(app, runner, joint):
    token = invite(runner, "--email", "haddad@example.org")
    used = invite(runner, "--email", "other@example.org")
    with app.app_context():
        now = utcnow()
        send_due(app, now=now)  # the two invitations, if not sent right after the commit
        kinds = db.session.execute(select(OutboxMessage.kind, OutboxMessage.state)).all()
        assert (
            sorted(kinds) == [("invitation", "sent")] * 2 + [("invitation_reminder", "pending")] * 2
        )
        assert send_due(app, now=now + timedelta(days=6))[0] == 0
        with app.test_request_context():
            invitation = invitations.find_by_token(used)
            booking = Booking(
                reference="TEST-0001",
                centre=invitation.centre,
                service=invitation.service,
                counsellor_id=db.session.scalar(
                    select(User.id).where(User.email == "c0@joint.example")
                ),
                start_at=now + timedelta(days=3),
                end_at=now + timedelta(days=3, hours=1),
                name="x",
                manage_token_hash="x" * 64,
            )
            db.session.add(booking)
            db.session.flush()
            invitations.use(invitation, booking, now)
            db.session.commit()

        assert send_due(app, now=now + timedelta(days=7, minutes=1))[0] == 1
        assert send_due(app, now=now + timedelta(days=9))[0] == 0
        reminder = db.session.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == "invitation_reminder")
        )
        assert reminder.state == "sent"
        assert reminder.invitation_id == invitations.find_by_token(token).id


def test_booking_through_an_invitation_is_audited_and_the_purge_erases_old_invitations(
    app, client, runner, joint
):
    token = invite(runner, "--email", "haddad@example.org", "--case-note", "Lina, 11")
    old = invite(runner, "--email", "old@example.org", "--case-note", "Ali, 9")
    day = next_working_day(1)
    assert (
        client.post(
            f"/api/v1/invitations/{token}/booking", json={"start": at(day, 10), "consent": True}
        ).status_code
        == 201
    )
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert entries.count("invite") == 2 and entries[-1] == "book"
        found = invitations.find_by_token(old)
        found.created_at -= timedelta(days=120)
        found.expires_at = found.created_at + timedelta(days=14)
        db.session.commit()

    result = runner.invoke(args=["purge"])

    assert result.exit_code == 0 and "1 invitations" in result.output, result.output
    with app.app_context():
        erased = invitations.find_by_token(old)
        assert erased.erased_at is not None
        assert (erased.name, erased.email, erased.case_note) == ("", None, None)
        assert erased.created_at and erased.expires_at  # the dates reports count stay
        kept = invitations.find_by_token(token)
        assert kept.erased_at is None and kept.case_note == "Lina, 11"
        mails = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.invitation_id == erased.id)
        ).all()
        assert mails and all(m.snapshot is None and not m.raw and not m.recipient for m in mails)


def test_the_report_counts_invitations_and_the_days_to_the_appointment(
    app, client, runner, joint, make_staff, sign_in
):
    token = invite(runner, "--email", "haddad@example.org")
    invite(runner, "--phone", "0171 1234567")
    day = next_working_day(1)
    client.post(
        f"/api/v1/invitations/{token}/booking", json={"start": at(day, 10), "consent": True}
    )
    admin = make_staff("admin@joint.example", "admin", "joint")
    admin_client = app.test_client()
    sign_in(admin_client, admin)

    html = admin_client.get("/admin/centres/joint/reports").get_data(as_text=True)

    assert re.search(r'id="inv-invited">2<', html) and re.search(r'id="inv-booked">1<', html)
    assert re.search(r'id="inv-open">1<', html) and re.search(r'id="inv-expired">0<', html)
    assert re.search(r'id="inv-days">\d+(\.\d)?, \d+(\.\d)?<', html)


def test_staff_book_a_joint_appointment_by_phone_and_families_cannot_online(app, joint):
    from booking import bookings
    from booking.validation import BookingDetails

    day = next_working_day(1)
    with app.test_request_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "joint"))
        service = db.session.scalar(select(Service).where(Service.slug == "joint"))
        details = BookingDetails(name="Familie Petrova", email=None, phone="0171 555")
        online = bookings.BookingRequest(centre, service, local(at(day, 10)), details)
        with pytest.raises(bookings.NotOnlineBookable):
            bookings.book_slot(online, now=utcnow())
        by_phone = bookings.BookingRequest(
            centre, service, local(at(day, 10)), details, channel="phone"
        )
        booking = bookings.book_slot(by_phone, now=utcnow()).booking
        assert booking.officer.email == "officer@joint.example"
        assert booking.counsellor.email == "c0@joint.example"
        # Both are busy now: nothing else at that hour.
        with pytest.raises(bookings.SlotUnavailable):
            bookings.book_slot(by_phone, now=utcnow())
