"""Texts admins give per public language: a service's description and "what to bring", a
closure's reason. Each shows in the family's language on pages and in mails, else the
German one, marked lang="de" inside another language. The time range reads by the
language's own pattern ("10:00 bis 10:45 Uhr" in Leichte Sprache). On SQLite and PostgreSQL.
"""

from __future__ import annotations

import email
import re
from email import policy
from html import unescape
from urllib.parse import quote

import pytest
from sqlalchemy import select

from booking import bookings, outbox
from booking.extensions import db
from booking.models import Booking, Centre, Closure, OutboxMessage, Service, utcnow
from booking.validation import BookingDetails
from tests.conftest import csrf_from
from tests.helpers import at, local, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

ADMIN = "admin@herne.example"
TEN = ("de", "en", "tr", "ar", "fa", "uk", "ru", "bg", "ro", "de@easy")


@pytest.fixture
def admin(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff(ADMIN, "admin", "herne"))
    return client


def herne_service(app) -> Service:
    return db.session.scalar(
        select(Service).join(Centre).where(Centre.slug == "herne", Service.slug == "beratung-1")
    )


def service_form_data(app, client, url: str, **texts) -> dict:
    """The edit form's current values, with ``texts`` (field name -> text) on top."""
    token = csrf_from(client.get(url).get_data(as_text=True))
    with app.app_context():
        service = herne_service(app)
        data = {
            "csrf_token": token,
            "slug": service.slug,
            "name_de": service.names["de"],
            "duration_minutes": str(service.duration_minutes),
            "online_bookable": "y",
            "is_active": "y",
            "format": service.format,
            "counsellors": [str(u.id) for u in service.counsellors],
        }
    return {**data, **texts}


def book(app, start: str, locale: str, email_address: str) -> int:
    """A booking made in ``locale`` (its mails speak that language); its id."""
    with app.test_request_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        service = herne_service(app)
        result = bookings.book_slot(
            bookings.BookingRequest(
                centre,
                service,
                local(start),
                BookingDetails(name="Ayşe Yılmaz", email=email_address),
                locale=locale,
            ),
            now=utcnow(),
        )
        return result.booking.id


def mail_of(app, booking_id: int, kind: str):
    with app.app_context():
        row = db.session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.booking_id == booking_id, OutboxMessage.kind == kind
            )
        )
        assert row is not None, kind
        message = email.message_from_bytes(outbox.message_of(app, row), policy=policy.default)
    plain = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return plain, html


def test_the_service_form_has_a_fieldset_per_public_language(admin, seeded):
    with seeded.app_context():
        service_id = herne_service(seeded).id
    html = admin.get(f"/admin/centres/herne/services/{service_id}?lang=en").get_data(as_text=True)
    for code in TEN:
        suffix = code.replace("@", "_")
        fieldset = re.search(
            rf'<fieldset class="language-texts" id="service-texts-{code.replace("@", "-")}">'
            r"(.*?)</fieldset>",
            html,
            re.S,
        )
        assert fieldset is not None, code
        lang = code.split("@")[0]
        direction = "rtl" if code in ("ar", "fa") else "ltr"
        for prefix in ("description", "what_to_bring"):
            tag = re.search(rf'<textarea[^>]*name="{prefix}_{suffix}"[^>]*>', fieldset.group(1))
            assert tag is not None, (code, prefix)
            assert f'lang="{lang}"' in tag.group(0) and f'dir="{direction}"' in tag.group(0)
    # German first and open; the other nine folded together while none has a text.
    assert html.index('id="service-texts-de"') < html.index('id="service-texts-further"')
    new = admin.get("/admin/centres/herne/services/new?lang=en").get_data(as_text=True)
    assert re.search(r'<details class="language-texts-further" id="service-texts-further">', new)
    # Each field is labelled with its language (the error list above the form reads them).
    assert re.search(r'<label for="description_tr">Description \(Turkish\)</label>', html)
    german = admin.get(f"/admin/centres/herne/services/{service_id}?lang=de").get_data(as_text=True)
    assert re.search(r'<label for="what_to_bring_ar">[^<]*\(Arabisch\)</label>', german)


