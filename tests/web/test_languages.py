"""Ten languages: the switcher, ?lang=, <html lang dir>, staff pages in German and English,
the API's Accept-Language, and every mail kind in the booking's own language."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy
from html import unescape

import pytest
from babel import Locale
from babel.dates import format_date
from babel.messages.pofile import read_po
from sqlalchemy import select

from booking import bookings
from booking.config import Config
from booking.extensions import db
from booking.models import Booking, Centre, OutboxMessage, Service, utcnow
from booking.validation import BookingDetails
from tests.helpers import at, local, mail_of, next_working_day
from tests.unit.test_catalogues import POT, ROOT, is_public

LANGUAGES = tuple(Config.LANGUAGES)
OWN_NAMES = {
    "de": "Deutsch",
    "en": "English",
    "tr": "Türkçe",
    "ar": "العربية",
    "fa": "فارسی",
    "uk": "Українська",
    "ru": "Русский",
    "bg": "Български",
    "ro": "Română",
    "de@easy": "Leichte Sprache",
}


def page(client, url: str, **headers) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def switcher(html: str) -> dict[str, str]:
    """The language switcher as {name: href}; the current language has href ""."""
    nav = re.search(r'<ul class="languages">(.*?)</ul>', html, re.S).group(1)
    found = {}
    for item in re.findall(r"<li>(.*?)</li>", nav, re.S):
        href = re.search(r'href="([^"]*)"', item)
        name = re.sub(r"<[^>]+>", "", item).strip()
        found[unescape(name)] = unescape(href.group(1)) if href else ""
    return found


def test_config_has_the_ten_languages():
    assert set(LANGUAGES) == set(OWN_NAMES)


def test_switcher_names_each_language_in_its_own_words(seeded, client):
    html = page(client, "/")
    links = switcher(html)
    assert list(links) == [OWN_NAMES[code] for code in LANGUAGES]
    assert links["Deutsch"] == ""  # the current one is no link
    assert links["Leichte Sprache"].endswith("?lang=de-easy")
    assert links["العربية"].endswith("?lang=ar")
    assert 'lang="ar" hreflang="ar" dir="rtl"' in html


@pytest.mark.parametrize(
    ("code", "lang", "direction"),
    [("ar", "ar", "rtl"), ("fa", "fa", "rtl"), ("tr", "tr", "ltr"), ("de-easy", "de", "ltr")],
)
def test_lang_sets_html_lang_and_dir_and_is_kept(seeded, client, code, lang, direction):
    html = page(client, f"/?lang={code}")
    assert f'<html lang="{lang}" dir="{direction}">' in html
    # Kept in the session for the next page, without ?lang=.
    assert f'<html lang="{lang}" dir="{direction}">' in page(client, "/centres/herne")


def test_leichte_sprache_is_its_own_choice(seeded, client):
    html = page(client, "/?lang=de-easy")
    links = switcher(html)
    assert links["Leichte Sprache"] == ""  # current
    assert links["Deutsch"].endswith("?lang=de")


def test_switcher_keeps_the_page_and_its_query(seeded, client):
    monday = next_working_day(0)
    html = page(client, f"/centres/herne/beratung-3?week={monday.isoformat()}&language=ar")
    href = switcher(html)["Türkçe"]
    assert href.startswith("/centres/herne/beratung-3?")
    assert f"week={monday.isoformat()}" in href and "language=ar" in href and "lang=tr" in href
    assert '<html lang="tr" dir="ltr">' in page(client, href)


def test_unknown_lang_is_ignored(seeded, client):
    assert '<html lang="de" dir="ltr">' in page(client, "/?lang=xx")


def test_browser_language_without_a_choice(seeded, client):
    html = page(client, "/", **{"Accept-Language": "fa-IR,fa;q=0.9,en;q=0.5"})
    assert '<html lang="fa" dir="rtl">' in html


def test_week_arrows_point_the_way_the_page_reads(seeded, client):
    ltr = page(client, "/centres/herne/beratung-1?language=de&lang=en")
    rtl = page(client, "/centres/herne/beratung-1?language=de&lang=ar")
    next_ltr = re.search(r'<a rel="next"[^>]*>(.*?)</a>', ltr).group(1)
    next_rtl = re.search(r'<a rel="next"[^>]*>(.*?)</a>', rtl).group(1)
    assert next_ltr.endswith("→") and next_rtl.endswith("←")


@pytest.mark.parametrize("code", ["tr", "ar", "de-easy"])
def test_staff_pages_fall_back_to_german(seeded, client, code):
    page(client, f"/?lang={code}")
    html = page(client, "/staff/login")
    assert '<html lang="de" dir="ltr">' in html
    assert list(switcher(html)) == ["Deutsch", "English"]


def test_staff_pages_in_english(seeded, client):
    page(client, "/?lang=en")
    html = page(client, "/staff/login")
    assert '<html lang="en" dir="ltr">' in html


def test_times_and_phone_stay_left_to_right(seeded, client):
    html = page(client, "/centres/herne?lang=ar")
    phone = db_centre_phone(seeded)
    assert f'<bdi dir="ltr">{phone}</bdi>' in html


@pytest.mark.parametrize("code", ["ar", "fa"])
def test_phone_numbers_are_isolated_left_to_right_on_every_page_that_shows_one(
    seeded, client, code
):
    """ "02325 6589-313" after Arabic or Persian text displays as "313-6589 02325" unless
    it is isolated: the impressum, the privacy and accessibility pages, an unknown link."""
    phone = db_centre_phone(seeded)
    for url in ("/impressum", "/privacy", "/accessibility", "/b/unknown-token"):
        html = client.get(f"{url}?lang={code}").get_data(as_text=True)
        assert phone in html, url
        assert html.count(phone) == html.count(f'<bdi dir="ltr">{phone}</bdi>'), url


def test_the_footer_names_the_accessibility_statement_in_the_pages_language_only(seeded, client):
    """Review finding S7: the link read "… (Erklärung zur Barrierefreiheit)" in seven
    languages; it now reads in the page's language alone, and the German page in German."""
    for code in LANGUAGES:
        lang = code.replace("@", "-")
        html = client.get(f"/?lang={lang}").get_data(as_text=True)
        footer = re.search(r"<footer.*?</footer>", html, re.S).group(0)
        link = re.search(r'<a href="/accessibility">([^<]*)</a>', footer)
        assert link is not None, code
        text = unescape(link.group(1)).strip()
        if code in ("de", "de@easy"):
            assert "Barriere" in text, code
        else:
            assert "Barriere" not in text and "(" not in text, (code, text)


