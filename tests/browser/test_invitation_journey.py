"""From the centre's invitation to a held joint appointment, in a real browser: reception
invites a family without e-mail and prints the letter (one A4 page); the Arabic-speaking
family opens the letter's link on a 320 px phone and books by keyboard; the school
supervision officer sees the appointment with its case note. Each step counts its clicks
and keystrokes."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from booking.accounts import create_or_update_user
from booking.extensions import db
from booking.models import Booking, Invitation, utcnow
from tests.browser.test_booking_flow import assert_no_horizontal_scroll, tab_to
from tests.browser.test_staff_journeys import RECEPTION, Counter, sign_in
from tests.conftest import STAFF_PASSWORD
from tests.helpers import BERLIN

OFFICER = "sabine.becker@herne.example"
PDF_PAGE = re.compile(rb"/Type\s*/Page(?![s\w])")


@pytest.fixture
def staff(live_app):
    with live_app.test_request_context():
        create_or_update_user(
            RECEPTION, "reception", ["herne"], STAFF_PASSWORD, "Rita Rezeption", now=utcnow()
        )
        create_or_update_user(
            OFFICER, "school_supervision", ["herne"], STAFF_PASSWORD, None, now=utcnow()
        )


def invite_by_letter(page: Page, base_url: str) -> tuple[str, Counter]:
    """Reception invites the Haddad family (no e-mail, Arabic); the letter's link."""
    sign_in(page, base_url, RECEPTION)
    count = Counter(page)
    with page.expect_navigation():
        count.click(page.locator("nav.staff-nav a[href^='/staff/invitations']"))
    expect(page.locator("#service")).to_have_value("beratung-4")  # by invitation: first
    count.type(page.locator("#name"), "Familie Haddad")
    count.type(page.locator("#phone"), "0171 2345678")
    page.locator("#language").select_option("ar")
    count.clicks += 2
    count.type(page.locator("#case_note"), "Lina, 11 Jahre, Gymnasium")
    with page.expect_navigation():
        count.click(page.locator("#invitation-form button[type=submit]"))
    link = page.locator("#letter-ar .letter-link").inner_text().strip()
    assert re.search(r"/i/[A-Za-z0-9_-]{40,}\?lang=ar$", link), link
    return link, count


def test_reception_prints_the_letter_on_one_a4_page(page: Page, live_server, staff):
    invite_by_letter(page, live_server)
    expect(page.locator("#letter-ar")).to_have_attribute("dir", "rtl")
    expect(page.locator("#letter-de")).to_be_visible()
    expect(page.locator("#qr-code svg")).to_be_visible()
    expect(page.locator("#letter")).to_contain_text("02325 6589-313")

    page.emulate_media(media="print")
    expect(page.locator("#staff-actions")).to_be_hidden()
    pdf = page.pdf(format="A4", prefer_css_page_size=True)

    assert pdf.startswith(b"%PDF")
    assert len(PDF_PAGE.findall(pdf)) == 1, "the letter fills more than one A4 page"


def test_an_arabic_family_opens_the_letters_link_at_320px_and_books_by_keyboard(
    page: Page, new_context, live_server, live_app, staff
):
    link, reception = invite_by_letter(page, live_server)
    print(f"reception: {reception.clicks} clicks, {reception.keys} keys")  # noqa: T201
    family = new_context(viewport={"width": 320, "height": 640}).new_page()
    family.goto(link)

    expect(family.locator("html")).to_have_attribute("lang", "ar")
    expect(family.locator("html")).to_have_attribute("dir", "rtl")
    assert_no_horizontal_scroll(family)
    keys = 0
    slot = family.locator("a.slot").first
    start = datetime.fromisoformat(slot.locator("time").get_attribute("datetime"))
    for _ in range(200):
        family.keyboard.press("Tab")
        keys += 1
        if slot.evaluate("el => el === document.activeElement"):
            break
    with family.expect_navigation():
        family.keyboard.press("Enter")
        keys += 1
    assert_no_horizontal_scroll(family)
    tab_to(family, family.locator("#consent"))
    family.keyboard.press("Space")
    tab_to(family, family.locator("form button[type=submit]"))
    with family.expect_navigation():
        family.keyboard.press("Enter")
    family.wait_for_url("**/b/*")
    expect(family.locator("dd.status")).to_have_class("status status-confirmed")
    assert_no_horizontal_scroll(family)
    print(f"family: {keys} keys to the time, then consent and submit")  # noqa: T201

    with live_app.app_context():
        booking = db.session.scalar(select(Booking))
        assert booking.start_at == start
        assert booking.officer.email == OFFICER
        assert booking.interpreter_language == "ar" or booking.language == "ar"
        invitation = db.session.scalar(select(Invitation))
        assert invitation.booking_id == booking.id
    # The link is used up: the letter's link now answers with the centre's phone.
    again = family.goto(link)
    assert again.status == 410
    expect(family.locator("#centre-phone")).to_contain_text("02325 6589-313")

    # The officer's day: the appointment and its case note.
    officer = new_context().new_page()
    sign_in(officer, live_server, OFFICER)
    day = start.astimezone(BERLIN).date().isoformat()
    officer.goto(f"{live_server}/staff/?date={day}")
    expect(officer.locator(f"#row-{booking.id}")).to_contain_text("Familie Haddad")
    with officer.expect_navigation():
        officer.locator(f"#row-{booking.id} a").first.click()
    expect(officer.locator("#case-note")).to_contain_text("Lina, 11 Jahre, Gymnasium")
    expect(officer.locator("nav.staff-nav a[href='/staff/intake']")).to_have_count(0)
