"""Hostile input, table-driven: every API field and every form field gets lone surrogates,
invisible characters, Infinity/NaN, huge and negative numbers, years 1 and 9999, deep
nesting, oversized text and wrong JSON types. Each answer is a 4xx (problem+json under
/api/) or the form shown again with a message next to the field; never a 5xx, and nothing
is written (rows and audit entries are counted before and after).

Run with ``-s`` to see how many cases each table tried and the statuses they got.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from booking.extensions import db
from booking.models import (
    Absence,
    AuditEntry,
    Booking,
    Closure,
    Event,
    Invitation,
    OpeningHours,
    OutboxMessage,
    Registration,
    Service,
    StaffSession,
    User,
    WorkingHours,
)
from tests.conftest import csrf_from
from tests.helpers import at, next_working_day

PROBLEM = "application/problem+json"
ADMIN = "hostile-admin@herne.example"
COUNSELLOR = "hostile-counsellor@herne.example"
RECEPTION = "hostile-reception@herne.example"
COUNTED = (
    Booking,
    Absence,
    Closure,
    OpeningHours,
    WorkingHours,
    Service,
    User,
    AuditEntry,
    OutboxMessage,
    Event,
    Registration,
    Invitation,
)

# --- The values ----------------------------------------------------------------------

# JSON fragments, written as raw JSON text so that lone surrogates and Infinity reach the
# server exactly as an attacker sends them.
SURROGATE = r'"\ud800"'
JSON_WRONG_TYPES = ["12", "1.5", "{}", "[]", "true", '["a"]', '{"a": 1}']
JSON_NON_FINITE = ["Infinity", "-Infinity", "NaN", "1e999", "123456789012345678901234567890"]
JSON_BAD_TEXT = [
    SURROGATE,
    r'"Ay\udc00se"',
    r'"\u200b\u202e"',  # format characters only (zero width space, right-to-left override)
    r'"\u200b"',
    r'"\u00ad\u2060"',
    r'"a\u0000b"',
    r'"\u001b[31m"',
    json.dumps("x" * 5000),
]
JSON_BAD_NUMBERS = ['"٣"', '"５"', '"3"', "0", "-5", "11", "2.5", "true", SURROGATE]
JSON_BAD_START = [
    '"0001-01-01T00:00:00+00:00"',
    '"0001-01-01T00:30:00+14:00"',
    '"9999-12-31T23:59:59+00:00"',
    '"9999-12-31T23:30:00-12:00"',
    '"0001-01-01"',
    '"9999-12-31"',
    '"2026-02-30T10:00:00+01:00"',
    '"+002026-03-02T10:00:00+01:00"',
]

# Form values. A lone surrogate is sent as its bytes %ED%A0%80, which Werkzeug keeps as that
# literal text (test_lone_surrogate_in_a_form_arrives_as_text); U+FFFD is what other
# decoders (multipart) leave of bytes that are not UTF-8, and is refused in free text.
FORM_BAD_TEXT = ["\ufffd", "Ay\ufffdse", "\u200b\u202e", "\u00ad", "a\x00b", "x" * 5000]
# What a single line refuses besides: a line feed, and bidirectional overrides and isolates
# inside visible text (they turn the text around where staff and mail read it).
FORM_BAD_LINE = ["Ay\nse", "Ay\r\nse", "Ay\u202ese", "Ay\u2066se\u2069", "\u202bAyşe"]
FORM_BAD_NUMBERS = ["Infinity", "NaN", "-5", "9" * 20, "٣٣", "５", "1e3", "\ud800"]
FORM_BAD_DATES = ["0001-01-01", "9999-12-31", "9" * 20, "\ud800", "Infinity"]
FORM_BAD_DATETIMES = ["0001-01-01T00:00", "9999-12-31T23:59", "\ud800", "x" * 5000]
FORM_BAD_TIMES = ["25:00", "\ud800", "9" * 20, "NaN"]
FORM_BAD_CHOICES = ["\ud800", "9" * 20, "-1", "Infinity"]
DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 50_000 + "1" + "}" * 50_000


def form_body(data: dict) -> bytes:
    """URL-encode a form, lone surrogates and all."""
    return urlencode(data, encoding="utf-8", errors="surrogatepass").encode("ascii")


def post_form(client, url: str, data: dict):
    return client.post(url, data=form_body(data), content_type="application/x-www-form-urlencoded")


def counts(app) -> dict[str, int]:
    with app.app_context():
        result = {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in COUNTED
        }
        db.session.remove()
        return result


class Tally:
    """Counts cases and statuses per table; prints them at the end of a test."""

    def __init__(self, name: str, app=None) -> None:
        self.name = name
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self.app = app
        self.rows = counts(app) if app is not None else None

    def start(self) -> None:
        """Count the rows now: what the set-up requests wrote is not the cases' doing."""
        self.rows = counts(self.app)

    def _nothing_written(self, case: str) -> None:
        if self.app is None:
            return
        now = counts(self.app)
        if now != self.rows:
            changed = {k: (self.rows[k], v) for k, v in now.items() if v != self.rows[k]}
            self.failures.append(f"{case}: rows written {changed}")
            self.rows = now

    def check(self, response, case: str, *, html: bool = False, page: bool = False) -> None:
        """``html``: a form POST, answered with a 4xx or the form and a message next to a
        field (or, for a radio group of times, a message above it). ``page``: a GET with a
        bad query string, answered with a 4xx or the page for a sensible default."""
        status = response.status_code
        self.statuses[status] += 1
        self._nothing_written(case)
        if status >= 500:
            self.failures.append(f"{case}: {status}")
        elif page:
            return
        elif html:
            shown = response.get_data(as_text=True)
            has_message = 'class="field-error"' in shown or "message-error" in shown
            if status in (200, 422) and not has_message:
                self.failures.append(f"{case}: {status} without a message")
        elif status < 400:
            self.failures.append(f"{case}: {status}, expected a 4xx")
        elif response.request.path.startswith("/api/") and response.mimetype != PROBLEM:
            self.failures.append(f"{case}: {status} {response.mimetype}, not problem+json")

    def finish(self) -> None:
        self._nothing_written("at the end")
        total = sum(self.statuses.values())
        print(
            f"\nhostile {self.name}: {total} cases, statuses {dict(sorted(self.statuses.items()))}"
        )
        assert not self.failures, "\n".join(self.failures[:40])


