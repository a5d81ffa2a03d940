"""The staff overview is the day list: the day's appointments, attendance per row, and who
sees which names (reception: the centre's; counsellor: their own; other centres: none)."""

from __future__ import annotations

import re

import pytest
import time_machine
from sqlalchemy import select

from booking.extensions import db
from booking.models import AuditEntry, Booking
from tests.conftest import csrf_from
from tests.helpers import at, local, next_working_day

RECEPTION = "rezeption@herne.example"
AYLIN = "aylin.demir@herne.example"
HEINSBERG = "rezeption@kreis-heinsberg.example"
KARIM = "karim.haddad@herne.example"
OTHER = "olena.koval@herne.example"


def rows(html: str) -> list[int]:
    return [
        int(i)
        for i in re.findall(r'<tr class="day-row" id="row-\d+" data-booking-id="(\d+)"', html)
    ]


def row_html(html: str, booking_id: int) -> str:
    return re.search(rf'id="row-{booking_id}".*?</tr>', html, re.S).group(0)


@pytest.fixture
def day(seeded, make_staff, make_booking):
    """Three Herne bookings on one day, the first begun five minutes ago, the second in 25
    minutes; the third cancelled. The test runs on that day at 09:05 (the clock moved there
    and ticking): "now" late in the evening would put the second one on the next day."""
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    monday = next_working_day(0)
    ids = {
        "begun": make_booking(at(monday, 9), name="Ayşe Begun", phone="0171 1"),
        "later": make_booking(
            at(monday, 9, 30), service="beratung-3", name="Omar Later", persons=3
        ),
        "cancelled": make_booking(at(monday, 14), service="beratung-3", name="Lina Gone"),
    }
    with seeded.app_context():
        db.session.get(Booking, ids["cancelled"].id).status = "cancelled"
        db.session.commit()
    make_staff(RECEPTION, "reception", "herne", name="Rita Rezeption")
    make_staff(AYLIN, "counsellor", "herne")
    make_staff(HEINSBERG, "reception", "kreis-heinsberg")
    with time_machine.travel(local(at(monday, 9, 5)), tick=True):
        yield (
            {"date": monday.isoformat()}
            | {k: v.id for k, v in ids.items()}
            | {"begun_counsellor": ids["begun"].counsellor_id}
        )


def test_reception_sees_the_days_appointments_with_names_and_persons(day, client, sign_in):
    sign_in(client, RECEPTION)
    response = client.get(f"/staff/?date={day['date']}&lang=en")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert rows(html) == [day["begun"], day["later"]]  # by time, the cancelled one left out
    assert "Ayşe Begun" in html and "Omar Later" in html and "Lina Gone" not in html
    assert "4 persons" in html
    # Attendance can be marked once an appointment has begun, not before.
    assert "mark-attended" in row_html(html, day["begun"])
    assert "mark-attended" not in row_html(html, day["later"])


def test_attendance_from_the_day_list_goes_back_to_the_day_list(seeded, day, client, sign_in):
    sign_in(client, RECEPTION)
    html = client.get(f"/staff/?date={day['date']}").get_data(as_text=True)
    response = client.post(
        f"/staff/bookings/{day['begun']}/attendance",
        data={"csrf_token": csrf_from(html), "status": "no_show", "back": "day"},
    )
    assert response.status_code == 303
    assert f"date={day['date']}" in response.headers["Location"]
    assert response.headers["Location"].endswith(f"#row-{day['begun']}")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="count-no_show">1<' in html and 'id="count-open">1<' in html
    # The appointment that has not begun cannot be marked, whatever is posted.
    client.post(
        f"/staff/bookings/{day['later']}/attendance",
        data={"csrf_token": csrf_from(html), "status": "attended", "back": "day"},
    )
    with seeded.app_context():
        assert db.session.get(Booking, day["begun"]).status == "no_show"
        assert db.session.get(Booking, day["later"]).status == "confirmed"
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "no_show"))
        assert entry.booking_id == day["begun"]


def test_a_counsellor_sees_only_their_own_appointments(seeded, day, client, sign_in):
    sign_in(client, AYLIN)
    html = client.get(f"/staff/?date={day['date']}").get_data(as_text=True)
    with seeded.app_context():
        own = {
            b.id
            for b in db.session.scalars(select(Booking).where(Booking.status != "cancelled"))
            if b.counsellor.email == AYLIN
        }
    assert set(rows(html)) == own
    assert "Omar Later" not in html or day["later"] in own


def test_another_centre_sees_none_of_it(day, client, sign_in):
    sign_in(client, HEINSBERG)
    html = client.get(f"/staff/?date={day['date']}").get_data(as_text=True)
    assert rows(html) == [] and "Ayşe Begun" not in html
    assert 'id="no-appointments"' in html


@pytest.mark.backends("sqlite", "pg")
def test_the_day_list_shows_the_days_events_once(db_backend, seeded, client, make_staff, sign_in):
    """Reception sees the centre's event of the day, its leader sees it, another counsellor
    and another centre do not; each entry once, however many registrations."""
    from tests.events_helpers import event_url, make_event, registration_payload

    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    wednesday = next_working_day(2)
    event_id = make_event(
        seeded,
        "herne",
        start_at=local(at(wednesday, 14)),
        leaders=(AYLIN, KARIM),
        title="Infoabend Schule",
    )
    for n in range(2):
        client.post(
            event_url(event_id, "herne"),
            json=registration_payload(name=f"Registrant Nummer{n}", email=f"r{n}@example.org"),
        )
    make_staff(RECEPTION, "reception", "herne")
    make_staff(AYLIN, "counsellor", "herne")
    make_staff(HEINSBERG, "reception", "kreis-heinsberg")
    make_staff(OTHER, "counsellor", "herne")
    pattern = rf'<li class="calendar-event[^"]*" data-event-id="{event_id}">(.*?)</li>'
    for email, count in ((RECEPTION, 1), (AYLIN, 1), (OTHER, 0), (HEINSBERG, 0)):
        sign_in(client, email)
        html = client.get(f"/staff/?date={wednesday.isoformat()}").get_data(as_text=True)
        found = re.findall(pattern, html, re.S)
        assert len(found) == count, email
        assert "Nummer" not in html
        if count:
            assert "Infoabend Schule" in found[0] and "14:00" in found[0]
            assert f'href="/staff/events/{event_id}"' in found[0]
