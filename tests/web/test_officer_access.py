"""The school supervision officer (SPEC "Users"): their own joint appointments only – day
list, calendar, feed without family data, the case note – and nothing else of the centre.
Every staff and admin route is walked as that role."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from booking.extensions import db
from booking.models import Booking
from tests.helpers import at, next_working_day
from tests.web.test_invitations import confirm_page_csrf, invite, post_booking

pytestmark = pytest.mark.backends("sqlite", "pg")

OFFICER_PAGES = {
    "staff.login",
    "staff.logout",
    "staff.change_password",
    "staff.home",
    "staff.calendar",
    "staff.feed",
    "staff.booking_detail",
}


@pytest.fixture
def held(app, client, runner, joint, make_staff, make_booking):
    """A joint appointment booked through an invitation with a case note, a one-to-one
    booking of another family, and the officer's password set."""
    token = invite(runner, "--email", "haddad@example.org", "--case-note", "Lina, 11, Gymnasium")
    start = at(next_working_day(1), 10)
    csrf = confirm_page_csrf(client, token, start)
    assert post_booking(client, token, start, csrf).status_code == 303
    other = make_booking(
        at(next_working_day(1), 8), centre="joint", service="short", name="Other Family"
    )
    make_staff("officer@joint.example", "school_supervision", "joint", name="Officer")
    with app.app_context():
        joint_id = db.session.scalar(select(Booking.id).where(Booking.officer_id.is_not(None)))
    return {"joint": joint_id, "other": other.id, "day": next_working_day(1)}


def routes(app) -> list:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in ("staff", "admin")
    ]


def url_of(rule, held) -> str:
    values = {
        "centre_slug": "joint",
        "booking_id": held["other"],
        "invitation_id": 1,
        "event_id": 1,
        "absence_id": 1,
        "hours_id": 1,
        "closure_id": 1,
        "service_id": 1,
        "user_id": 1,
        "message_id": 1,
        "action": "cancel",
    }
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", str(values[name]), path)
    return path


def test_every_other_staff_and_admin_route_is_closed_to_the_officer(app, client, held, sign_in):
    new_client = app.test_client()
    sign_in(new_client, "officer@joint.example")
    closed = []
    for rule in routes(app):
        url = url_of(rule, held)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = new_client.open(url, method=method)
            if rule.endpoint in OFFICER_PAGES:
                continue
            closed.append((rule.endpoint, method, response.status_code))
            assert response.status_code in (302, 303, 400, 403, 404), (rule.endpoint, method)
            if response.status_code in (302, 303):
                assert "/staff/login" not in response.headers["Location"] or method == "POST"
    assert len(closed) > 30  # the walk reached the admin pages and the staff workspace
    # Another family's booking, through the page an officer may open: not told it exists.
    other = new_client.get(f"/staff/bookings/{held['other']}")
    assert other.status_code == 404


def test_the_officer_sees_their_joint_appointment_and_its_case_note_only(
    app, client, held, sign_in
):
    officer = app.test_client()
    sign_in(officer, "officer@joint.example")
    day = held["day"].isoformat()

    home = officer.get(f"/staff/?date={day}").get_data(as_text=True)
    calendar = officer.get(f"/staff/calendar?date={day}&view=week").get_data(as_text=True)
    detail = officer.get(f"/staff/bookings/{held['joint']}")

    assert "Familie Haddad" in home and "Other Family" not in home
    assert "Familie Haddad" in calendar and "Other Family" not in calendar
    with app.app_context():
        reference = db.session.get(Booking, held["other"]).reference
    assert reference not in calendar and reference not in home
    html = detail.get_data(as_text=True)
    assert detail.status_code == 200
    assert "Lina, 11, Gymnasium" in html
    assert "haddad@example.org" not in html  # contacts stay with the centre
    assert 'id="move-link"' not in html and 'id="cancel-form"' not in html
    nav = re.search(r'<nav class="staff-nav".*?</nav>', html, re.S).group(0)
    assert "/staff/intake" not in nav and "/staff/search" not in nav and "/admin" not in nav


def test_the_officer_sees_no_phone_in_the_day_list_or_the_calendar(app, held, make_staff, sign_in):
    """Both pages ask access.can_see_contacts, as the booking's page does: the officer sees
    the joint appointment but never the family's phone; the centre's reception does."""
    with app.app_context():
        joint = db.session.get(Booking, held["joint"])
        joint.phone = "02325 883412"
        db.session.commit()
    make_staff("reception@joint.example", "reception", "joint")
    day = held["day"].isoformat()
    pages = {}
    for email in ("officer@joint.example", "reception@joint.example"):
        client = app.test_client()
        sign_in(client, email)
        pages[email] = [
            client.get(url).get_data(as_text=True)
            for url in (f"/staff/?date={day}", f"/staff/calendar?date={day}&view=week")
        ]
    for html in pages["officer@joint.example"]:
        assert "Familie Haddad" in html
        assert "883412" not in html
    for html in pages["reception@joint.example"]:
        assert "02325 883412" in html


def test_no_template_decides_by_the_officer_role():
    """What the officer may see is decided in booking/access.py alone; a template asking
    for the role would be a second copy of that rule."""
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "templates"
    asking = [
        str(path.relative_to(templates))
        for path in sorted(templates.rglob("*.html"))
        if "school_supervision" in path.read_text()
    ]
    assert asking == []


def test_the_officers_feed_holds_the_joint_appointment_without_family_data(
    app, client, held, sign_in
):
    officer = app.test_client()
    sign_in(officer, "officer@joint.example")
    page = officer.get("/staff/feed")
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    made = officer.post("/staff/feed", data={"csrf_token": csrf.group(1)})
    feed_url = re.search(r"(/calendar/[^\"<\s]+\.ics)", made.get_data(as_text=True)).group(1)

    feed = client.get(feed_url).get_data(as_text=True)

    with app.app_context():
        joint_booking = db.session.get(Booking, held["joint"])
        other = db.session.get(Booking, held["other"])
        assert joint_booking.reference in feed
        assert other.reference not in feed
    assert "Haddad" not in feed and "haddad@example.org" not in feed and "Lina" not in feed


def test_the_case_note_is_for_the_appointments_holders_and_admins(app, held, make_staff, sign_in):
    make_staff("c1@joint.example", "counsellor", "joint")
    admin = make_staff("admin@joint.example", "admin", "joint")
    colleague, admin_client = app.test_client(), app.test_client()
    sign_in(colleague, "c1@joint.example")
    sign_in(admin_client, admin)

    assert colleague.get(f"/staff/bookings/{held['joint']}").status_code == 403
    page = admin_client.get(f"/staff/bookings/{held['joint']}").get_data(as_text=True)
    assert "Lina, 11, Gymnasium" in page
