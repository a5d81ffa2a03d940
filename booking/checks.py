"""`flask --app wsgi check`: what is missing or unsafe before a deployment goes live."""

from __future__ import annotations

import os
import runpy
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

# Long enough that guessing it is hopeless (the instance key has 64 hex digits).
MIN_SECRET_KEY = 32
# nginx, and at most one load balancer before it: more than that is a mistake.
MAX_TRUSTED_PROXIES = 2


@dataclass(frozen=True)
class Finding:
    """One line of the report: ``ok``, ``note`` (worth knowing) or ``unsafe`` (fix first)."""

    level: str
    text: str


def workers_from(gunicorn_config: str | None, environ: dict[str, str]) -> int:
    """gunicorn's worker count: the config file's ``workers``, else WEB_CONCURRENCY, else 1."""
    if gunicorn_config:
        settings = runpy.run_path(gunicorn_config)
        return int(settings.get("workers", 1))
    return int(environ.get("WEB_CONCURRENCY") or 1)


def _secret_key(app: Flask, environ: dict[str, str]) -> Finding:
    key = environ.get("SECRET_KEY")
    if not key or key != app.config.get("SECRET_KEY"):
        return Finding(
            "unsafe",
            "SECRET_KEY is not set in the environment: sessions are signed with a key kept in "
            "the instance folder, which other hosts do not share. Set SECRET_KEY, e.g. to "
            "the output of: python3 -c 'import secrets; print(secrets.token_hex(32))'",
        )
    if len(key) < MIN_SECRET_KEY:
        return Finding("unsafe", f"SECRET_KEY has fewer than {MIN_SECRET_KEY} characters.")
    return Finding("ok", "SECRET_KEY comes from the environment.")


def _database(app: Flask, workers: int) -> list[Finding]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from booking.paths import MIGRATIONS_DIR

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    shown = url.render_as_string(hide_password=True)
    findings = []
    if url.get_backend_name() == "sqlite" and workers > 1:
        findings.append(
            Finding(
                "unsafe",
                f"SQLite ({shown}) with {workers} workers: writes queue behind one lock and "
                "the database lives on one host. Use PostgreSQL (DATABASE_URL).",
            )
        )
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        # Connecting would create an empty file; say what is missing instead.
        findings.append(
            Finding(
                "unsafe",
                f"The database {shown} does not exist: run flask --app wsgi db upgrade.",
            )
        )
        return findings
    engine = create_engine(url, pool_pre_ping=False)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as error:  # noqa: BLE001 - any failure to connect is the finding
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        findings.append(
            Finding(
                "unsafe",
                f"The database {shown} is unreachable: {type(error).__name__}: {first_line}",
            )
        )
        return findings
    finally:
        engine.dispose()
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if current != head:
        findings.append(
            Finding(
                "unsafe",
                f"The database {shown} is at migration {current or 'none'}, not {head}: "
                "run flask --app wsgi db upgrade.",
            )
        )
    else:
        findings.append(Finding("ok", f"The database {shown} answers and is migrated."))
    return findings


def _rate_limits(app: Flask, workers: int) -> list[Finding]:
    from limits.storage import storage_from_string

    if not app.config.get("RATELIMIT_ENABLED", True):
        return [Finding("unsafe", "RATELIMIT_ENABLED is off: nothing limits bookings or sign-ins.")]
    uri = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    if uri.startswith("memory://"):
        if workers > 1:
            return [
                Finding(
                    "unsafe",
                    f"Rate limits are kept in memory with {workers} workers: each worker "
                    "counts alone. Set RATELIMIT_STORAGE_URI=redis://…",
                )
            ]
        return [Finding("ok", "Rate limits are kept in memory (one worker).")]
    scheme = uri.split("://", 1)[0]
    try:
        reachable = storage_from_string(uri).check()
    except Exception as error:  # noqa: BLE001 - a storage that cannot even start is unreachable
        reachable = False
        scheme = f"{scheme} ({type(error).__name__})"
    if not reachable:
        return [Finding("unsafe", f"The rate-limit storage ({scheme}) is unreachable.")]
    return [Finding("ok", f"Rate limits are shared through {scheme}.")]


