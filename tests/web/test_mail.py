"""Confirmations through a real SMTP server (aiosmtpd): invitations that update and cancel."""

from __future__ import annotations

import email
import email.utils
import json
import re
from datetime import UTC, timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller
from icalendar import Calendar
from sqlalchemy import select

from booking import outbox
from booking.extensions import db
from booking.models import OutboxMessage, utcnow
from tests.conftest import csrf_from
from tests.helpers import (
    Inbox,
    a_week_later,
    answer_find_requests,
    at,
    booking_payload,
    free_port,
    local,
    next_working_day,
)


@pytest.fixture
def monday():
    return next_working_day(0)


def calendar_of(message) -> tuple[Calendar, str]:
    """The iCalendar part (the text/calendar alternative) and its method parameter."""
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert parts, "no text/calendar part"
    part = parts[0]
    attachment = [p for p in message.walk() if p.get_filename() == "invite.ics"]
    assert attachment and attachment[0].get_payload(decode=True) == part.get_payload(decode=True)
    return Calendar.from_ical(part.get_payload(decode=True)), part.get_param("method")


def event_of(calendar):
    (event,) = calendar.walk("VEVENT")
    return event


def test_confirmation_reaches_the_smtp_server_with_a_request(
    app, client, make_centre, smtp, monday
):
    make_centre()
    name = 'Ayşe "Ada" <Öztürk> & Co'
    response = client.post(
        "/api/v1/centres/test/bookings",
        json=booking_payload(at(monday, 10), name=name, email="ayse@example.org"),
    )
    assert response.status_code == 201
    assert len(smtp.messages) == 1
    recipients, message = smtp.messages[0]
    assert recipients == ["ayse@example.org"]
    # One address: the name is kept without the characters of address syntax.
    (address,) = message["To"].addresses
    assert address.display_name == "Ayşe Ada Öztürk & Co"
    assert address.addr_spec == "ayse@example.org"
    # Subject names the centre, never the topic or the person.
    assert "Testzentrum test" in message["Subject"]
    assert "Kurz" not in message["Subject"] and "Ayşe" not in message["Subject"]
    assert message["Message-ID"]
    assert message.get_content_type() == "multipart/mixed"
    types = [p.get_content_type() for p in message.walk()]
    assert "text/plain" in types and "text/html" in types

    calendar, method = calendar_of(message)
    assert method == "REQUEST" and str(calendar["METHOD"]) == "REQUEST"
    event = event_of(calendar)
    body = response.get_json()
    assert str(event["UID"]).startswith(body["reference"])
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == local(body["start"])
    assert event.decoded("DTEND") == local(body["end"])
    assert str(event["ORGANIZER"]) == "mailto:test@centre.example"
    assert str(event["ATTENDEE"]) == "mailto:ayse@example.org"
    assert event["ATTENDEE"].params["CN"] == name
    assert str(event["LOCATION"]) == "Teststraße 1, 44649 Herne"
    assert str(event["SUMMARY"]) == "Termin: Testzentrum test"
    html = next(p for p in message.walk() if p.get_content_type() == "text/html").get_content()
    assert "Ayşe &#34;Ada&#34; &lt;Öztürk&gt; &amp; Co" in html or "&lt;Öztürk&gt;" in html


