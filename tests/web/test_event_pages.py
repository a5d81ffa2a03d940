"""The public event pages: lists with a filter, an event with its form, the manage page."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from booking.extensions import db
from booking.models import Registration
from tests.conftest import csrf_from
from tests.events_helpers import make_event


def form_data(html: str, **over) -> dict:
    data = {
        "csrf_token": csrf_from(html),
        "name": "Noor Al-Sayed",
        "email": "noor@example.org",
        "persons": "2",
        "language": "ar",
        "consent": "y",
    }
    data.update(over)
    return data


@pytest.mark.backends("sqlite")
def test_lists_filter_by_audience_and_show_seats(app, client, make_centre, db_backend):
    make_centre()
    make_event(app, title="Elterncafé", audience="families", seats=12)
    make_event(
        app, title="Fortbildung Schule", audience="professionals", seats=1, waiting_list=True
    )
    page = client.get("/centres/test/events").get_data(as_text=True)
    assert "Elterncafé" in page and "Fortbildung Schule" in page
    assert "12" in page
    families = client.get("/events?audience=families").get_data(as_text=True)
    assert "Elterncafé" in families and "Fortbildung Schule" not in families
    assert client.get("/centres/nowhere/events").status_code == 404
    assert "/centres/test/events" in client.get("/centres/test").get_data(as_text=True)


@pytest.mark.backends("sqlite")
def test_register_by_form_then_cancel_on_the_manage_page(app, client, make_centre, db_backend):
    make_centre()
    event_id = make_event(app, seats=3, audience="families")
    url = f"/centres/test/events/{event_id}"
    page = client.get(url + "?lang=ar").get_data(as_text=True)
    assert 'dir="rtl"' in page
    assert 'name="organisation"' not in page  # families are not asked for one
    response = client.post(url, data=form_data(page))
    assert response.status_code == 303
    manage = response.headers["Location"]
    assert re.fullmatch(r".*/r/[A-Za-z0-9_-]{40,}", manage)
    shown = client.get(manage).get_data(as_text=True)
    assert "Noor Al-Sayed" in shown
    assert client.get(manage).headers["Cache-Control"] == "no-store"
    # The same address again: a message at the field, nothing written.
    again = client.post(url, data=form_data(client.get(url).get_data(as_text=True)))
    assert again.status_code == 409
    assert 'id="email-error"' in again.get_data(as_text=True)
    # A GET of the cancel page changes nothing; the POST cancels.
    cancel_page = client.get(manage + "/cancel").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Registration.status)) == "confirmed"
    assert (
        client.post(manage + "/cancel", data={"csrf_token": csrf_from(cancel_page)}).status_code
        == 303
    )
    with app.app_context():
        assert db.session.scalar(select(Registration.status)) == "cancelled"
    assert client.get("/r/not-a-token").status_code == 404


@pytest.mark.backends("sqlite")
def test_bad_form_input_shows_messages_at_the_fields(app, client, make_centre, db_backend):
    make_centre()
    event_id = make_event(app, audience="professionals")
    url = f"/centres/test/events/{event_id}"
    page = client.get(url).get_data(as_text=True)
    assert 'name="organisation"' in page
    response = client.post(url, data=form_data(page, persons="11", email="x", consent=""))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for name in ("persons", "email", "consent"):
        assert f'id="{name}-error"' in html
    with app.app_context():
        assert db.session.scalar(select(Registration.id)) is None


@pytest.mark.backends("sqlite")
def test_the_manage_page_offers_this_registrations_invitation(app, client, make_centre, db_backend):
    make_centre()
    event_id = make_event(app)
    url = f"/centres/test/events/{event_id}"
    manage = client.post(url, data=form_data(client.get(url).get_data(as_text=True))).headers[
        "Location"
    ]
    ics = client.get(manage + "/invite.ics")
    assert ics.status_code == 200
    body = ics.get_data(as_text=True)
    assert "METHOD:REQUEST" in body and "registration-" in body
    assert body.count("ATTENDEE") == 1 and "noor@example.org" in body


def days_ahead(days: int, hour: int = 13):
    from datetime import UTC, datetime, timedelta

    from booking.models import utcnow

    day = (utcnow() + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.mark.backends("sqlite")
def test_lists_filter_by_dates_as_the_api_does_without_javascript(
    app, client, make_centre, db_backend
):
    make_centre()
    make_event(app, title="Elterncafé früh", start_at=days_ahead(10))
    make_event(app, title="Infoabend spät", start_at=days_ahead(20))
    first = days_ahead(15).date().isoformat()
    last = days_ahead(20).date().isoformat()
    for url in ("/centres/test/events", "/events"):
        page = client.get(url, query_string={"from": first, "lang": "ar"})
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "Infoabend spät" in html and "Elterncafé früh" not in html
        # A GET form: the dates typed stay in their fields, the page's language in the form
        # and in the language switcher's links.
        assert 'method="get"' in html and f'name="from" value="{first}"' in html
        assert '<input type="hidden" name="lang" value="ar">' in html
        assert f"from={first}" in html.split('class="languages"')[1].split("</ul>")[0]
        until = client.get(url, query_string={"to": days_ahead(10).date().isoformat()})
        shown = until.get_data(as_text=True)
        assert "Elterncafé früh" in shown and "Infoabend spät" not in shown
    # The across-centres list keeps the filter in its links to each centre.
    across = client.get("/events", query_string={"from": first, "to": last}).get_data(as_text=True)
    assert f"/centres/test/events?from={first}&amp;to={last}" in across
    # The API answers the same for the same days.
    answer = client.get("/api/v1/centres/test/events", query_string={"from": first, "to": last})
    assert [e["title"] for e in answer.get_json()] == ["Infoabend spät"]
    empty = client.get(
        "/centres/test/events", query_string={"to": first, "from": first, "lang": "de"}
    )
    assert "Für diese Tage sind keine Veranstaltungen geplant." in empty.get_data(as_text=True)


@pytest.mark.backends("sqlite")
def test_a_bad_date_gets_a_message_next_to_its_field_in_the_pages_language(
    app, client, make_centre, db_backend
):
    make_centre()
    make_event(app, title="Elterncafé", start_at=days_ahead(10))
    page = client.get("/centres/test/events", query_string={"from": "2026-02-30", "lang": "ar"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="date-from-error"' in html and "يُرجى إدخال التاريخ بالصيغة YYYY-MM-DD." in html
    assert 'aria-describedby="date-from-error"' in html
    assert "Elterncafé" in html  # the bound that cannot be read is left out
    later, earlier = days_ahead(12).date().isoformat(), days_ahead(5).date().isoformat()
    page = client.get("/events", query_string={"from": later, "to": earlier, "lang": "tr"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="date-to-error"' in html
    assert "Bitiş tarihi, başlangıç tarihinden önce geliyor." in html
    far = client.get("/events", query_string={"to": "9999-12-31", "lang": "de"})
    assert far.status_code == 200 and 'id="date-to-error"' in far.get_data(as_text=True)


@pytest.mark.backends("sqlite")
def test_event_pages_and_mail_join_languages_by_the_locale(app, client, make_centre, db_backend):
    from email import message_from_bytes
    from email.policy import default

    from booking import outbox
    from booking.models import OutboxMessage

    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"  # the mails wait in the outbox
    make_centre()
    event_id = make_event(app)  # held in German and Arabic
    url = f"/centres/test/events/{event_id}"
    arabic = client.get(url + "?lang=ar").get_data(as_text=True)
    assert "الألمانية والعربية" in arabic and "الألمانية, العربية" not in arabic
    assert "الألمانية والعربية" in client.get("/events?lang=ar").get_data(as_text=True)
    assert "Deutsch und Arabisch" in client.get(url + "?lang=de").get_data(as_text=True)
    for language, joined in (("ar", "الألمانية والعربية"), ("de", "Deutsch und Arabisch")):
        response = client.post(
            f"/api/v1/centres/test/events/{event_id}/registrations",
            json={"name": "Noor", "email": f"noor.{language}@example.org", "consent": True},
            headers={"Accept-Language": language},
        )
        assert response.status_code == 201
        with app.app_context():
            row = db.session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.recipient == f"noor.{language}@example.org",
                    OutboxMessage.kind == "event_confirmation",
                )
            ).one()
            message = message_from_bytes(outbox.message_of(app, row), policy=default)
        bodies = [
            p.get_content() for p in message.walk() if p.get_content_type().startswith("text/")
        ]
        assert all(joined in body for body in bodies[:2]), language


@pytest.mark.backends("sqlite")
def test_the_consent_box_says_what_the_booking_forms_says(app, client, make_centre, db_backend):
    from booking.public.forms import BookingForm, RegistrationForm

    with app.test_request_context():
        assert RegistrationForm.consent.args[0]._args[0] == BookingForm.consent.args[0]._args[0]
    make_centre()
    event_id = make_event(app)
    page = client.get(f"/centres/test/events/{event_id}?lang=ar").get_data(as_text=True)
    assert "قرأت معلومات حماية البيانات." in page
    english = client.get(f"/centres/test/events/{event_id}?lang=en").get_data(as_text=True)
    assert "I have read the privacy notice.</label>" in english and "and agree" not in english


@pytest.mark.backends("sqlite")
def test_turkish_registrations_say_registration_number_not_appointment_number(
    app, client, make_centre, db_backend
):
    from email import message_from_bytes
    from email.policy import default

    from booking import outbox
    from booking.models import OutboxMessage

    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"  # the mail waits in the outbox
    make_centre()
    event_id = make_event(app)
    url = f"/centres/test/events/{event_id}"
    page = client.get(url + "?lang=tr").get_data(as_text=True)
    response = client.post(url, data=form_data(page, language="tr"))
    assert response.status_code == 303
    manage = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Kayıt numarası" in manage and "Randevu numarası" not in manage
    with app.app_context():
        row = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "event_confirmation")
        ).one()
        message = message_from_bytes(outbox.message_of(app, row), policy=default)
    text = message.get_body(("plain",)).get_content()
    assert "Kayıt numarası:" in text and "Randevu numarası" not in text


@pytest.mark.backends("sqlite")
def test_admins_write_titles_in_every_public_language(
    app, client, make_centre, make_staff, sign_in, db_backend
):
    from booking.models import Event

    make_centre()
    sign_in(client, make_staff("admin@test.example", "admin", "test"))
    page = client.get("/admin/centres/test/events/new").get_data(as_text=True)
    for name in ("title_de", "title_ar", "title_tr", "title_de_easy", "description_fa"):
        assert f'name="{name}"' in page, name
    data = {
        "csrf_token": csrf_from(page),
        "title_de": "Elterncafé",
        "title_ar": "مقهى الآباء",
        "description_de": "Austausch bei Kaffee.\nMit Kinderbetreuung.",
        "description_ar": "تبادل الأحاديث مع القهوة.",
        "audience": "families",
        "date": days_ahead(10).date().isoformat(),
        "starts": "15:00",
        "ends": "16:30",
        "seats": "12",
        "closes_hours": "24",
        "languages": ["de", "ar"],
    }
    # A title is one line: a line feed or a bidirectional override is refused at its field.
    for name, value in (("title_ar", "مقهى\u202eالآباء"), ("title_de", "Eltern\ncafé")):
        refused = client.post("/admin/centres/test/events/new", data={**data, name: value})
        assert refused.status_code == 422
        assert f'id="{name}-error"' in refused.get_data(as_text=True)
    only_arabic = {**data, "description_de": ""}
    refused = client.post("/admin/centres/test/events/new", data=only_arabic)
    assert refused.status_code == 422 and 'id="description_de-error"' in refused.get_data(
        as_text=True
    )
    with app.app_context():
        assert db.session.scalar(select(Event.id)) is None
    response = client.post("/admin/centres/test/events/new", data=data)
    assert response.status_code == 303
    with app.app_context():
        event = db.session.scalars(select(Event)).one()
        assert event.titles == {"de": "Elterncafé", "ar": "مقهى الآباء"}
        assert event.descriptions["de"] == "Austausch bei Kaffee.\nMit Kinderbetreuung."
        event_id = event.id
    edit = client.get(f"/admin/centres/test/events/{event_id}").get_data(as_text=True)
    assert 'value="مقهى الآباء"' in edit and "تبادل الأحاديث مع القهوة." in edit
    url = f"/centres/test/events/{event_id}"
    arabic = client.get(url + "?lang=ar").get_data(as_text=True)
    assert "<h1><bdi>مقهى الآباء</bdi></h1>" in arabic and "تبادل الأحاديث مع القهوة." in arabic
    turkish = client.get(url + "?lang=tr").get_data(as_text=True)
    # The German text read on a Turkish page is marked as German (screen readers, hyphens).
    assert '<h1><bdi lang="de">Elterncafé</bdi></h1>' in turkish
    assert '<bdi lang="de">Austausch bei Kaffee.' in turkish
    assert '<bdi lang="de">Elterncafé</bdi>' in client.get("/events?lang=tr").get_data(as_text=True)
    api = client.get("/api/v1/centres/test/events", headers={"Accept-Language": "ar"})
    assert api.get_json()[0]["title"] == "مقهى الآباء"
    api = client.get("/api/v1/centres/test/events", headers={"Accept-Language": "ru"})
    assert api.get_json()[0]["title"] == "Elterncafé"
    # Saving the edit page again keeps every language's text.
    form = {**data, "csrf_token": csrf_from(edit), "title_tr": "Veli kafesi"}
    assert client.post(f"/admin/centres/test/events/{event_id}", data=form).status_code == 303
    with app.app_context():
        assert db.session.get(Event, event_id).titles == {
            "de": "Elterncafé",
            "ar": "مقهى الآباء",
            "tr": "Veli kafesi",
        }


@pytest.mark.backends("sqlite")
def test_the_admin_legal_page_refuses_bidi_controls_in_single_lines(
    app, client, make_centre, make_staff, sign_in, db_backend
):
    from booking.models import Centre

    make_centre()
    sign_in(client, make_staff("admin@test.example", "admin", "test"))
    page = client.get("/admin/centres/test/legal").get_data(as_text=True)
    data = {
        "csrf_token": csrf_from(page),
        "legal_operator": "Stadt Teststadt\nDer Bürgermeister",
        "responsible_person": "Erika Muster",
        "contact_email": "",
        "accessibility_contact": "",
        "privacy_officer_contact": "",
        "visiting_address": "",
    }
    for name in ("responsible_person", "accessibility_contact", "visiting_address"):
        for control in ("\u202e", "\u2066", "\u202a"):
            response = client.post(
                "/admin/centres/test/legal", data={**data, name: f"Erika{control} Muster"}
            )
            assert response.status_code == 422, (name, control)
            assert f'id="{name}-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Centre.responsible_person)) in ("", None)
    assert client.post("/admin/centres/test/legal", data=data).status_code == 303


@pytest.mark.backends("sqlite")
def test_the_lists_pages_keep_the_filter_and_the_language(
    app, client, make_centre, db_backend, monkeypatch
):
    from booking.public import event_views

    monkeypatch.setattr(event_views, "EVENTS_PER_PAGE", 2)
    make_centre()
    for days, title in ((3, "Eins"), (10, "Zwei"), (11, "Drei"), (12, "Vier")):
        make_event(app, title=title, start_at=days_ahead(days), audience="families")
    first = days_ahead(5).date().isoformat()
    query = {"from": first, "audience": "families", "lang": "ar"}
    html = client.get("/centres/test/events", query_string=query).get_data(as_text=True)
    assert "Zwei" in html and "Drei" in html and "Vier" not in html and "Eins" not in html
    assert "الصفحة 1 من 2" in html
    following = re.search(r'<a rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    for part in (f"from={first}", "audience=families", "lang=ar", "page=2"):
        assert part in following, part
    second = client.get(following).get_data(as_text=True)
    assert "Vier" in second and "Zwei" not in second and 'rel="prev"' in second
    for page in ("x", "0", "-1", "99999999", "٢"):
        answer = client.get("/centres/test/events", query_string={**query, "page": page})
        assert answer.status_code == 200


@pytest.mark.backends("sqlite")
def test_the_admin_event_form_shows_every_message_at_once(
    app, client, make_centre, make_staff, sign_in, db_backend
):
    make_centre()
    sign_in(client, make_staff("admin@test.example", "admin", "test"))
    page = client.get("/admin/centres/test/events/new").get_data(as_text=True)
    response = client.post(
        "/admin/centres/test/events/new",
        data={
            "csrf_token": csrf_from(page),
            "title_de": "",
            "title_fa": "قهوه\u2067خانه",
            "date": "",
            "starts": "15:00",
            "ends": "16:00",
            "seats": "x",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for name in ("title_de", "title_fa", "date", "seats"):
        assert f'id="{name}-error"' in html, name
    assert html.count("Enter a number from 1 to 500.") == 0  # one message for seats
