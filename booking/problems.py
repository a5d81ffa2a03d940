"""Problem details (RFC 9457) for the JSON API: the body and headers, pure (no Flask);
json_provider.problem_response makes the response."""

from __future__ import annotations

from typing import NamedTuple

PROBLEM_BASE = "/api/v1/problems/"
MEDIA_TYPE = "application/problem+json"
# The only headers a problem carries (405 names what is allowed, 503 when to come back).
PASSED_HEADERS = {"allow", "retry-after"}


class Problem(NamedTuple):
    status: int
    body: dict
    headers: dict[str, str]


def problem(
    *,
    status: int,
    title: str,
    detail: str,
    type_: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra,
) -> Problem:
    """A problem's body and headers; ``type`` defaults to about:blank as the RFC says."""
    body = {
        "type": PROBLEM_BASE + type_ if type_ else "about:blank",
        "status": status,
        "title": title,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    kept = {
        name: value for name, value in (headers or {}).items() if name.lower() in PASSED_HEADERS
    }
    return Problem(status, body, kept)
