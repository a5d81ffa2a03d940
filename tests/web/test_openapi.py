"""The OpenAPI document at /api/v1/openapi.json: valid, complete, and true to the app.

Answers of the running app are checked against the documented schemas with a Draft 2020-12
validator; ``$ref``s resolve inside the document through a ``referencing`` registry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from booking import create_app
from booking.config import TestConfig
from booking.extensions import db
from tests.helpers import next_working_day

PREFIX = "/api/v1"
DOC_URI = "urn:ki-booking:openapi"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
# Flask's argument names where the document uses shorter ones.
PARAM_NAMES = {"centre_slug": "centre"}
PROBLEM = "application/problem+json"


@pytest.fixture
def document(client):
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def _format_checker() -> FormatChecker:
    checker = FormatChecker()

    @checker.checks("uri")
    def is_absolute_uri(value) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme and parts.netloc)

    return checker


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _resolve(document: dict, node: dict) -> tuple[dict, str | None]:
    """Follow an OpenAPI Reference Object; return the node and its pointer if it was one."""
    ref = node.get("$ref")
    if ref is None:
        return node, None
    assert ref.startswith("#/")
    target = document
    for part in ref[2:].split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target, ref[1:]


def check_response(document: dict, path: str, method: str, response) -> None:
    """Assert that ``response`` is documented for the operation and fits its schema."""
    operation = document["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method.upper()} {path}: {status} undocumented"
    spec, pointer = _resolve(document, operation["responses"][status])
    if pointer is None:
        pointer = _pointer("paths", path, method, "responses", status)
    assert response.mimetype in spec["content"], (
        f"{method.upper()} {path} {status}: {response.mimetype} not documented"
    )
    schema_pointer = pointer + _pointer("content", response.mimetype, "schema")
    registry = Registry().with_resource(
        DOC_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator(
        {"$ref": f"{DOC_URI}#{schema_pointer}"},
        registry=registry,
        format_checker=_format_checker(),
    )
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(response.get_json())
    ]
    assert not errors, f"{method.upper()} {path} {status}: {errors}"
    for name in spec.get("headers", {}):
        if name.lower() != "retry-after" or response.status_code == 429:
            assert name in response.headers, f"{method.upper()} {path} {status}: no {name}"


# --- The document itself ---------------------------------------------------------------


def test_served_document_is_valid_openapi_3_1(seeded, client, document):
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": PREFIX}]
    validate_openapi(document, cls=OpenAPIV31SpecValidator)


def test_served_document_is_the_packaged_file(seeded, client):
    response = client.get(f"{PREFIX}/openapi.json")
    packaged = Path(__file__).parents[2] / "booking" / "openapi.json"
    assert json.loads(response.get_data()) == json.loads(packaged.read_text(encoding="utf-8"))
    assert "Set-Cookie" not in response.headers


def _flask_paths(app) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/") or rule.endpoint.endswith("static"):
            continue
        if rule.rule == f"{PREFIX}/openapi.json":
            continue
        path = re.sub(
            r"<(?:[^:<>]+:)?([^<>]+)>",
            lambda m: "{" + PARAM_NAMES.get(m.group(1), m.group(1)) + "}",
            rule.rule[len(PREFIX) :],
        )
        methods = {m.lower() for m in rule.methods} - {"head", "options"}
        found.setdefault(path, set()).update(methods)
    return found


def test_every_route_is_documented_and_every_documented_route_exists(seeded, app, document):
    documented = {
        path: {m for m in item if m in HTTP_METHODS} for path, item in document["paths"].items()
    }
    assert _flask_paths(app) == documented


def test_documented_path_parameters_match_the_template(seeded, document):
    for path, item in document["paths"].items():
        in_template = set(re.findall(r"{([^}]+)}", path))
        for method in HTTP_METHODS & item.keys():
            params = [_resolve(document, p)[0] for p in item.get("parameters", [])]
            params += [_resolve(document, p)[0] for p in item[method].get("parameters", [])]
            declared = {p["name"] for p in params if p["in"] == "path"}
            assert declared == in_template, f"{method.upper()} {path}"


def test_every_error_response_is_problem_json(seeded, document):
    for path, item in document["paths"].items():
        for method in HTTP_METHODS & item.keys():
            for status, response in item[method]["responses"].items():
                spec, _ = _resolve(document, response)
                if status[0] in "45":
                    assert list(spec["content"]) == [PROBLEM], f"{method} {path} {status}"
                else:
                    assert PROBLEM not in spec.get("content", {}), f"{method} {path} {status}"


# --- Answers of the app fit the document --------------------------------------------------


def _book(client, start: str, **extra):
    body = {
        "service": "beratung-2",
        "start": start,
        "name": "Ayşe Yılmaz",
        "email": "ayse@example.org",
        "consent": True,
        **extra,
    }
    return client.post(f"{PREFIX}/centres/herne/bookings", json=body)


def _free_monday_slots(client) -> list[dict]:
    monday = next_working_day(0).isoformat()
    response = client.get(
        f"{PREFIX}/centres/herne/slots",
        query_string={"service": "beratung-2", "from": monday, "to": monday},
    )
    assert response.status_code == 200
    return response.get_json()["slots"]


def test_centres_services_and_slots_fit(seeded, client, document):
    response = client.get(f"{PREFIX}/centres")
    assert response.status_code == 200 and response.get_json()
    check_response(document, "/centres", "get", response)

    response = client.get(f"{PREFIX}/centres/herne/services")
    assert response.status_code == 200 and response.get_json()
    check_response(document, "/centres/{centre}/services", "get", response)

    monday = next_working_day(0).isoformat()
    response = client.get(
        f"{PREFIX}/centres/herne/slots",
        query_string={"service": "beratung-2", "from": monday, "to": monday, "language": "tr-TR"},
    )
    assert response.status_code == 200
    check_response(document, "/centres/{centre}/slots", "get", response)
    assert _free_monday_slots(client), "a Herne Monday has free slots"


def test_booking_get_and_cancel_fit(seeded, client, document):
    start = _free_monday_slots(client)[0]["start"]
    created = _book(client, start, persons=2, language="tr", message="Bitte mit Dolmetscherin.")
    assert created.status_code == 201, created.get_json()
    check_response(document, "/centres/{centre}/bookings", "post", created)
    location = urlsplit(created.headers["Location"])
    assert location.scheme and location.netloc
    assert location.path.startswith(f"{PREFIX}/bookings/")
    token = location.path.rsplit("/", 1)[1]
    assert created.get_json()["manage_url"].endswith("/" + token)

    read = client.get(f"{PREFIX}/bookings/{token}")
    assert read.status_code == 200
    check_response(document, "/bookings/{token}", "get", read)
    assert read.get_json() == created.get_json()

    cancelled = client.post(f"{PREFIX}/bookings/{token}/cancel")
    assert cancelled.status_code == 200
    check_response(document, "/bookings/{token}/cancel", "post", cancelled)
    assert cancelled.get_json()["status"] == "cancelled"


def test_validation_problems_fit(seeded, client, document):
    response = client.post(f"{PREFIX}/centres/herne/bookings", json={"persons": 11})
    assert response.status_code == 422
    check_response(document, "/centres/{centre}/bookings", "post", response)
    body = response.get_json()
    assert body["type"] == "/api/v1/problems/validation-error"
    assert {"service", "start", "name", "email", "consent", "persons"} <= body["errors"].keys()

    response = client.get(
        f"{PREFIX}/centres/herne/slots",
        query_string={"service": "beratung-1", "from": "2030-01-01", "to": "2030-04-04"},
    )
    assert response.status_code == 422
    check_response(document, "/centres/{centre}/slots", "get", response)


def test_not_found_problems_fit(seeded, client, document):
    response = client.get(f"{PREFIX}/bookings/no-such-token")
    assert response.status_code == 404
    check_response(document, "/bookings/{token}", "get", response)
    assert response.get_json()["type"] == "about:blank"

    response = client.get(f"{PREFIX}/centres/nowhere/services")
    assert response.status_code == 404
    check_response(document, "/centres/{centre}/services", "get", response)


def test_conflict_problems_fit(seeded, client, document):
    monday = next_working_day(0)
    response = _book(client, f"{monday.isoformat()}T03:17:00+01:00")
    assert response.status_code == 409
    check_response(document, "/centres/{centre}/bookings", "post", response)
    assert response.get_json()["type"] == "/api/v1/problems/slot-unavailable"

    start = _free_monday_slots(client)[0]["start"]
    token = urlsplit(_book(client, start).headers["Location"]).path.rsplit("/", 1)[1]
    moved = client.post(
        f"{PREFIX}/bookings/{token}/reschedule",
        json={"start": f"{monday.isoformat()}T03:17:00+01:00"},
    )
    assert moved.status_code == 409
    check_response(document, "/bookings/{token}/reschedule", "post", moved)


def test_body_problems_fit(seeded, client, document):
    response = client.post(f"{PREFIX}/centres/herne/bookings", data="name=x")
    assert response.status_code == 415
    check_response(document, "/centres/{centre}/bookings", "post", response)

    response = client.post(
        f"{PREFIX}/centres/herne/bookings", data="[1, 2]", content_type="application/json"
    )
    assert response.status_code == 400
    check_response(document, "/centres/{centre}/bookings", "post", response)


def test_rate_limit_problem_fits(database_url, tmp_path):
    app = create_app(
        TestConfig,
        instance_path=str(tmp_path / "limited"),
        SQLALCHEMY_DATABASE_URI=database_url,
        RATELIMIT_ENABLED=True,
    )
    try:
        client = app.test_client()
        document = client.get(f"{PREFIX}/openapi.json").get_json()
        statuses = []
        for _ in range(11):
            response = client.post(f"{PREFIX}/bookings/no-such-token/cancel")
            statuses.append(response.status_code)
        assert statuses == [404] * 10 + [429]
        check_response(document, "/bookings/{token}/cancel", "post", response)
        assert "Set-Cookie" not in response.headers
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