def test_move_and_cancel_keep_the_uid_and_raise_the_sequence(
    app, client, make_centre, smtp, monday
):
    make_centre()
    created = client.post("/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10)))
    token = created.get_json()["manage_url"].rsplit("/", 1)[1]
    client.post(f"/api/v1/bookings/{token}/reschedule", json={"start": at(monday, 13)})
    client.post(f"/api/v1/bookings/{token}/cancel")
    assert len(smtp.messages) == 3
    (c1, m1), (c2, m2), (c3, m3) = (calendar_of(m) for _, m in smtp.messages)
    e1, e2, e3 = event_of(c1), event_of(c2), event_of(c3)
    assert (m1, m2, m3) == ("REQUEST", "REQUEST", "CANCEL")
    assert str(e1["UID"]) == str(e2["UID"]) == str(e3["UID"])
    assert int(e1["SEQUENCE"]) < int(e2["SEQUENCE"]) < int(e3["SEQUENCE"])
    assert local(e2.decoded("DTSTART").isoformat()).strftime("%H:%M") == "13:00"
    assert str(e3["STATUS"]) == "CANCELLED"


def test_mail_follows_the_language_of_the_booking(app, client, make_centre, smtp, monday):
    make_centre()
    client.post(
        "/api/v1/centres/test/bookings",
        json=booking_payload(at(monday, 10)),
        headers={"Accept-Language": "en"},
    )
    _, message = smtp.messages[0]
    assert message["Subject"] == "Your appointment at Testzentrum test"
    assert message["Content-Language"] == "en"


def test_a_worker_without_a_request_composes_in_the_bookings_language(
    app, client, make_centre, smtp, monday
):
    """`outbox work` has an app context and no request: the snapshot's locale decides."""
    make_centre()
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    client.post(
        "/api/v1/centres/test/bookings",
        json=booking_payload(at(monday, 10)),
        headers={"Accept-Language": "en"},
    )
    with app.app_context():
        assert outbox.send_due(app, now=utcnow()) == (1, 0)
    _, message = smtp.messages[0]
    assert message["Subject"] == "Your appointment at Testzentrum test"
    assert message["Content-Language"] == "en"


def test_smtp_down_booking_succeeds_and_mail_is_sent_once_later(app, client, make_centre, monday):
    make_centre()
    port = free_port()  # nothing listens here yet
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, OUTBOX_SEND_AFTER_COMMIT="inline")
    response = client.post("/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10)))
    assert response.status_code == 201
    with app.app_context():
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "confirmation"))
        assert row.state == "pending" and row.attempts == 1 and row.last_error
        assert row.due_at > utcnow()  # backs off before the next try

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with app.app_context():
            # Not due yet: nothing is sent before the backoff has passed.
            assert outbox.send_due(app, now=utcnow()) == (0, 0)
            later = utcnow() + timedelta(minutes=5)
            assert outbox.send_due(app, now=later) == (1, 0)
            assert outbox.send_due(app, now=later) == (0, 0)
            # The time given is the time recorded: send_due reads no clock of its own.
            sent = db.session.scalar(
                select(OutboxMessage).where(OutboxMessage.kind == "confirmation")
            )
            assert sent.sent_at == later
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    assert calendar_of(inbox.messages[0][1])[1] == "REQUEST"


def test_the_backoff_base_is_a_setting(app, client, make_centre, monday):
    make_centre()
    app.config.update(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=free_port(),
        OUTBOX_SEND_AFTER_COMMIT="off",
        OUTBOX_BACKOFF_SECONDS=2,
    )
    client.post("/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10)))
    with app.app_context():
        now = utcnow()
        assert outbox.send_due(app, now=now) == (0, 1)
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "confirmation"))
        assert row.due_at == now + timedelta(seconds=2)
        assert outbox.send_due(app, now=now + timedelta(seconds=1)) == (0, 0)
        assert outbox.send_due(app, now=now + timedelta(seconds=2)) == (0, 1)
        db.session.refresh(row)
        assert row.due_at == now + timedelta(seconds=2 + 4)


def test_a_mail_that_keeps_failing_is_marked_dead(app, client, make_centre, monday):
    make_centre()
    app.config.update(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), OUTBOX_SEND_AFTER_COMMIT="off"
    )
    client.post("/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10)))
    with app.app_context():
        when = utcnow()
        for _ in range(outbox.MAX_ATTEMPTS):
            when += timedelta(hours=7)
            outbox.send_due(app, now=when)
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "confirmation"))
        assert row.state == "dead" and row.attempts == outbox.MAX_ATTEMPTS


