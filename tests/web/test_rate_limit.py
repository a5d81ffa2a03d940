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
    data = {"csrf_token": token, "reference": "ABCD-EFGH", "email": "a@example.org"}
    statuses = [client.post("/find", data=data).status_code for _ in range(6)]
    assert statuses[-1] == 429 and 429 not in statuses[:-1], statuses
    page = client.post("/find", data=data).get_data(as_text=True)
    assert words in page, page
    assert "per 1 minute" not in page
