"""Calendars, a booking's page, and what staff do from it: move, cancel, attendance; audit."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy

import pytest
from sqlalchemy import select

from booking import audit, bookings
from booking.extensions import db
from booking.models import AuditEntry, Booking, Event, OutboxMessage, User, utcnow
from booking.staff.events import details_of
from tests.conftest import csrf_from
from tests.helpers import NRW_HOLIDAYS, at, berlin_today, local, mail_of, next_working_day

AYLIN = "aylin.demir@herne.example"
KARIM = "karim.haddad@herne.example"


def monday_with_free_wednesday():
    """A Monday a few days ahead whose Wednesday is no holiday either."""
    monday = next_working_day(0)
    while monday + timedelta(days=2) in NRW_HOLIDAYS:
        monday = next_working_day(0, (monday - berlin_today()).days + 1)
    return monday


def mail_text(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=policy.default)
    parts = []
    for part in message.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True) or b""
            parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(parts)


def outbox(app, booking_id: int, kind: str) -> list[str]:
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.booking_id == booking_id, OutboxMessage.kind == kind
            )
        ).all()
        return [mail_text(mail_of(app, row)) for row in rows]


def audit_actions(app, booking_id: int) -> list[tuple[str, str]]:
    with app.app_context():
        return [
            (entry.action, entry.actor_label)
            for entry in db.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.booking_id == booking_id)
                .order_by(AuditEntry.id)
            )
        ]


def get_booking(app, booking_id: int) -> Booking:
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        db.session.expunge(booking)
        return booking


def listed(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'<tr class="booking-row" data-booking-id="(\d+)"', html)}


@pytest.fixture
def week(seeded, make_staff, make_booking):
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    monday = monday_with_free_wednesday()
    wednesday = monday + timedelta(days=2)
    ids = {
        "aylin_mon": make_booking(
            at(monday, 9), service="beratung-1", name="Ayşe Öztürk", language="tr", phone="0171 777"
        ).id,
        "aylin_wed": make_booking(
            at(wednesday, 10),
            service="beratung-1",
            name="Cem Kaya",
            language="tr",
            phone="0171 777",
        ).id,
        "karim_mon": make_booking(
            at(monday, 11), service="beratung-5", name="Omar Nassar", phone="0171 777"
        ).id,
        "heinsberg": make_booking(
            at(monday, 9),
            centre="kreis-heinsberg",
            service="beratung-1",
            name="Hanna Berg",
            phone="0171 777",
        ).id,
    }
    make_staff("admin@herne.example", "admin", "herne", name="Ada Admin")
    make_staff("rez@herne.example", "reception", "herne", name="Rita Rezeption")
    make_staff(AYLIN, "counsellor", "herne")
    with seeded.app_context():
        ids["aylin"] = db.session.scalar(select(User.id).where(User.email == AYLIN))
        ids["karim"] = db.session.scalar(select(User.id).where(User.email == KARIM))
    return monday, ids


@pytest.mark.backends("sqlite", "pg")
def test_day_and_week_views_per_counsellor_and_centre(db_backend, seeded, week, client, sign_in):
    monday, ids = week
    sign_in(client, "admin@herne.example")

    def shown(**params):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        response = client.get(f"/staff/calendar?{query}")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    day = monday.isoformat()
    assert listed(shown(date=day)) == {ids["aylin_mon"], ids["karim_mon"]}
    assert listed(shown(date=day, counsellor=ids["aylin"])) == {ids["aylin_mon"]}
    html = shown(view="week", date=day)
    assert listed(html) == {ids["aylin_mon"], ids["aylin_wed"], ids["karim_mon"]}
    assert len(re.findall(r'<section class="calendar-day"', html)) == 7
    # Any day of the week shows the whole week, Monday first.
    html = shown(view="week", date=(monday + timedelta(days=4)).isoformat(), counsellor="all")
    assert re.search(rf'data-date="{day}"', html)
    assert listed(html) == {ids["aylin_mon"], ids["aylin_wed"], ids["karim_mon"]}
    assert listed(shown(view="week", date=day, counsellor=ids["karim"])) == {ids["karim_mon"]}
    # The rows say who, when, what, how and in which state.
    html = shown(date=day)
    row = re.search(
        rf'<tr class="booking-row" data-booking-id="{ids["aylin_mon"]}".*?</tr>', html, re.S
    ).group(0)
    assert "Aylin Demir" in row and "Ayşe Öztürk" in row and "0171 777" in row
    assert 'class="status status-confirmed"' in row and 'class="channel channel-online"' in row
    assert 'datetime="' in row and "09:00" in row
    assert get_booking(seeded, ids["aylin_mon"]).reference in row
    # The next week is empty; a Heinsberg booking never shows.
    assert listed(shown(view="week", date=(monday + timedelta(days=7)).isoformat())) == set()


def test_a_counsellor_starts_on_their_own_calendar(seeded, week, client, sign_in):
    monday, ids = week
    sign_in(client, AYLIN)
    html = client.get(f"/staff/calendar?view=week&date={monday.isoformat()}").get_data(as_text=True)
    assert listed(html) == {ids["aylin_mon"], ids["aylin_wed"]}
    assert "booking-row busy" not in html


def test_cancelled_bookings_show_only_when_asked(seeded, week, client, sign_in):
    monday, ids = week
    with seeded.test_request_context():
        bookings.cancel_booking(db.session.get(Booking, ids["karim_mon"]), now=utcnow())
    sign_in(client, "admin@herne.example")
    day = monday.isoformat()
    assert listed(client.get(f"/staff/calendar?date={day}").get_data(as_text=True)) == {
        ids["aylin_mon"]
    }
    html = client.get(f"/staff/calendar?date={day}&cancelled=1").get_data(as_text=True)
    assert listed(html) == {ids["aylin_mon"], ids["karim_mon"]}
    assert 'class="status status-cancelled"' in html


def test_absences_show_in_the_calendar_as_whole_days_or_times(seeded, week, client, sign_in):
    """A sick day reads "absent all day", not "No appointments"; a few hours read as times."""
    from booking import absences as absence_writer
    from booking.models import Absence

    monday, ids = week
    tuesday, wednesday = monday + timedelta(days=1), monday + timedelta(days=2)
    with seeded.test_request_context():
        aylin = db.session.get(User, ids["aylin"])
        centre = aylin.centre
        absence_writer.add_absence(
            aylin,
            centre.local_midnight(tuesday),
            centre.local_midnight(tuesday + timedelta(days=1)),
            "krank",
            aylin,
            now=utcnow(),
        )
        absence_writer.add_absence(
            aylin,
            centre.local_midnight(wednesday) + timedelta(hours=13),
            centre.local_midnight(wednesday) + timedelta(hours=15),
            "",
            aylin,
            now=utcnow(),
        )
        assert len(db.session.scalars(select(Absence)).all()) == 2
    sign_in(client, "admin@herne.example")
    html = client.get(f"/staff/calendar?view=week&date={monday.isoformat()}").get_data(as_text=True)

    def day_section(day):
        return re.search(
            rf'<section class="calendar-day"[^>]*data-date="{day.isoformat()}">.*?</section>',
            html,
            re.S,
        ).group(0)

    tuesday_html = day_section(tuesday)
    assert "calendar-absence" in tuesday_html and "Aylin Demir" in tuesday_html
    assert "ganztägig abwesend" in tuesday_html and "(krank)" in tuesday_html
    assert "00:00" not in tuesday_html
    assert "abwesend 13:00–15:00 Uhr" in day_section(wednesday)
    assert "calendar-absence" not in day_section(monday)
    # Karim's own calendar shows none of Aylin's absences.
    karim = client.get(
        f"/staff/calendar?view=week&date={monday.isoformat()}&counsellor={ids['karim']}"
    ).get_data(as_text=True)
    assert "calendar-absence" not in karim


def test_calendar_query_count_does_not_grow_with_bookings(
    seeded, week, client, sign_in, make_booking
):
    monday, ids = week
    sign_in(client, "admin@herne.example")
    url = f"/staff/calendar?view=week&date={monday.isoformat()}"
    few = int(client.get(url).headers["X-Query-Count"])
    for hour in (13, 14, 15):
        make_booking(
            at(monday + timedelta(days=2), hour),
            service="beratung-3",
            name=f"N{hour}",
            phone="0171 777",
        )
        make_booking(
            at(monday + timedelta(days=3), hour),
            service="beratung-2",
            name=f"E{hour}",
            phone="0171 777",
        )
    response = client.get(url)
    assert len(listed(response.get_data(as_text=True))) == 9
    many = int(response.headers["X-Query-Count"])
    assert many == few and many <= 12, (few, many)


@pytest.mark.backends("sqlite", "pg")
def test_staff_cancel_notifies_the_booker_and_is_audited(db_backend, seeded, week, client, sign_in):
    _, ids = week
    sign_in(client, "admin@herne.example")
    page = client.get(f"/staff/bookings/{ids['aylin_mon']}")
    assert page.status_code == 200
    token = csrf_from(page.get_data(as_text=True))
    # Without the tick in the confirmation box nothing happens.
    unconfirmed = client.post(
        f"/staff/bookings/{ids['aylin_mon']}/cancel", data={"csrf_token": token}
    )
    assert unconfirmed.status_code == 303
    assert get_booking(seeded, ids["aylin_mon"]).status == "confirmed"
    # Nor without saying who wants it cancelled (the mail depends on it).
    unsaid = client.post(
        f"/staff/bookings/{ids['aylin_mon']}/cancel", data={"csrf_token": token, "confirm": "yes"}
    )
    assert unsaid.status_code == 303
    assert get_booking(seeded, ids["aylin_mon"]).status == "confirmed"
    response = client.post(
        f"/staff/bookings/{ids['aylin_mon']}/cancel",
        data={"csrf_token": token, "confirm": "yes", "asked_by": "centre"},
    )
    assert response.status_code == 303
    booking = get_booking(seeded, ids["aylin_mon"])
    assert booking.status == "cancelled" and booking.sequence == 1
    (mail,) = outbox(seeded, ids["aylin_mon"], "cancellation")
    assert "METHOD:CANCEL" in mail and "SEQUENCE:1" in mail and "STATUS:CANCELLED" in mail
    assert audit_actions(seeded, ids["aylin_mon"]) == [
        ("view", "Ada Admin"),
        ("cancel", "Ada Admin"),
    ]
    assert "tut uns leid" in mail
    # A second cancel changes nothing and sends nothing.
    client.post(
        f"/staff/bookings/{ids['aylin_mon']}/cancel",
        data={"csrf_token": token, "confirm": "yes", "asked_by": "centre"},
    )
    assert len(outbox(seeded, ids["aylin_mon"], "cancellation")) == 1
    assert get_booking(seeded, ids["aylin_mon"]).sequence == 1


def test_a_cancellation_the_family_asked_for_says_so_without_an_apology(
    seeded, week, client, sign_in
):
    """Reception cancels because the family phoned: "as you asked", not "we are sorry,
    we had to cancel"."""
    _, ids = week
    sign_in(client, "rez@herne.example")
    token = csrf_from(client.get(f"/staff/bookings/{ids['aylin_mon']}").get_data(as_text=True))
    response = client.post(
        f"/staff/bookings/{ids['aylin_mon']}/cancel",
        data={"csrf_token": token, "confirm": "yes", "asked_by": "family"},
    )
    assert response.status_code == 303
    assert get_booking(seeded, ids["aylin_mon"]).status == "cancelled"
    (mail,) = outbox(seeded, ids["aylin_mon"], "cancellation")
    assert "wie Sie es gewünscht haben" in mail
    assert "tut uns leid" not in mail and "METHOD:CANCEL" in mail


