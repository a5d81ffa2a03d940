"""`flask --app wsgi check` names what is missing or unsafe, and fails until nothing is."""

from __future__ import annotations

from pathlib import Path

import pytest

from booking import create_app
from booking.config import TestConfig

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


@pytest.mark.backends("pg")
def test_a_production_setup_passes(tmp_path, database_url, redis_url, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    app = production_app(tmp_path, database_url, redis_url)
    result = check(app, "--workers", "4")
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
