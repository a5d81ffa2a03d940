"""JSON in and out: request bodies must be I-JSON (RFC 7493); problem+json responses.

Python's parser accepts NaN, Infinity and lone UTF-16 surrogates ("\\ud800"), none of which a
database, a mail or another JSON parser can take; a body nested 100,000 deep raises
RecursionError. Each is a ValueError here, which Flask answers with a 400.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Response
from flask import json as flask_json
from flask.json.provider import DefaultJSONProvider

from booking import problems


class NotIJSON(ValueError):
    """The body parses as Python's JSON but is not I-JSON; the message says why."""


def _refuse_constant(name: str) -> Any:
    raise NotIJSON(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotIJSON("number out of range")
    return value


def _check_strings(value: Any) -> None:
    """Raise NotIJSON for a lone surrogate in any key or string (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts = (item,)
        elif isinstance(item, dict):
            texts = tuple(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        else:
            continue
        for text in texts:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as error:
                raise NotIJSON("lone surrogate in a string") from error


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, refusing what is not I-JSON when it parses."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs.setdefault("parse_constant", _refuse_constant)
        kwargs.setdefault("parse_float", _finite_float)
        try:
            value = json.loads(s, **kwargs)
        except RecursionError as error:
            raise NotIJSON("nested too deeply") from error
        _check_strings(value)
        return value


def problem_response(**fields) -> Response:
    """A problem+json response (problems.problem takes the fields) in I-JSON."""
    found = problems.problem(**fields)
    response = Response(
        flask_json.dumps(found.body, ensure_ascii=False),
        status=found.status,
        mimetype=problems.MEDIA_TYPE,
    )
    response.headers.update(found.headers)
    return response
