"""The API's document says what the server accepts: a name's pattern is the server's own
rule, and ``persons`` is an integer, never null (so schemathesis needs no hook for them)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from booking.extensions import db
from booking.models import Booking, Registration
from booking.validation import FieldError, clean_name
from tests.helpers import at, booking_payload, next_working_day
from tests.openapi_patterns import DOCUMENT, dumped, name_description, name_pattern


@pytest.fixture(scope="module")
def person_name():
    return json.loads(DOCUMENT.read_text())["components"]["schemas"]["PersonName"]


def test_the_documents_name_pattern_is_built_from_the_servers_rule(person_name):
    """Regenerate with `.venv/bin/python -m tests.openapi_patterns` when this fails (the
    rule changed, or Python's Unicode tables did)."""
    assert person_name["pattern"] == name_pattern()
    assert person_name["description"] == name_description()
    assert DOCUMENT.read_text() == dumped(json.loads(DOCUMENT.read_text()))
    document = json.loads(DOCUMENT.read_text())
    for request in ("BookingRequest", "RegistrationRequest"):
        name = document["components"]["schemas"][request]["properties"]["name"]
        assert name == {"$ref": "#/components/schemas/PersonName"}


def server_accepts(app, name: str) -> bool:
    with app.test_request_context():
        try:
            clean_name(name)
        except FieldError:
            return False
    return True


def document_accepts(person_name, name: str) -> bool:
    return (
        person_name["minLength"] <= len(name) <= person_name["maxLength"]
        and re.search(person_name["pattern"], name) is not None
    )


NAMES = [
    "Ayşe Öztürk",
    "A",
    "",
    " ",
    "\tAyşe\n",  # trimmed: accepted
    "Ay\tşe",  # a tab inside: refused
    "\u200b",
    "\u200bA",
    "\ue000",  # private use only (the hook used to add a letter)
    "\ue000\ue001A",
    "\U000f0000",  # private use beyond the first plane
    "\u0301",  # a combining mark alone
    "A\u0301",
    "\u0378",  # unassigned
    "\U0001f600",  # an emoji is visible
    "\u202eAyşe",  # a bidirectional override
    "\u2066A\u2069",
    "A\ufffd",
    "\u3164",  # drawn blank
    "\u3000A\u3000",
    "محمد",
    "Eve <attacker@evil.example>",
]


@pytest.mark.parametrize("name", NAMES)
def test_the_document_and_the_server_agree_on_a_name(app, person_name, name):
    assert document_accepts(person_name, name) == server_accepts(app, name)


def test_the_document_and_the_server_agree_on_any_name(app, person_name):
    # Derandomized: the same examples every run.
    @settings(derandomize=True, max_examples=400, deadline=None, database=None)
    @given(
        st.text(
            alphabet=st.characters(exclude_categories=("Cs",)) | st.sampled_from(" \t\u200bA"),
            max_size=12,
        )
    )
    def agree(name):
        assert document_accepts(person_name, name) == server_accepts(app, name), ascii(name)

    agree()


@pytest.mark.parametrize("persons", [None, "2", 0, 11, 2.5, True])
def test_persons_that_are_not_an_integer_from_1_to_10_are_a_422(seeded, client, persons):
    payload = booking_payload(at(next_working_day(1), 10), "beratung-1", persons=persons)
    response = client.post("/api/v1/centres/herne/bookings", json=payload)
    assert response.status_code == 422, response.get_json()
    assert response.content_type == "application/problem+json"
    assert list(response.get_json()["errors"]) == ["persons"]
    with seeded.app_context():
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 0


def test_absent_persons_is_one_and_null_for_a_registration_is_a_422(seeded, client):
    from booking.models import Centre, Event

    with seeded.app_context():
        event_id = db.session.scalar(
            select(Event.id).join(Centre).where(Centre.slug == "herne").order_by(Event.id)
        )
    url = f"/api/v1/centres/herne/events/{event_id}/registrations"
    body = {"name": "Ayşe Öztürk", "email": "ayse@example.org", "consent": True}
    refused = client.post(url, json=body | {"persons": None})
    assert refused.status_code == 422
    assert list(refused.get_json()["errors"]) == ["persons"]
    with seeded.app_context():
        assert db.session.scalar(select(func.count()).select_from(Registration)) == 0
    created = client.post(url, json=body)
    assert created.status_code == 201 and created.get_json()["persons"] == 1
    payload = booking_payload(at(next_working_day(1), 10), "beratung-1")
    booked = client.post("/api/v1/centres/herne/bookings", json=payload)
    assert booked.status_code == 201
