"""GET /api/v1/centres, /services, /slots as SPEC "JSON API" says, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from tests.helpers import berlin_today, local, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

PROBLEM = "application/problem+json"


def test_centres_lists_both_demo_centres_with_hours(seeded, client):
    response = client.get("/api/v1/centres")
    assert response.status_code == 200
    centres = {c["slug"]: c for c in response.get_json()}
    assert set(centres) == {"herne", "kreis-heinsberg"}
    herne = centres["herne"]
    assert herne["name"] == "Kommunales Integrationszentrum Herne"
    assert herne["address"] == "Rademachers Weg 15, 44649 Herne"
    assert herne["phone"] == "02325 6589-313"
    assert herne["timezone"] == "Europe/Berlin"
    assert "@" in herne["email"]
    assert {"weekday": 4, "opens": "08:00", "closes": "13:00"} in herne["opening_hours"]
    assert {"weekday": 0, "opens": "08:00", "closes": "16:00"} in herne["opening_hours"]
    heinsberg_tuesday = [
        h for h in centres["kreis-heinsberg"]["opening_hours"] if h["weekday"] == 1
    ]
    assert heinsberg_tuesday == [
        {"weekday": 1, "opens": "08:30", "closes": "12:00"},
        {"weekday": 1, "opens": "14:00", "closes": "17:00"},
    ]


def test_services_of_a_centre(seeded, client):
    response = client.get("/api/v1/centres/herne/services")
    assert response.status_code == 200
    services = {s["slug"]: s for s in response.get_json()}
    assert set(services) == {"beratung-1", "beratung-2", "beratung-3", "beratung-4", "beratung-5"}
    assert services["beratung-2"] == {
        "slug": "beratung-2",
        "name": "Beratung zu Erziehungsfragen und psychosozialen Konflikten",
        "duration_minutes": 60,
        "online_bookable": True,
    }
    assert services["beratung-1"]["duration_minutes"] == 45


def test_services_name_follows_accept_language(seeded, client):
    response = client.get("/api/v1/centres/herne/services", headers={"Accept-Language": "en"})
    names = {s["slug"]: s["name"] for s in response.get_json()}
    assert names["beratung-2"] == "Advice on upbringing and psychosocial conflicts"


def test_unknown_centre_is_a_404_problem(seeded, client):
    for url in ("/api/v1/centres/nowhere/services", "/api/v1/centres/nowhere/slots?service=x"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.mimetype == PROBLEM
        body = response.get_json()
        assert body["status"] == 404 and body["title"] and body["detail"] and body["type"]


def slots(client, centre, service, day_from, day_to, **extra):
    query = {"service": service, "from": day_from.isoformat(), "to": day_to.isoformat(), **extra}
    return client.get(f"/api/v1/centres/{centre}/slots", query_string=query)


def test_herne_friday_slots_end_by_13(seeded, client):
    friday = next_working_day(4)
    response = slots(client, "herne", "beratung-2", friday, friday)
    assert response.status_code == 200
    body = response.get_json()
    assert body["timezone"] == "Europe/Berlin"
    starts = [local(s["start"]) for s in body["slots"]]
    ends = [local(s["end"]) for s in body["slots"]]
    assert starts, "a Herne Friday has free slots"
    assert min(starts).time() == time(8, 0)
    assert max(ends).time() == time(13, 0)
    assert all(e - s == timedelta(minutes=60) for s, e in zip(starts, ends, strict=True))
    # On the 30-minute grid: 08:00, 08:30, ... 12:00
    assert [s.strftime("%H:%M") for s in starts][:3] == ["08:00", "08:30", "09:00"]
    assert len(starts) == 9


def test_heinsberg_tuesday_has_a_morning_and_an_afternoon_block(seeded, client):
    tuesday = next_working_day(1)
    body = slots(client, "kreis-heinsberg", "beratung-1", tuesday, tuesday).get_json()
    times = [local(s["start"]).strftime("%H:%M") for s in body["slots"]]
    morning = [t for t in times if t < "12:00"]
    afternoon = [t for t in times if t >= "14:00"]
    assert morning[0] == "08:30" and morning[-1] == "11:00"  # 45 min must end by 12:00
    assert afternoon[0] == "14:00" and afternoon[-1] == "16:00"
    assert set(times) == set(morning) | set(afternoon)


def test_slot_times_carry_an_offset(seeded, client):
    monday = next_working_day(0)
    body = slots(client, "herne", "beratung-1", monday, monday).get_json()
    assert body["slots"][0]["start"].endswith(("+01:00", "+02:00"))


def test_language_filter_and_unknown_language_gives_empty_list(seeded, client):
    monday = next_working_day(0)
    all_slots = slots(client, "herne", "beratung-3", monday, monday).get_json()["slots"]
    arabic = slots(client, "herne", "beratung-3", monday, monday, language="ar").get_json()["slots"]
    nobody = slots(client, "herne", "beratung-3", monday, monday, language="ja").get_json()
    assert arabic and len(arabic) <= len(all_slots)
    assert nobody["slots"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "2030-01-01", "to": "2030-01-02"}, "service"),
        ({"service": "beratung-1", "from": "01.01.2030", "to": "2030-01-02"}, "from"),
        ({"service": "beratung-1", "from": "2030-01-01", "to": "2030-13-02"}, "to"),
        ({"service": "beratung-1", "to": "2030-01-02"}, "from"),
        ({"service": "beratung-1", "from": "2030-01-05", "to": "2030-01-02"}, "to"),
        ({"service": "beratung-1", "from": "2030-01-01", "to": "2030-04-04"}, "to"),
        (
            {"service": "beratung-1", "from": "2030-01-01", "to": "2030-01-02", "language": "?!"},
            "language",
        ),
    ],
)
def test_invalid_slot_queries_are_422_naming_the_field(seeded, client, query, field):
    response = client.get("/api/v1/centres/herne/slots", query_string=query)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert field in body["errors"]
    assert all(isinstance(m, str) and m for m in body["errors"][field])


def test_range_of_exactly_92_days_is_allowed(seeded, client):
    today = berlin_today()
    response = slots(client, "herne", "beratung-1", today, today + timedelta(days=92))
    assert response.status_code == 200


def test_unknown_service_is_404(seeded, client):
    today = berlin_today()
    response = slots(client, "herne", "astrologie", today, today)
    assert response.status_code == 404
    assert response.mimetype == PROBLEM


def test_slots_past_the_horizon_are_not_offered(seeded, client):
    today = berlin_today()
    body = slots(client, "herne", "beratung-1", today, today + timedelta(days=90)).get_json()
    last = max(local(s["start"]).date() for s in body["slots"])
    assert last <= today + timedelta(days=56)
    first = min(local(s["start"]) for s in body["slots"])
    assert first.date() > today  # 24 h minimum notice


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/api/v1/nothing-here", 404),
        ("DELETE", "/api/v1/centres", 405),
        ("PUT", "/api/v1/centres/herne/services", 405),
    ],
)
def test_framework_errors_are_problem_json(seeded, client, method, url, status):
    response = client.open(url, method=method)
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()


def test_api_sets_no_cookie(seeded, client):
    response = client.get("/api/v1/centres?lang=en")
    assert "Set-Cookie" not in response.headers


def test_slot_query_count_is_bounded(seeded, client):
    # A fixed number of queries whatever the range: no query per day or counsellor. (With
    # the cache off: with it, the second search would find the centre and counsellors kept.)
    seeded.config["AVAILABILITY_CACHE"] = False
    today = berlin_today()
    short = slots(client, "herne", "beratung-1", today, today)
    long = slots(client, "herne", "beratung-1", today, today + timedelta(days=60))
    assert int(short.headers["X-Query-Count"]) == int(long.headers["X-Query-Count"])
    assert int(long.headers["X-Query-Count"]) <= 10


def test_a_services_own_buffer_wins_over_the_centres(app, client, make_centre):
    """Buffers through the app: the centre's 30 minutes apply to "long" (no buffer of its
    own); "short" has its own 0 and ignores the centre's."""
    from sqlalchemy import select

    from booking.extensions import db
    from booking.models import Service
    from tests.helpers import at, booking_payload

    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre(buffer_minutes=30)
    with app.app_context():
        short = db.session.scalar(select(Service).where(Service.slug == "short"))
        short.buffer_minutes = 0
        db.session.commit()
    monday = next_working_day(0)
    booked = client.post("/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10)))
    assert booked.status_code == 201  # 10:00-10:45, the only counsellor

    def starts(service: str) -> set[str]:
        response = client.get(
            "/api/v1/centres/test/slots",
            query_string={"service": service, "from": monday, "to": monday},
        )
        assert response.status_code == 200
        return {local(s["start"]).strftime("%H:%M") for s in response.get_json()["slots"]}

    short_starts, long_starts = starts("short"), starts("long")
    # short, buffer 0: right before and right after the booking.
    assert {"09:00", "11:00"} <= short_starts and "09:30" not in short_starts
    # long, the centre's buffer 30: the booking blocks 09:30-11:15.
    assert {"08:30", "11:30"} <= long_starts
    assert not {"09:00", "10:30", "11:00"} & long_starts
