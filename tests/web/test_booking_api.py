"""POST /bookings and the manage endpoints: rules of SPEC "Bookings", on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from booking.extensions import db
from booking.models import Booking, IdempotencyKey, OutboxMessage
from tests.helpers import at, booking_payload, local, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

PROBLEM = "application/problem+json"


@pytest.fixture
def centre(app, make_centre):
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    return make_centre()


@pytest.fixture
def monday():
    return next_working_day(0)


def book(client, payload, centre="test", **headers):
    return client.post(f"/api/v1/centres/{centre}/bookings", json=payload, headers=headers)


def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def token_of(response) -> str:
    return response.get_json()["manage_url"].rsplit("/", 1)[1]


def test_booking_is_created_with_the_spec_fields(app, client, centre, monday):
    response = book(client, booking_payload(at(monday, 10)))
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"reference", "status", "start", "end", "service", "centre", "manage_url"}
    assert body["status"] == "confirmed"
    assert body["service"] == "short" and body["centre"] == "test"
    assert local(body["start"]).strftime("%H:%M") == "10:00"
    assert local(body["end"]).strftime("%H:%M") == "10:45"
    assert body["manage_url"].startswith("http://localhost/b/")
    assert response.headers["Location"].endswith("/api/v1/bookings/" + token_of(response))
    assert len(token_of(response)) >= 22  # at least 128 random bits
    with app.app_context():
        booking = db.session.scalar(select(Booking))
        assert booking.manage_token_hash != token_of(response)  # only the hash is stored
        assert token_of(response) not in booking.manage_token_hash


def test_get_booking_by_token_and_unknown_token(client, centre, monday):
    created = book(client, booking_payload(at(monday, 10)))
    response = client.get(f"/api/v1/bookings/{token_of(created)}")
    assert response.status_code == 200
    assert response.get_json() == created.get_json()
    missing = client.get("/api/v1/bookings/not-a-token")
    assert missing.status_code == 404 and missing.mimetype == PROBLEM


def test_start_that_is_not_a_free_slot_is_409(client, centre, monday):
    for start in (at(monday, 10, 15), at(monday, 15, 30), at(monday, 7)):
        response = book(client, booking_payload(start))
        assert response.status_code == 409, start
        assert response.mimetype == PROBLEM
        assert response.get_json()["type"].endswith("/slot-unavailable")


def test_overlap_of_different_lengths_is_refused(app, client, centre, monday):
    assert book(client, booking_payload(at(monday, 10), "short")).status_code == 201
    # 09:30-10:30 (60 min) overlaps 10:00-10:45 of the same, only counsellor.
    response = book(client, booking_payload(at(monday, 9, 30), "long", email="b@example.org"))
    assert response.status_code == 409
    assert count(app, Booking) == 1


def test_adjacent_bookings_are_accepted(client, centre, monday):
    assert book(client, booking_payload(at(monday, 9), "long")).status_code == 201
    second = book(client, booking_payload(at(monday, 10), "short", email="b@example.org"))
    assert second.status_code == 201  # 09:00-10:00 then 10:00-10:45


def test_a_cancelled_slot_can_be_booked_again(app, client, centre, monday):
    first = book(client, booking_payload(at(monday, 10)))
    assert client.post(f"/api/v1/bookings/{token_of(first)}/cancel").status_code == 200
    again = book(client, booking_payload(at(monday, 10), email="other@example.org"))
    assert again.status_code == 201
    assert count(app, Booking) == 2


def test_cancel_is_idempotent_and_sends_one_cancellation(app, client, centre, monday):
    token = token_of(book(client, booking_payload(at(monday, 10))))
    first = client.post(f"/api/v1/bookings/{token}/cancel")
    second = client.post(f"/api/v1/bookings/{token}/cancel")
    assert first.status_code == second.status_code == 200
    assert second.get_json()["status"] == "cancelled"
    assert count(app, OutboxMessage, OutboxMessage.kind == "cancellation") == 1
    # The reminder of a cancelled booking is withdrawn before it goes out.
    assert count(app, OutboxMessage, OutboxMessage.kind == "reminder") == 0


def test_reschedule_moves_and_raises_the_sequence(app, client, centre, monday):
    token = token_of(book(client, booking_payload(at(monday, 10))))
    moved = client.post(f"/api/v1/bookings/{token}/reschedule", json={"start": at(monday, 10, 30)})
    assert moved.status_code == 200
    assert local(moved.get_json()["start"]).strftime("%H:%M") == "10:30"
    with app.app_context():
        booking = db.session.scalar(select(Booking))
        assert booking.sequence == 1
        kinds = sorted(db.session.scalars(select(OutboxMessage.kind)))
    assert kinds == ["change", "confirmation", "reminder"]  # the old reminder was replaced


def test_reschedule_to_a_taken_time_is_409_and_changes_nothing(app, client, centre, monday):
    token = token_of(book(client, booking_payload(at(monday, 10))))
    book(client, booking_payload(at(monday, 12), email="b@example.org"))
    response = client.post(f"/api/v1/bookings/{token}/reschedule", json={"start": at(monday, 12)})
    assert response.status_code == 409
    assert local(client.get(f"/api/v1/bookings/{token}").get_json()["start"]).hour == 10


def test_idempotency_key_returns_the_first_answer_and_sends_one_mail(app, client, centre, monday):
    payload = booking_payload(at(monday, 10))
    first = book(client, payload, **{"Idempotency-Key": "abc-123"})
    again = book(client, payload, **{"Idempotency-Key": "abc-123"})
    assert first.status_code == again.status_code == 201
    # The repeat is the first answer without the manage link: whoever else learnt the key
    # and the body gets no working link (the first client has it, and the mail).
    assert "manage_url" in first.get_json() and "Location" in first.headers
    assert "manage_url" not in again.get_json() and "Location" not in again.headers
    assert again.get_json() == {k: v for k, v in first.get_json().items() if k != "manage_url"}
    assert count(app, Booking) == 1
    assert count(app, OutboxMessage, OutboxMessage.kind == "confirmation") == 1
    with app.app_context():
        stored = db.session.scalar(select(IdempotencyKey))
        assert "manage_url" not in stored.response_body  # no usable link in the database


def test_idempotency_key_with_another_body_is_422(client, centre, monday):
    book(client, booking_payload(at(monday, 10)), **{"Idempotency-Key": "abc"})
    other = book(client, booking_payload(at(monday, 11)), **{"Idempotency-Key": "abc"})
    assert other.status_code == 422
    assert other.get_json()["type"].endswith("/idempotency-key-reused")


def test_at_most_three_active_future_bookings_per_email(app, client, centre, monday):
    for hour, email in (
        (9, "Ayse@Example.org"),
        (11, "ayse@example.org"),
        (13, "AYSE@example.org"),
    ):
        assert book(client, booking_payload(at(monday, hour), email=email)).status_code == 201
    fourth = book(client, booking_payload(at(monday, 15), email="ayse@EXAMPLE.org"))
    assert fourth.status_code == 409
    assert fourth.get_json()["type"].endswith("/too-many-active-bookings")
    assert count(app, Booking) == 3


def test_preferred_language_picks_a_speaker(app, client, make_centre, monday):
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    make_centre("two", counsellors=2)
    response = book(client, booking_payload(at(monday, 10), language="ar"), centre="two")
    assert response.status_code == 201
    with app.app_context():
        assert db.session.scalar(select(Booking)).counsellor.languages == ["de", "ar"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "Ayşe\r\nBcc: victim@example.org"}, "name"),
        ({"name": "Ayşe\x00"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@example.org\r\nBcc: x@example.org"}, "email"),
        ({"email": None}, "email"),
        ({"phone": "0171\n123"}, "phone"),
        ({"phone": "call me"}, "phone"),
        ({"persons": 0}, "persons"),
        ({"persons": 11}, "persons"),
        ({"persons": "many"}, "persons"),
        ({"persons": True}, "persons"),
        ({"message": "x" * 1001}, "message"),
        ({"message": "bell\x07"}, "message"),
        ({"language": "not a tag"}, "language"),
        ({"interpreter_language": "12"}, "interpreter_language"),
        ({"consent": False}, "consent"),
        ({"consent": None}, "consent"),
        ({"consent": "yes"}, "consent"),
        ({"start": "2030-01-01T10:00:00"}, "start"),
        ({"start": "tomorrow"}, "start"),
        ({"service": "astrology"}, "service"),
        ({"service": None}, "service"),
    ],
)
def test_invalid_input_is_422_naming_the_field(app, client, centre, monday, change, field):
    payload = booking_payload(at(monday, 10))
    payload.update(change)
    if change.get("email", "") is None:
        payload.pop("email")
    response = book(client, payload)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert field in body["errors"], body
    assert count(app, Booking) == 0
    assert count(app, OutboxMessage) == 0


def test_names_keep_any_printable_character(app, client, centre, monday):
    name = 'Ayşe "Ada" <Öztürk> & Co; أحمد'
    message = "Zeile eins\nZeile zwei"
    response = book(client, booking_payload(at(monday, 10), name=name, message=message))
    assert response.status_code == 201
    with app.app_context():
        booking = db.session.scalar(select(Booking))
        assert booking.name == name and booking.message == message


def test_non_json_body_is_415_and_broken_json_is_400(client, centre):
    form = client.post("/api/v1/centres/test/bookings", data={"name": "x"})
    assert form.status_code == 415 and form.mimetype == PROBLEM
    broken = client.post("/api/v1/centres/test/bookings", data="{", content_type="application/json")
    assert broken.status_code == 400 and broken.mimetype == PROBLEM


def test_past_booking_cannot_be_cancelled_online(app, client, centre, monday):
    from datetime import timedelta

    token = token_of(book(client, booking_payload(at(monday, 10))))
    with app.app_context():
        booking = db.session.scalar(select(Booking))
        booking.start_at -= timedelta(days=30)
        booking.end_at -= timedelta(days=30)
        db.session.commit()
    response = client.post(f"/api/v1/bookings/{token}/cancel")
    assert response.status_code == 409
    assert response.get_json()["type"].endswith("/booking-not-changeable")


def test_phone_only_service_cannot_be_booked_online(app, client, centre, monday):
    from booking.models import Service

    with app.app_context():
        db.session.scalar(select(Service).where(Service.slug == "short")).online_bookable = False
        db.session.commit()
    response = book(client, booking_payload(at(monday, 10)))
    assert response.status_code == 409
    assert response.get_json()["type"].endswith("/service-not-online-bookable")


def test_a_booking_answers_from_what_it_wrote_without_reading_it_back(app, client, centre, monday):
    """The mail is a snapshot in the transaction and the answer is built from the objects
    just written: a fixed, small number of statements (PostgreSQL adds the advisory lock
    on the e-mail address; SQLite counts its BEGIN IMMEDIATE; one looks for holds that ran
    out, so that their time is free for this booking)."""
    response = book(client, booking_payload(at(monday, 10)))
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "confirmed" and body["service"] == "short"
    assert local(body["start"]) == local(at(monday, 10))
    assert int(response.headers["X-Query-Count"]) <= 14
