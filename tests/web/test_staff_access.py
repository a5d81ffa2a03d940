"""Who sees and changes what (booking/access.py), through every staff route of a booking.

A Herne counsellor gets 404 for a Heinsberg booking and 403 for a colleague's; nothing in
the database changes. Reception sees names and phones, never the family's message.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from booking.extensions import db
from booking.models import AuditEntry, Booking, OutboxMessage, utcnow
from tests.conftest import csrf_from
from tests.helpers import at, next_working_day

SECRET_MESSAGE = "Bitte nur mit Frau Demir sprechen 7Q"
AYLIN = "aylin.demir@herne.example"
KARIM = "karim.haddad@herne.example"


def family(name: str, **over) -> dict:
    """A family's details as these tests book them: the e-mail address follows the name."""
    email = f"{name.split()[-1].lower().encode('ascii', 'ignore').decode()}@example.org"
    return {"name": name, "email": email, "phone": "0171 555 0101", **over}


@pytest.fixture
def world(seeded, make_staff, make_booking):
    """Bookings of Aylin (Herne), of Karim (Herne) and of Heinsberg; accounts for each role."""
    app = seeded
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    monday = next_working_day(0)
    ids = {
        # Turkish: Aylin is the Herne counsellor for "beratung-1" who speaks it.
        "aylin": make_booking(
            at(monday, 9),
            service="beratung-1",
            **family("Ayşe Öztürk", language="tr", message=SECRET_MESSAGE),
        ).id,
        # Only Karim offers "beratung-5" at Herne.
        "karim": make_booking(at(monday, 11), service="beratung-5", **family("Omar Nassar")).id,
        "heinsberg": make_booking(
            at(monday, 9), centre="kreis-heinsberg", service="beratung-1", **family("Hanna Berg")
        ).id,
    }
    # A past booking of Karim's, for the attendance routes.
    ids["karim_past"] = make_booking(at(monday, 14), service="beratung-5", **family("Pia Past")).id
    with app.app_context():
        past = db.session.get(Booking, ids["karim_past"])
        past.start_at = utcnow() - timedelta(days=2)
        past.end_at = past.start_at + timedelta(hours=1)
        db.session.commit()
    make_staff(AYLIN, "counsellor", "herne")
    make_staff(KARIM, "counsellor", "herne")
    make_staff("rez@herne.example", "reception", "herne")
    make_staff("admin@herne.example", "admin", "herne")
    return ids


def snapshot(app) -> list[tuple]:
    """Every booking row with every column, and the counts of mail and audit rows."""
    with app.app_context():
        rows = [tuple(row) for row in db.session.execute(select(Booking.__table__).order_by("id"))]
        outbox = db.session.scalar(select(func.count()).select_from(OutboxMessage))
        audit = db.session.scalar(select(func.count()).select_from(AuditEntry))
    return [*rows, ("outbox", outbox), ("audit", audit)]


def attempts(client, booking_id: int, token: str) -> list[tuple[str, int]]:
    """Status of every read and change route for the booking."""
    free_start = at(next_working_day(2), 10)
    base = f"/staff/bookings/{booking_id}"
    return [
        ("detail", client.get(base).status_code),
        ("move page", client.get(f"{base}/move").status_code),
        (
            "move",
            client.post(
                f"{base}/move", data={"csrf_token": token, "start": free_start}
            ).status_code,
        ),
        (
            "cancel",
            client.post(
                f"{base}/cancel",
                data={"csrf_token": token, "confirm": "yes", "asked_by": "family"},
            ).status_code,
        ),
        (
            "attended",
            client.post(
                f"{base}/attendance", data={"csrf_token": token, "status": "attended"}
            ).status_code,
        ),
        (
            "no_show",
            client.post(
                f"{base}/attendance", data={"csrf_token": token, "status": "no_show"}
            ).status_code,
        ),
        (
            "conflict cancel",
            client.post(
                f"/staff/absences/conflicts/{booking_id}/cancel", data={"csrf_token": token}
            ).status_code,
        ),
        (
            "conflict keep",
            client.post(
                f"/staff/absences/conflicts/{booking_id}/keep", data={"csrf_token": token}
            ).status_code,
        ),
    ]


