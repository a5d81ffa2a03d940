"""Error pages in HTML, problem+json (RFC 9457) under /api/."""

from __future__ import annotations

from flask import Flask, g, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from booking.error_log import log_error
from booking.extensions import login_manager
from booking.i18n import error_text, error_title
from booking.json_provider import problem_response

# Seconds a client is asked to wait after a 503 for an unreachable database.
DATABASE_RETRY_AFTER = 5


def _is_api() -> bool:
    return request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    """One handler for every HTTP error; the API answers problem+json, pages an HTML page."""

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        if _is_api():
            # Words in the language of Accept-Language, as on the HTML error pages.
            return problem_response(
                status=error.code or 500,
                title=error_title(error.code),
                detail=error_text(error),
                headers=dict(error.get_headers()) if error.code == 405 else None,
            )
        return render_template("error.html", error=error), error.code

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def handle_database_unavailable(error: Exception):
        # The database restarts or cannot be reached: the transaction committed whole or not
        # at all, so the answer is "try again later" (503 with Retry-After), not a 500.
        log_error(
            app.logger, error, "database unavailable on %s %s", request.method, request.url_rule
        )
        unavailable = ServiceUnavailable()
        headers = {"Retry-After": str(DATABASE_RETRY_AFTER)}
        if _is_api():
            return problem_response(
                status=503,
                title=error_title(503),
                detail=error_text(unavailable),
                headers=headers,
            )
        # The page must not read the database again: the signed-in account, which templates
        # may ask for, is taken as anonymous for this answer.
        g._login_user = login_manager.anonymous_user()
        return render_template("error.html", error=unavailable), 503, headers

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log_error(app.logger, error, "unhandled error on %s %s", request.method, request.url_rule)
        wrapped = InternalServerError()
        if _is_api():
            return problem_response(status=500, title=error_title(500), detail=error_text(wrapped))
        return render_template("error.html", error=wrapped), 500
