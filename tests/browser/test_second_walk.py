"""The journeys of issue 20 walked again as their people would, counting clicks (taps,
choices in a list count two) and typed keys; run with -s to see the figures.

Each journey asserts it ends where its person wanted to be, and that the steps it was
criticised for are gone: the language is not asked twice, no time is preselected, the
interpreter list does not preselect another language.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from booking.accounts import create_or_update_user
from booking.extensions import db
from booking.models import Booking, utcnow
from tests.browser.test_no_dead_ends import Journey
from tests.conftest import STAFF_PASSWORD

RECEPTION = "rezeption@herne.example"


def book_form(journey: Journey, name: str, address: str) -> None:
    page = journey.page
    # The language chosen on the week page is said, not asked again.
    expect(page.locator("#language")).to_have_count(0)
    expect(page.locator("#interpreter_language")).to_have_count(0)
    journey.type(page.locator("#name"), name)
    journey.type(page.locator("#email"), address)
    journey.clicks += 1
    page.locator("#consent").check()
    journey.click(page.locator("form button[type=submit]"))
    page.wait_for_url("**/b/*")


def booked(app, reference: str) -> Booking:
    with app.app_context():
        booking = db.session.scalar(select(Booking).where(Booking.reference == reference))
        db.session.expunge(booking)
        return booking


def test_a_turkish_mother_on_a_phone(page: Page, live_server, live_app, outbox_dir):
    page.set_viewport_size({"width": 390, "height": 800})
    journey = Journey(page)
    page.goto(f"{live_server}/?lang=tr")
    journey.click(page.locator('a[href="/centres/herne"]'))
    journey.click(page.locator('a.service[href="/centres/herne/beratung-1"]'))
    # Turkish is spoken here: a button; the interpreter list preselects nothing.
    expect(page.locator("#interpreter")).to_have_value("")
    journey.click(page.locator('a.language-choice[href$="language=tr"]'))
    journey.click(page.locator("a.slot").first)
    book_form(journey, "Ayşe Yılmaz", "ayse@example.org")
    journey.report("Turkish mother (phone, 390 px)")
    booking = booked(live_app, page.locator("dd.reference").inner_text())
    assert booking.language == "tr" and booking.locale == "tr"


def test_an_arabic_father_at_320px(page: Page, live_server, live_app, outbox_dir):
    page.set_viewport_size({"width": 320, "height": 640})
    journey = Journey(page)
    page.goto(f"{live_server}/?lang=ar")
    journey.click(page.locator('a[href="/centres/herne"]'))
    journey.click(page.locator('a.service[href="/centres/herne/beratung-3"]'))
    journey.click(page.locator('a.language-choice[href$="language=ar"]'))
    journey.click(page.locator("a.slot").first)
    book_form(journey, "Omar Haddad", "omar@example.org")
    journey.report("Arabic father (320 px)")
    booking = booked(live_app, page.locator("dd.reference").inner_text())
    assert booking.language == "ar" and booking.locale == "ar"


def test_leichte_sprache(page: Page, live_server, live_app, outbox_dir):
    journey = Journey(page)
    page.goto(f"{live_server}/?lang=de-easy")
    journey.click(page.locator('a[href="/centres/herne"]'))
    journey.click(page.locator('a.service[href="/centres/herne/beratung-1"]'))
    journey.click(page.locator('a.language-choice[href$="language=de"]'))
    # Full weekday names, no abbreviations.
    heading = page.locator(".day h3").first.inner_text()
    assert re.match(r"^(Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag), ", heading)
    journey.click(page.locator("a.slot").first)
    book_form(journey, "Anna Schmidt", "anna@example.org")
    journey.report("Leichte Sprache")
    assert booked(live_app, page.locator("dd.reference").inner_text()).locale == "de@easy"


@pytest.fixture
def reception(live_app):
    with live_app.test_request_context():
        create_or_update_user(
            RECEPTION, "reception", ["herne"], STAFF_PASSWORD, "Rita Rezeption", now=utcnow()
        )


def test_reception_books_a_russian_caller_on_a_thursday(
    page: Page, live_server, live_app, reception
):
    page.goto(f"{live_server}/staff/login?lang=en")
    page.locator("#email").fill(RECEPTION)
    page.locator("#password").fill(STAFF_PASSWORD)
    with page.expect_navigation():
        page.locator("#password").press("Enter")
    journey = Journey(page)
    journey.click(page.locator("nav.staff-nav a[href='/staff/intake']"))
    journey.choose(page.locator("#service"), "beratung-3")
    journey.choose(page.locator("#language"), "ru")
    journey.choose(page.locator("#weekday"), "3")
    journey.click(page.locator("#show-filtered"))
    times = page.locator("input[name='start']")
    expect(page.locator("input[name='start']:checked")).to_have_count(0)
    journey.clicks += 1
    times.first.check()
    chosen = times.first.get_attribute("value")
    journey.type(page.locator("#name"), "Irina Petrova")
    journey.type(page.locator("#phone"), "0171 7654321")
    journey.click(page.locator("#book-button"))
    expect(page.locator("#booked-reference")).to_have_text(re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}$"))
    journey.report("reception, Russian caller, Thursday")
    with live_app.app_context():
        booking = db.session.scalar(select(Booking).where(Booking.name == "Irina Petrova"))
        assert booking.start_at.isoformat() == chosen and booking.language == "ru"
        assert (
            booking.start_at.astimezone(
                booking.centre.local_midnight(booking.start_at.date()).tzinfo
            ).weekday()
            == 3
        )
