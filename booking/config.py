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
    # Creating, cancelling and moving a booking through the API, per client address.
    API_BOOKING_RATELIMIT = os.environ.get("API_BOOKING_RATELIMIT") or "10 per minute;100 per hour"

    # New bookings per client address (an IPv6 /64) over the API and the form together.
    NEW_BOOKINGS_PER_ADDRESS = os.environ.get("NEW_BOOKINGS_PER_ADDRESS") or "20 per day"

    # Days after an appointment's end before `flask --app wsgi purge` erases personal data.
    RETENTION_DAYS = int(os.environ.get("RETENTION_DAYS") or 90)

    PREFERRED_URL_SCHEME = os.environ.get("PREFERRED_URL_SCHEME") or "http"
    SERVER_NAME = os.environ.get("SERVER_NAME") or None

    BABEL_DEFAULT_LOCALE = "de"
    BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"
    # Public pages, mails and invitations; "de@easy" is Leichte Sprache (?lang=de-easy).
    # Staff and admin pages offer German and English only (booking/i18n.py).
    LANGUAGES = ("de", "en", "tr", "ar", "fa", "uk", "ru", "bg", "ro", "de@easy")

    # Over https (decided per request, see booking/web.py) the session cookie is Secure and
    # named "__Host-session"; SESSION_COOKIE_SECURE=1 makes it Secure on every request.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
    WTF_CSRF_TIME_LIMIT = None
    # Pages send "Referrer-Policy: no-referrer", so browsers send no Referer: over https
    # Flask-WTF's Referer check would refuse every form. The session-bound token is the proof.
    WTF_CSRF_SSL_STRICT = False
    # Sent over https only: a year, as browsers' preload lists expect.
    HSTS_MAX_AGE = int(os.environ.get("HSTS_MAX_AGE") or 31536000)

    # How many proxies in front are believed for X-Forwarded-For, -Proto and -Host.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES") or 0)
    # Bytes of a request body; a larger one is a 413 (the forms and the API need a few KB).
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH") or 64 * 1024)

    # After a commit, new mails are sent in a thread ("thread"), in the request ("inline"),
    # or left to `flask outbox send|work` ("off").
    OUTBOX_SEND_AFTER_COMMIT = os.environ.get("OUTBOX_SEND_AFTER_COMMIT") or "thread"
    # The first retry of a failed mail waits this long, each further one twice as long
    # (at most 6 hours); the load run (benchmarks/load.py) shortens it to a second.
    OUTBOX_BACKOFF_SECONDS = float(os.environ.get("OUTBOX_BACKOFF_SECONDS") or 60)

    # Free slots computed for the API are kept per process, keyed by a version number every
    # change of availability raises in its own transaction (booking/availability_cache.py).
    AVAILABILITY_CACHE = _bool("AVAILABILITY_CACHE", True)
    AVAILABILITY_CACHE_SIZE = int(os.environ.get("AVAILABILITY_CACHE_SIZE") or 256)

    # Counting the queries of every request costs one event hook; tests read the count.
    QUERY_COUNT_HEADER = _bool("QUERY_COUNT_HEADER", False)

    # Arguments of argon2's PasswordHasher for staff passwords; None is argon2-cffi's own
    # (RFC 9106's low-memory choice), which a deployment keeps.
    PASSWORD_HASH_COST = None


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
    # Argon2id still, but one pass over 1 MiB: the suite hashes and checks thousands of
    # passwords (tests/web/test_staff_auth.py checks the deployment's cost).
    PASSWORD_HASH_COST = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
