"""Reception books for a caller in a real browser, by keyboard only.

Elements are found by ids and names, not by text: some strings are still being translated.
Focus is checked with Playwright's waiting assertions (to_be_focused), never read once:
a page under load sets its focus a moment later, which is no fault.
"""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import select

from booking.accounts import create_or_update_user
from booking.extensions import db
from booking.models import Booking, utcnow
from tests.conftest import STAFF_PASSWORD

RECEPTION = "rezeption@herne.example"
CALLER = 'Ayşe "Ada" <Öztürk>'


@pytest.fixture
def reception(live_app) -> str:
    with live_app.test_request_context():
        create_or_update_user(
            RECEPTION, "reception", ["herne"], STAFF_PASSWORD, "Rita Rezeption", now=utcnow()
        )
    return RECEPTION


def expect_focus(page: Page, element_id: str) -> None:
    """Wait (Playwright's default timeout) until the element with this id has the focus."""
    expect(page.locator(f"#{element_id}")).to_be_focused()


def sign_in_by_keyboard(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/staff/login?next=/staff/intake")
    page.locator("#email").focus()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect_focus(page, "password")
    page.keyboard.type(STAFF_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url("**/staff/intake")


def test_phone_booking_by_keyboard_only(page: Page, live_server, live_app, reception):
    sign_in_by_keyboard(page, live_server, reception)

    # The service select has the focus on first load, as when the phone rings.
    expect_focus(page, "service")
    # Typing picks an option of a closed select. Chromium does not send a form on Enter in
    # a select, so Tab on (past the optional language) to "show times" and press Enter.
    page.keyboard.type("Beratung für Erw", delay=20)
    expect(page.locator("#service")).to_have_value("beratung-3")
    page.keyboard.press("Tab")
    expect_focus(page, "language")
    page.keyboard.press("Tab")
    expect_focus(page, "show-times")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/staff/intake\?.*service=beratung-3.*"))
    assert "name=" not in page.url and "phone=" not in page.url

    # The first free time is focused, not chosen; arrows choose in the radio group.
    first, second = page.locator("#slot-0"), page.locator("#slot-1")
    expect(first).not_to_be_checked()
    expect_focus(page, "slot-0")
    page.keyboard.press("ArrowDown")
    expect(second).to_be_checked()
    chosen = second.get_attribute("value")

    page.keyboard.press("Tab")
    expect_focus(page, "name")
    page.keyboard.type(CALLER)
    page.keyboard.press("Tab")
    expect_focus(page, "phone")
    page.keyboard.type("0171 2345678")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    reference = page.locator("#booked-reference")
    expect(reference).to_have_text(re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}$"))

    shown = reference.inner_text()
    expect(page.locator("#booked-when time")).to_have_attribute("datetime", chosen)
    # Ready for the next call: the service select has the focus again.
    expect_focus(page, "service")
    with live_app.app_context():
        booking = db.session.scalar(select(Booking).where(Booking.reference == shown))
        assert booking.name == CALLER and booking.phone == "0171 2345678"
        assert booking.channel == "phone" and booking.email is None
        assert booking.start_at.isoformat() == chosen


def test_intake_works_without_javascript(new_context, live_server, reception):
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in_by_keyboard(page, live_server, reception)
    page.locator("#service").select_option("beratung-1")
    with page.expect_navigation():
        page.locator("#show-times").click()
    page.locator("#slot-0").check()
    page.locator("#name").fill("Walk In")
    page.locator("#channel-walk_in").check()
    with page.expect_navigation():
        page.locator("#book-button").click()
    expect(page.locator("#booked-reference")).not_to_be_empty()


def test_intake_has_no_serious_axe_violations(page: Page, live_server, reception):
    sign_in_by_keyboard(page, live_server, reception)
    problems = []
    for where in ("first load", "times", "errors"):
        if where == "times":
            page.goto(f"{live_server}/staff/intake?service=beratung-1")
        if where == "errors":
            with page.expect_navigation():
                page.locator("#book-button").click()
            expect(page.locator("#name-error")).to_be_visible()
        results = Axe().run(page)
        for violation in results.response["violations"]:
            if violation["impact"] in ("serious", "critical"):
                targets = [" ".join(node["target"]) for node in violation["nodes"]]
                problems.append(f"{where}: {violation['id']} {violation['help']}: {targets}")
    assert not problems, "\n".join(problems)
