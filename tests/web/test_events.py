"""Events (SPEC "Events"): seats, the waiting list, one registration per address, closing,
each registration's own invitation, moves and cancellations, leaders' busy times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from booking import events
from booking.extensions import db
from booking.models import Event, IdempotencyKey, OutboxMessage, Registration, utcnow
from tests.events_helpers import event_url, make_event, registration_payload


def calendar_of(message):
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    if not parts:
        return None, None
    calendar = Calendar.from_ical(parts[0].get_payload(decode=True))
    (vevent,) = calendar.walk("VEVENT")
    return vevent, parts[0].get_param("method")


def text_of(message) -> str:
    return "\n".join(
        p.get_content()
        for p in message.walk()
        if p.get_content_type() in ("text/plain", "text/html")
    )


def register(client, event_id, **over):
    return client.post(event_url(event_id), json=registration_payload(**over))


@pytest.mark.backends("sqlite", "pg")
def test_a_party_is_confirmed_whole_or_waits_and_a_cancel_confirms_the_first_that_fits(
    app, client, make_centre, smtp, db_backend
):
    make_centre()
    event_id = make_event(app, seats=5)
    first = register(client, event_id, email="a@example.org", persons=3)
    assert first.status_code == 201
    assert first.json["status"] == "confirmed"
    # Two seats left: three persons wait (never split), one person is confirmed.
    second = register(client, event_id, email="b@example.org", persons=3)
    assert second.json["status"] == "waiting" and second.json["waiting_position"] == 1
    third = register(client, event_id, email="c@example.org", persons=2)
    assert third.json["status"] == "confirmed"
    fourth = register(client, event_id, email="d@example.org", persons=1)
    fifth = register(client, event_id, email="e@example.org", persons=2)
    assert (fourth.json["waiting_position"], fifth.json["waiting_position"]) == (2, 3)
    listed = client.get("/api/v1/centres/test/events").json
    assert listed[0]["seats_left"] == 0 and listed[0]["waiting_list"] is True

    sent_before = len(smtp.messages)
    token = third.json["manage_url"].rsplit("/", 1)[1]
    assert client.post(f"/api/v1/registrations/{token}/cancel").status_code == 200
    # Two seats free: b (3 persons) does not fit, d (1) does, then e (2) no longer does.
    by_mail = {m["To"].addresses[0].addr_spec: m for _to, m in smtp.messages[sent_before:]}
    assert set(by_mail) == {"c@example.org", "d@example.org"}
    _vevent, method = calendar_of(by_mail["c@example.org"])
    assert method == "CANCEL"
    _vevent, method = calendar_of(by_mail["d@example.org"])
    assert method == "REQUEST"
    with app.app_context():
        statuses = dict(db.session.execute(select(Registration.email, Registration.status)).all())
        assert statuses == {
            "a@example.org": "confirmed",
            "b@example.org": "waiting",
            "c@example.org": "cancelled",
            "d@example.org": "confirmed",
            "e@example.org": "waiting",
        }
        assert db.session.get(Event, event_id).confirmed_persons == 4


@pytest.mark.backends("sqlite", "pg")
def test_one_active_registration_per_address_full_and_closed(app, client, make_centre, db_backend):
    make_centre()
    event_id = make_event(app, seats=2, waiting_list=False)
    assert register(client, event_id, email="Mira@Example.org").status_code == 201
    again = register(client, event_id, email="mira@example.ORG")
    assert again.status_code == 409
    assert again.json["type"].endswith("/already-registered")
    assert register(client, event_id, email="x@example.org").status_code == 201
    full = register(client, event_id, email="y@example.org")
    assert full.status_code == 409 and full.json["type"].endswith("/event-full")
    assert full.headers["Content-Type"] == "application/problem+json"

    soon = utcnow() + timedelta(hours=5)
    closed_id = make_event(app, start_at=soon)  # closes 24 hours before: already closed
    closed = register(client, closed_id)
    assert closed.status_code == 409 and closed.json["type"].endswith("/registration-closed")
    # Staff can still add people, also without an e-mail address.
    with app.test_request_context():
        event = db.session.get(Event, closed_id)
        added = events.register(
            event,
            events.RegistrationDetails(name="Anrufer", email=None, persons=2),
            now=utcnow(),
            channel="phone",
            created_by=_a_staff_user(),
        )
        assert added.registration.status == "confirmed"


def _a_staff_user():
    from booking.models import User

    return db.session.scalar(select(User).limit(1))


@pytest.mark.backends("sqlite")
def test_invalid_registration_is_422_and_writes_nothing(app, client, make_centre, db_backend):
    make_centre()
    event_id = make_event(app)
    response = register(client, event_id, persons=11, email="not-an-address", consent=False)
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"persons", "email", "consent"}
    assert client.post("/api/v1/centres/test/events/999/registrations", json={}).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Registration)) == 0


@pytest.mark.backends("sqlite")
def test_three_registrants_three_uids_each_names_only_itself(
    app, client, make_centre, smtp, db_backend
):
    make_centre()
    event_id = make_event(app)
    people = [
        ("Amal Saleh", "amal@example.org"),
        ("Bora Yilmaz", "bora@example.org"),
        ("Ciprian Pop", "ciprian@example.org"),
    ]
    for name, address in people:
        assert register(client, event_id, name=name, email=address).status_code == 201
    uids = set()
    for _to, message in smtp.messages:
        vevent, method = calendar_of(message)
        assert method == "REQUEST"
        attendees = vevent.get("attendee")
        attendees = attendees if isinstance(attendees, list) else [attendees]
        recipient = message["To"].addresses[0].addr_spec
        assert [str(a) for a in attendees] == [f"mailto:{recipient}"]
        uids.add(str(vevent["uid"]))
        body = text_of(message) + vevent.to_ical().decode()
        for name, address in people:
            if address != recipient:
                assert name not in body and address not in body
    assert len(uids) == 3


@pytest.mark.backends("sqlite", "pg")
def test_moved_event_sends_request_with_higher_sequence_cancel_sends_cancel(
    app, client, make_centre, smtp, db_backend
):
    make_centre()
    event_id = make_event(app, seats=2)
    register(client, event_id, email="one@example.org")
    register(client, event_id, email="two@example.org")
    register(client, event_id, email="wait@example.org")  # waiting: no invitation
    first = {
        m["To"].addresses[0].addr_spec: calendar_of(m)[0]
        for _t, m in smtp.messages
        if calendar_of(m)[0] is not None
    }
    sent = len(smtp.messages)
    with app.test_request_context():
        event = db.session.get(Event, event_id)
        details = events.EventDetails(
            titles=event.titles, seats=event.seats, has_waiting_list=True, languages=("de",)
        )
        told = events.change_event(
            event,
            details,
            event.start_at + timedelta(days=1),
            event.end_at + timedelta(days=1),
            [],
            None,
            now=utcnow(),
        )
        assert len(told) == 3
    moved = {m["To"].addresses[0].addr_spec: calendar_of(m) for _t, m in smtp.messages[sent:]}
    assert set(moved) == {"one@example.org", "two@example.org", "wait@example.org"}
    assert moved.pop("wait@example.org") == (None, None)  # told, but holds no invitation
    for address, (vevent, method) in moved.items():
        assert method == "REQUEST"
        assert vevent["uid"] == first[address]["uid"]
        assert int(vevent["sequence"]) == int(first[address]["sequence"]) + 1

    sent = len(smtp.messages)
    with app.test_request_context():
        event = db.session.get(Event, event_id)
        events.cancel_event(event, "Die Referentin ist erkrankt.", None, now=utcnow())
    cancelled = {m["To"].addresses[0].addr_spec: m for _t, m in smtp.messages[sent:]}
    assert set(cancelled) == {"one@example.org", "two@example.org", "wait@example.org"}
    for address in ("one@example.org", "two@example.org"):
        vevent, method = calendar_of(cancelled[address])
        assert method == "CANCEL" and vevent["uid"] == first[address]["uid"]
        assert "Die Referentin ist erkrankt." in text_of(cancelled[address])
    assert calendar_of(cancelled["wait@example.org"]) == (None, None)


@pytest.mark.backends("sqlite")
def test_a_registrants_cancel_tells_only_them(app, client, make_centre, smtp, db_backend):
    make_centre()
    event_id = make_event(app, seats=5)
    keep = register(client, event_id, email="keep@example.org")
    leave = register(client, event_id, email="leave@example.org")
    assert keep.status_code == leave.status_code == 201
    sent = len(smtp.messages)
    token = leave.json["manage_url"].rsplit("/", 1)[1]
    assert client.post(f"/api/v1/registrations/{token}/cancel").json["status"] == "cancelled"
    after = smtp.messages[sent:]
    assert [m["To"].addresses[0].addr_spec for _t, m in after] == ["leave@example.org"]
    assert calendar_of(after[0][1])[1] == "CANCEL"
    with app.app_context():
        assert db.session.get(Event, event_id).status == "scheduled"


@pytest.mark.backends("sqlite")
def test_reminder_the_day_before(app, client, make_centre, db_backend):
    make_centre()
    event_id = make_event(app)
    register(client, event_id)
    with app.app_context():
        reminder = db.session.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == "event_reminder")
        )
        event = db.session.get(Event, event_id)
        assert reminder.due_at == event.start_at - timedelta(hours=24)
        assert reminder.registration_id is not None


@pytest.mark.backends("sqlite", "pg")
def test_leaders_slots_vanish_for_the_event_and_return_when_cancelled(
    app, client, make_centre, db_backend
):
    make_centre()
    day = (utcnow() + timedelta(days=14)).date()
    while day.weekday() != 1:
        day += timedelta(days=1)
    start = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)  # 11:00 or 12:00 Berlin
    url = f"/api/v1/centres/test/slots?service=short&from={day}&to={day}"

    def starts():
        return {s["start"] for s in client.get(url).json["slots"]}

    before = starts()  # cached from here on
    assert any(datetime.fromisoformat(s) == start for s in before)
    event_id = make_event(app, start_at=start, hours=2, leaders=("c0@test.example",))
    during = starts()
    assert not any(
        start - timedelta(minutes=45) < datetime.fromisoformat(s) < start + timedelta(hours=2)
        for s in during
    )
    with app.test_request_context():
        events.cancel_event(db.session.get(Event, event_id), "", None, now=utcnow())
    assert starts() == before


@pytest.mark.backends("sqlite", "pg")
def test_purge_erases_registrants_and_keeps_what_reports_count(
    app, client, make_centre, runner, db_backend
):
    make_centre()
    event_id = make_event(app, seats=3)
    register(
        client,
        event_id,
        name="Hana Rahimi",
        email="hana@example.org",
        persons=2,
        phone="0176 1234567",
        organisation="Grundschule Mitte",
    )
    register(client, event_id, email="late@example.org", persons=2)  # waiting
    from tests.conftest import csrf_from

    url = f"/centres/test/events/{event_id}"
    page = client.get(url).get_data(as_text=True)
    form = {"name": "Form Nutzer", "email": "form@example.org", "persons": "1", "consent": "y"}
    form.update(csrf_token=csrf_from(page), nonce=nonce_from(page))
    assert client.post(url, data=form).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 1
        event = db.session.get(Event, event_id)
        event.start_at -= timedelta(days=200)
        event.end_at -= timedelta(days=200)
        event.registration_closes_at -= timedelta(days=200)
        db.session.commit()
    result = runner.invoke(args=["purge"])
    assert "3 event registrations" in result.output, result.output
    with app.app_context():
        rows = db.session.scalars(select(Registration).order_by(Registration.id)).all()
        assert [(r.name, r.email, r.phone, r.organisation) for r in rows] == [
            ("", None, None, None)
        ] * 3
        assert [(r.status, r.persons) for r in rows] == [
            ("confirmed", 2),
            ("waiting", 2),
            ("confirmed", 1),
        ]
        # The form's stored key (a hash of the registrant's details) goes with them.
        assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
        mails = db.session.scalars(select(OutboxMessage)).all()
        assert mails and all(
            m.snapshot is None and m.raw == b"" and m.recipient == "" for m in mails
        )
    again = runner.invoke(args=["purge"])
    assert "0 event registrations" in again.output


@pytest.mark.backends("sqlite", "pg")
def test_a_leader_busy_with_an_appointment_cannot_lead_then_and_occupancy_has_their_row(
    app, make_centre, db_backend
):
    from booking.models import Occupancy
    from tests.helpers import at, book_through_writer, next_working_day

    make_centre()
    monday = next_working_day(0)
    booked = book_through_writer(app, "test", "short", at(monday, 10))
    start = datetime.fromisoformat(at(monday, 9, 30))
    with pytest.raises(events.LeaderBusy):
        make_event(app, start_at=start, hours=1, leaders=("c0@test.example",))
    event_id = make_event(app, start_at=start + timedelta(hours=3), leaders=("c0@test.example",))
    with app.app_context():
        rows = db.session.scalars(select(Occupancy).where(Occupancy.event_id == event_id)).all()
        assert [(r.user_id, r.role, r.is_active) for r in rows] == [
            (booked.counsellor_id, "leader", True)
        ]
    with app.test_request_context():
        events.cancel_event(db.session.get(Event, event_id), "", None, now=utcnow())
        assert [r.is_active for r in db.session.get(Event, event_id).occupancies] == [False]


@pytest.mark.backends("sqlite", "pg")
def test_a_move_tells_the_waiting_list_the_new_time_in_their_language_and_keeps_their_place(
    app, client, make_centre, smtp, db_backend
):
    """Waiting registrants get a mail with the new date and time and their unchanged place
    in line, in their own language, without an invitation; written with the move."""
    from tests.helpers import BERLIN

    make_centre()
    event_id = make_event(app, seats=1)
    register(client, event_id, email="seat@example.org")
    first = client.post(
        event_url(event_id),
        json=registration_payload(name="Amal Saleh", email="amal@example.org"),
        headers={"Accept-Language": "ar"},
    )
    second = client.post(
        event_url(event_id),
        json=registration_payload(name="Bogdan Ionescu", email="bogdan@example.org"),
        headers={"Accept-Language": "ro"},
    )
    assert first.json["waiting_position"] == 1 and second.json["waiting_position"] == 2
    old_token = first.json["manage_url"].rsplit("/", 1)[1]
    sent = len(smtp.messages)
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    with app.test_request_context():
        event = db.session.get(Event, event_id)
        new_start = event.start_at + timedelta(days=2, hours=1)
        details = events.EventDetails(
            titles=event.titles, seats=event.seats, has_waiting_list=True, languages=("de",)
        )
        events.change_event(
            event, details, new_start, new_start + timedelta(hours=2), [], None, now=utcnow()
        )
        # Written in the move's own transaction, before anything is sent.
        rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "event_moved_waiting")
        ).all()
        assert sorted(r.recipient for r in rows) == ["amal@example.org", "bogdan@example.org"]
        assert all(r.state == "pending" for r in rows)
        statuses = dict(db.session.execute(select(Registration.email, Registration.status)).all())
        assert statuses["amal@example.org"] == statuses["bogdan@example.org"] == "waiting"
    from booking import outbox

    with app.app_context():
        assert outbox.send_due(app, now=utcnow()) == (3, 0)
    after = {m["To"].addresses[0].addr_spec: m for _t, m in smtp.messages[sent:]}
    assert set(after) == {"seat@example.org", "amal@example.org", "bogdan@example.org"}
    local = new_start.astimezone(BERLIN)
    for address, words, position in (
        ("amal@example.org", "تبقى على قائمة الانتظار في المرتبة", "1"),
        ("bogdan@example.org", "Rămâneți pe lista de așteptare, pe poziția", "2"),
    ):
        message = after[address]
        assert calendar_of(message) == (None, None)
        assert not any(p.get_filename() for p in message.walk())
        text = text_of(message)
        assert words in text and f"{words} {position}" in text, text
        assert local.strftime("%H:%M") in text and str(local.day) in text
        assert "Amal" not in text if address != "amal@example.org" else "Bogdan" not in text
    # The mail's link is the registration's link now; the old one stops working.
    import re

    (token,) = set(re.findall(r"/r/([A-Za-z0-9_-]{40,})", text_of(after["amal@example.org"])))
    assert client.get(f"/api/v1/registrations/{token}").json["waiting_position"] == 1
    assert client.get(f"/api/v1/registrations/{old_token}").status_code == 404


def nonce_from(html: str) -> str:
    import re

    return re.search(r'name="nonce"[^>]*value="([^"]+)"', html).group(1)


@pytest.mark.backends("sqlite", "pg")
def test_the_same_registration_form_sent_twice_shows_the_first_registration(
    app, client, make_centre, db_backend
):
    """A double submit (the same form nonce) writes one registration and one mail, and the
    second answer is the first one's page, not an error; a new form is a new request."""
    from tests.conftest import csrf_from

    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre()
    event_id = make_event(app, seats=1)
    url = f"/centres/test/events/{event_id}"
    page = client.get(url).get_data(as_text=True)
    form = {
        "csrf_token": csrf_from(page),
        "nonce": nonce_from(page),
        "name": "Noor Al-Sayed",
        "email": "noor@example.org",
        "persons": "1",
        "consent": "y",
    }
    first = client.post(url, data=form)
    second = client.post(url, data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    shown = client.get(second.headers["Location"])
    assert shown.status_code == 200 and "Noor Al-Sayed" in shown.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Registration)) == 1
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
        # The confirmation and its reminder, once.
        kinds = sorted(db.session.scalars(select(OutboxMessage.kind)))
        assert kinds == ["event_confirmation", "event_reminder"]
    # The event is full now: a waiting registration sent twice is shown twice as waiting.
    page = client.get(url).get_data(as_text=True)
    waiting = {**form, "nonce": nonce_from(page), "email": "wait@example.org"}
    answers = [client.post(url, data=waiting) for _ in range(2)]
    assert {a.status_code for a in answers} == {303}
    assert len({a.headers["Location"] for a in answers}) == 1
    with app.app_context():
        statuses = sorted(db.session.scalars(select(Registration.status)))
        assert statuses == ["confirmed", "waiting"]
    # The same nonce with other details (the form was changed and sent again) writes nothing.
    changed = client.post(url, data={**waiting, "email": "other@example.org"})
    assert changed.status_code == 400
    html = changed.get_data(as_text=True)
    assert nonce_from(html) != waiting["nonce"]
    # A new form from the same address is a new request: the address is registered already.
    page = client.get(url).get_data(as_text=True)
    again = client.post(
        url, data={**form, "csrf_token": csrf_from(page), "nonce": nonce_from(page)}
    )
    assert again.status_code == 409 and 'id="email-error"' in again.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Registration)) == 2
