"""Crafted query strings and values found by probing from outside: each answers with a page,
a redirect on the same host and scheme, or a message next to the field, never a 5xx.

On SQLite and PostgreSQL (a NUL reaches PostgreSQL as a DataError)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from booking.extensions import db
from booking.models import Absence, Booking
from tests.conftest import csrf_from
from tests.helpers import at, booking_payload, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

KARIM = "karim.haddad@herne.example"
# An old slug of the demo (README "Neutral service slugs"): its links are redirected.
OLD = "/centres/herne/bildung"
NEUTRAL = "/centres/herne/beratung-1"
# Every way a query argument could reach url_for as one of its own arguments.
CRAFTED = ("centre_slug=x", "service_slug=x", "_method=POST", "_scheme=https", "_anchor=x")


@pytest.mark.parametrize("crafted", CRAFTED)
def test_an_old_link_redirects_with_the_known_arguments_only(seeded, client, crafted):
    start = at(next_working_day(0), 10)
    for url, target in (
        (f"{OLD}?language=tr&{crafted}", f"{NEUTRAL}?language=tr"),
        (f"{OLD}/book?start={start}&{crafted}", f"{NEUTRAL}/book?start="),
    ):
        response = client.get(url)
        assert response.status_code == 301, (url, response.status_code)
        location = response.headers["Location"]
        # On the same host and scheme (a relative address), with nothing crafted in it.
        assert location.startswith(target), (url, location)
        assert "://" not in location and crafted.split("=")[0] not in location, location


@pytest.mark.parametrize("crafted", CRAFTED)
def test_the_language_switcher_keeps_crafted_arguments_in_the_query(seeded, client, crafted):
    for url in ("/", f"{NEUTRAL}?language=tr", "/find", "/staff/login"):
        response = client.get(f"{url}{'&' if '?' in url else '?'}{crafted}")
        assert response.status_code == 200, (url, crafted, response.status_code)
        html = response.get_data(as_text=True).replace("&amp;", "&")
        # Each language's link is this page, on this host, with the crafted argument kept
        # in its query and nowhere else.
        links = re.findall(r'href="([^"]*[?&]lang=[^"]*)"', html)
        assert links, url
        path = url.split("?")[0]
        for link in links:
            assert link.startswith(path + "?"), (crafted, link)
            assert crafted in link, (crafted, link)


def test_a_nul_in_the_staff_search_is_a_message(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff("admin@herne.example", "admin", "herne"))
    for query in ("ab%00cd", "%00%00", "ab%1Bcd"):
        response = client.get(f"/staff/search?q={query}")
        assert response.status_code == 422, (query, response.status_code)
        assert 'id="q-error"' in response.get_data(as_text=True), query


def test_an_absence_in_the_year_9999_is_a_message(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff(KARIM, "counsellor", "herne"))
    for first, last, field in (
        ("9999-12-31", "9999-12-31", "first_day"),
        (next_working_day(0).isoformat(), "9999-12-31", "last_day"),
        ("0001-01-01", "", "first_day"),
    ):
        page = client.get("/staff/absences").get_data(as_text=True)
        response = client.post(
            "/staff/absences",
            data={"csrf_token": csrf_from(page), "first_day": first, "last_day": last, "note": ""},
        )
        assert response.status_code == 422, (first, last, response.status_code)
        assert f'id="{field}-error"' in response.get_data(as_text=True), (first, last)
    with seeded.app_context():
        assert db.session.scalar(select(func.count()).select_from(Absence)) == 0


BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]


@pytest.mark.parametrize("control", BIDI)
def test_bidirectional_controls_are_refused_in_a_name(seeded, client, control):
    payload = booking_payload(
        at(next_working_day(1), 10), "beratung-1", name=f"Eve {control}gnp.exe"
    )
    response = client.post("/api/v1/centres/herne/bookings", json=payload)
    assert response.status_code in (400, 422), response.status_code
    assert response.content_type == "application/problem+json"
    assert "name" in response.get_data(as_text=True)
    with seeded.app_context():
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 0


def test_bidirectional_controls_stay_allowed_in_a_message(seeded, client):
    # A family's message may quote mixed-direction text; only single lines refuse them.
    payload = booking_payload(
        at(next_working_day(1), 10), "beratung-1", message="\u2067مرحبا\u2069 Termin"
    )
    assert client.post("/api/v1/centres/herne/bookings", json=payload).status_code == 201


@pytest.mark.parametrize("name", ["Ada\nBcc: evil@example.org", "Ada\tLovelace", "Ada\r\nX"])
def test_a_line_break_or_tab_in_a_name_is_refused_by_the_booking_api(seeded, client, name):
    payload = booking_payload(at(next_working_day(1), 10), "beratung-1", name=name)
    response = client.post("/api/v1/centres/herne/bookings", json=payload)
    assert response.status_code in (400, 422), response.status_code
    assert response.content_type == "application/problem+json"
    assert "name" in response.get_json().get("errors", {}), response.get_json()
    with seeded.app_context():
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 0


def test_mail_links_take_the_configured_host_not_the_requests(seeded, client):
    """A forged Host must not put its name into a mail's links (/find, a booking)."""
    from booking.models import OutboxMessage

    seeded.config.update(
        SERVER_NAME="termine.example.org",
        PREFERRED_URL_SCHEME="https",
        OUTBOX_SEND_AFTER_COMMIT="off",
    )
    payload = booking_payload(at(next_working_day(1), 10), "beratung-1")
    response = client.post(
        "/api/v1/centres/herne/bookings",
        json=payload,
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    assert response.status_code == 201
    assert response.get_json()["manage_url"].startswith("https://termine.example.org/b/")
    with seeded.app_context():
        links = [
            link
            for row in db.session.scalars(select(OutboxMessage))
            for link in (row.snapshot or {}).get("links", {}).values()
        ]
    assert links and all(link.startswith("https://termine.example.org/") for link in links)