def test_the_phone_example_of_the_form_message_is_isolated_in_arabic_and_persian():
    from babel.messages.pofile import read_po

    msgid = "Please enter a phone number with digits only, e.g. 02325 123456."
    for code in ("ar", "fa"):
        with (ROOT / "booking" / "translations" / code / "LC_MESSAGES" / "messages.po").open(
            "rb"
        ) as handle:
            text = read_po(handle).get(msgid).string
        assert "\u206602325 123456\u2069" in text, code


def test_the_centre_cancellation_mail_isolates_the_phone_in_arabic(mails_in, seeded):
    """ "Or call us: 02325 6589-313" in a centre's cancellation: isolated in text and HTML."""
    from booking import mail_kinds

    with seeded.test_request_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        snapshot = {
            "locale": "ar",
            "date": utcnow().isoformat(),
            "booking": {
                "name": "Leyla",
                "email": "leyla@example.org",
                "reference": "K7PQ-2QXM",
                "sequence": 1,
                "start_at": utcnow().isoformat(),
                "end_at": (utcnow() + timedelta(hours=1)).isoformat(),
                "language": "ar",
                "interpreter_language": None,
                "locale": "ar",
            },
            "centre": {
                "name": centre.name,
                "address": centre.address,
                "phone": centre.phone,
                "email": centre.email,
                "timezone": centre.timezone,
            },
            "service": {"name": "x", "what_to_bring": "", "format": "in_person"},
            "links": {"book_url": "http://localhost/centres/herne"},
            "by_centre": {"cause": "absence", "closure_reason": "", "next_starts": []},
        }
        raw = mail_kinds.compose(
            "cancellation", snapshot, message_id="m@example", sender="a@example.org"
        )
    parts = decoded_parts(raw)
    assert f"\u2066{centre.phone}\u2069" in parts["plain"]
    assert f'<bdi dir="ltr">{centre.phone}</bdi>' in parts["html"]


def db_centre_phone(app) -> str:
    with app.app_context():
        return db.session.scalar(select(Centre.phone).where(Centre.slug == "herne"))


# --- the API ------------------------------------------------------------------------


def test_api_problem_titles_follow_accept_language(app, client):
    english = client.get("/api/v1/centres/nowhere/services", headers={"Accept-Language": "en"})
    german = client.get("/api/v1/centres/nowhere/services", headers={"Accept-Language": "de"})
    assert english.status_code == german.status_code == 404
    assert english.mimetype == german.mimetype == "application/problem+json"
    assert english.json["title"] == "Page not found"
    assert german.json["title"] == "Seite nicht gefunden"
    assert english.json["detail"] != german.json["detail"]


