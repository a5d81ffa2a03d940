"""A database that cannot be reached (restarting, down) is a 503 asking to retry, not a 500,
and the outbox worker outlives it."""

from __future__ import annotations

import pytest

from booking import create_app, outbox
from booking.config import TestConfig
from booking.errors import DATABASE_RETRY_AFTER
from tests.helpers import free_port


@pytest.fixture
def unreachable_app(tmp_path):
    # Nothing listens on this port: every connection attempt is refused at once.
    return create_app(
        TestConfig,
        instance_path=str(tmp_path / "instance"),
        SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none",
    )


def test_a_page_is_a_503_with_retry_after(unreachable_app):
    response = unreachable_app.test_client().get("/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(DATABASE_RETRY_AFTER)
    assert response.mimetype == "text/html"
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_staff_page_with_a_session_is_a_503(unreachable_app):
    client = unreachable_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "a-session-token"  # the account would be read from the database
    response = client.get("/staff/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(DATABASE_RETRY_AFTER)


def test_the_api_is_a_503_problem(unreachable_app):
    response = unreachable_app.test_client().get("/api/v1/centres")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 503
    assert response.headers["Retry-After"] == str(DATABASE_RETRY_AFTER)


def test_the_outbox_worker_keeps_running_while_the_database_is_away(unreachable_app):
    with unreachable_app.app_context():
        # Two rounds that both fail to reach the database return instead of raising.
        outbox.work(unreachable_app, poll_seconds=0, max_rounds=2)