@pytest.mark.backends("sqlite", "pg")
def test_staff_move_sends_a_new_link_and_the_old_one_stops(
    db_backend, seeded, week, client, sign_in, make_booking
):
    monday, _ = week
    made = make_booking(at(monday, 13), service="beratung-1", name="Mia Move", phone="0171 777")
    booking_id, old_token = made.id, made.token
    assert client.get(f"/b/{old_token}").status_code == 200
    sign_in(client, "rez@herne.example")

    page = client.get(f"/staff/bookings/{booking_id}/move")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    starts = re.findall(r'name="start" id="slot-\d+" value="([^"]+)"', html)
    old_start = get_booking(seeded, booking_id).start_at
    assert starts and old_start.isoformat() not in starts
    target = starts[3]
    response = client.post(
        f"/staff/bookings/{booking_id}/move", data={"csrf_token": csrf_from(html), "start": target}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/staff/bookings/{booking_id}"

    booking = get_booking(seeded, booking_id)
    assert booking.start_at.isoformat() == target and booking.sequence == 1
    (mail,) = outbox(seeded, booking_id, "change")
    assert "METHOD:REQUEST" in mail and "SEQUENCE:1" in mail
    assert client.get(f"/b/{old_token}").status_code == 404
    new_tokens = set(re.findall(r"/b/([A-Za-z0-9_-]{20,})", mail))
    assert len(new_tokens) == 1 and old_token not in new_tokens
    assert client.get(f"/b/{new_tokens.pop()}").status_code == 200
    actions = audit_actions(seeded, booking_id)
    assert ("move", "Rita Rezeption") in actions


def test_a_taken_time_on_the_move_page_is_a_message(seeded, week, client, sign_in, make_booking):
    monday, ids = week
    sign_in(client, "admin@herne.example")
    html = client.get(f"/staff/bookings/{ids['karim_mon']}/move").get_data(as_text=True)
    target = re.findall(r'name="start" id="slot-\d+" value="([^"]+)"', html)[0]
    # Karim is the only counsellor for "beratung-5": reception books the time on the phone
    # first (a staff booking, as the move page's earliest times may lie inside the online
    # notice).
    make_booking(target, service="beratung-5", channel="phone", name="Quick", phone="0171 777")
    response = client.post(
        f"/staff/bookings/{ids['karim_mon']}/move",
        data={"csrf_token": csrf_from(html), "start": target},
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'id="move-problem"' in html
    assert target not in re.findall(r'name="start" id="slot-\d+" value="([^"]+)"', html)
    booking = get_booking(seeded, ids["karim_mon"])
    assert booking.start_at == local(at(monday, 11)) and booking.sequence == 0
    assert [a for a, _ in audit_actions(seeded, ids["karim_mon"])] == []


@pytest.mark.backends("sqlite", "pg")
def test_attendance_only_after_the_start(db_backend, seeded, week, client, sign_in):
    _, ids = week
    sign_in(client, AYLIN)
    future = ids["aylin_mon"]
    page = client.get(f"/staff/bookings/{future}").get_data(as_text=True)
    assert 'id="attendance-form"' not in page
    token = csrf_from(page)
    client.post(
        f"/staff/bookings/{future}/attendance", data={"csrf_token": token, "status": "attended"}
    )
    assert get_booking(seeded, future).status == "confirmed"

    past = ids["aylin_wed"]
    with seeded.app_context():
        booking = db.session.get(Booking, past)
        booking.start_at = utcnow() - timedelta(hours=1)
        booking.end_at = booking.start_at + timedelta(minutes=45)
        db.session.commit()
    page = client.get(f"/staff/bookings/{past}").get_data(as_text=True)
    assert 'id="attendance-form"' in page and 'id="cancel-form"' not in page
    for status in ("attended", "no_show"):
        response = client.post(
            f"/staff/bookings/{past}/attendance", data={"csrf_token": token, "status": status}
        )
        assert response.status_code == 303
        assert get_booking(seeded, past).status == status
    bad = client.post(
        f"/staff/bookings/{past}/attendance", data={"csrf_token": token, "status": "cancelled"}
    )
    assert bad.status_code == 400
    assert [a for a, _ in audit_actions(seeded, past)] == ["view", "attended", "no_show"]
    assert [a for a, _ in audit_actions(seeded, future)] == ["view"]


def test_the_detail_page_is_audited_and_shows_the_booking(seeded, week, client, sign_in):
    _, ids = week
    sign_in(client, "rez@herne.example")
    response = client.get(f"/staff/bookings/{ids['karim_mon']}")
    assert response.status_code == 200
    assert int(response.headers["X-Query-Count"]) <= 12
    html = response.get_data(as_text=True)
    booking = get_booking(seeded, ids["karim_mon"])
    assert f'<dd class="reference">{booking.reference}</dd>' in html
    assert "Omar Nassar" in html and "Karim Haddad" in html
    with seeded.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "view"))
        assert entry.booking_reference == booking.reference
        assert entry.actor_label == "Rita Rezeption"
        # The log holds no personal data of the family.
        assert "Omar" not in entry.detail