# --- The world -----------------------------------------------------------------------


@pytest.fixture
def world(seeded, make_staff, make_booking):
    """Herne from the demo, one booking to act on, and an admin, counsellor and reception."""
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_staff(ADMIN, "admin", "herne", name="Hanna Admin")
    make_staff(COUNSELLOR, "counsellor", "herne", name="Cem Berater")
    make_staff(RECEPTION, "reception", "herne", name="Rita Rezeption")
    monday = next_working_day(0, min_days_ahead=8)
    booking = make_booking(at(monday, 10))
    with seeded.app_context():
        herne_id = db.session.scalar(select(User.centre_id).where(User.email == ADMIN))
        service_ids = {
            s.slug: s.id
            for s in db.session.scalars(select(Service).where(Service.centre_id == herne_id))
        }
        counsellor_id = db.session.scalar(select(User.id).where(User.email == COUNSELLOR))
    return {
        "app": seeded,
        "monday": monday,
        "booking": booking,
        "free_start": at(monday, 14),
        "service_ids": service_ids,
        "counsellor_id": counsellor_id,
    }


def signed_in(app, sign_in, email):
    client = app.test_client()
    sign_in(client, email)
    return client


# --- JSON API ------------------------------------------------------------------------

BOOKING_FIELDS = {
    "service": JSON_BAD_TEXT + JSON_WRONG_TYPES + JSON_NON_FINITE + ["null", '"unknown"'],
    "start": JSON_BAD_TEXT + JSON_WRONG_TYPES + JSON_NON_FINITE + JSON_BAD_START + ["null"],
    "name": JSON_BAD_TEXT + JSON_WRONG_TYPES + JSON_NON_FINITE + ['"\\u3000\\u00a0"', "null"],
    "email": JSON_BAD_TEXT
    + JSON_WRONG_TYPES
    + JSON_NON_FINITE
    + ['"Ä@example.org"', '"a@b@example.org"', "null"],
    "consent": JSON_BAD_TEXT
    + [t for t in JSON_WRONG_TYPES if t != "true"]
    + JSON_NON_FINITE
    + ["false", '"yes"', "1", "null"],
    "phone": JSON_BAD_TEXT + JSON_WRONG_TYPES + JSON_NON_FINITE,
    "language": JSON_BAD_TEXT + JSON_WRONG_TYPES + JSON_NON_FINITE,
    "interpreter_language": JSON_BAD_TEXT + JSON_WRONG_TYPES + JSON_NON_FINITE,
    "persons": JSON_BAD_NUMBERS + JSON_NON_FINITE + ["{}", "[]", '"1e0"'],
    "message": [SURROGATE, r'"\u200b\u202e"', r'"a\u0000b"', json.dumps("x" * 1001)]
    + JSON_WRONG_TYPES
    + JSON_NON_FINITE,
}


def booking_json(start: str, field: str | None = None, fragment: str | None = None) -> str:
    body = {
        "service": "beratung-1",
        "start": start,
        "name": "Ayşe Öztürk",
        "email": "ayse.hostile@example.org",
        "consent": True,
        "persons": 2,
    }
    parts = [json.dumps(k) + ":" + json.dumps(v) for k, v in body.items() if k != field]
    if field is not None:
        parts.append(json.dumps(field) + ":" + fragment)
    return "{" + ",".join(parts) + "}"


def test_every_booking_field_of_the_api(world, client):
    app = world["app"]
    tally = Tally("API POST /bookings fields", app)
    tally.start()
    for field, fragments in BOOKING_FIELDS.items():
        for fragment in fragments:
            response = client.post(
                "/api/v1/centres/herne/bookings",
                data=booking_json(world["free_start"], field, fragment),
                content_type="application/json",
            )
            tally.check(response, f"{field}={fragment[:40]}")
            if response.status_code == 422:
                errors = response.get_json().get("errors", {})
                if field not in errors:
                    tally.failures.append(f"{field}={fragment[:40]}: 422 names {list(errors)}")
    tally.finish()


WHOLE_BODIES = [
    DEEP,
    DEEP_OBJECT,
    "Infinity",
    "NaN",
    "[]",
    '"text"',
    "null",
    "{",
    '{"name": NaN}',
    '{"\\ud800": 1}',
    "\ufeff{}",
]