def test_a_turkish_description_shows_in_turkish_and_german_elsewhere_marked(admin, seeded):
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    with seeded.app_context():
        service_id = herne_service(seeded).id
    url = f"/admin/centres/herne/services/{service_id}?lang=en"
    texts = {
        "description_de": "Worum es in der Beratung geht.",
        "what_to_bring_de": "Zeugnisse Ihres Kindes.",
        "description_tr": "Danışmanlığın konusu.",
        "what_to_bring_tr": "Çocuğunuzun karneleri.",
        "description_de_easy": "Hier geht es um Schule.",
        # The demo has texts in every language: the Russian ones are emptied.
        "description_ru": "",
        "what_to_bring_ru": "",
    }
    response = admin.post(url, data=service_form_data(seeded, admin, url, **texts))
    assert response.status_code == 303
    with seeded.app_context():
        service = herne_service(seeded)
        for field, text in texts.items():
            if not text:
                continue
            prefix, code = field.rsplit("_", 1) if "easy" not in field else (field[:-8], "de@easy")
            stored = service.descriptions if prefix == "description" else service.what_to_bring
            assert stored[code] == text, field
        assert "ru" not in service.descriptions and "ru" not in service.what_to_bring

    turkish = unescape(admin.get("/centres/herne?lang=tr").get_data(as_text=True))
    assert re.search(
        r'<p class="service-description" dir="auto">Danışmanlığın konusu.</p>', turkish
    )
    assert "Worum es in der Beratung geht." not in turkish
    russian = unescape(admin.get("/centres/herne?lang=ru").get_data(as_text=True))
    assert re.search(
        r'<p class="service-description" dir="auto" lang="de">Worum es in der Beratung geht.</p>',
        russian,
    )
    easy = unescape(admin.get("/centres/herne?lang=de-easy").get_data(as_text=True))
    assert "Hier geht es um Schule." in easy

    monday = next_working_day(0)
    turkish_id = book(seeded, at(monday, 9), "tr", "ayse@example.org")
    plain, html = mail_of(seeded, turkish_id, "confirmation")
    assert "Çocuğunuzun karneleri." in plain
    assert "<bdi>Çocuğunuzun karneleri.</bdi>" in html
    russian_id = book(seeded, at(monday, 10), "ru", "olga@example.org")
    plain, html = mail_of(seeded, russian_id, "confirmation")
    assert "Zeugnisse Ihres Kindes." in plain
    assert '<bdi lang="de">Zeugnisse Ihres Kindes.</bdi>' in html

    # Emptied, the Turkish text is gone and Turkish pages read the German one, marked.
    response = admin.post(
        url, data=service_form_data(seeded, admin, url, **{**texts, "description_tr": ""})
    )
    assert response.status_code == 303
    turkish = unescape(admin.get("/centres/herne?lang=tr").get_data(as_text=True))
    assert 'dir="auto" lang="de">Worum es in der Beratung geht.</p>' in turkish