def test_api_ignores_the_lang_parameter_and_session(app, client):
    response = client.get(
        "/api/v1/centres/nowhere/services?lang=de", headers={"Accept-Language": "en"}
    )
    assert response.json["title"] == "Page not found"


# --- every mail kind in every language ------------------------------------------------


def source_sentences() -> list[tuple[str, re.Pattern]]:
    """Public msgids of two words or more, as patterns with their placeholders open."""
    with POT.open("rb") as handle:
        pot = read_po(handle)
    found = []
    for message in pot:
        if not message.id or isinstance(message.id, tuple) or not is_public(message):
            continue
        text = message.id
        parts = re.split(r"%\([a-z_]+\)[sd]|%[sd]", text)
        # Two words or more, outside the placeholders ("%(date)s, %(time)s" has none).
        if len("".join(parts).split()) < 2:
            continue
        pattern = ".{1,200}?".join(re.escape(p) for p in parts)
        found.append((text, re.compile(pattern)))
    return found


def decoded_parts(raw: bytes) -> dict[str, str]:
    message = email.message_from_bytes(raw, policy=policy.default)
    parts = {"subject": str(message["Subject"]), "content-language": message["Content-Language"]}
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        payload = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
        parts[part.get_content_subtype()] = payload
    return parts


def unfold(ics: str) -> str:
    return ics.replace("\r\n ", "").replace("\\,", ",").replace("\\n", "\n").replace("\\;", ";")


@pytest.fixture
def mails_in(app, make_centre):
    """Book, move and cancel in ``code``; return the mails as {kind: parts}."""
    make_centre()

    def run(code: str) -> tuple[dict[str, dict[str, str]], object]:
        monday = next_working_day(0, min_days_ahead=4)
        # The request reads German: the mails must follow the booking, not the request.
        with app.test_request_context("/", headers={"Accept-Language": "de"}):
            centre = db.session.scalar(select(Centre).where(Centre.slug == "test"))
            service = db.session.scalar(select(Service).where(Service.slug == "short"))
            now = utcnow()
            result = bookings.book_slot(
                bookings.BookingRequest(
                    centre,
                    service,
                    local(at(monday, 10)),
                    BookingDetails(name="Leyla", email=f"{code.replace('@', '.')}@example.org"),
                    locale=code,
                ),
                now=now,
            )
            booking = db.session.get(Booking, result.booking.id)
            kinds = {}

            def collect():
                # A cancellation drops the pending reminder: read the mails after each step.
                rows = db.session.scalars(
                    select(OutboxMessage).where(OutboxMessage.booking_id == booking.id)
                )
                for row in rows:
                    kinds.setdefault(row.kind, decoded_parts(mail_of(app, row)))

            collect()
            bookings.reschedule_booking(
                booking, local(at(monday, 13)), now=now, manage_token=result.manage_token
            )
            collect()
            bookings.cancel_booking(booking, now=now + timedelta(minutes=1))
            collect()
        return kinds, monday

    return run


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_mail_kind_in_the_bookings_language(mails_in, code):
    kinds, monday = mails_in(code)
    assert set(kinds) == {"confirmation", "change", "reminder", "cancellation"}, set(kinds)
    problems = mail_problems(code, kinds, monday)
    assert not problems, "\n".join(problems)


@pytest.fixture
def held_mails_in(app, make_centre):
    """Book at a centre that holds online bookings, and confirm, in ``code``; return the
    mails as {kind: parts}."""
    make_centre(hold_online_bookings=True)

    def run(code: str) -> tuple[dict[str, dict[str, str]], object]:
        monday = next_working_day(0, min_days_ahead=4)
        with app.test_request_context("/", headers={"Accept-Language": "de"}):
            centre = db.session.scalar(select(Centre).where(Centre.slug == "test"))
            service = db.session.scalar(select(Service).where(Service.slug == "short"))
            now = utcnow()
            result = bookings.book_slot(
                bookings.BookingRequest(
                    centre,
                    service,
                    local(at(monday, 10)),
                    BookingDetails(name="Leyla", email=f"{code.replace('@', '.')}@example.org"),
                    locale=code,
                ),
                now=now,
            )
            booking = db.session.get(Booking, result.booking.id)
            assert bookings.confirm_hold(booking, now=now)
            rows = db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.booking_id == booking.id)
            )
            kinds = {row.kind: decoded_parts(mail_of(app, row)) for row in rows}
        return kinds, monday

    return run


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_mails_of_a_held_booking_in_the_bookings_language(held_mails_in, code):
    kinds, monday = held_mails_in(code)
    assert set(kinds) == {"hold_request", "held_confirmation", "reminder"}, set(kinds)
    problems = mail_problems(code, kinds, monday)
    assert not problems, "\n".join(problems)