def test_whole_bodies_of_the_api(world, client):
    app = world["app"]
    tally = Tally("API whole bodies", app)
    token = world["booking"].token
    tally.start()
    for url in (
        "/api/v1/centres/herne/bookings",
        f"/api/v1/bookings/{token}/reschedule",
    ):
        for body in WHOLE_BODIES:
            response = client.post(url, data=body, content_type="application/json")
            tally.check(response, f"{url} {body[:20]!r}")
        for raw in (b"\xff\xfe{}", b'{"name": "\xed\xa0\x80"}', b"\x00" * 10):
            response = client.post(url, data=raw, content_type="application/json")
            tally.check(response, f"{url} {raw[:12]!r}")
    tally.finish()


def test_reschedule_start_of_the_api(world, client):
    app = world["app"]
    tally = Tally("API reschedule start", app)
    token = world["booking"].token
    tally.start()
    for fragment in JSON_BAD_START + JSON_BAD_TEXT + JSON_WRONG_TYPES + JSON_NON_FINITE:
        response = client.post(
            f"/api/v1/bookings/{token}/reschedule",
            data='{"start": ' + fragment + "}",
            content_type="application/json",
        )
        tally.check(response, f"start={fragment[:40]}")
    with app.app_context():
        assert (
            db.session.get(Booking, world["booking"].id)
            .start_at.isoformat()
            .startswith(str(world["monday"].year))
        )
    tally.finish()


SLOT_PARAMS = {
    "from": ["0001-01-01", "9999-12-31", "\ud800", "9" * 20, "2026-02-30", "Infinity", ""],
    "to": ["0001-01-01", "9999-12-31", "\ud800", "9" * 20, "2026-13-01", "NaN"],
    "service": ["\ud800", "\u200b", "x" * 5000, "unknown", ""],
    "language": ["\ud800", "\u200b\u202e", "x" * 5000, "a\x00"],
}


def test_query_strings_of_the_api(world, client):
    tally = Tally("API slots query strings", world["app"])
    monday = world["monday"].isoformat()
    for name, values in SLOT_PARAMS.items():
        for value in values:
            params = {"service": "beratung-1", "from": monday, "to": monday, name: value}
            response = client.get(
                "/api/v1/centres/herne/slots?" + urlencode(params, errors="surrogatepass")
            )
            tally.check(response, f"{name}={value[:20]!r}")
    for token in ("%ED%A0%80", "x" * 5000, "%00", "..%2F..%2Fetc"):
        tally.check(client.get(f"/api/v1/bookings/{token}"), f"token {token[:20]}")
        tally.check(client.post(f"/api/v1/bookings/{token}/cancel"), f"cancel {token[:20]}")
    tally.check(client.get("/api/v1/centres/%ED%A0%80/services"), "centre surrogate")
    tally.finish()


# --- Public pages --------------------------------------------------------------------


def test_every_field_of_the_public_booking_form(world, client):
    app = world["app"]
    tally = Tally("public booking form", app)
    url = f"/centres/herne/beratung-1/book?start={world['free_start'].replace('+', '%2B')}"
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    nonce = re.search(r'name="nonce"[^>]*value="([^"]+)"', html).group(1)
    base = {
        "csrf_token": csrf_from(html),
        "nonce": nonce,
        "start": world["free_start"],
        "name": "Ayşe Öztürk",
        "email": "ayse.form@example.org",
        "phone": "",
        "language": "",
        "interpreter_language": "",
        "persons": "1",
        "message": "",
        "consent": "y",
    }
    fields = {
        "name": FORM_BAD_TEXT + ["\u3000"],
        "email": FORM_BAD_TEXT + ["Ä@example.org", "\u3000"],
        "phone": FORM_BAD_TEXT + ["12abc"],
        "language": FORM_BAD_TEXT,
        "interpreter_language": FORM_BAD_TEXT,
        "persons": FORM_BAD_NUMBERS + ["0", "11"],
        "message": ["\ufffd", "\u200b\u202e", "a\x00b", "x" * 1001],
        "consent": ["", "no"],
    }
    tally.start()
    for field, values in fields.items():
        for value in values:
            response = post_form(client, url, {**base, field: value})
            tally.check(response, f"{field}={value[:20]!r}", html=True)
            if response.status_code == 200 or response.status_code == 422:
                shown = response.get_data(as_text=True)
                if f'id="{field}-error"' not in shown:
                    tally.failures.append(f"{field}={value[:20]!r}: no message at the field")
    for value in ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-12:00", "\ud800"]:
        page_url = "/centres/herne/beratung-1/book?" + urlencode(
            {"start": value}, errors="surrogatepass"
        )
        tally.check(client.get(page_url), f"GET start={value!r}", page=True)
        tally.check(
            post_form(client, page_url, {**base, "start": value}), f"start={value!r}", html=True
        )
    for week in ["0001-01-01", "9999-12-31", "\ud800", "9" * 20]:
        query = urlencode({"week": week, "language": "\ud800"}, errors="surrogatepass")
        tally.check(client.get(f"/centres/herne/beratung-1?{query}"), f"week={week!r}", page=True)
    tally.finish()