def test_texts_in_other_languages_need_the_german_one(admin, seeded):
    with seeded.app_context():
        service_id = herne_service(seeded).id
        before = dict(herne_service(seeded).descriptions or {})
    url = f"/admin/centres/herne/services/{service_id}?lang=en"
    data = service_form_data(
        seeded,
        admin,
        url,
        description_de="",
        description_ar="ما موضوع الاستشارة.",
        what_to_bring_fa="x" * 1001,
    )
    response = admin.post(url, data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="description_de-error"' in html and 'id="what_to_bring_fa-error"' in html
    # The folded languages open by themselves to show the error and what was typed.
    assert re.search(
        r'<details class="language-texts-further" id="service-texts-further" open>', html
    )
    assert "ما موضوع الاستشارة." in html
    with seeded.app_context():
        assert (herne_service(seeded).descriptions or {}) == before


def cancel_by_closure(admin, app, booking_ids, reasons: dict):
    monday = next_working_day(0)
    token = csrf_from(admin.get("/admin/centres/herne/closures").get_data(as_text=True))
    response = admin.post(
        "/admin/centres/herne/closures?lang=en",
        data={"csrf_token": token, "start_date": monday.isoformat(), **reasons},
    )
    assert response.status_code == 303
    for booking_id in booking_ids:
        response = admin.post(
            f"/admin/centres/herne/attention/{booking_id}/cancel", data={"csrf_token": token}
        )
        assert response.status_code == 303
        with app.app_context():
            assert db.session.get(Booking, booking_id).status == "cancelled"


def test_closure_reasons_per_language_on_the_week_page_and_in_the_cancel_mail(admin, seeded):
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    monday = next_working_day(0)
    turkish_id = book(seeded, at(monday, 9), "tr", "ayse@example.org")
    easy_id = book(seeded, at(monday, 10), "de@easy", "jonas@example.org")
    russian_id = book(seeded, at(monday, 11), "ru", "olga@example.org")
    cancel_by_closure(
        admin,
        seeded,
        [turkish_id, easy_id, russian_id],
        {
            "reason": "Betriebsausflug",
            "reason_tr": "Personel gezisi",
            "reason_de_easy": "Wir machen einen Ausflug.",
        },
    )
    with seeded.app_context():
        closure = db.session.scalar(select(Closure))
        assert closure.reason == "Betriebsausflug"
        assert closure.reasons == {"tr": "Personel gezisi", "de@easy": "Wir machen einen Ausflug."}

    def notice(lang: str) -> str:
        html = admin.get(
            f"/centres/herne/beratung-1?week={monday.isoformat()}&language=de&lang={lang}"
        ).get_data(as_text=True)
        return re.search(r'<ul class="closures" id="closures">(.*?)</ul>', html, re.S).group(1)

    assert "Personel gezisi" in notice("tr") and 'lang="de"' not in notice("tr")
    assert "Wir machen einen Ausflug." in notice("de-easy")
    assert '<span lang="de">Betriebsausflug</span>' in notice("ru")
    assert "Betriebsausflug" in notice("de") and "<span" not in notice("de")

    plain, html = mail_of(seeded, turkish_id, "cancellation")
    assert "Personel gezisi" in plain and "Betriebsausflug" not in plain
    assert '<span lang="de">' not in html
    plain, _html = mail_of(seeded, easy_id, "cancellation")
    assert "Wir machen einen Ausflug." in plain
    plain, html = mail_of(seeded, russian_id, "cancellation")
    assert "Betriebsausflug" in plain
    assert '<span lang="de">Betriebsausflug</span>' in html


def test_closure_reasons_in_other_languages_need_the_german_one(admin, seeded):
    token = csrf_from(admin.get("/admin/centres/herne/closures").get_data(as_text=True))
    html = admin.get("/admin/centres/herne/closures?lang=en").get_data(as_text=True)
    tag = re.search(r'<input[^>]*name="reason_fa"[^>]*>', html).group(0)
    assert 'lang="fa"' in tag and 'dir="rtl"' in tag
    assert 'lang="de"' in re.search(r'<input[^>]*name="reason"[^>]*>', html).group(0)
    response = admin.post(
        "/admin/centres/herne/closures?lang=en",
        data={
            "csrf_token": token,
            "start_date": next_working_day(0).isoformat(),
            "reason_uk": "Екскурсія колективу",
        },
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="reason-error"' in page and "Екскурсія колективу" in page
    with seeded.app_context():
        assert db.session.scalar(select(Closure)) is None


@pytest.mark.parametrize(
    ("locale", "expected"),
    [("de@easy", "10:00 bis 10:45 Uhr"), ("de", "10:00–10:45"), ("tr", "10:00–10:45")],
)
def test_the_time_range_reads_by_the_languages_pattern(seeded, locale, expected):
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    monday = next_working_day(0)
    booking_id = book(seeded, at(monday, 10), locale, "zeit@example.org")
    plain, html = mail_of(seeded, booking_id, "confirmation")
    assert expected in plain and expected in unescape(html)
    if locale != "de@easy":
        when = next(line for line in plain.splitlines() if "10:00" in line)
        assert "Uhr" not in when


def test_the_booking_form_reads_the_time_range_with_uhr_in_leichte_sprache(seeded, client):
    start = at(next_working_day(0), 10)
    html = client.get(
        f"/centres/herne/beratung-1/book?start={quote(start)}&language=de&lang=de-easy"
    ).get_data(as_text=True)
    assert "10:00 bis 10:45 Uhr" in unescape(html)
    german = client.get(
        f"/centres/herne/beratung-1/book?start={quote(start)}&language=de&lang=de"
    ).get_data(as_text=True)
    assert "10:00–10:45" in unescape(german) and "10:00 bis 10:45 Uhr" not in unescape(german)


def test_a_service_name_in_every_public_language_round_trips_through_the_admin_form(admin, seeded):
    with seeded.app_context():
        service_id = herne_service(seeded).id
    url = f"/admin/centres/herne/services/{service_id}?lang=en"
    names = {
        "name_de": "Sprachberatung",
        "name_en": "Language advice",
        "name_ar": "استشارة لغوية",
        "name_tr": "Dil danışmanlığı",
        "name_de_easy": "Beratung zur Sprache",
        "name_uk": "",
    }
    response = admin.post(url, data=service_form_data(seeded, admin, url, **names))
    assert response.status_code == 303
    with seeded.app_context():
        stored = herne_service(seeded).names
    assert stored["ar"] == "استشارة لغوية" and stored["tr"] == "Dil danışmanlığı"
    assert stored["de@easy"] == "Beratung zur Sprache" and "uk" not in stored
    html = unescape(admin.get(url).get_data(as_text=True))
    tag = re.search(r'<input[^>]*name="name_ar"[^>]*>', html).group(0)
    assert 'value="استشارة لغوية"' in tag and 'lang="ar"' in tag and 'dir="rtl"' in tag
    assert re.search(r'<label for="name_tr">Name \(Turkish\)</label>', html)
    # A name with a line break is refused next to its field; nothing is written.
    bad = service_form_data(seeded, admin, url, **{**names, "name_fa": "a\nb"})
    refused = admin.post(url, data=bad)
    assert refused.status_code == 422
    assert 'id="name_fa-error"' in refused.get_data(as_text=True)
    with seeded.app_context():
        assert herne_service(seeded).names.get("fa") != "a\nb"


def test_an_arabic_page_shows_the_arabic_service_name_else_the_german_one_marked(admin, seeded):
    with seeded.app_context():
        service = herne_service(seeded)
        service.names = {"de": "Sprachberatung", "en": "Language advice"}
        db.session.commit()
        slug = service.slug

    def name_on(url: str) -> str:
        html = admin.get(url).get_data(as_text=True)
        return re.search(r"<bdi[^>]*>(?:Sprachberatung|استشارة لغوية)</bdi>", html).group(0)

    centre_page, week_page = "/centres/herne?lang=ar", f"/centres/herne/{slug}?lang=ar"
    assert name_on(centre_page) == '<bdi lang="de">Sprachberatung</bdi>'
    assert name_on(week_page) == '<bdi lang="de">Sprachberatung</bdi>'
    with seeded.app_context():
        herne_service(seeded).names = {"de": "Sprachberatung", "ar": "استشارة لغوية"}
        db.session.commit()
    assert name_on(centre_page) == "<bdi>استشارة لغوية</bdi>"
    assert name_on(week_page) == "<bdi>استشارة لغوية</bdi>"
    # On the German page the German name needs no mark.
    assert "<bdi>Sprachberatung</bdi>" in admin.get("/centres/herne?lang=de").get_data(as_text=True)


def test_the_demo_services_read_their_texts_in_every_language_unmarked(seeded, client):
    """Review finding S8: the demo gives every service's description and "what to bring" in
    all ten languages, so an Arabic or Ukrainian page reads no German text."""
    from booking.demo import SERVICE_DETAILS

    for _format, descriptions, bring in SERVICE_DETAILS.values():
        assert set(descriptions) == set(bring) == set(TEN)
    with seeded.app_context():
        services = db.session.scalars(
            select(Service).join(Centre).where(Centre.slug == "herne").order_by(Service.position)
        ).all()
        assert all(set(s.descriptions) == set(s.what_to_bring) == set(TEN) for s in services)
        # The centre page lists what families book themselves (not beratung-4, by invitation).
        texts = {
            s.slug: (s.descriptions, s.what_to_bring) for s in services if s.slug != "beratung-4"
        }
    for lang in ("ar", "uk", "de-easy", "tr"):
        code = lang.replace("-", "@")
        html = unescape(client.get(f"/centres/herne?lang={lang}").get_data(as_text=True))
        for slug, (descriptions, bring) in texts.items():
            assert f'<p class="service-description" dir="auto">{descriptions[code]}</p>' in html, (
                lang,
                slug,
            )
            assert f"<bdi>{bring[code]}</bdi>" in html, (lang, slug)
            assert descriptions["de"] not in html and bring["de"] not in html, (lang, slug)
        if code != "de@easy":
            assert 'class="service-description" dir="auto" lang="de"' not in html, lang
        week = unescape(client.get(f"/centres/herne/beratung-1?lang={lang}").get_data(as_text=True))
        descriptions, bring = texts["beratung-1"]
        assert f'<p class="service-description" dir="auto">{descriptions[code]}</p>' in week
        assert f"<bdi>{bring[code]}</bdi>" in week
