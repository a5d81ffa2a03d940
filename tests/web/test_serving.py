"""Served behind a proxy over https: forms without Referer, forwarded headers, caches, sizes."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlalchemy import select

from booking import feed_tokens
from booking.extensions import db
from booking.models import (
    Booking,
    Event,
    Invitation,
    OpeningHours,
    OutboxMessage,
    Service,
    User,
    utcnow,
)
from booking.serving import CACHEABLE_ENDPOINTS
from tests.conftest import csrf_from
from tests.helpers import at, booking_payload, next_working_day

HTTPS = "https://termine.example.org"
PROBLEM = "application/problem+json"


@pytest.fixture
def centre(app, make_centre):
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    return make_centre()


def session_cookie(response) -> str:
    (cookie,) = [v for v in response.headers.getlist("Set-Cookie") if "session=" in v]
    return cookie


# --- https without Referer --------------------------------------------------------------


def test_forms_work_over_https_without_referer(app, client, centre, make_staff):
    """Browsers send no Referer (Referrer-Policy: no-referrer); the CSRF token is the proof."""
    monday = next_working_day(0)
    form_url = f"/centres/test/short/book?start={quote(at(monday, 10))}"
    page = client.get(form_url, base_url=HTTPS)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = page.get_data(as_text=True)
    nonce = re.search(r'name="nonce"[^>]*value="([^"]+)"', html).group(1)
    data = {
        "csrf_token": csrf_from(html),
        "nonce": nonce,
        "start": at(monday, 10),
        "name": "Ayşe Öztürk",
        "email": "ayse@example.org",
        "persons": "1",
        "consent": "y",
    }
    posted = client.post("/centres/test/short/book", data=data, base_url=HTTPS)
    assert posted.status_code == 303, posted.get_data(as_text=True)[:500]
    assert "/b/" in posted.headers["Location"]
    assert client.get(posted.headers["Location"], base_url=HTTPS).status_code == 200

    # Staff sign-in over https, no Referer either.
    email = make_staff("empfang@test.example", "reception", "test")
    login = client.get("/staff/login", base_url=HTTPS).get_data(as_text=True)
    signed_in = client.post(
        "/staff/login",
        data={"csrf_token": csrf_from(login), "email": email, "password": "Sichere-Beratung-2026"},
        base_url=HTTPS,
    )
    assert signed_in.status_code == 303
    assert client.get("/staff/intake", base_url=HTTPS).status_code == 200


def test_the_token_is_still_required_over_https(app, client, centre):
    monday = next_working_day(0)
    client.get(f"/centres/test/short/book?start={quote(at(monday, 10))}", base_url=HTTPS)
    posted = client.post(
        "/centres/test/short/book",
        data={"start": at(monday, 10), "name": "A", "email": "a@example.org", "consent": "y"},
        base_url=HTTPS,
    )
    assert posted.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Booking)) is None


def test_https_gives_a_secure_host_cookie_and_hsts(client, centre):
    secure = client.get("/staff/login", base_url=HTTPS)
    cookie = session_cookie(secure)
    assert cookie.startswith("__Host-session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "Path=/" in cookie
    assert "Domain=" not in cookie
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"

    plain = client.get("/staff/login", base_url="http://localhost")
    cookie = session_cookie(plain)
    assert cookie.startswith("session=") and "Secure" not in cookie
    assert "Strict-Transport-Security" not in plain.headers


# --- forwarded headers --------------------------------------------------------------------

FORGED = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
}


def limited(app, proxies: int):
    from booking import create_app
    from booking.config import TestConfig

    return create_app(
        TestConfig,
        instance_path=app.instance_path,
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI="memory://",
        API_RATELIMIT="2 per minute",
        TRUSTED_PROXIES=proxies,
        OUTBOX_SEND_AFTER_COMMIT="off",
    )


def test_forged_forwarded_headers_change_nothing_without_trusted_proxies(app, centre):
    served = limited(app, 0)
    client = served.test_client()
    monday = next_working_day(0)
    response = client.post(
        "/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10)), headers=FORGED
    )
    assert response.status_code == 201
    assert response.get_json()["manage_url"].startswith("http://localhost/b/")
    assert "Strict-Transport-Security" not in response.headers
    # Another forged address each time: still one client, whose limit is 2 a minute.
    statuses = [
        client.get("/api/v1/centres", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
        for i in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_one_trusted_proxy_gives_public_links_and_per_family_limits(app, centre):
    served = limited(app, 1)
    client = served.test_client()
    monday = next_working_day(0)
    response = client.post(
        "/api/v1/centres/test/bookings",
        json=booking_payload(at(monday, 10)),
        headers={**FORGED, "X-Forwarded-Host": "termine.example.org"},
    )
    assert response.status_code == 201
    assert response.get_json()["manage_url"].startswith("https://termine.example.org/b/")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    # The proxy appends the family's address; each family has its own counter.
    first = {"X-Forwarded-For": "198.51.100.1"}
    second = {"X-Forwarded-For": "198.51.100.2"}
    assert [client.get("/api/v1/centres", headers=first).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    assert client.get("/api/v1/centres", headers=second).status_code == 200


# --- request size -------------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_in_html_and_in_the_api(app, client, centre):
    big = "x" * (65 * 1024)
    monday = next_working_day(0)
    page = client.post(
        f"/centres/test/short/book?start={quote(at(monday, 10))}",
        data={"name": "A", "message": big},
    )
    assert page.status_code == 413
    assert page.mimetype == "text/html"
    assert "Die Anfrage ist zu groß" in page.get_data(as_text=True)
    api = client.post(
        "/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10), message=big)
    )
    assert api.status_code == 413
    assert api.mimetype == PROBLEM
    assert api.get_json()["status"] == 413 and api.get_json()["type"] == "about:blank"
    with app.app_context():
        assert db.session.scalar(select(Booking)) is None


def test_max_content_length_comes_from_the_config(app, client, centre):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    monday = next_working_day(0)
    payload = booking_payload(at(monday, 10), message="x" * 900)
    assert client.post("/api/v1/centres/test/bookings", json=payload).status_code == 413


# --- Cache-Control ------------------------------------------------------------------------

# Pages that must answer 200 with personal data when walked below.
PERSONAL_PAGES = {
    "public.manage",
    "public.cancel",
    "public.move",
    "public.invite",
    "api.get_booking",
    "feeds.calendar_feed",
    "staff.home",
    "staff.calendar",
    "staff.booking_detail",
    "staff.audit_log",
    "admin.home",
    "admin.report_csv",
    "admin.report_page",
    "admin.staff_list",
    "admin.outbox",
}


@pytest.fixture
def walk_values(seeded, make_staff, sign_in, client, make_booking):
    """Real values for every URL argument, and an admin signed in on ``client``."""
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    monday = next_working_day(0)
    booked = make_booking(at(monday, 10), email="walk@example.org")
    sign_in(client, make_staff("admin@herne.example", "admin", "herne"))
    with seeded.test_request_context():
        booking = db.session.get(Booking, booked.id)
        counsellor = db.session.get(User, booking.counsellor_id)
        feed_token = feed_tokens.renew_feed_token(counsellor, counsellor, now=utcnow())
        values = {
            "centre_slug": "herne",
            "service_slug": "beratung-1",
            "booking_id": booking.id,
            "hours_id": db.session.scalar(
                select(OpeningHours.id).where(OpeningHours.centre_id == booking.centre_id)
            ),
            "service_id": db.session.scalar(
                select(Service.id).where(Service.centre_id == booking.centre_id)
            ),
            "user_id": counsellor.id,
            "message_id": db.session.scalar(
                select(OutboxMessage.id).where(OutboxMessage.booking_id == booking.id)
            ),
            "event_id": db.session.scalar(
                select(Event.id).where(Event.centre_id == booking.centre_id).limit(1)
            ),
            "invitation_id": db.session.scalar(select(Invitation.id).limit(1)) or 1,
            "closure_id": 1,
            "absence_id": 1,
            "action": "keep",
            "filename": "style.css",
        }
    return values, booked.token, feed_token


def test_every_route_but_the_public_ones_is_no_store(seeded, client, walk_values):
    values, manage_token, feed_token = walk_values
    walked = set()
    for rule in seeded.url_map.iter_rules():
        args = {}
        for name in rule.arguments:
            if name == "token":
                args[name] = feed_token if rule.endpoint.startswith("feeds.") else manage_token
            else:
                assert name in values, f"{rule.rule}: give the walk a value for <{name}>"
                args[name] = values[name]
        with seeded.test_request_context():
            from flask import url_for

            url = url_for(rule.endpoint, **args)
        for method in sorted(rule.methods & {"GET", "POST"}):
            # POSTs carry no CSRF token: every answer, refusals included, is checked.
            response = client.open(url, method=method)
            response.close()
            cache = response.headers.get("Cache-Control", "")
            assert response.status_code < 500, (method, url, response.status_code)
            if rule.endpoint in CACHEABLE_ENDPOINTS:
                assert "no-store" not in cache, (method, url)
            else:
                assert "no-store" in cache.replace(" ", "").split(","), (method, url, cache)
            if method == "GET" and rule.endpoint in PERSONAL_PAGES:
                assert response.status_code == 200, (url, response.status_code)
        walked.add(rule.endpoint)
    assert walked >= PERSONAL_PAGES
    assert walked - CACHEABLE_ENDPOINTS, "the walk met no personal page"
    # The public pages are public: no personal route is listed as cacheable.
    assert not CACHEABLE_ENDPOINTS & PERSONAL_PAGES


def test_the_clock_is_read_once_per_request(app):
    """clock.py: every view of a request sees the same ``now``, read before the request."""
    from flask import g

    from booking.clock import request_now

    with app.test_request_context("/"):
        app.preprocess_request()
        first = g.now
        assert request_now() is first and request_now() is first
    with app.test_request_context("/"):
        app.preprocess_request()
        assert g.now >= first
