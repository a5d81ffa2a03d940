"""Staff search: by name, phone, e-mail or reference, cancelled and past bookings too,
within each role's rights; every search leaves an audit entry without the search text."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from booking.extensions import db
from booking.models import AuditEntry, Booking, utcnow
from tests.helpers import at, next_working_day

AYLIN = "aylin.demir@herne.example"
KARIM = "karim.haddad@herne.example"
RECEPTION = "rezeption@herne.example"
ADMIN = "admin@herne.example"
HEINSBERG_RECEPTION = "rezeption@kreis-heinsberg.example"


def found(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'class="search-result[^"]*" data-booking-id="(\d+)"', html)}


@pytest.fixture
def world(seeded, make_staff, make_booking):
    app = seeded
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    monday = next_working_day(0)
    ids = {
        "aylin": make_booking(
            at(monday, 9),
            name="Ayşe Öztürk",
            email="ayse.oeztuerk@example.org",
            phone="+49 171 234-5678",
            language="tr",
            message="Geheim 7Q",
        ),
        "karim": make_booking(
            at(monday, 11), service="beratung-5", name="Omar Nassar", phone="02325 99 88"
        ),
        "heinsberg": make_booking(
            at(monday, 9), centre="kreis-heinsberg", name="Hanna Öztürk", phone="0171 2345678"
        ),
    }
    make_staff(RECEPTION, "reception", "herne", name="Rita Rezeption")
    make_staff(ADMIN, "admin", "herne", name="Anna Admin")
    make_staff(HEINSBERG_RECEPTION, "reception", "kreis-heinsberg", name="Heinz Empfang")
    make_staff(AYLIN, "counsellor", "herne")
    make_staff(KARIM, "counsellor", "herne")
    return {name: booking.id for name, booking in ids.items()} | {
        "ref_aylin": ids["aylin"].reference,
        "ref_heinsberg": ids["heinsberg"].reference,
    }


def search(client, text: str):
    return client.get("/staff/search", query_string={"q": text})


def test_reception_finds_by_phone_in_any_spelling_and_by_name_and_reference(world, client, sign_in):
    sign_in(client, RECEPTION)
    for text in ("0171 2345678", "171/234 56 78", "+491712345678"):
        response = search(client, text)
        assert response.status_code == 200
        assert found(response.get_data(as_text=True)) == {world["aylin"]}, text
    page = search(client, "öztürk").get_data(as_text=True)
    # Unicode case folding differs between databases: the exact spelling always matches.
    assert world["aylin"] in found(search(client, "Öztürk").get_data(as_text=True))
    assert world["heinsberg"] not in found(page)
    reference = world["ref_aylin"]
    for text in (reference, reference.lower(), reference.replace("-", "")):
        assert found(search(client, text).get_data(as_text=True)) == {world["aylin"]}
    html = search(client, "Nassar").get_data(as_text=True)
    assert found(html) == {world["karim"]}
    assert f'href="/staff/bookings/{world["karim"]}"' in html
    assert search(client, "Nassar").headers["Cache-Control"] == "no-store"


@pytest.mark.backends("sqlite", "pg")
def test_a_national_number_is_found_by_every_international_spelling(
    seeded, client, make_staff, sign_in, make_booking
):
    """Stored as "02325/883412": found by "+49 2325 883412" and its cousins, and by the
    last digits; Eastern Arabic digits typed on an Arabic keyboard read as 0-9."""
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    booking = make_booking(
        at(next_working_day(0), 11), service="beratung-5", name="Omar Nassar", phone="02325/883412"
    )
    other = make_booking(
        at(next_working_day(0), 13), service="beratung-5", name="Pia Anders", phone="02325 883411"
    )
    make_staff(RECEPTION, "reception", "herne")
    sign_in(client, RECEPTION)
    spellings = (
        "+49 2325 883412",
        "+492325883412",
        "0049 2325 883412",
        "+49 (0)2325 883412",
        "02325 883412",
        "883412",
        "٠٢٣٢٥ ٨٨٣٤١٢",
        "۰۲۳۲۵۸۸۳۴۱۲",
    )
    for text in spellings:
        assert found(search(client, text).get_data(as_text=True)) == {booking.id}, text
    assert found(search(client, "+49 2325 88341").get_data(as_text=True)) == {
        booking.id,
        other.id,
    }


def test_reception_never_searches_by_e_mail_or_message(world, client, sign_in):
    sign_in(client, RECEPTION)
    assert found(search(client, "ayse.oeztuerk@example").get_data(as_text=True)) == set()
    assert found(search(client, "Geheim 7Q").get_data(as_text=True)) == set()
    html = search(client, "Öztürk").get_data(as_text=True)
    assert "Geheim" not in html and "ayse.oeztuerk" not in html


def test_admin_searches_by_e_mail_within_their_centres_only(world, client, sign_in):
    sign_in(client, ADMIN)
    assert found(search(client, "ayse.oeztuerk@").get_data(as_text=True)) == {world["aylin"]}
    # Another centre's booking is not found, not even by its exact reference.
    assert found(search(client, world["ref_heinsberg"]).get_data(as_text=True)) == set()
    assert found(search(client, "Hanna").get_data(as_text=True)) == set()


def test_a_counsellor_finds_only_their_own_bookings(world, client, sign_in):
    sign_in(client, KARIM)
    assert found(search(client, "Nassar").get_data(as_text=True)) == {world["karim"]}
    assert found(search(client, "Öztürk").get_data(as_text=True)) == set()
    assert found(search(client, world["ref_aylin"]).get_data(as_text=True)) == set()


def test_other_centre_reception_finds_only_their_centre(world, client, sign_in):
    sign_in(client, HEINSBERG_RECEPTION)
    assert found(search(client, "0171 2345678").get_data(as_text=True)) == {world["heinsberg"]}
    assert found(search(client, world["ref_aylin"]).get_data(as_text=True)) == set()


def test_cancelled_and_past_bookings_are_found(world, seeded, client, sign_in):
    with seeded.app_context():
        booking = db.session.get(Booking, world["karim"])
        booking.status = "cancelled"
        past = db.session.get(Booking, world["aylin"])
        past.start_at, past.end_at = (
            utcnow() - timedelta(days=30),
            utcnow() - timedelta(days=30) + timedelta(minutes=45),
        )
        past.status = "attended"
        db.session.commit()
    sign_in(client, RECEPTION)
    html = search(client, "Nassar").get_data(as_text=True)
    assert found(html) == {world["karim"]} and "status-cancelled" in html
    html = search(client, "Öztürk").get_data(as_text=True)
    assert found(html) == {world["aylin"]} and "status-attended" in html


def test_a_too_short_search_says_why_next_to_the_field(world, client, sign_in):
    sign_in(client, RECEPTION)
    response = search(client, " a ")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="q-error"' in html and 'aria-describedby="q-error"' in html
    assert search(client, "x" * 101).status_code == 422
    # Wildcards are searched for literally.
    assert found(search(client, "%%").get_data(as_text=True)) == set()
    assert found(search(client, "__").get_data(as_text=True)) == set()


@pytest.mark.backends("sqlite", "pg")
def test_every_search_is_audited_without_the_search_text(
    db_backend, world, seeded, client, sign_in
):
    sign_in(client, RECEPTION)
    search(client, "0171 2345678")
    search(client, "Niemand Hier")
    with seeded.app_context():
        entries = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "search").order_by(AuditEntry.id)
        ).all()
        assert [e.detail for e in entries] == ["1 results", "0 results"]
        assert all(e.actor_label == "Rita Rezeption" for e in entries)
        assert all("0171" not in e.detail and "Niemand" not in e.detail for e in entries)
        assert all(e.booking_id is None for e in entries)
    # Opening the search page without a query is not a search.
    client.get("/staff/search")
    with seeded.app_context():
        count = len(
            db.session.scalars(select(AuditEntry).where(AuditEntry.action == "search")).all()
        )
        assert count == 2
