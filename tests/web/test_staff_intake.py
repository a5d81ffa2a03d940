"""Phone intake: reception books for a caller with a name and a phone number, in one page.

Elements are found by ids, names and data attributes, never by (translated) text.
"""

from __future__ import annotations

import email
import re
from datetime import datetime
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from booking.bookings import BookingRequest, book_slot
from booking.extensions import db
from booking.models import AuditEntry, Booking, Centre, OutboxMessage, Service, User, utcnow
from booking.validation import BookingDetails
from tests.conftest import csrf_from
from tests.helpers import mail_of

RECEPTION = "rez@herne.example"


@pytest.fixture
def reception(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff(RECEPTION, "reception", "herne", name="Rita Rezeption"))
    return client


def slot_list(client, service="beratung-1", **params) -> tuple[str, list[str]]:
    query = "&".join(f"{k}={v}" for k, v in {"service": service, **params}.items())
    response = client.get(f"/staff/intake?{query}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return html, re.findall(r'type="radio" name="start" id="slot-\d+" value="([^"]+)"', html)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    assert match, f"no field {name}"
    return match.group(1)


def intake_post(client, html: str, start: str, service="beratung-1", centre="herne", **fields):
    data = {
        "csrf_token": csrf_from(html),
        "nonce": hidden(html, "nonce"),
        "centre": centre,
        "service": service,
        "language": fields.pop("language", ""),
        "start": start,
        "channel": "phone",
        "persons": "1",
        **fields,
    }
    return client.post("/staff/intake", data=data)


def mail_text(raw: bytes) -> str:
    """Every decoded part of a mail, joined."""
    message = email.message_from_bytes(raw, policy=policy.default)
    parts = []
    for part in message.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True) or b""
            parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(parts)


def bookings(app) -> list[Booking]:
    with app.app_context():
        rows = db.session.scalars(select(Booking).order_by(Booking.id)).all()
        db.session.expunge_all()
        return rows


def message_of(app, row: OutboxMessage) -> bytes:
    """The row's message, composed from its snapshot if it was not sent yet."""
    with app.app_context():
        return mail_of(app, row)


def outbox_rows(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        return rows


@pytest.mark.backends("sqlite", "pg")
def test_first_load_autofocuses_the_service_select_and_lists_times_on_choice(
    db_backend, app, reception
):
    html = reception.get("/staff/intake").get_data(as_text=True)
    assert re.search(r'<select id="service" name="service" autofocus>', html)
    assert 'name="start"' not in html
    html, starts = slot_list(reception)
    assert len(starts) == 12
    assert [datetime.fromisoformat(s) for s in starts] == sorted(
        datetime.fromisoformat(s) for s in starts
    )
    assert all(datetime.fromisoformat(s) > utcnow() for s in starts)
    # No time is chosen (pressing "Book" must not book the first one); the first has the
    # focus, so arrow keys choose from there.
    assert re.search(r'id="slot-0" value="[^"]+" autofocus', html)
    assert " checked autofocus" not in html and not re.search(r'name="start"[^>]* checked', html)
    assert 'id="slot-1" value="' in html
    assert not re.search(r'<select id="service" name="service" autofocus', html)


@pytest.mark.backends("sqlite", "pg")
def test_phone_booking_with_name_and_phone_only(db_backend, app, reception, tmp_path):
    html, starts = slot_list(reception)
    response = intake_post(reception, html, starts[1], name="Ayşe <Öztürk>", phone="0171 234567")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/staff/intake")
    assert "234567" not in response.headers["Location"]

    (booking,) = bookings(app)
    assert booking.channel == "phone"
    assert booking.start_at == datetime.fromisoformat(starts[1])
    assert booking.email is None and booking.phone == "0171 234567"
    assert booking.consent_at is None
    with app.app_context():
        creator = db.session.get(User, booking.created_by_id)
        assert creator.email == RECEPTION
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "book"))
        assert entry.booking_id == booking.id and entry.detail == "phone"
    assert outbox_rows(app) == []
    assert not list(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))

    # The reference is shown large to read out; the form is ready for the next call.
    page = reception.get(response.headers["Location"])
    html = page.get_data(as_text=True)
    shown = re.search(r'<output id="booked-reference" class="readout-reference">([^<]+)<', html)
    assert shown and shown.group(1) == booking.reference
    assert f'datetime="{booking.start_at.isoformat()}"' in html
    assert re.search(r'<select id="service" name="service" autofocus>', html)
    # Shown once: the next page load is a fresh form.
    assert "booked-reference" not in reception.get("/staff/intake").get_data(as_text=True)