def test_outbox_send_command_sends_what_is_due(app, client, runner, make_centre, smtp, monday):
    make_centre()
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    client.post("/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10)))
    assert smtp.messages == []
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "1 sent, 0 failed" in result.output
    assert len(smtp.messages) == 1


def test_reminder_is_due_a_day_before_and_offers_i_cant_come(
    app, client, make_centre, smtp, monday
):
    make_centre()
    body = client.post(
        "/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10))
    ).get_json()
    with app.app_context():
        reminder = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
        assert reminder.due_at == local(body["start"]) - timedelta(hours=24)
        assert outbox.send_due(app, now=reminder.due_at) == (1, 0)
    _, message = smtp.messages[-1]
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_content()
    # The reminder's link was minted when it was sent: its own token, beside the booking's.
    (token,) = re.findall(r"/b/([A-Za-z0-9_-]+)/cancel", text)
    assert token != body["manage_url"].rsplit("/", 1)[1]
    # The link is one click, then a confirmation: following it changes nothing.
    page = client.get(f"/b/{token}/cancel")
    assert page.status_code == 200
    assert client.get(f"/api/v1/bookings/{token}").get_json()["status"] == "confirmed"


def test_without_mail_server_mail_is_written_as_eml_files(app, client, make_centre, monday):
    make_centre()
    app.config.update(MAIL_SERVER=None, OUTBOX_SEND_AFTER_COMMIT="inline")
    client.post("/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10)))
    from pathlib import Path

    files = list(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))
    assert len(files) == 1
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert calendar_of(message)[1] == "REQUEST"


def test_every_subject_names_the_centre_only(app, client, make_centre, smtp, monday):
    """Confirmation, change, reminder and cancellation: the subject and the calendar's
    SUMMARY name the centre, never the service (the topic) or the person."""
    make_centre()
    created = client.post(
        "/api/v1/centres/test/bookings",
        json=booking_payload(at(monday, 10), name="Ayşe Öztürk"),
    )
    token = created.get_json()["manage_url"].rsplit("/", 1)[1]
    assert (
        client.post(
            f"/api/v1/bookings/{token}/reschedule", json={"start": at(monday, 13)}
        ).status_code
        == 200
    )
    with app.app_context():
        reminder = db.session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.kind == "reminder", OutboxMessage.state == "pending"
            )
        )
        assert outbox.send_due(app, now=reminder.due_at) == (1, 0)
    assert client.post(f"/api/v1/bookings/{token}/cancel").status_code == 200
    kinds = []
    for _, message in smtp.messages:
        subject = message["Subject"]
        assert "Testzentrum test" in subject, subject
        for secret in ("Kurz", "Short", "short", "Ayşe", "Öztürk"):
            assert secret not in subject, subject
        parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        if parts:
            kinds.append(parts[0].get_param("method"))
            assert str(event_of(calendar_of(message)[0])["SUMMARY"]) == "Termin: Testzentrum test"
        else:
            kinds.append("reminder")
    assert kinds == ["REQUEST", "REQUEST", "reminder", "CANCEL"]


def test_the_booking_writes_a_snapshot_and_any_worker_composes_it_after_a_crash(
    app, client, make_centre, smtp, monday
):
    """The request renders no mail: the row holds a snapshot until a sender composes it.
    A process that dies right after the commit leaves a pending row; the next worker's
    round composes and sends it, once, and the message keeps the time of the booking."""
    make_centre()
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"  # as if the process died after the commit
    before = utcnow().replace(microsecond=0)
    body = client.post(
        "/api/v1/centres/test/bookings",
        json=booking_payload(at(monday, 10), name="Ayşe Öztürk", email="ayse@example.org"),
    ).get_json()
    token = body["manage_url"].rsplit("/", 1)[1]
    with app.app_context():
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "confirmation"))
        assert row.state == "pending" and row.raw == b""
        assert row.snapshot["booking"]["name"] == "Ayşe Öztürk"
        assert token in row.snapshot["links"]["manage_url"]
        row_id, message_id = row.id, row.message_id
    later = utcnow() + timedelta(minutes=3)
    with app.app_context():
        assert outbox.send_due(app, now=later) == (1, 0)
        assert outbox.send_due(app, now=later) == (0, 0)
        sent = db.session.get(OutboxMessage, row_id)
        # Once sent, neither the bytes nor the snapshot (which held the link) are kept.
        assert sent.state == "sent" and sent.raw == b"" and sent.snapshot is None
    ((_, message),) = smtp.messages
    assert message["Message-ID"] == f"<{message_id}>"
    # "-0000": UTC, parsed without a zone.
    date = email.utils.parsedate_to_datetime(message["Date"]).replace(tzinfo=UTC)
    assert before <= date <= later - timedelta(minutes=2)
    assert (
        f"/b/{token}"
        in next(p for p in message.walk() if p.get_content_type() == "text/plain").get_content()
    )
    assert calendar_of(message)[1] == "REQUEST"