def test_cancel_and_move_forms(world, client):
    app = world["app"]
    tally = Tally("public cancel and move", app)
    token = world["booking"].token
    # The move page lists times as links; its confirmation and the cancel page hold a form.
    html = client.get(f"/b/{token}/cancel").get_data(as_text=True)
    csrf = csrf_from(html)
    tally.start()
    for value in FORM_BAD_DATETIMES + ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-12:00"]:
        response = post_form(client, f"/b/{token}/move", {"csrf_token": csrf, "start": value})
        tally.check(response, f"move start={value[:20]!r}", html=True)
    for week in FORM_BAD_DATES:
        query = urlencode({"week": week}, errors="surrogatepass")
        tally.check(client.get(f"/b/{token}/move?{query}"), f"move week={week!r}", page=True)
    for csrf_value in ["\ud800", "x" * 5000, ""]:
        response = post_form(client, f"/b/{token}/cancel", {"csrf_token": csrf_value})
        tally.check(response, f"cancel csrf={csrf_value[:10]!r}", html=True)
    with app.app_context():
        assert db.session.get(Booking, world["booking"].id).status == "confirmed"
    tally.finish()


# --- Staff ---------------------------------------------------------------------------


def test_sign_in_form(world, client):
    app = world["app"]
    tally = Tally("staff sign-in", app)
    csrf = csrf_from(client.get("/staff/login").get_data(as_text=True))
    tally.start()
    for field in ("email", "password"):
        for value in FORM_BAD_TEXT + ["Ä@example.org"]:
            data = {
                "csrf_token": csrf,
                "email": ADMIN,
                "password": "wrong-password-1",
                field: value,
            }
            response = post_form(client, "/staff/login", data)
            tally.check(response, f"{field}={value[:20]!r}", html=True)
    for nxt in ["/staff/\r\nSet-Cookie: a=b", "/\ud800", "//evil.example", "/staff/%0d%0a"]:
        query = urlencode({"next": nxt}, errors="surrogatepass")
        tally.check(client.get(f"/staff/login?{query}"), f"GET next={nxt!r}", page=True)
    # The right password with a next= holding CR/LF: refused or sent home, and no session
    # row is written for a sign-in that then fails.
    for nxt in ["/staff/\r\nSet-Cookie: a=b", "/staff/\nx", "/\u00e4", "/\\evil.example"]:
        fresh = app.test_client()
        # The owner signs in from another address than the hostile attempts above, which
        # the throttle makes wait (by design: the owner elsewhere is never locked out).
        fresh.environ_base["REMOTE_ADDR"] = "198.51.100.7"
        csrf = csrf_from(fresh.get("/staff/login").get_data(as_text=True))
        response = post_form(
            fresh,
            "/staff/login",
            {"csrf_token": csrf, "email": ADMIN, "password": "Sichere-Beratung-2026", "next": nxt},
        )
        tally.statuses[response.status_code] += 1
        assert response.status_code == 303, nxt
        location = response.headers["Location"]
        assert "\r" not in location and "\n" not in location and "evil" not in location
        assert location.endswith("/staff/")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StaffSession)) == 4
    tally.finish()


def test_lone_surrogate_in_a_form_arrives_as_text(world, client):
    """Werkzeug keeps %ED%A0%80 (not UTF-8) as that literal text: no surrogate gets in."""
    url = f"/centres/herne/beratung-1/book?start={world['free_start'].replace('+', '%2B')}"
    html = client.get(url).get_data(as_text=True)
    nonce = re.search(r'name="nonce"[^>]*value="([^"]+)"', html).group(1)
    data = {
        "csrf_token": csrf_from(html),
        "nonce": nonce,
        "start": world["free_start"],
        "name": "\ud800",
        "email": "ayse.form@example.org",
        "persons": "1",
        "consent": "y",
    }
    response = post_form(client, url, data)
    assert response.status_code == 303
    with world["app"].app_context():
        names = set(db.session.scalars(select(Booking.name)))
    assert "%ED%A0%80" in names


def test_staff_intake_form(world, sign_in):
    app = world["app"]
    tally = Tally("staff intake", app)
    client = signed_in(app, sign_in, RECEPTION)
    html = client.get("/staff/intake?service=beratung-1").get_data(as_text=True)
    nonce = re.search(r'name="nonce"[^>]*value="([^"]+)"', html).group(1)
    start = re.findall(r'type="radio" name="start" id="slot-\d+" value="([^"]+)"', html)[0]
    base = {
        "csrf_token": csrf_from(html),
        "nonce": nonce,
        "centre": "herne",
        "service": "beratung-1",
        "language": "",
        "start": start,
        "channel": "phone",
        "name": "Omar Nassar",
        "phone": "02325 123456",
        "email": "",
        "interpreter_language": "",
        "persons": "1",
        "message": "",
    }
    fields = {
        "name": FORM_BAD_TEXT + ["\u3000"],
        "phone": FORM_BAD_TEXT,
        "email": FORM_BAD_TEXT + ["Ä@example.org"],
        "interpreter_language": FORM_BAD_TEXT,
        "persons": FORM_BAD_NUMBERS,
        "message": ["\ufffd", "\u200b\u202e", "a\x00b", "x" * 1001],
        "start": FORM_BAD_DATETIMES + ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-12:00"],
        "channel": FORM_BAD_CHOICES,
        "service": FORM_BAD_CHOICES,
    }
    # centre and language are the list's selection, carried along in hidden fields: an
    # unknown value selects the user's own centre and no language, as on the GET.
    tally.start()
    for field, values in fields.items():
        for value in values:
            response = post_form(client, "/staff/intake", {**base, field: value})
            tally.check(response, f"{field}={value[:20]!r}", html=True)
    for name, value in [("service", "\ud800"), ("language", "\ud800"), ("centre", "\ud800")]:
        query = urlencode({"service": "beratung-1", name: value}, errors="surrogatepass")
        tally.check(client.get(f"/staff/intake?{query}"), f"GET {name}={value!r}", page=True)
    tally.finish()


