"""The time of a request: the clock is read once, before the request is handled, and that
``now`` is passed down (writers and reads take it as an argument), so one request never
works with two different times."""

from __future__ import annotations

from datetime import datetime

from flask import Flask, g

from booking.models import utcnow


def request_now() -> datetime:
    """The time the current request started: read once, the same value all request long."""
    if "now" not in g:
        g.now = utcnow()
    return g.now


def _read_clock() -> None:
    request_now()  # a before_request function that returned a value would be the response


def init_app(app: Flask) -> None:
    # First of all before_request functions: blueprint guards and the user loader use it.
    app.before_request_funcs.setdefault(None, []).insert(0, _read_clock)
