"""`flask --app wsgi check` names what is missing or unsafe, and fails until nothing is."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from booking import create_app, outbox
from booking.config import TestConfig
from booking.extensions import db
from booking.models import utcnow
from tests.helpers import Inbox, free_port

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 64


def check(app, *args, env=None):
    return app.test_cli_runner().invoke(args=["check", *args], env=env)


def production_app(tmp_path, database_url, redis_url, **over):
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": GOOD_KEY,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": redis_url,
        "MAIL_SERVER": "smtp.example.org",
        "PREFERRED_URL_SCHEME": "https",
        "SERVER_NAME": "termine.example.org",
        "TRUSTED_PROXIES": 1,
    }
    settings.update(over)
    return create_app(TestConfig, instance_path=str(tmp_path / "instance"), **settings)


def test_a_development_setup_is_not_ready(app, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app.config.update(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    result = check(app, "--workers", "4")
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("UNSAFE")]
    text = "\n".join(lines)
    for expected in (
        "SECRET_KEY is not set in the environment",
        "SQLite",
        "with 4 workers",
        "Rate limits are kept in memory with 4 workers",
        "MAIL_SERVER is not set",
        "PREFERRED_URL_SCHEME is not https",
        "SERVER_NAME is not set",
    ):
        assert expected in text, (expected, result.output)
    assert result.output.rstrip().endswith("not ready for production.")


def test_one_worker_on_sqlite_with_memory_limits_is_no_problem_of_its_own(app, monkeypatch):
    app.config.update(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    result = check(app, "--workers", "1")
    unsafe = [line for line in result.output.splitlines() if line.startswith("UNSAFE")]
    assert not any("SQLite" in line or "in memory" in line for line in unsafe), result.output


def test_workers_are_read_from_the_gunicorn_config(app):
    config = ROOT / "deploy" / "gunicorn.conf.py"
    result = check(app, "--gunicorn-config", str(config), env={"WEB_CONCURRENCY": "3"})
    assert "OK      3 gunicorn worker(s)." in result.output, result.output
    assert "SQLite" in result.output and "with 3 workers" in result.output


def test_unreachable_database_and_redis_are_unsafe(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    app = production_app(
        tmp_path,
        "postgresql+psycopg://ki:geheim@127.0.0.1:1/ki",
        "redis://127.0.0.1:1/0",
    )
    result = check(app, "--workers", "2")
    assert result.exit_code == 1
    assert "UNSAFE  The database postgresql+psycopg://ki:***@127.0.0.1:1/ki is unreachable" in (
        result.output
    )
    assert "geheim" not in result.output
    assert "UNSAFE  The rate-limit storage (redis) is unreachable." in result.output


@pytest.fixture
def mail_server():
    """A real SMTP server (aiosmtpd) on a free port; yields the port."""
    controller = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port
    controller.stop()


def worker_beats(app, ago: timedelta = timedelta(0)) -> None:
    """An `outbox work` process went round its loop ``ago``."""
    with app.app_context():
        outbox.beat("mail-host:4242", utcnow() - ago)


@pytest.mark.backends("pg")
def test_a_production_setup_passes(tmp_path, database_url, redis_url, monkeypatch, mail_server):
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    app = production_app(
        tmp_path, database_url, redis_url, MAIL_SERVER="127.0.0.1", MAIL_PORT=mail_server
    )
    worker_beats(app)
    result = check(app, "--workers", "4")
    with app.app_context():
        db.engine.dispose()  # this app's own pool: closed now, not when collected
    assert result.exit_code == 0, result.output
    assert "UNSAFE" not in result.output
    assert "answers and is migrated" in result.output
    assert "Rate limits are shared through redis" in result.output
    assert result.output.rstrip().endswith("Ready for production.")


def test_a_short_secret_key_is_unsafe(app, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "short")
    app.config["SECRET_KEY"] = "short"
    result = check(app)
    assert "UNSAFE  SECRET_KEY has fewer than 32 characters." in result.output


def test_a_missing_sqlite_file_is_named_not_created(tmp_path):
    missing = tmp_path / "nowhere.sqlite"
    app = create_app(
        TestConfig,
        instance_path=str(tmp_path / "instance"),
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{missing}",
    )
    result = check(app)
    assert f"UNSAFE  The database sqlite:///{missing} does not exist" in result.output
    assert not missing.exists()


def unsafe_lines(result) -> str:
    return "\n".join(line for line in result.output.splitlines() if line.startswith("UNSAFE"))


@pytest.mark.backends("sqlite", "pg")
def test_a_mail_server_that_does_not_answer_is_unsafe(app, mail_server):
    worker_beats(app)
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())  # nothing listens
    result = check(app)
    assert result.exit_code == 1
    assert "The mail server 127.0.0.1:" in unsafe_lines(result), result.output
    # TLS asked of a server that offers none (a local relay): unsafe too, and said why.
    app.config.update(MAIL_PORT=mail_server, MAIL_USE_TLS=True)
    assert "does not take mail as configured" in unsafe_lines(check(app))
    app.config.update(MAIL_USE_TLS=False)
    assert "mail server" not in unsafe_lines(check(app))
    assert f"Mail goes to 127.0.0.1:{mail_server}, which answers." in check(app).output


@pytest.mark.backends("sqlite", "pg")
def test_without_a_mail_worker_it_is_not_ready(app, mail_server):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=mail_server)
    assert "No mail worker runs (never)" in unsafe_lines(check(app))
    worker_beats(app, ago=timedelta(minutes=10))
    assert "No mail worker runs (last at" in unsafe_lines(check(app))
    worker_beats(app)
    result = check(app)
    assert "mail worker" not in unsafe_lines(result)
    assert "A mail worker (flask outbox work) runs." in result.output


def test_the_worker_writes_its_heartbeat(app):
    with app.app_context():
        assert outbox.last_heartbeat() is None
        outbox.work(app, poll_seconds=0, max_rounds=1)
        assert utcnow() - outbox.last_heartbeat() < timedelta(minutes=1)


@pytest.mark.parametrize("proxies", [3, 5])
def test_more_trusted_proxies_than_sane_is_unsafe(app, proxies):
    app.config["TRUSTED_PROXIES"] = proxies
    assert f"TRUSTED_PROXIES is {proxies}" in unsafe_lines(check(app))
    app.config["TRUSTED_PROXIES"] = 1
    assert "TRUSTED_PROXIES" not in unsafe_lines(check(app))


def test_centres_that_hold_online_bookings_are_named(app, make_centre):
    make_centre()
    assert "wait for the family's confirmation" not in check(app).output
    make_centre("held", hold_online_bookings=True, hold_minutes=20)
    result = check(app)
    assert (
        "Online bookings wait for the family's confirmation from the mail at held (20 min)"
        in result.output
    ), result.output