def test_the_audit_log_is_for_admins_only(seeded, week, client, sign_in, make_staff):
    _, ids = week
    with seeded.app_context():
        admin = db.session.scalar(select(User).where(User.email == "admin@herne.example"))
        herne = db.session.get(Booking, ids["aylin_mon"])
        heinsberg = db.session.get(Booking, ids["heinsberg"])
        for _ in range(55):
            audit.record(admin, "view", herne, now=utcnow())
        audit.record(admin, "view", heinsberg, now=utcnow())
        db.session.commit()
        herne_reference, heinsberg_reference = herne.reference, heinsberg.reference

    for email_address in ("rez@herne.example", AYLIN):
        other = seeded.test_client()
        sign_in(other, email_address)
        assert other.get("/staff/audit").status_code == 403
        assert 'href="/staff/audit"' not in other.get("/staff/").get_data(as_text=True)

    sign_in(client, "admin@herne.example")
    assert 'href="/staff/audit"' in client.get("/staff/").get_data(as_text=True)
    first = client.get("/staff/audit")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert len(re.findall(r'<tr class="audit-entry"', html)) == 50
    assert herne_reference in html and heinsberg_reference not in html
    assert 'href="/staff/audit?page=2"' in html
    assert int(first.headers["X-Query-Count"]) <= 10
    second = client.get("/staff/audit?page=2").get_data(as_text=True)
    # The rest of the views, then the older entries of the accounts the fixtures created.
    assert len(re.findall(r'<tr class="audit-entry" data-action="view"', second)) == 5
    assert 'data-action="settings"' in second
    assert client.get("/staff/audit?page=99").status_code == 200