def mail_problems(code: str, kinds: dict[str, dict[str, str]], monday) -> list[str]:
    """What is wrong with the mails in ``code``: no date in its words, English left."""
    locale = Locale.parse(code)
    problems = []
    for kind, parts in kinds.items():
        assert parts["content-language"] == code.split("@")[0], (kind, parts["content-language"])
        html = unescape(re.sub(r"<[^>]+>", "", parts["html"]))
        assert re.search(
            rf'<html lang="{code.split("@")[0]}" dir="{"rtl" if code in ("ar", "fa") else "ltr"}"',
            parts["html"],
        ), (code, kind, parts["html"][:120])
        texts = {"subject": parts["subject"], "text": parts["plain"], "html": html}
        if "calendar" in parts:
            texts["calendar"] = unfold(parts["calendar"])
        # The date of the appointment in the words of the booking's language.
        when = format_date(monday, "full", locale=locale)
        for where in ("text", "html"):
            if when not in texts[where]:
                problems.append(f"{code} {kind} {where}: no date {when!r}")
        if code == "en":
            continue
        for sentence, pattern in source_sentences():
            for where, text in texts.items():
                if pattern.search(text):
                    problems.append(f"{code} {kind} {where}: English left: {sentence!r}")
    return problems


def test_english_mail_has_english_dates_not_german(mails_in):
    kinds, monday = mails_in("en")
    text = kinds["confirmation"]["plain"]
    assert format_date(monday, "full", locale="en") in text
    assert format_date(monday, "full", locale="de") not in text
    assert "Reminder" in kinds["reminder"]["subject"]


def test_arabic_mail_is_right_to_left_with_times_left_to_right(mails_in):
    kinds, monday = mails_in("ar")
    html = kinds["confirmation"]["html"]
    assert 'dir="rtl"' in html
    assert '<bdi dir="ltr">13:00–13:45</bdi>' in kinds["change"]["html"]
    # Plain text: Unicode isolates around the time range.
    assert "\u206613:00–13:45\u2069" in kinds["change"]["plain"]


def test_issue_9_uncompiled_catalogues_are_compiled_so_words_match_dates(tmp_path):
    """A checkout without `make translations` printed English words with German dates."""
    import shutil

    from flask import Flask
    from flask_babel import Babel, force_locale, gettext

    from booking.i18n import compile_stale_catalogues

    source = tmp_path / "package"
    for po in (ROOT / "booking" / "translations").glob("*/LC_MESSAGES/messages.po"):
        copy = source / "translations" / po.relative_to(ROOT / "booking" / "translations")
        copy.parent.mkdir(parents=True)
        shutil.copyfile(po, copy)  # the .po only, as in a fresh checkout
    app = Flask("uncompiled", root_path=str(source), instance_path=str(tmp_path / "instance"))
    compile_stale_catalogues(app)
    compiled = tmp_path / "instance" / "translations" / "de" / "LC_MESSAGES" / "messages.mo"
    assert app.config["BABEL_TRANSLATION_DIRECTORIES"] == str(compiled.parents[2])
    assert compiled.is_file()
    Babel(app)
    with app.test_request_context(), force_locale("de"):
        assert gettext("Your appointment") == "Ihr Termin"
    # Once compiled and current, nothing is compiled again and nothing changes.
    before = compiled.stat().st_mtime_ns
    again = Flask("again", root_path=str(source), instance_path=str(tmp_path / "instance"))
    compile_stale_catalogues(again)
    assert compiled.stat().st_mtime_ns == before


@pytest.mark.parametrize("code", LANGUAGES)
def test_day_labels_give_the_full_weekday_in_every_language(app, code):
    """ "Mittwoch, 23. Dezember", never "Mi., 23. Dezember" (Leichte Sprache: no
    abbreviations; screen readers read "Pzt" and "Mo Punkt")."""
    from datetime import date

    from flask_babel import force_locale

    from booking.i18n import day_label

    wednesday = date(2026, 12, 23)
    wide = format_date(wednesday, "EEEE", locale=Locale.parse(code.replace("@easy", "")))
    with app.test_request_context(), force_locale(code):
        label = day_label(wednesday)
    assert wide in label, (code, label)
    assert "23" in label
