"""Where families go (a centre's postal and visiting address, on pages, mails, invitations
and in the API) and what the privacy notice says (legal basis, what is stored, for how long,
the data-protection officer, the right to object)."""

from __future__ import annotations

import email
import re
from email import policy
from html import unescape
from urllib.parse import quote

from sqlalchemy import select

from booking import outbox
from booking.extensions import db
from booking.models import Centre, OutboxMessage, Service
from tests.conftest import csrf_from
from tests.helpers import at, next_working_day

VISIT = "Dienstgebäude, Oberbrucher Str. 1, 52525 Heinsberg"
POSTAL = "Valkenburger Str. 45, 52525 Heinsberg"


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_kreis_heinsberg_has_a_postal_and_a_visiting_address(seeded, client):
    """SPEC "Demo data": letters to Valkenburger Str. 45, families to the Dienstgebäude."""
    with seeded.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "kreis-heinsberg"))
        assert (centre.address, centre.visiting_address) == (POSTAL, VISIT)
    html = client.get("/centres/kreis-heinsberg").get_data(as_text=True)
    visiting = re.search(r'<p class="address visiting-address">(.*?)</p>', html, re.S).group(1)
    assert VISIT in unescape(visiting)
    postal = re.search(r'<p class="address postal-address">(.*?)</p>', html, re.S).group(1)
    assert POSTAL in unescape(postal)
    # The map is a plain link: nothing from the map's site is loaded with the page.
    link = re.search(r'<a class="map-link" href="([^"]+)"', visiting).group(1)
    assert link.startswith("https://www.openstreetmap.org/search?query=")
    assert "openstreetmap" not in re.sub(r'<a class="map-link"[^>]*>', "", html)
    # Herne has one address: no postal line of its own.
    herne = client.get("/centres/herne").get_data(as_text=True)
    assert "postal-address" not in herne and "visiting-address" in herne

    api = client.get("/api/v1/centres").get_json()
    heinsberg = next(c for c in api if c["slug"] == "kreis-heinsberg")
    assert (heinsberg["address"], heinsberg["visiting_address"]) == (POSTAL, VISIT)
    herne_api = next(c for c in api if c["slug"] == "herne")
    assert herne_api["visiting_address"] == herne_api["address"]


def test_mails_and_invitations_name_where_to_go(seeded, make_booking):
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    booking = make_booking(at(next_working_day(1), 9), centre="kreis-heinsberg", name="Hanna Berg")
    with seeded.app_context():
        row = db.session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.booking_id == booking.id, OutboxMessage.kind == "confirmation"
            )
        )
        message = email.message_from_bytes(outbox.message_of(seeded, row), policy=policy.default)
    plain = message.get_body(preferencelist=("plain",)).get_content()
    assert f"Wo: Kommunales Integrationszentrum Kreis Heinsberg, {VISIT}" in plain
    calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    ics = calendar.get_content().replace("\r\n ", "").replace("\\,", ",")
    assert re.search(r"^LOCATION:(.*)$", ics, re.M).group(1).strip() == VISIT


def test_a_service_with_its_own_place_names_it(seeded, client):
    with seeded.app_context():
        service = db.session.scalar(
            select(Service).join(Centre).where(Centre.slug == "herne", Service.slug == "beratung-1")
        )
        service.location = "Stadtbibliothek, Raum 2, Willi-Pohlmann-Platz 1, 44623 Herne"
        db.session.commit()
    monday = next_working_day(0)
    html = client.get(
        f"/centres/herne/beratung-1/book?start={quote(at(monday, 9))}&language=de"
    ).get_data(as_text=True)
    assert "Stadtbibliothek, Raum 2" in unescape(html)


def test_german_service_texts_inside_another_language_are_marked_german(seeded, client):
    with seeded.app_context():
        service = db.session.scalar(
            select(Service).join(Centre).where(Centre.slug == "herne", Service.slug == "beratung-1")
        )
        service.descriptions = {"de": "Worum es geht.", "ar": "ما موضوع الاستشارة."}
        service.what_to_bring = {"de": "Zeugnisse Ihres Kindes."}
        db.session.commit()
    html = client.get("/centres/herne?lang=ar").get_data(as_text=True)
    assert re.search(r'<p class="service-description" dir="auto">ما موضوع الاستشارة.</p>', html)
    assert '<bdi lang="de">Zeugnisse Ihres Kindes.</bdi>' in html
    german = client.get("/centres/herne?lang=de").get_data(as_text=True)
    assert "<bdi>Zeugnisse Ihres Kindes.</bdi>" in german


def test_the_privacy_notice_is_complete(seeded, client):
    seeded.config["RETENTION_DAYS"] = 30
    html = client.get("/privacy?lang=en").get_data(as_text=True)
    page = text_of(html)
    # Legal basis: the public task, with the state law; consent only for what is optional.
    assert "Art. 6 (1) (e) GDPR together with § 3" in page and "DSG NRW" in page
    assert "You can withdraw this consent at any time" in page
    # What is stored, completely.
    for stored in ("date and time", "reference number", "status", "copies of the e-mails"):
        assert stored in page, stored
    # How long: from the configuration, not "some time".
    assert "deleted 30 days after the appointment" in page and "some time" not in page
    # The data-protection officer (a centre setting) and the right to object.
    assert "Data protection officer" in page and "datenschutz@kreis-heinsberg.example" in page
    assert "object at any time" in page and "Art. 21 GDPR" in page
    # The form asks to confirm reading, not to "agree" to a notice.
    form = client.get(
        f"/centres/herne/beratung-1/book?start={quote(at(next_working_day(0), 9))}&lang=en"
    ).get_data(as_text=True)
    assert "I have read the privacy notice." in form and "and agree" not in form


def test_admins_set_the_privacy_officer_and_the_visiting_address(
    seeded, client, make_staff, sign_in
):
    sign_in(client, make_staff("admin@herne.example", "admin", "herne"))
    page = client.get("/admin/centres/herne/legal").get_data(as_text=True)
    response = client.post(
        "/admin/centres/herne/legal",
        data={
            "csrf_token": csrf_from(page),
            "legal_operator": "Stadt Herne",
            "responsible_person": "",
            "contact_email": "",
            "accessibility_contact": "",
            "privacy_officer_contact": "Frau Beispiel, dsb@herne.example",
            "visiting_address": "Rathaus, Friedrich-Ebert-Platz 2, 44623 Herne",
        },
    )
    assert response.status_code == 303
    privacy = text_of(client.get("/privacy?lang=en").get_data(as_text=True))
    assert "Frau Beispiel, dsb@herne.example" in privacy
    centre = unescape(client.get("/centres/herne").get_data(as_text=True))
    assert "Rathaus, Friedrich-Ebert-Platz 2" in centre and "Rademachers Weg 15" in centre
