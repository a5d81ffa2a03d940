"""Hooks for the schemathesis run of tests/web/test_schemathesis.py (SCHEMATHESIS_HOOKS).

Path parameters are real: the demo's centre, the token of a real booking (passed in
KI_SCHEMATHESIS_TOKEN) and a demo event (KI_SCHEMATHESIS_EVENT), so requests reach the code
behind the 404s. Valid requests keep
the rule across two parameters that JSON Schema cannot state: ``from`` <= ``to``, at most
92 days apart, and name a service the centre offers (booking/openapi.json says both in
words; an unknown service is a documented 404 or 422).
"""

from __future__ import annotations

import os
from datetime import date

import schemathesis

MAX_RANGE_DAYS = 92


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    if not path_parameters:
        return path_parameters
    if "centre" in path_parameters:
        path_parameters["centre"] = "herne"
    if "event_id" in path_parameters:
        path_parameters["event_id"] = int(os.environ["KI_SCHEMATHESIS_EVENT"])
    if "token" in path_parameters:
        path_parameters["token"] = os.environ["KI_SCHEMATHESIS_TOKEN"]
    return path_parameters


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    if isinstance(case.body, dict) and "service" in case.body:
        # Which services exist is data, not schema: valid bookings name a real one.
        case.body["service"] = "beratung-1"
    query = case.query
    if not isinstance(query, dict):
        return case
    try:
        first, last = date.fromisoformat(query["from"]), date.fromisoformat(query["to"])
    except (KeyError, TypeError, ValueError):
        return case
    first, last = min(first, last), max(first, last)
    if (last - first).days > MAX_RANGE_DAYS:
        last = first
    query["from"], query["to"] = first.isoformat(), last.isoformat()
    return case
