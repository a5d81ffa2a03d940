"""Configuration from the environment; each variable sets the config key of the same name."""

import os
from datetime import timedelta


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")
    # None means "a SQLite file in the instance folder", filled in by create_app.
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None
    MAIL_PORT = int(os.environ.get("MAIL_PORT") or 25)
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = _bool("MAIL_USE_SSL", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER") or "ki-booking@localhost"
    MAIL_TIMEOUT = float(os.environ.get("MAIL_TIMEOUT") or 10)

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or "memory://"
    RATELIMIT_ENABLED = _bool("RATELIMIT_ENABLED", True)
    RATELIMIT_HEADERS_ENABLED = True
    API_RATELIMIT = os.environ.get("API_RATELIMIT") or "120 per minute"

    # Days after an appointment's end before `flask --app wsgi purge` erases personal data.
    RETENTION_DAYS = int(os.environ.get("RETENTION_DAYS") or 90)

    PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME") or "http"
    SERVER_NAME = os.environ.get("SERVER_NAME") or None

    BABEL_DEFAULT_LOCALE = "de"
    BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"
    LANGUAGES = ("de", "en")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
    WTF_CSRF_TIME_LIMIT = None

    # After a commit, new mails are sent in a thread ("thread"), in the request ("inline"),
    # or left to `flask outbox send|work` ("off").
    OUTBOX_SEND_AFTER_COMMIT = os.environ.get("OUTBOX_SEND_AFTER_COMMIT") or "thread"

    # Counting the queries of every request costs one event hook; tests read the count.
    QUERY_COUNT_HEADER = _bool("QUERY_COUNT_HEADER", False)


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"  # noqa: S105 - a fixed key for tests only
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_APP_DATABASE_URL") or "sqlite://"
    MAIL_SERVER = None
    RATELIMIT_ENABLED = False
    WTF_CSRF_ENABLED = True
    OUTBOX_SEND_AFTER_COMMIT = "inline"
    QUERY_COUNT_HEADER = True
    SERVER_NAME = None
