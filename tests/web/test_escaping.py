"""A name is text wherever it is shown: the family's manage page and the staff booking page
escape it (a template that marks it |safe would run the script)."""

from __future__ import annotations

import pytest

from tests.helpers import at, booking_payload, next_working_day

NAME = '<script>alert("x")</script> Ada & "Co"'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Ada &amp; &#34;Co&#34;"
MESSAGE = "<img src=x onerror=alert(1)> bitte"


@pytest.fixture
def booked(app, client, make_centre):
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre()
    response = client.post(
        "/api/v1/centres/test/bookings",
        json=booking_payload(at(next_working_day(0), 10), name=NAME, message=MESSAGE),
    )
    assert response.status_code == 201
    return response.get_json()["manage_url"].rsplit("/", 1)[1]


def assert_escaped(html: str) -> None:
    assert "<script>alert" not in html and "<img src=x" not in html
    assert ESCAPED in html


def test_manage_page_escapes_the_name(client, booked):
    html = client.get(f"/b/{booked}").get_data(as_text=True)
    assert_escaped(html)


def test_staff_booking_page_escapes_the_name_and_message(app, client, booked, make_staff, sign_in):
    from sqlalchemy import select

    from booking.extensions import db
    from booking.models import Booking

    with app.app_context():
        booking_id = db.session.scalar(select(Booking.id))
    staff = app.test_client()
    sign_in(staff, make_staff("admin@test.example", "admin", "test"))
    html = staff.get(f"/staff/bookings/{booking_id}").get_data(as_text=True)
    assert_escaped(html)
    assert "&lt;img src=x onerror=alert(1)&gt; bitte" in html
    calendar = staff.get(f"/staff/calendar?date={at(next_working_day(0), 10)[:10]}")
    assert "<script>alert" not in calendar.get_data(as_text=True)


def booking_and_day(app):
    from sqlalchemy import select

    from booking.extensions import db
    from booking.models import Booking

    with app.app_context():
        booking = db.session.scalar(select(Booking))
        return booking.id, booking.counsellor_id, booking.start_at.date().isoformat()


@pytest.fixture
def admin(app, booked, make_staff, sign_in):
    staff = app.test_client()
    sign_in(staff, make_staff("admin@test.example", "admin", "test"))
    return staff


def test_the_staff_day_list_escapes_the_name(app, admin):
    _id, _counsellor, day = booking_and_day(app)
    html = admin.get(f"/staff/?date={day}").get_data(as_text=True)
    assert 'class="person-name"' in html  # the row is there, with the person's name
    assert_escaped(html)


def test_search_results_escape_the_name(app, admin):
    html = admin.get("/staff/search?q=Ada").get_data(as_text=True)
    assert 'class="person-name"' in html
    assert_escaped(html)


def test_the_attention_list_escapes_the_name(app, admin):
    from booking.extensions import db
    from booking.models import User

    booking_id, counsellor, _day = booking_and_day(app)
    with app.app_context():  # its counsellor leaves: the booking needs a decision
        db.session.get(User, counsellor).is_active = False
        db.session.commit()
    html = admin.get("/admin/centres/test/attention").get_data(as_text=True)
    assert f'id="select-{booking_id}"' in html
    assert_escaped(html)


def test_the_intake_read_out_and_form_escape_the_name(app, admin):
    import re

    from tests.conftest import csrf_from

    page = admin.get("/staff/intake?centre=test&service=short").get_data(as_text=True)
    starts = re.findall(r'type="radio" name="start" id="slot-\d+" value="([^"]+)"', page)
    assert starts, "no free time offered"
    nonce = re.search(r'name="nonce"[^>]*value="([^"]*)"', page).group(1)
    data = {
        "csrf_token": csrf_from(page),
        "nonce": nonce,
        "centre": "test",
        "service": "short",
        "language": "",
        "start": starts[0],
        "channel": "phone",
        "persons": "1",
        "name": NAME,
        "phone": "0171 234567",
    }
    # A refused form shows the typed name again; a booked one reads the booking out.
    refused = admin.post("/staff/intake", data={**data, "phone": "kein Telefon"})
    assert refused.status_code == 422
    assert_escaped(refused.get_data(as_text=True))
    booked = admin.post("/staff/intake", data=data, follow_redirects=True)
    html = booked.get_data(as_text=True)
    assert 'id="booked"' in html
    assert "<script>alert" not in html
