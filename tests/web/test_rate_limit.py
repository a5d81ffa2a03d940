"""The API is rate-limited, in memory or shared through Redis when several processes serve."""

from __future__ import annotations

import pytest
import redis

from booking import create_app
from booking.config import TestConfig


def limited_app(database_url, tmp_path, storage: str, **limits):
    return create_app(
        TestConfig,
        instance_path=str(tmp_path / "instance"),
        SQLALCHEMY_DATABASE_URI=database_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=storage,
        **({"API_RATELIMIT": "3 per minute"} | limits),
    )


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_api_answers_429_problem_when_the_limit_is_reached(
    database_url, tmp_path, storage, request
):
    uri = "memory://" if storage == "memory" else request.getfixturevalue("redis_url")
    app = limited_app(database_url, tmp_path, uri)
    client = app.test_client()
    statuses = [client.get("/api/v1/centres").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = client.get("/api/v1/centres")
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 429
    assert "Retry-After" in response.headers or "X-RateLimit-Reset" in response.headers


def test_redis_holds_the_counters_so_workers_share_them(database_url, tmp_path, redis_url):
    app = limited_app(database_url, tmp_path, redis_url)
    assert app.test_client().get("/api/v1/centres").status_code == 200
    keys = redis.Redis.from_url(redis_url).keys("*")
    assert keys, "the rate-limit counter is kept in Redis, where every worker sees it"


def test_the_api_booking_limit_is_a_setting(database_url, tmp_path):
    app = limited_app(
        database_url,
        tmp_path,
        "memory://",
        API_RATELIMIT="120 per minute",
        API_BOOKING_RATELIMIT="2 per minute",
    )
    client = app.test_client()
    # The limit is counted before the token is looked up: unknown tokens count too.
    statuses = [client.post("/api/v1/bookings/unknown/cancel").status_code for _ in range(3)]
    assert statuses == [404, 404, 429]


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("de", "höchstens 5 Anfragen in 1 Minute"),
        ("ar", "دقيقة"),
        ("tr", "en fazla 5 istek"),
    ],
)
def test_the_too_many_requests_page_says_the_limit_in_its_language(
    database_url, tmp_path, lang, words
):
    from tests.conftest import csrf_from

    app = limited_app(database_url, tmp_path, "memory://")
    client = app.test_client()
    token = csrf_from(client.get(f"/find?lang={lang}").get_data(as_text=True))
    # Each a reference and an address of its own: the limit per client is the one met.
    forms = [
        {"csrf_token": token, "reference": f"ABCD-{c * 4}", "email": f"{c}@example.org"}
        for c in "EFGHJK"
    ]
    statuses = [client.post("/find", data=data).status_code for data in forms]
    assert statuses[-1] == 429 and 429 not in statuses[:-1], statuses
    page = client.post("/find", data=forms[0]).get_data(as_text=True)
    assert words in page, page
    assert "per 1 minute" not in page


def test_new_bookings_per_address_are_capped_over_the_api_and_the_form(database_url, tmp_path):
    """Slot hoarding: one count per client address for every online booking, API and form
    together; another address books on."""
    from tests.conftest import csrf_from

    app = limited_app(
        database_url,
        tmp_path,
        "memory://",
        API_RATELIMIT="1000 per minute",
        API_BOOKING_RATELIMIT="1000 per minute",
        NEW_BOOKINGS_PER_ADDRESS="3 per day",
    )
    client = app.test_client()
    hoarder = {"REMOTE_ADDR": "2001:db8:5::1"}
    statuses = [
        client.post("/api/v1/centres/nowhere/bookings", json={}, environ_base=hoarder).status_code
        for _ in range(2)
    ]
    token = csrf_from(client.get("/find", environ_base=hoarder).get_data(as_text=True))
    form = {"csrf_token": token}
    book = "/centres/nowhere/beratung-1/book"
    statuses.append(client.post(book, data=form, environ_base=hoarder).status_code)
    # The fourth, from another address of the same /64, by form or API: refused.
    other_host = {"REMOTE_ADDR": "2001:db8:5::99"}
    refused = client.post(book, data=form, environ_base=other_host)
    api_refused = client.post("/api/v1/centres/nowhere/bookings", json={}, environ_base=hoarder)
    assert 429 not in statuses, statuses
    assert refused.status_code == api_refused.status_code == 429
    # Another client is not affected.
    elsewhere = client.post(
        "/api/v1/centres/nowhere/bookings", json={}, environ_base={"REMOTE_ADDR": "192.0.2.5"}
    )
    assert elsewhere.status_code != 429


def test_find_is_limited_per_reference_and_per_address_across_clients(database_url, tmp_path):
    from tests.conftest import csrf_from

    app = limited_app(database_url, tmp_path, "memory://")
    client = app.test_client()
    token = csrf_from(client.get("/find").get_data(as_text=True))

    def find(reference: str, email: str, client_address: str) -> int:
        data = {"csrf_token": token, "reference": reference, "email": email}
        return client.post("/find", data=data, environ_base={"REMOTE_ADDR": client_address})

    # One reference guessed from many addresses: the fourth within the hour is refused,
    # however it is spelled.
    spellings = ("ABCD-EFGH", "abcd efgh", "ABCDEFGH", "abcd-efgh")
    codes = [
        find(ref, f"guess{i}@example.org", f"198.51.100.{i}").status_code
        for i, ref in enumerate(spellings)
    ]
    assert codes == [200, 200, 200, 429], codes
    # One address mailed again and again, with other references, from other clients.
    codes = [
        find(f"WXYZ-{c * 4}", "family@example.org", f"203.0.113.{n}").status_code
        for n, c in enumerate("ABCD")
    ]
    assert codes == [200, 200, 200, 429], codes
    # Neither the reference nor the address is a key of the limits' storage.
    from booking.extensions import limiter

    with app.app_context():
        storage = repr(limiter.storage.storage)
    assert "find-email:" in storage
    assert "family@example.org" not in storage and "ABCDEFGH" not in storage