def event_items(html: str, event_id: int) -> list[str]:
    return re.findall(
        rf'<li class="calendar-event[^"]*" data-event-id="{event_id}">.*?</li>', html, re.S
    )


@pytest.mark.backends("sqlite", "pg")
def test_the_leaders_calendar_shows_their_event_once(db_backend, seeded, week, client, sign_in):
    """Two leaders, three registrations: one entry with title, place, time and a link;
    it follows a move and leaves with a cancel; no registrant's name on the page."""
    from booking import events
    from tests.events_helpers import event_url, make_event, registration_payload

    monday, ids = week
    wednesday = monday + timedelta(days=2)
    event_id = make_event(
        seeded,
        "herne",
        start_at=local(at(wednesday, 14)),
        hours=2,
        leaders=(AYLIN, KARIM),
        title="Elterncafé Schulsystem",
    )
    for n in range(3):
        response = client.post(
            event_url(event_id, "herne"),
            json=registration_payload(name=f"Registrant Nummer{n}", email=f"r{n}@example.org"),
        )
        assert response.status_code == 201
    sign_in(client, "admin@herne.example")

    def entries(**params):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        html = client.get(f"/staff/calendar?{query}").get_data(as_text=True)
        assert "Nummer" not in html
        return event_items(html, event_id)

    day = wednesday.isoformat()
    for params in (
        {"date": day, "counsellor": ids["aylin"]},
        {"date": day, "counsellor": ids["karim"]},
        {"date": day, "counsellor": "all"},
        {"view": "week", "date": monday.isoformat(), "counsellor": "all"},
        {"view": "week", "date": monday.isoformat(), "counsellor": ids["aylin"]},
    ):
        (entry,) = entries(**params)
        assert "Elterncafé Schulsystem" in entry and "Rademachers Weg 15" in entry
        assert "14:00" in entry and "16:00" in entry
        assert f'href="/staff/events/{event_id}"' in entry
        assert "Aylin Demir" in entry and "Karim Haddad" in entry
    # Another counsellor's calendar and the day before do not show it.
    with seeded.app_context():
        other = db.session.scalar(
            select(User.id).where(
                User.role == "counsellor",
                User.centre_id == db.session.get(User, ids["aylin"]).centre_id,
                User.id.not_in([ids["aylin"], ids["karim"]]),
            )
        )
    assert entries(date=day, counsellor=other) == []
    assert entries(date=monday.isoformat(), counsellor=ids["aylin"]) == []

    # A leader's own calendar (their default view) shows it too.
    sign_in(client, AYLIN)
    html = client.get(f"/staff/calendar?date={day}").get_data(as_text=True)
    assert len(event_items(html, event_id)) == 1

    sign_in(client, "admin@herne.example")
    thursday = (wednesday + timedelta(days=1)).isoformat()
    with seeded.test_request_context():
        event = db.session.get(Event, event_id)
        events.change_event(
            event,
            details_of(event),
            local(at(wednesday + timedelta(days=1), 9)),
            local(at(wednesday + timedelta(days=1), 10, 30)),
            list(event.leaders),
            None,
            now=utcnow(),
        )
    assert entries(date=day, counsellor=ids["aylin"]) == []
    (entry,) = entries(date=thursday, counsellor=ids["aylin"])
    assert "09:00" in entry and "10:30" in entry
    with seeded.test_request_context():
        events.cancel_event(db.session.get(Event, event_id), "Krankheit", None, now=utcnow())
    assert entries(date=thursday, counsellor=ids["aylin"]) == []
    (entry,) = entries(date=thursday, counsellor=ids["aylin"], cancelled="1")
    assert "status-cancelled" in entry