def test_the_reminder_is_composed_only_when_it_is_due(app, client, make_centre, smtp, monday):
    make_centre()
    client.post("/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10)))
    with app.app_context():
        reminder = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
        assert reminder.state == "pending" and reminder.raw == b"" and reminder.snapshot
        assert outbox.send_due(app, now=reminder.due_at - timedelta(seconds=1)) == (0, 0)
        assert reminder.raw == b""
        assert outbox.send_due(app, now=reminder.due_at) == (1, 0)
        assert (reminder.raw, reminder.snapshot) == (b"", None) and reminder.link_hash


def test_a_snapshot_that_cannot_be_composed_is_retried_then_dead(
    app, client, make_centre, smtp, monday
):
    make_centre()
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    # A week later than the other tests: the retries below take 49 hours, and the reminder
    # of an appointment three days ahead would fall due meanwhile.
    day = a_week_later(monday)
    client.post("/api/v1/centres/test/bookings", json=booking_payload(at(day, 10)))
    with app.app_context():
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "confirmation"))
        row.kind = "no-such-mail"  # a kind no writer registers
        db.session.commit()
        when = utcnow()
        assert outbox.send_due(app, now=when) == (0, 1)
        assert row.state == "pending" and row.attempts == 1 and row.due_at > when
        assert "no-such-mail" in row.last_error and row.raw == b""
        for _ in range(outbox.MAX_ATTEMPTS - 1):
            when += timedelta(hours=7)
            outbox.send_due(app, now=when)
        assert row.state == "dead" and row.attempts == outbox.MAX_ATTEMPTS
        # Mended (here: by hand), "send again" composes it from the kept snapshot.
        row.kind = "confirmation"
        assert outbox.requeue_dead(row, now=when)
        db.session.commit()
        assert outbox.send_due(app, now=when) == (1, 0)
    assert [m["Subject"] for _, m in smtp.messages] == ["Ihr Termin: Testzentrum test"]


def test_every_mail_kind_is_registered_once_with_its_templates(app):
    from booking.mail_kinds import MAIL_KINDS, register_kind

    bookings = {
        "confirmation",
        "change",
        "cancellation",
        "reminder",
        "manage_link",
        "hold_request",
        "held_confirmation",
        "invitation",
        "invitation_reminder",
    }
    registrations = {
        "event_confirmation",
        "event_seat",
        "event_waiting",
        "event_moved",
        "event_moved_waiting",
        "event_cancelled",
        "event_cancelled_waiting",
        "registration_cancelled",
        "registration_cancelled_waiting",
        "event_reminder",
        "event_message",
    }
    assert set(MAIL_KINDS) == bookings | registrations
    for kind in MAIL_KINDS.values():
        for suffix in ("txt", "html"):
            assert app.jinja_env.get_template(f"email/{kind.template}.{suffix}")
        placeholder = "%(title)s" if kind.subject.name == "registration" else "%(centre)s"
        assert placeholder in str(kind.subject_line)
    with pytest.raises(ValueError, match="registered already"):
        register_kind(MAIL_KINDS["reminder"])


def _rows_holding(app, secret: str) -> list[str]:
    """Every table and column whose value (text, JSON or bytes) holds ``secret``."""
    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(table.select()).mappings():
                for column, value in row.items():
                    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                    if secret in json.dumps(text, default=str, ensure_ascii=False):
                        found.append(f"{table.name}.{column}")
    return found


def _tokens(message) -> set[str]:
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_content()
    return set(re.findall(r"/b/([A-Za-z0-9_-]{20,})", text))


@pytest.mark.backends("sqlite", "pg")
def test_no_working_manage_link_is_kept_in_the_database(app, client, make_centre, smtp, monday):
    """After sending, no column of any table holds a working manage token: not the sent
    confirmation, not the waiting reminder (it mints its link when it is sent), not the sent
    reminder, not the link "find my booking" mailed. Every link mailed works until a new
    link is asked for, which ends all of them."""
    make_centre()
    body = client.post(
        "/api/v1/centres/test/bookings",
        json=booking_payload(at(monday, 10), email="ayse@example.org"),
    ).get_json()
    (confirmation_token,) = _tokens(smtp.messages[-1][1])
    assert confirmation_token == body["manage_url"].rsplit("/", 1)[1]
    assert _rows_holding(app, confirmation_token) == []  # the reminder waits without it
    with app.app_context():
        due = db.session.scalar(
            select(OutboxMessage.due_at).where(OutboxMessage.kind == "reminder")
        )
        assert outbox.send_due(app, now=due) == (1, 0)
    (reminder_token,) = _tokens(smtp.messages[-1][1])
    for token in (confirmation_token, reminder_token):
        assert client.get(f"/api/v1/bookings/{token}").status_code == 200
        assert _rows_holding(app, token) == []

    page = client.get("/find")
    assert client.post(
        "/find",
        data={
            "reference": body["reference"],
            "email": "ayse@example.org",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    ).status_code in (200, 302, 303)
    answer_find_requests(app)  # the outbox worker's round
    (new_token,) = _tokens(smtp.messages[-1][1])
    assert new_token not in (confirmation_token, reminder_token)
    assert _rows_holding(app, new_token) == []
    assert client.get(f"/api/v1/bookings/{new_token}").status_code == 200
    for old in (confirmation_token, reminder_token):
        assert client.get(f"/api/v1/bookings/{old}").status_code == 404