@pytest.mark.backends("sqlite", "pg")
def test_with_email_the_confirmation_goes_out_in_the_callers_language(
    db_backend, app, seeded, client, make_staff, sign_in
):
    sign_in(client, make_staff("rez@kreis-heinsberg.example", "reception", "kreis-heinsberg"))
    # Only Nour Saleh speaks English at Heinsberg, and she offers "beratung-2".
    html, starts = slot_list(client, service="beratung-2", language="en")
    assert starts
    response = intake_post(
        client,
        html,
        starts[0],
        service="beratung-2",
        centre="kreis-heinsberg",
        language="en",
        name="Sam Caller",
        phone="02452 1234",
        email="sam@example.org",
    )
    assert response.status_code == 303
    (booking,) = bookings(app)
    assert booking.locale == "en" and booking.language == "en"
    with app.app_context():
        assert db.session.get(User, booking.counsellor_id).name == "Nour Saleh"
    confirmation = [row for row in outbox_rows(app) if row.kind == "confirmation"]
    assert len(confirmation) == 1 and confirmation[0].recipient == "sam@example.org"
    message = email.message_from_bytes(message_of(app, confirmation[0]), policy=policy.default)
    assert message["Content-Language"] == "en"
    assert (
        message["Subject"] == "Your appointment at Kommunales Integrationszentrum Kreis Heinsberg"
    )
    assert "METHOD:REQUEST" in mail_text(message_of(app, confirmation[0]))
    emls = list(Path(app.config["OUTBOX_DIR"]).glob("*-confirmation.eml"))
    assert len(emls) == 1


