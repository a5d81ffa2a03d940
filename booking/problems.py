"""Problem details (RFC 9457) for the JSON API."""

from __future__ import annotations

from flask import Response, json

PROBLEM_BASE = "/api/v1/problems/"


def problem_response(
    *,
    status: int,
    title: str,
    detail: str,
    type_: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra,
) -> Response:
    """A problem+json response; ``type`` defaults to about:blank as the RFC says."""
    body = {
        "type": PROBLEM_BASE + type_ if type_ else "about:blank",
        "status": status,
        "title": title,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/problem+json"
    )
    for name, value in (headers or {}).items():
        if name.lower() in {"allow", "retry-after"}:
            response.headers[name] = value
    return response
