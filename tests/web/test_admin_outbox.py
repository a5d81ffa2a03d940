"""Mails the outbox gave up on: listed per centre with the recipient masked, and sent again
on request. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from booking import outbox
from booking.extensions import db
from booking.models import AuditEntry, Booking, OutboxMessage, utcnow
from tests.conftest import csrf_from
from tests.helpers import at, booking_payload, free_port, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

ADMIN = "admin@herne.example"
FAMILY = "zeynep.refused@example.org"


@pytest.fixture
def admin(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff(ADMIN, "admin", "herne"))
    return client


def post(client, url: str):
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token})


def dead_confirmation(app, client, centre: str, email: str) -> int:
    """Book at ``centre``; its confirmation mail then failed for good (never sent, so it
    keeps its snapshot)."""
    day = next_working_day(0)
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    response = client.post(
        f"/api/v1/centres/{centre}/bookings",
        json=booking_payload(at(day, 10), "beratung-1", email=email),
    )
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "inline"
    assert response.status_code == 201
    with app.app_context():
        booking_id = db.session.scalar(
            select(Booking.id).where(Booking.reference == response.get_json()["reference"])
        )
        message_id = db.session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.booking_id == booking_id, OutboxMessage.kind == "confirmation"
            )
        )
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(
                state="dead",
                attempts=outbox.MAX_ATTEMPTS,
                last_error="SMTPRecipientsRefused: 550 mailbox unavailable",
                sent_at=None,
            )
        )
        db.session.commit()
    return message_id


def test_dead_mails_are_listed_with_the_recipient_masked(app, admin):
    herne = dead_confirmation(app, admin, "herne", "ayse.oeztuerk@example.org")
    heinsberg = dead_confirmation(app, admin, "kreis-heinsberg", "other@example.org")
    response = admin.get("/admin/centres/herne/outbox")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'id="message-{herne}"' in html
    assert f'id="message-{heinsberg}"' not in html  # not this admin's centre
    assert "a***@example.org" in html
    assert "ayse.oeztuerk" not in html
    assert "550 mailbox unavailable" in html
    assert f"/admin/centres/herne/outbox/{herne}/requeue" in html
    # The admin's home and the centre page point to it.
    assert 'class="badge">1<' in admin.get("/admin/").get_data(as_text=True)
    assert 'id="outbox-notice"' in admin.get("/admin/centres/herne/").get_data(as_text=True)


def test_send_again_makes_it_pending_and_due(app, admin):
    message_id = dead_confirmation(app, admin, "herne", "ayse@example.org")
    before = utcnow()
    response = post(admin, f"/admin/centres/herne/outbox/{message_id}/requeue")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/centres/herne/outbox")
    with app.app_context():
        message = db.session.get(OutboxMessage, message_id)
        assert message.state == "pending"
        assert message.attempts == 0
        assert message.claimed_until is None
        assert before <= message.due_at <= utcnow()
        entry = db.session.scalar(
            select(AuditEntry).where(
                AuditEntry.booking_id == message.booking_id, AuditEntry.action == "settings"
            )
        )
        assert entry is not None and str(message_id) in entry.detail
        # The next round of the outbox sends it.
        assert outbox.send_due(app, now=utcnow()) == (1, 0)
        assert db.session.get(OutboxMessage, message_id).state == "sent"
    page = admin.get("/admin/centres/herne/outbox").get_data(as_text=True)
    assert f'id="message-{message_id}"' not in page and 'id="outbox-empty"' in page


def test_send_again_only_for_dead_mails_of_the_admins_centres(app, admin):
    foreign = dead_confirmation(app, admin, "kreis-heinsberg", "other@example.org")
    assert post(admin, f"/admin/centres/herne/outbox/{foreign}/requeue").status_code == 404
    assert (
        post(admin, f"/admin/centres/kreis-heinsberg/outbox/{foreign}/requeue").status_code == 404
    )
    with app.app_context():
        assert db.session.get(OutboxMessage, foreign).state == "dead"
    # A mail that is not dead is left alone.
    message_id = dead_confirmation(app, admin, "herne", "ayse@example.org")
    assert post(admin, f"/admin/centres/herne/outbox/{message_id}/requeue").status_code == 303
    with app.app_context():
        outbox.send_due(app, now=utcnow())
    assert post(admin, f"/admin/centres/herne/outbox/{message_id}/requeue").status_code == 303
    with app.app_context():
        assert db.session.get(OutboxMessage, message_id).state == "sent"


class RefusingInbox:
    """A mail server that refuses every recipient, naming it as real servers do."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"


def test_a_refused_address_is_not_kept_in_the_last_error(app, admin):
    port = free_port()
    controller = Controller(RefusingInbox(), hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, OUTBOX_SEND_AFTER_COMMIT="inline")
    try:
        response = admin.post(
            "/api/v1/centres/herne/bookings",
            json=booking_payload(at(next_working_day(0), 10), "beratung-1", email=FAMILY),
        )
        assert response.status_code == 201
    finally:
        controller.stop()
    with app.app_context():
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "confirmation"))
        assert row.attempts == 1
        # The SMTP status is kept, the server's words with the address are not.
        assert row.last_error == "SMTPRecipientsRefused: 550 5.1.1"
        db.session.execute(
            update(OutboxMessage).where(OutboxMessage.id == row.id).values(state="dead")
        )
        db.session.commit()
    page = admin.get("/admin/centres/herne/outbox").get_data(as_text=True)
    assert "550 5.1.1" in page
    assert "zeynep.refused" not in page