def test_staff_calendar_and_audit_query_strings(world, sign_in):
    app = world["app"]
    tally = Tally("staff calendar and audit query strings", app)
    client = signed_in(app, sign_in, ADMIN)
    booking_id = world["booking"].id
    values = FORM_BAD_DATES + ["0001-01-02", "9999-12-30", "-5", ""]
    for view in ("day", "week", "\ud800"):
        for value in values:
            for extra in ({}, {"counsellor": "\ud800"}, {"counsellor": "9" * 20}):
                query = urlencode({"view": view, "date": value, **extra}, errors="surrogatepass")
                tally.check(client.get(f"/staff/calendar?{query}"), f"{view} {value!r}", page=True)
    for value in FORM_BAD_DATES:
        query = urlencode({"from": value}, errors="surrogatepass")
        tally.check(
            client.get(f"/staff/bookings/{booking_id}/move?{query}"),
            f"move from={value!r}",
            page=True,
        )
    for page in ["9" * 20, "-" + "9" * 20, "\ud800", "Infinity", "0", "-1"]:
        query = urlencode({"page": page}, errors="surrogatepass")
        tally.check(client.get(f"/staff/audit?{query}"), f"audit page={page!r}", page=True)
    for year in ["9" * 20, "\ud800", "0001", "9999", "-1"]:
        query = urlencode({"year": year}, errors="surrogatepass")
        tally.check(
            client.get(f"/admin/centres/herne/reports?{query}"), f"year={year!r}", page=True
        )
        tally.check(
            client.get(f"/admin/centres/herne/reports.csv?{query}"), f"csv {year!r}", page=True
        )
    tally.finish()


def test_staff_booking_actions(world, sign_in):
    app = world["app"]
    tally = Tally("staff booking actions", app)
    client = signed_in(app, sign_in, ADMIN)
    booking_id = world["booking"].id
    csrf = csrf_from(client.get(f"/staff/bookings/{booking_id}").get_data(as_text=True))
    tally.start()
    for value in FORM_BAD_DATETIMES + ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-12:00"]:
        response = post_form(
            client, f"/staff/bookings/{booking_id}/move", {"csrf_token": csrf, "start": value}
        )
        tally.check(response, f"move start={value[:20]!r}", html=True)
    for value in FORM_BAD_CHOICES:
        response = post_form(
            client,
            f"/staff/bookings/{booking_id}/attendance",
            {"csrf_token": csrf, "status": value},
        )
        tally.check(response, f"attendance={value!r}", html=True)
        response = post_form(
            client, f"/staff/bookings/{booking_id}/cancel", {"csrf_token": csrf, "confirm": value}
        )
        tally.check(response, f"cancel confirm={value!r}", html=True)
    tally.finish()


def test_absence_form(world, sign_in):
    app = world["app"]
    tally = Tally("staff absences", app)
    client = signed_in(app, sign_in, ADMIN)
    html = client.get("/staff/absences").get_data(as_text=True)
    monday = world["monday"]
    base = {
        "csrf_token": csrf_from(html),
        "centre": "herne",
        "counsellor": str(world["counsellor_id"]),
        "start": f"{monday.isoformat()}T12:00",
        "end": f"{monday.isoformat()}T13:00",
        "note": "",
    }
    fields = {
        "start": FORM_BAD_DATETIMES + ["0001-01-01T00:00:00", "9999-12-31T23:59:59"],
        "end": FORM_BAD_DATETIMES + ["9999-12-31T23:59:59", "0001-01-01T00:00"],
        "note": ["\ufffd", "\u200b\u202e", "a\x00b", "x" * 5000],
        "counsellor": FORM_BAD_CHOICES,
    }
    tally.start()
    for field, values in fields.items():
        for value in values:
            response = post_form(client, "/staff/absences", {**base, field: value})
            tally.check(response, f"{field}={value[:20]!r}", html=True)
    # Both ends at the far edges of the calendar at once.
    for start, end in [
        ("0001-01-01T00:00", "0001-01-01T01:00"),
        ("9999-12-31T22:00", "9999-12-31T23:59"),
    ]:
        response = post_form(client, "/staff/absences", {**base, "start": start, "end": end})
        tally.check(response, f"{start}..{end}", html=True)
    tally.finish()


# --- Admin ---------------------------------------------------------------------------