@pytest.mark.backends("sqlite", "pg")
def test_counsellor_cannot_touch_another_centre_or_a_colleagues_booking(
    db_backend, seeded, world, client, sign_in
):
    sign_in(client, AYLIN)
    token = csrf_from(client.get("/staff/").get_data(as_text=True))
    before = snapshot(seeded)

    for key in ("heinsberg",):
        assert {status for _, status in attempts(client, world[key], token)} == {404}, key
    for key in ("karim", "karim_past"):
        results = attempts(client, world[key], token)
        assert {status for _, status in results} == {403}, (key, results)
    # A booking that does not exist answers like one of another centre.
    assert client.get("/staff/bookings/999999").status_code == 404

    assert snapshot(seeded) == before


@pytest.mark.backends("sqlite", "pg")
def test_counsellor_sees_own_details_and_others_only_as_busy(
    db_backend, seeded, world, client, sign_in
):
    sign_in(client, AYLIN)
    own = client.get(f"/staff/bookings/{world['aylin']}")
    assert own.status_code == 200
    html = own.get_data(as_text=True)
    assert "Ayşe Öztürk" in html and SECRET_MESSAGE in html

    monday = next_working_day(0)
    calendar = client.get(f"/staff/calendar?date={monday.isoformat()}&counsellor=all")
    html = calendar.get_data(as_text=True)
    assert f'data-booking-id="{world["aylin"]}"' in html
    assert "Ayşe Öztürk" in html
    # Karim's booking is a busy time: time, service and counsellor, no person, no link.
    assert f'data-booking-id="{world["karim"]}"' not in html
    assert "Omar Nassar" not in html and "nassar@example.org" not in html
    busy = re.findall(r'<tr class="booking-row busy"[^>]*>(.*?)</tr>', html, re.S)
    assert len(busy) == 1 and "Karim Haddad" in busy[0]
    assert "0171 555 0101" not in busy[0]
    # Nothing of Heinsberg.
    assert "Hanna Berg" not in html


@pytest.mark.backends("sqlite", "pg")
def test_reception_sees_names_and_phones_never_the_message(
    db_backend, seeded, world, client, sign_in
):
    sign_in(client, "rez@herne.example")
    monday = next_working_day(0)
    calendar = client.get(f"/staff/calendar?view=week&date={monday.isoformat()}")
    html = calendar.get_data(as_text=True)
    assert "Ayşe Öztürk" in html and "Omar Nassar" in html
    assert "0171 555 0101" in html
    assert SECRET_MESSAGE not in html
    assert "Hanna Berg" not in html

    detail = client.get(f"/staff/bookings/{world['aylin']}")
    assert detail.status_code == 200
    html = detail.get_data(as_text=True)
    assert "Ayşe Öztürk" in html and "0171 555 0101" in html
    assert SECRET_MESSAGE not in html
    assert 'class="message-text"' not in html
    assert client.get(f"/staff/bookings/{world['heinsberg']}").status_code == 404


@pytest.mark.backends("sqlite", "pg")
def test_admin_sees_everything_of_their_centre(db_backend, seeded, world, client, sign_in):
    sign_in(client, "admin@herne.example")
    html = client.get(f"/staff/bookings/{world['aylin']}").get_data(as_text=True)
    assert SECRET_MESSAGE in html and "ztrk@example.org" in html
    assert client.get(f"/staff/bookings/{world['karim']}").status_code == 200
    assert client.get(f"/staff/bookings/{world['heinsberg']}").status_code == 404
    monday = next_working_day(0)
    html = client.get(f"/staff/calendar?date={monday.isoformat()}").get_data(as_text=True)
    assert "Ayşe Öztürk" in html and "Omar Nassar" in html and "booking-row busy" not in html


def test_counsellor_may_change_their_own_booking(seeded, world, client, sign_in):
    sign_in(client, KARIM)
    page = client.get(f"/staff/bookings/{world['karim_past']}").get_data(as_text=True)
    response = client.post(
        f"/staff/bookings/{world['karim_past']}/attendance",
        data={"csrf_token": csrf_from(page), "status": "attended"},
    )
    assert response.status_code == 303
    with seeded.app_context():
        assert db.session.get(Booking, world["karim_past"]).status == "attended"
