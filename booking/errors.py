"""Error pages in HTML, problem+json (RFC 9457) under /api/."""

from __future__ import annotations

from flask import Flask, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from booking.i18n import error_text, error_title
from booking.problems import problem_response


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

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.url_rule)
        wrapped = InternalServerError()
        if _is_api():
            return problem_response(status=500, title=error_title(500), detail=error_text(wrapped))
        return render_template("error.html", error=wrapped), 500