def test_a_caller_speaking_a_site_language_is_mailed_in_it(app, reception):
    html, starts = slot_list(reception, language="tr")
    response = intake_post(
        reception,
        html,
        starts[0],
        language="tr",
        name="Ayla",
        phone="0171 1",
        email="a@example.org",
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    (booking,) = bookings(app)
    # Turkish is one of the site's languages: the mails go out in Turkish.
    assert booking.language == "tr" and booking.locale == "tr"
    with app.app_context():
        # Only Aylin Demir speaks Turkish at Herne.
        assert db.session.get(User, booking.counsellor_id).name == "Aylin Demir"
    (row,) = [r for r in outbox_rows(app) if r.kind == "confirmation"]
    assert (
        email.message_from_bytes(message_of(app, row), policy=policy.default)["Content-Language"]
        == "tr"
    )


def test_walk_in_needs_no_phone(app, reception):
    html, starts = slot_list(reception, service="beratung-3")
    response = intake_post(
        reception, html, starts[0], service="beratung-3", channel="walk_in", name="Walk In"
    )
    assert response.status_code == 303
    (booking,) = bookings(app)
    assert booking.channel == "walk_in" and booking.phone is None


def test_validation_errors_stand_next_to_the_fields(app, reception):
    html, starts = slot_list(reception)
    response = intake_post(
        reception,
        html,
        starts[2],
        name="",
        phone="",
        email="not-an-address",
        persons="11",
        message="x" * 1001,
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field in ("name", "phone", "email", "persons", "message"):
        assert f'id="{field}-error"' in html, field
        control = re.search(rf'<(?:input|textarea)[^>]*id="{field}"[^>]*>', html).group(0)
        assert 'aria-invalid="true"' in control, field
        assert f"{field}-error" in control, field
    # The chosen time and the input are kept.
    assert re.search(rf'value="{re.escape(starts[2])}" checked', html)
    assert 'value="not-an-address"' in html
    assert bookings(app) == []

    # A phone number is required for a phone booking only; a start must be chosen.
    response = intake_post(reception, html, "", name="Kim", phone="")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="phone-error"' in html and 'id="start-error"' in html
    assert 'id="name-error"' not in html
    assert bookings(app) == []


def test_control_characters_in_the_name_are_refused(app, reception):
    html, starts = slot_list(reception)
    response = intake_post(reception, html, starts[0], name="Evil\r\nBcc: x", phone="0171 1")
    assert response.status_code == 422
    assert 'id="name-error"' in response.get_data(as_text=True)


@pytest.mark.backends("sqlite", "pg")
def test_a_taken_slot_gives_a_message_and_a_fresh_list(db_backend, app, reception):
    # Only Karim Haddad offers "beratung-5" at Herne: one booking takes the time.
    html, starts = slot_list(reception, service="beratung-5")
    taken = starts[0]
    with app.test_request_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        service = db.session.scalar(
            select(Service).where(Service.centre_id == centre.id, Service.slug == "beratung-5")
        )
        book_slot(
            BookingRequest(
                centre,
                service,
                datetime.fromisoformat(taken),
                BookingDetails(name="Other", email=None, phone="0171 9"),
                channel="phone",
            ),
            now=utcnow(),
        )
    response = intake_post(reception, html, taken, service="beratung-5", name="Late", phone="1 2 3")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'id="intake-problem"' in html and 'role="alert"' in html
    fresh = re.findall(r'name="start" id="slot-\d+" value="([^"]+)"', html)
    assert fresh and taken not in fresh
    # The caller's details are still there for the next try.
    assert 'value="Late"' in html
    assert len(bookings(app)) == 1


def test_a_repeated_submission_books_once(app, reception):
    html, starts = slot_list(reception)
    first = intake_post(reception, html, starts[0], name="Twice", phone="0171 2")
    second = intake_post(reception, html, starts[0], name="Twice", phone="0171 2")
    assert first.status_code == second.status_code == 303
    assert len(bookings(app)) == 1


def test_an_admin_of_two_centres_chooses_the_centre(app, seeded, client, make_staff, sign_in):
    sign_in(client, make_staff("boss@example.org", "admin", "herne", "kreis-heinsberg"))
    html = client.get("/staff/intake").get_data(as_text=True)
    assert re.search(r'<option value="herne" selected>', html)
    assert '<option value="kreis-heinsberg">' in html
    html, starts = slot_list(client, service="beratung-1", centre="kreis-heinsberg")
    assert '<input type="hidden" name="centre" value="kreis-heinsberg">' in html
    response = intake_post(
        client, html, starts[0], centre="kreis-heinsberg", name="Heinz", phone="02452 1"
    )
    assert response.status_code == 303
    (booking,) = bookings(app)
    with app.app_context():
        assert db.session.get(Centre, booking.centre_id).slug == "kreis-heinsberg"
        counsellor = db.session.get(User, booking.counsellor_id)
        assert counsellor.centre.slug == "kreis-heinsberg"


def test_a_centre_outside_the_users_is_never_used(app, reception):
    # Reception of Herne asking for Heinsberg gets Herne: the hidden field is not trusted.
    html, starts = slot_list(reception, centre="kreis-heinsberg")
    assert '<input type="hidden" name="centre" value="herne">' in html
    response = intake_post(
        reception, html, starts[0], centre="kreis-heinsberg", name="X", phone="1 2 3"
    )
    assert response.status_code == 303
    with app.app_context():
        (centre_slug,) = db.session.execute(
            select(Centre.slug).join(Booking, Booking.centre_id == Centre.id)
        ).one()
    assert centre_slug == "herne"


def test_query_count_is_bounded(app, reception):
    listed = reception.get("/staff/intake?service=beratung-1")
    assert int(listed.headers["X-Query-Count"]) <= 20
    html = listed.get_data(as_text=True)
    starts = re.findall(r'name="start" id="slot-\d+" value="([^"]+)"', html)
    posted = intake_post(reception, html, starts[0], name="Q", phone="0171 3")
    assert posted.status_code == 303
    assert int(posted.headers["X-Query-Count"]) <= 30
    shown = reception.get(posted.headers["Location"])
    assert int(shown.headers["X-Query-Count"]) <= 15


def test_every_post_needs_the_csrf_token(app, reception):
    html, starts = slot_list(reception)
    response = reception.post(
        "/staff/intake",
        data={"service": "beratung-1", "start": starts[0], "name": "N", "phone": "0171 4"},
    )
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Booking)) == 0