def admin_forms(world) -> list[tuple[str, str, dict, dict]]:
    """(name, url, valid base data, {field: bad values}) of every admin form."""
    centre = "/admin/centres/herne"
    service_id = world["service_ids"]["beratung-1"]
    counsellor_id = world["counsellor_id"]
    hours_fields = {
        "weekday": FORM_BAD_CHOICES + ["7"],
        "opens": FORM_BAD_TIMES,
        "closes": FORM_BAD_TIMES,
        "valid_from": FORM_BAD_DATES,
        "valid_until": FORM_BAD_DATES,
    }
    hours_base = {"weekday": "5", "opens": "09:00", "closes": "10:00"}
    return [
        ("hours", f"{centre}/hours", hours_base, hours_fields),
        (
            "closures",
            f"{centre}/closures",
            {"start_date": world["monday"].isoformat(), "reason": "Betriebsausflug"},
            {
                "start_date": FORM_BAD_DATES,
                "end_date": FORM_BAD_DATES,
                "start_time": FORM_BAD_TIMES,
                "end_time": FORM_BAD_TIMES,
                "reason": FORM_BAD_TEXT,
            },
        ),
        (
            "rules",
            f"{centre}/rules",
            {
                "min_notice_hours": "24",
                "horizon_days": "56",
                "slot_step_minutes": "30",
                "buffer_minutes": "0",
                "max_active_bookings_per_email": "3",
                "holiday_region": "DE-NW",
            },
            {
                "min_notice_hours": FORM_BAD_NUMBERS,
                "horizon_days": FORM_BAD_NUMBERS,
                "slot_step_minutes": FORM_BAD_NUMBERS,
                "buffer_minutes": FORM_BAD_NUMBERS,
                "max_active_bookings_per_email": FORM_BAD_NUMBERS,
                "holiday_region": FORM_BAD_TEXT,
            },
        ),
        (
            "new service",
            f"{centre}/services/new",
            {"slug": "neu", "name_de": "Neue Beratung", "duration_minutes": "30"},
            {
                "slug": FORM_BAD_TEXT,
                "name_de": FORM_BAD_TEXT + ["\u3000"],
                "name_en": FORM_BAD_TEXT,
                "duration_minutes": FORM_BAD_NUMBERS,
                "buffer_minutes": FORM_BAD_NUMBERS,
                "counsellors": FORM_BAD_CHOICES,
            },
        ),
        (
            "edit service",
            f"{centre}/services/{service_id}",
            {
                "slug": "beratung-1",
                "name_de": "Bildung",
                "duration_minutes": "45",
                "online_bookable": "y",
                "is_active": "y",
            },
            {
                "name_de": FORM_BAD_TEXT,
                "duration_minutes": FORM_BAD_NUMBERS,
                "buffer_minutes": FORM_BAD_NUMBERS,
            },
        ),
        (
            "new staff",
            f"{centre}/staff/new",
            {
                "name": "Neue Kollegin",
                "email": "neu@herne.example",
                "role": "counsellor",
                "languages": "de",
                "password": "Lange-Sichere-Beratung-2026",
            },
            {
                "name": FORM_BAD_TEXT + ["\u3000"],
                "email": FORM_BAD_TEXT + ["Ä@herne.example"],
                "role": FORM_BAD_CHOICES,
                "languages": FORM_BAD_TEXT,
                "services": FORM_BAD_CHOICES,
                "password": ["\ufffd", "x" * 5000, "\u200b" * 12],
            },
        ),
        (
            "edit staff",
            f"{centre}/staff/{counsellor_id}",
            {"name": "Cem Berater", "languages": "de"},
            {
                "name": FORM_BAD_TEXT,
                "languages": FORM_BAD_TEXT,
                "services": FORM_BAD_CHOICES,
            },
        ),
        ("staff hours", f"{centre}/staff/{counsellor_id}/hours", hours_base, hours_fields),
    ]


def test_every_field_of_the_admin_forms(world, sign_in):
    app = world["app"]
    tally = Tally("admin forms", app)
    client = signed_in(app, sign_in, ADMIN)
    csrf = csrf_from(client.get("/admin/").get_data(as_text=True))
    tally.start()
    for name, url, base, fields in admin_forms(world):
        for field, values in fields.items():
            for value in values:
                response = post_form(client, url, {"csrf_token": csrf, **base, field: value})
                tally.check(response, f"{name} {field}={value[:20]!r}", html=True)
    tally.finish()


def test_an_unexpected_error_is_logged_without_its_text(app, client, caplog):
    """The text of an error can hold what a person typed; the log gets class and place."""

    from flask import request

    def boom():
        raise RuntimeError(f"could not send to {request.args['to']}")

    app.add_url_rule("/api/v1/boom", "boom", boom)
    with caplog.at_level("ERROR"):
        response = client.get(
            "/api/v1/boom", query_string={"to": "ayse.private@example.org (Ayşe Öztürk)"}
        )
    assert response.status_code == 500 and response.mimetype == PROBLEM
    logged = caplog.text
    assert "RuntimeError" in logged and "boom" in logged
    assert "ayse.private" not in logged and "Öztürk" not in logged
    assert "ayse.private" not in response.get_data(as_text=True)


# --- Events and invitations ----------------------------------------------------------


def herne_event_id(app) -> int:
    """The demo's training at Herne (for professionals: its form asks for an organisation)."""
    with app.app_context():
        return db.session.scalar(
            select(Event.id).where(Event.audience == "professionals").order_by(Event.id)
        )


REGISTRATION_FIELDS = {
    "name": FORM_BAD_TEXT + FORM_BAD_LINE + ["\u3000", "x" * 201],
    "email": FORM_BAD_TEXT + FORM_BAD_LINE + ["Ä@example.org", "\u3000", "a@b@example.org"],
    "phone": FORM_BAD_TEXT + FORM_BAD_LINE + ["12abc"],
    "organisation": FORM_BAD_TEXT + FORM_BAD_LINE + ["x" * 201],
    "language": FORM_BAD_TEXT + FORM_BAD_LINE + ["<script>"],
    "persons": FORM_BAD_NUMBERS + ["0", "11", "x", "1 2"],
}


