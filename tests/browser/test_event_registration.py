"""Events in a real browser: an Arabic family registers two persons at 320 px by keyboard;
axe finds nothing on the event pages in any language."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from booking.extensions import db
from booking.models import Event, Registration
from tests.browser.test_booking_flow import assert_no_horizontal_scroll, tab_to
from tests.browser.test_every_language import (
    LANGUAGES,
    axe_violations,
    html_attributes,
    mail_languages,
    url_code,
)

PARENTS_CAFE = "Elterncafé: Das Schulsystem in NRW"


def cafe_id(app) -> int:
    with app.app_context():
        return db.session.scalar(
            select(Event.id).where(Event.titles["de"].as_string() == PARENTS_CAFE)
        )


def test_arabic_family_registers_two_persons_at_320px_by_keyboard(
    new_context, live_server, live_app, outbox_dir
):
    context = new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    page.goto(f"{live_server}/centres/herne?lang=ar")
    assert html_attributes(page) == ("ar", "rtl")
    tab_to(page, page.locator("a#centre-events"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/centres/herne/events")
    assert_no_horizontal_scroll(page)
    event_id = cafe_id(live_app)
    tab_to(page, page.locator(f'a.service[href="/centres/herne/events/{event_id}"]'))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/centres/herne/events/{event_id}")
    assert html_attributes(page) == ("ar", "rtl")
    assert_no_horizontal_scroll(page)

    tab_to(page, page.locator("#name"))
    page.keyboard.type("ليلى حداد")
    tab_to(page, page.locator("#email"))
    page.keyboard.type("layla.events@example.org")
    tab_to(page, page.locator("#persons"))
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    tab_to(page, page.locator("#consent"))
    page.keyboard.press("Space")
    expect(page.locator("#consent")).to_be_checked()
    tab_to(page, page.locator("form button[type=submit]"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/r/*")

    assert html_attributes(page) == ("ar", "rtl")
    assert_no_horizontal_scroll(page)
    expect(page.locator("dd.status")).to_have_class("status status-confirmed")
    expect(page.locator('dd.reference bdi[dir="ltr"]')).to_have_text(
        re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}$")
    )
    for button in page.locator("a.button").all():
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320, box
    with live_app.app_context():
        registration = db.session.scalar(
            select(Registration).where(Registration.email == "layla.events@example.org")
        )
        assert (registration.persons, registration.locale) == (2, "ar")
    assert "ar" in mail_languages(outbox_dir)


def test_axe_no_violations_on_event_pages_in_every_language(new_context, live_server, live_app):
    context = new_context()
    page = context.new_page()
    event_id = cafe_id(live_app)
    problems = []
    for code in LANGUAGES:
        lang = url_code(code)
        page.goto(f"{live_server}/events?lang={lang}")
        problems += axe_violations(page, f"{code} all events")
        page.goto(f"{live_server}/centres/herne/events?audience=families")
        problems += axe_violations(page, f"{code} centre events")
        page.goto(f"{live_server}/centres/herne/events?from=2026-02-30&to=x")
        expect(page.locator("#date-from-error")).to_be_visible()
        problems += axe_violations(page, f"{code} centre events with date errors")
        page.goto(f"{live_server}/centres/herne/events/{event_id}")
        problems += axe_violations(page, f"{code} event")
        with page.expect_navigation():
            page.locator("form button[type=submit]").click()  # empty: errors at the fields
        problems += axe_violations(page, f"{code} event form with errors")
        page.locator("#name").fill("Axe Test")
        page.locator("#email").fill(f"axe.{lang}@example.org")
        page.locator("#consent").check()
        with page.expect_navigation():
            page.locator("form button[type=submit]").click()
        assert "/r/" in page.url, page.url
        problems += axe_violations(page, f"{code} registration")
        page.locator("#cancel-registration").click()
        page.wait_for_url("**/cancel")
        problems += axe_violations(page, f"{code} cancel registration")
    assert not problems, f"{len(problems)} axe violations:\n" + "\n".join(problems)