def _mail(app: Flask) -> Finding:
    """The mail server is set, answers, and takes the TLS and credentials configured."""
    import smtplib

    config = app.config
    if not config.get("MAIL_SERVER"):
        return Finding(
            "unsafe",
            "MAIL_SERVER is not set: mails are written as files to "
            f"{config['OUTBOX_DIR']} and nobody receives them.",
        )
    where = f"{config['MAIL_SERVER']}:{config['MAIL_PORT']}"
    smtp_class = smtplib.SMTP_SSL if config.get("MAIL_USE_SSL") else smtplib.SMTP
    try:
        with smtp_class(
            config["MAIL_SERVER"], config["MAIL_PORT"], timeout=min(config["MAIL_TIMEOUT"], 10)
        ) as smtp:
            smtp.ehlo()
            if config.get("MAIL_USE_TLS"):
                smtp.starttls()
                smtp.ehlo()
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
            smtp.noop()
    except Exception as error:  # noqa: BLE001 - any failure to talk to it is the finding
        from booking.outbox import failure_reason

        return Finding(
            "unsafe",
            f"The mail server {where} does not take mail as configured ({failure_reason(error)}): "
            "check MAIL_SERVER, MAIL_PORT, MAIL_USE_TLS/SSL and the credentials (a local relay "
            "on port 25 needs neither TLS nor MAIL_USERNAME).",
        )
    return Finding("ok", f"Mail goes to {where}, which answers.")


def _outbox_worker(app: Flask) -> Finding:
    """An `outbox work` process went round its loop lately (its heartbeat)."""
    from booking.models import utcnow
    from booking.outbox import HEARTBEAT_STALE, last_heartbeat

    try:
        seen = last_heartbeat()
    except Exception as error:  # noqa: BLE001 - no database or no table: said above
        from booking.extensions import db

        db.session.rollback()
        return Finding(
            "unsafe",
            f"Whether a mail worker runs cannot be told ({type(error).__name__}).",
        )
    if seen is None or utcnow() - seen > HEARTBEAT_STALE:
        since = "never" if seen is None else f"last at {seen:%Y-%m-%d %H:%M} UTC"
        return Finding(
            "unsafe",
            f"No mail worker runs ({since}): retries and reminders are sent by "
            "`flask outbox work` alone. Start ki-booking-outbox.",
        )
    return Finding("ok", "A mail worker (flask outbox work) runs.")


def _held_bookings(app: Flask) -> list[Finding]:
    """The centres whose online bookings wait for the family's confirmation from the mail:
    worth knowing, since such a booking holds nothing once the mail is late."""
    from sqlalchemy import select

    from booking.extensions import db
    from booking.models import Centre

    held = db.session.execute(
        select(Centre.slug, Centre.hold_minutes)
        .where(Centre.hold_online_bookings.is_(True))
        .order_by(Centre.slug)
    ).all()
    if not held:
        return []
    where = ", ".join(f"{slug} ({minutes} min)" for slug, minutes in held)
    return [
        Finding(
            "note",
            f"Online bookings wait for the family's confirmation from the mail at {where}: "
            "the mail must arrive within those minutes, else the time is released unbooked.",
        )
    ]


def _links(app: Flask) -> list[Finding]:
    findings = []
    if app.config.get("PREFERRED_URL_SCHEME") != "https":
        findings.append(
            Finding(
                "unsafe",
                "PREFERRED_URL_SCHEME is not https: links in mails sent outside a request "
                "(reminders) start with http://.",
            )
        )
    if not app.config.get("SERVER_NAME"):
        findings.append(
            Finding(
                "unsafe",
                "SERVER_NAME is not set: links in mails sent outside a request have no host.",
            )
        )
    if not findings:
        findings.append(
            Finding(
                "ok",
                f"Links point to {app.config['PREFERRED_URL_SCHEME']}://"
                f"{app.config['SERVER_NAME']}/.",
            )
        )
    proxies = app.config.get("TRUSTED_PROXIES") or 0
    if proxies > MAX_TRUSTED_PROXIES:
        findings.append(
            Finding(
                "unsafe",
                f"TRUSTED_PROXIES is {proxies}: a client can then add X-Forwarded-For and "
                "-Host entries of its own that are believed (its address for the rate limits, "
                f"the host of links). Set the number of proxies in front (at most "
                f"{MAX_TRUSTED_PROXIES}; 1 behind the nginx of deploy/).",
            )
        )
    if not proxies:
        findings.append(
            Finding(
                "note",
                "TRUSTED_PROXIES is 0: behind a reverse proxy set it to the number of proxies, "
                "or pages see http and every family shares the proxy's address.",
            )
        )
    return findings


def deployment_findings(
    app: Flask, workers: int, environ: dict[str, str] | None = None
) -> list[Finding]:
    """Everything `check` reports, in the order it is printed."""
    environ = dict(os.environ if environ is None else environ)
    findings = [Finding("ok" if workers >= 1 else "unsafe", f"{workers} gunicorn worker(s).")]
    findings.append(_secret_key(app, environ))
    database = _database(app, workers)
    findings += database
    findings += _rate_limits(app, workers)
    findings.append(_mail(app))
    if database and all(f.level == "ok" for f in database):
        # Only a database that answers and is migrated can tell (and no file is created).
        findings.append(_outbox_worker(app))
        findings += _held_bookings(app)
    findings += _links(app)
    return findings