def registration_base(html: str) -> dict:
    return {
        "csrf_token": csrf_from(html),
        "name": "Ayşe Öztürk",
        "email": "ayse.event@example.org",
        "phone": "",
        "organisation": "",
        "language": "",
        "persons": "1",
        "consent": "y",
    }


def test_every_field_of_the_event_registration_form(world, client):
    app = world["app"]
    tally = Tally("public event registration form", app)
    url = f"/centres/herne/events/{herne_event_id(app)}"
    base = registration_base(client.get(url).get_data(as_text=True))
    tally.start()
    for field, values in {**REGISTRATION_FIELDS, "consent": ["", "no", "\ud800"]}.items():
        for value in values:
            response = post_form(client, url, {**base, field: value})
            tally.check(response, f"{field}={value[:20]!r}", html=True)
            shown = response.get_data(as_text=True)
            if response.status_code in (200, 422) and f'id="{field}-error"' not in shown:
                tally.failures.append(f"{field}={value[:20]!r}: no message at the field")
    for csrf_value in ["\ud800", "x" * 5000, ""]:
        response = post_form(client, url, {**base, "csrf_token": csrf_value})
        tally.check(response, f"csrf={csrf_value[:10]!r}", html=True)
        if response.status_code != 400:
            tally.failures.append(f"csrf={csrf_value[:10]!r}: {response.status_code}, not 400")
    without = {k: v for k, v in base.items() if k != "csrf_token"}
    tally.check(post_form(client, url, without), "no csrf", html=True)
    for event_id in ("9" * 20, "-1", "%ED%A0%80"):
        tally.check(client.get(f"/centres/herne/events/{event_id}"), f"event {event_id}", page=True)
    tally.finish()


