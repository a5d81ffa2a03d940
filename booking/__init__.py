"""ki-booking: appointment booking for municipal integration centres."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

from booking.json_provider import StrictJSONProvider
from booking.paths import MIGRATIONS_DIR, TEMPLATES_DIR


def create_app(
    config_class: type | None = None, instance_path: str | None = None, **overrides
) -> Flask:
    """Build the application: load config, bind extensions, register blueprints."""
    if config_class is None:
        from booking.config import Config as config_class

    app = Flask(
        __name__,
        template_folder=str(TEMPLATES_DIR),
        instance_path=instance_path or os.environ.get("INSTANCE_PATH") or None,
        instance_relative_config=True,
    )
    app.json = StrictJSONProvider(app)
    app.config.from_object(config_class)
    app.config.update(overrides)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _fill_defaults(app)

    from booking import auth, availability_cache, clock, db_events, i18n, occupancy, serving
    from booking.extensions import babel, csrf, db, limiter, migrate

    db.init_app(app)
    clock.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    csrf.init_app(app)
    i18n.compile_stale_catalogues(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    limiter.init_app(app)
    db_events.init_app(app)
    availability_cache.init_app(app)
    occupancy.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)

    from booking.lookups import RowId

    # Before the blueprints: their rules are built with the converters known then.
    app.url_map.converters["int"] = RowId

    from booking.admin import bp as admin_bp
    from booking.api import bp as api_bp
    from booking.feeds import bp as feeds_bp
    from booking.public import bp as public_bp
    from booking.staff import bp as staff_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
    app.register_blueprint(staff_bp, url_prefix="/staff")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(feeds_bp)

    from booking import cli, errors

    errors.init_app(app)
    cli.init_app(app)
    serving.init_app(app)
    app.after_request(_security_headers)
    return app


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def _security_headers(response):
    # Manage links carry a token in the path: never hand it on as a Referer.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response


def _fill_defaults(app: Flask) -> None:
    """Defaults that depend on the instance folder or must never be left empty."""
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        db_path = Path(app.instance_path) / "ki-booking.sqlite"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{db_path}"
    if not app.config.get("SECRET_KEY"):
        # A key kept in the instance folder, so sessions survive a restart of `make run`.
        key_file = Path(app.instance_path) / "secret_key"
        if not key_file.exists():
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        app.config["SECRET_KEY"] = key_file.read_text().strip()
    if not app.config.get("OUTBOX_DIR"):
        app.config["OUTBOX_DIR"] = str(Path(app.instance_path) / "mail")
