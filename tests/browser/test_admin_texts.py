"""An admin gives a service's texts and a closure's reason in further languages, by keyboard
alone, in Chromium; each input says its language and direction, and axe finds nothing
serious on the forms (folded, unfolded, with errors)."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import select

from booking.accounts import create_or_update_user
from booking.extensions import db
from booking.models import Centre, Closure, Service, utcnow
from tests.conftest import STAFF_PASSWORD
from tests.helpers import next_working_day

ADMIN = "admin@herne.example"


@pytest.fixture
def admin(live_app) -> str:
    with live_app.test_request_context():
        create_or_update_user(ADMIN, "admin", ["herne"], STAFF_PASSWORD, "Anna Admin", now=utcnow())
    return ADMIN


def sign_in_by_keyboard(page: Page, base_url: str, next_path: str) -> None:
    page.goto(f"{base_url}/staff/login?lang=en&next={next_path}")
    page.locator("#email").focus()
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(STAFF_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(f"**{next_path}")


def tab_to(page: Page, element_id: str, limit: int = 150) -> int:
    """Press Tab until the element has the focus; how many presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return presses
    raise AssertionError(f"#{element_id} never got the focus by Tab")


def serious_axe_violations(page: Page, where: str) -> list[str]:
    problems = []
    for violation in Axe().run(page).response["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = [" ".join(node["target"]) for node in violation["nodes"]]
            problems.append(f"{where}: {violation['id']} {violation['help']}: {targets}")
    return problems


def test_an_admin_gives_a_turkish_description_by_keyboard(page: Page, live_server, live_app, admin):
    with live_app.app_context():
        service = db.session.scalar(
            select(Service).join(Centre).where(Centre.slug == "herne", Service.slug == "beratung-1")
        )
        # German texts only, as a service has before anyone translates them.
        service.descriptions = {"de": "Beratung zu Schule und Ausbildung."}
        service.what_to_bring = {"de": "Zeugnisse Ihres Kindes."}
        service.names = {"de": service.names["de"]}
        service_id = service.id
        db.session.commit()
    path = f"/admin/centres/herne/services/{service_id}"
    sign_in_by_keyboard(page, live_server, path)
    problems = serious_axe_violations(page, "folded")

    # The further languages are folded: open them from the keyboard.
    further = page.locator("#service-texts-further")
    expect(further).not_to_have_attribute("open", "")
    tab_to(page, "service-texts-further-summary")
    page.keyboard.press("Enter")
    expect(further).to_have_attribute("open", "")
    problems += serious_axe_violations(page, "unfolded")

    # Each input says its language and direction (keyboard layout, spell check, reader).
    for code, lang, direction in (
        ("tr", "tr", "ltr"),
        ("ar", "ar", "rtl"),
        ("de_easy", "de", "ltr"),
    ):
        box = page.locator(f"#description_{code}")
        expect(box).to_have_attribute("lang", lang)
        expect(box).to_have_attribute("dir", direction)
    tab_to(page, "description_tr")
    page.keyboard.type("Okul ve meslek eğitimi hakkında danışmanlık.")
    tab_to(page, "save-service")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/admin/centres/herne/services$"))

    page.goto(f"{live_server}/centres/herne?lang=tr")
    description = page.locator(".service-description", has_text="Okul ve meslek eğitimi")
    expect(description).to_be_visible()
    expect(description).not_to_have_attribute("lang", "de")
    page.goto(f"{live_server}/centres/herne?lang=uk")
    expect(page.locator('.service-description[lang="de"]').first).to_be_visible()
    assert not problems, "\n".join(problems)


def test_an_admin_gives_a_closure_reason_in_persian_by_keyboard(
    page: Page, live_server, live_app, admin
):
    path = "/admin/centres/herne/closures"
    sign_in_by_keyboard(page, live_server, path)
    day = next_working_day(0)
    # A reason in Persian without the German one is refused next to the German field.
    tab_to(page, "start_date")
    page.keyboard.type(day.strftime("%d%m%Y"))
    tab_to(page, "closure-reasons-further-summary")
    page.keyboard.press("Enter")
    reason_fa = page.locator("#reason_fa")
    expect(reason_fa).to_have_attribute("dir", "rtl")
    expect(reason_fa).to_have_attribute("lang", "fa")
    tab_to(page, "reason_fa")
    page.keyboard.type("گردش کارکنان")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.locator("#reason-error")).to_be_visible()
    # The folded languages stay open with what was typed.
    expect(page.locator("#reason_fa")).to_have_value("گردش کارکنان")
    problems = serious_axe_violations(page, "errors")
    page.locator("#reason").focus()
    page.keyboard.type("Betriebsausflug")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    with live_app.app_context():
        closure = db.session.scalar(select(Closure))
        assert closure is not None
        assert (closure.reason, closure.reasons) == ("Betriebsausflug", {"fa": "گردش کارکنان"})
    assert not problems, "\n".join(problems)


def test_an_admin_gives_an_event_an_arabic_title_by_keyboard(
    page: Page, live_server, live_app, admin
):
    path = "/admin/centres/herne/events/new"
    sign_in_by_keyboard(page, live_server, path)
    problems = serious_axe_violations(page, "event form folded")
    further = page.locator("#event-texts-further")
    expect(further).not_to_have_attribute("open", "")
    tab_to(page, "event-texts-further-summary")
    page.keyboard.press("Enter")
    expect(further).to_have_attribute("open", "")
    problems += serious_axe_violations(page, "event form unfolded")
    for name in ("title_ar", "description_ar"):
        expect(page.locator(f"#{name}")).to_have_attribute("lang", "ar")
        expect(page.locator(f"#{name}")).to_have_attribute("dir", "rtl")
    tab_to(page, "title_ar")
    page.keyboard.type("مقهى الآباء")
    # Without the German title the form comes back with the message at its field.
    with page.expect_navigation():
        page.locator("#save-event").click()
    expect(page.locator("#title_de-error")).to_be_visible()
    problems += serious_axe_violations(page, "event form with errors")
    assert not problems, "\n".join(problems)