def test_html_in_a_registration_is_kept_as_text_and_escaped(world, client):
    """Names may hold any printable character: kept, and never markup where shown."""
    app = world["app"]
    url = f"/centres/herne/events/{herne_event_id(app)}"
    base = registration_base(client.get(url).get_data(as_text=True))
    name = '<script>alert("x")</script> & Ayşe'
    response = post_form(client, url, {**base, "name": name, "organisation": "<b>Schule</b>"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Ayşe" in page
    with app.app_context():
        assert db.session.scalar(select(Registration.name)) == name


EVENT_LIST_QUERIES = {
    "from": FORM_BAD_DATES + ["2026-02-30", "", "x" * 5000],
    "to": FORM_BAD_DATES + ["2026-13-01", "\u202e"],
    "audience": ["\ud800", "x" * 5000, "everyone"],
    "lang": ["\ud800", "x" * 5000, "ar\n"],
    "page": ["\ud800", "9" * 20, "-1", "0", "Infinity", "٣"],
}


def test_query_strings_of_the_event_lists(world, client):
    tally = Tally("event list query strings", world["app"])
    for url in ("/events", "/centres/herne/events", "/api/v1/centres/herne/events"):
        for name, values in EVENT_LIST_QUERIES.items():
            for value in values:
                query = urlencode({name: value}, errors="surrogatepass")
                tally.check(client.get(f"{url}?{query}"), f"{url} {name}={value[:20]!r}", page=True)
    tally.finish()


def test_the_invitation_answer_form(world, client, runner):
    app = world["app"]
    tally = Tally("invitation answer form", app)
    result = runner.invoke(
        args=[
            *("invite", "--centre", "herne", "--service", "beratung-4"),
            *("--name", "Familie Haddad", "--email", "haddad.hostile@example.org"),
            *("--language", "ar"),
        ]
    )
    assert result.exit_code == 0, result.output
    token = re.search(r"/i/([A-Za-z0-9_-]{40,})", result.output).group(1)
    week = client.get(f"/i/{token}?lang=de").get_data(as_text=True)
    start = re.findall(r'<time datetime="([^"]+)"', week)[0]
    confirm = client.get(f"/i/{token}", query_string={"start": start}).get_data(as_text=True)
    base = {"csrf_token": csrf_from(confirm), "start": start, "consent": "y"}
    tally.start()
    fields = {
        "start": FORM_BAD_DATETIMES
        + ["0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59-12:00", "2026-02-30T10:00:00+01:00"],
        "consent": ["", "no", "\ud800", "x" * 5000],
        "csrf_token": ["\ud800", "x" * 5000, ""],
    }
    for field, values in fields.items():
        for value in values:
            response = post_form(client, f"/i/{token}", {**base, field: value})
            tally.check(response, f"{field}={value[:20]!r}", html=True)
    tally.check(
        post_form(client, f"/i/{token}", {k: v for k, v in base.items() if k != "csrf_token"}),
        "no csrf",
        html=True,
    )
    for value in FORM_BAD_DATETIMES + FORM_BAD_DATES:
        query = urlencode({"start": value, "week": value}, errors="surrogatepass")
        tally.check(client.get(f"/i/{token}?{query}"), f"GET {value[:20]!r}", page=True)
    with app.app_context():
        assert invitations_open(token)
    tally.finish()


def invitations_open(token: str) -> bool:
    from booking import invitations

    return invitations.find_by_token(token).used_at is None


def test_staff_caller_registration(world, sign_in):
    app = world["app"]
    tally = Tally("staff caller registration", app)
    client = signed_in(app, sign_in, RECEPTION)
    url = f"/staff/events/{herne_event_id(app)}/register"
    html = client.get(url).get_data(as_text=True)
    base = {
        "csrf_token": csrf_from(html),
        "name": "Omar Nassar",
        "phone": "02325 123456",
        "email": "",
        "organisation": "",
        "language": "",
        "persons": "1",
        "channel": "phone",
    }
    tally.start()
    # The address is optional here: a blank one (U+3000 is a space) registers without.
    fields = {
        **REGISTRATION_FIELDS,
        "email": [v for v in REGISTRATION_FIELDS["email"] if v != "\u3000"],
        "channel": FORM_BAD_CHOICES,
    }
    for field, values in fields.items():
        for value in values:
            response = post_form(client, url, {**base, field: value})
            tally.check(response, f"{field}={value[:20]!r}", html=True)
    for csrf_value in ["\ud800", "x" * 5000, ""]:
        response = post_form(client, url, {**base, "csrf_token": csrf_value})
        tally.check(response, f"csrf={csrf_value[:10]!r}", html=True)
    tally.finish()


def event_form_base(world) -> dict:
    return {
        "title_de": "Elterncafé",
        "audience": "families",
        "date": world["monday"].isoformat(),
        "starts": "15:00",
        "ends": "16:30",
        "seats": "12",
        "has_waiting_list": "y",
        "closes_hours": "24",
        "languages": "de",
    }


EVENT_FIELDS = {
    "title_de": FORM_BAD_TEXT + FORM_BAD_LINE + ["\u3000", "", "x" * 201],
    "title_ar": FORM_BAD_TEXT + FORM_BAD_LINE,
    "title_de_easy": FORM_BAD_LINE,
    "description_de": ["\ufffd", "\u200b\u202e", "a\x00b", "x" * 2001],
    "description_tr": ["\ufffd", "a\x00b", "x" * 2001],
    "place": FORM_BAD_TEXT + FORM_BAD_LINE,
    "audience": FORM_BAD_CHOICES + ["", "staff"],
    "date": FORM_BAD_DATES,
    "starts": FORM_BAD_TIMES,
    "ends": FORM_BAD_TIMES + ["14:00"],
    "seats": FORM_BAD_NUMBERS + ["0", "501"],
    "closes_hours": FORM_BAD_NUMBERS,
    "leaders": FORM_BAD_CHOICES,
    "languages": FORM_BAD_TEXT + FORM_BAD_LINE + ["xx", "<script>"],
}


def test_every_field_of_the_admin_event_and_series_forms(world, sign_in):
    app = world["app"]
    tally = Tally("admin event and series forms", app)
    client = signed_in(app, sign_in, ADMIN)
    csrf = csrf_from(client.get("/admin/centres/herne/events/new").get_data(as_text=True))
    base = {"csrf_token": csrf, **event_form_base(world)}
    series = {**base, "repeat": "weekly", "count": "6"}
    edit_url = f"/admin/centres/herne/events/{herne_event_id(app)}"
    tally.start()
    for url, data, fields in (
        ("/admin/centres/herne/events/new", base, EVENT_FIELDS),
        (
            "/admin/centres/herne/events/new",
            series,
            {
                **EVENT_FIELDS,
                "repeat": FORM_BAD_CHOICES + ["daily"],
                "count": FORM_BAD_NUMBERS + ["1", "53", ""],
            },
        ),
        (edit_url, {**base, "title_de": "Fortbildung"}, EVENT_FIELDS),
    ):
        for field, values in fields.items():
            for value in values:
                response = post_form(client, url, {**data, field: value})
                tally.check(response, f"{url} {field}={value[:20]!r}", html=True)
                if response.status_code in (200, 422):
                    shown = response.get_data(as_text=True)
                    if f'id="{field}-error"' not in shown and "message-error" not in shown:
                        tally.failures.append(f"{field}={value[:20]!r}: no message at the field")
        for csrf_value in ["\ud800", "x" * 5000, ""]:
            response = post_form(client, url, {**data, "csrf_token": csrf_value})
            tally.check(response, f"{url} csrf={csrf_value[:10]!r}", html=True)
    tally.finish()


def test_the_admin_legal_page(world, sign_in):
    app = world["app"]
    tally = Tally("admin legal page", app)
    client = signed_in(app, sign_in, ADMIN)
    url = "/admin/centres/herne/legal"
    base = {
        "csrf_token": csrf_from(client.get(url).get_data(as_text=True)),
        "legal_operator": "Stadt Herne",
        "responsible_person": "Erika Muster",
        "contact_email": "",
        "accessibility_contact": "",
        "privacy_officer_contact": "",
        "visiting_address": "",
    }
    fields = {
        "legal_operator": ["\ufffd", "a\x00b", "x" * 5000],
        "responsible_person": FORM_BAD_TEXT + FORM_BAD_LINE,
        "contact_email": FORM_BAD_TEXT + FORM_BAD_LINE,
        "accessibility_contact": FORM_BAD_TEXT + FORM_BAD_LINE,
        "privacy_officer_contact": FORM_BAD_TEXT + FORM_BAD_LINE,
        "visiting_address": FORM_BAD_TEXT + FORM_BAD_LINE,
    }
    tally.start()
    for field, values in fields.items():
        for value in values:
            response = post_form(client, url, {**base, field: value})
            tally.check(response, f"{field}={value[:20]!r}", html=True)
            if response.status_code != 422 or f'id="{field}-error"' not in response.get_data(
                as_text=True
            ):
                tally.failures.append(f"{field}={value[:20]!r}: {response.status_code}, no message")
    tally.finish()
