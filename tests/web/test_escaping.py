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