def test_a_counsellor_booking_for_a_colleague_sees_the_reference(
    app, seeded, client, make_staff, sign_in
):
    sign_in(client, make_staff("aylin.demir@herne.example", "counsellor", "herne"))
    # "beratung-5" is Karim's alone: the booking goes to him, not to Aylin.
    html, starts = slot_list(client, service="beratung-5")
    response = intake_post(client, html, starts[0], service="beratung-5", name="C", phone="0171 5")
    assert response.status_code == 303
    (booking,) = bookings(app)
    with app.app_context():
        assert db.session.get(User, booking.counsellor_id).name == "Karim Haddad"
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'class="readout-reference">{booking.reference}<' in html
    # The details stay Karim's: no link to them.
    assert f'href="/staff/bookings/{booking.id}"' not in html


def test_book_without_choosing_a_time_books_nothing(app, reception):
    """The issue's Monday 08:00: "Buchen" without a time chosen says so, books nothing."""
    html, starts = slot_list(reception)
    assert starts
    response = intake_post(reception, html, "", name="Kim", phone="0171 1234567")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert (
        'id="start-error"' in page
        or "Please choose a time" in page
        or "Bitte wählen Sie eine Zeit" in page
    )
    assert not re.search(r'name="start"[^>]* checked', page)
    assert bookings(app) == []


def test_intake_filters_mornings_and_afternoons(app, reception):
    from booking.i18n import local_time

    morning_html, mornings = slot_list(reception, part="morning")
    _html, afternoons = slot_list(reception, part="afternoon")
    assert mornings and afternoons
    assert all(local_time(datetime.fromisoformat(s), "Europe/Berlin").hour < 12 for s in mornings)
    assert all(
        local_time(datetime.fromisoformat(s), "Europe/Berlin").hour >= 12 for s in afternoons
    )
    assert '<option value="morning" selected>' in morning_html
    # "Later times" keeps the filter.
    later = re.search(r'href="([^"]+)" rel="next"', morning_html)
    if later:
        assert "part=morning" in later.group(1).replace("&amp;", "&")
    refused = reception.get("/staff/intake?service=beratung-1&part=evening")
    assert refused.status_code in (200, 422)
    assert 'id="part-error"' in refused.get_data(as_text=True)


def test_the_staff_move_page_preselects_no_time(app, reception):
    """Moving by phone: nothing is chosen until reception chooses; "Move" without a time
    moves nothing."""
    html, starts = slot_list(reception)
    intake_post(reception, html, starts[0], name="Kim", phone="0171 1234567")
    (booking,) = bookings(app)
    page = reception.get(f"/staff/bookings/{booking.id}/move").get_data(as_text=True)
    assert 'name="start"' in page
    assert not re.search(r'name="start"[^>]* checked', page)
    response = reception.post(
        f"/staff/bookings/{booking.id}/move", data={"csrf_token": csrf_from(page)}
    )
    assert response.status_code == 422
    (same,) = bookings(app)
    assert same.start_at == booking.start_at
