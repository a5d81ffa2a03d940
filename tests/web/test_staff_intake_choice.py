"""Intake beyond the first twelve times: later times, a date to start from, one weekday,
one counsellor; and a walk-in booked for today (the minimum notice is for families online)."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select

from booking.extensions import db
from booking.models import Booking, Centre, OpeningHours, User, utcnow
from tests.conftest import csrf_from
from tests.helpers import BERLIN, berlin_today

RECEPTION = "rez@herne.example"


@pytest.fixture
def reception(seeded, client, make_staff, sign_in):
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    sign_in(client, make_staff(RECEPTION, "reception", "herne", name="Rita Rezeption"))
    return client


def slot_page(client, **params):
    return client.get("/staff/intake", query_string={"service": "beratung-1", **params})


def starts(html: str) -> list[datetime]:
    found = re.findall(r'type="radio" name="start" id="slot-\d+" value="([^"]+)"', html)
    return [datetime.fromisoformat(s) for s in found]


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    assert match, f"no field {name}"
    return match.group(1)


def book(client, html: str, start: datetime, service="beratung-1", centre="herne", **fields):
    data = {
        "csrf_token": csrf_from(html),
        "nonce": hidden(html, "nonce"),
        "centre": centre,
        "service": service,
        "language": "",
        "start": start.isoformat(),
        "channel": "phone",
        "persons": "1",
        "name": "Walk In",
        "phone": "0171 1234567",
        **fields,
    }
    return client.post("/staff/intake", data=data)


def counsellor_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.name == name))


def test_later_times_continue_after_the_last_one_shown(reception):
    html = slot_page(reception).get_data(as_text=True)
    first = starts(html)
    assert len(first) == 12
    later = re.search(r'href="([^"]+)" id="later-times"', html).group(1).replace("&amp;", "&")
    response = reception.get(later)
    assert response.status_code == 200
    second = starts(response.get_data(as_text=True))
    assert second and min(second) > max(first)
    assert not set(first) & set(second)


def test_only_thursdays_from_a_date(reception):
    start_day = berlin_today() + timedelta(days=10)
    response = slot_page(reception, weekday="3", **{"from": start_day.isoformat()})
    assert response.status_code == 200
    found = starts(response.get_data(as_text=True))
    assert len(found) == 12
    assert {s.astimezone(BERLIN).weekday() for s in found} == {3}
    assert min(s.astimezone(BERLIN).date() for s in found) >= start_day


def test_a_past_from_date_starts_today_and_bad_values_are_told_next_to_the_field(reception):
    response = slot_page(reception, **{"from": "2001-01-01"})
    assert response.status_code == 200 and starts(response.get_data(as_text=True))
    for name, value in (("from", "31.02.2026"), ("weekday", "9"), ("counsellor", "999999")):
        response = slot_page(reception, **{name: value})
        assert response.status_code == 422, name
        html = response.get_data(as_text=True)
        assert f'id="{name}-error"' in html and f'aria-describedby="{name}-error"' in html


def test_a_chosen_counsellor_gets_the_booking(seeded, reception):
    olena = counsellor_id(seeded, "Olena Koval")
    html = slot_page(reception, counsellor=str(olena)).get_data(as_text=True)
    assert hidden(html, "counsellor") == str(olena)
    response = book(reception, html, starts(html)[0], counsellor=str(olena))
    assert response.status_code == 303
    with seeded.app_context():
        assert db.session.scalar(select(Booking.counsellor_id)) == olena
    # A counsellor who does not offer the service is not offered.
    karim = counsellor_id(seeded, "Karim Haddad")
    counsellors = re.search(r'<select id="counsellor".*?</select>', html, re.S).group(0)
    assert f'value="{olena}"' in counsellors and f'value="{karim}"' not in counsellors
    assert slot_page(reception, counsellor=str(karim)).status_code == 422


def test_a_busy_chosen_counsellor_is_not_booked_at_that_time(seeded, reception):
    olena = counsellor_id(seeded, "Olena Koval")
    html = slot_page(reception, counsellor=str(olena)).get_data(as_text=True)
    start = starts(html)[0]
    assert book(reception, html, start, counsellor=str(olena)).status_code == 303
    html = slot_page(reception, counsellor=str(olena)).get_data(as_text=True)
    assert start not in starts(html)
    response = book(reception, html, start, counsellor=str(olena), name="Second")
    assert response.status_code == 409
    with seeded.app_context():
        assert db.session.scalars(select(Booking.name)).all() == ["Walk In"]


@pytest.fixture
def open_all_day(seeded, make_centre, make_staff, sign_in, client):
    """A centre open every day round the clock (but for the last minute), so that "today"
    always has free times whenever the test runs."""
    slug = make_centre("rund", counsellors=1)
    with seeded.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == slug))
        centre.opening_hours = [
            OpeningHours(weekday=d, opens=time(0), closes=time(23, 59)) for d in range(7)
        ]
        db.session.commit()
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    sign_in(client, make_staff("rez@rund.example", "reception", slug))
    return slug


def test_a_walk_in_is_booked_at_short_notice_but_never_in_the_past(open_all_day, seeded, client):
    now = utcnow()
    html = client.get(
        "/staff/intake", query_string={"service": "short", "centre": open_all_day}
    ).get_data(as_text=True)
    first = starts(html)[0]
    # The first time is within the hour: no 24 h notice for staff.
    assert now <= first <= now + timedelta(minutes=31)
    online = client.get(
        f"/api/v1/centres/{open_all_day}/slots",
        query_string={
            "service": "short",
            "from": berlin_today().isoformat(),
            # A week: the two days after a late evening may be holidays (24 to 26 December).
            "to": (berlin_today() + timedelta(days=7)).isoformat(),
        },
    ).get_json()["slots"]
    assert datetime.fromisoformat(online[0]["start"]) >= now + timedelta(hours=24)

    past = (now - timedelta(hours=1)).astimezone(BERLIN)
    past = past.replace(minute=0 if past.minute < 30 else 30, second=0, microsecond=0)
    response = book(client, html, past, service="short", centre=open_all_day, channel="walk_in")
    assert response.status_code == 409
    response = book(client, html, first, service="short", centre=open_all_day, channel="walk_in")
    assert response.status_code == 303
    with seeded.app_context():
        booking = db.session.scalar(select(Booking))
        assert booking.channel == "walk_in" and booking.start_at == first
