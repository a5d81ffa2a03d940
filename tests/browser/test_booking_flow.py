"""A family books, fails validation, cancels and moves an appointment in a real browser.

Elements are found by ids, classes and hrefs, not by text: some strings are still being
translated. The dates are real (the app reads the clock), so a week without free slots
(a weekend, a holiday) is skipped by following the "next week" link.
"""

from __future__ import annotations

import email
from datetime import datetime
from email import policy
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Locator, Page, expect

from tests.helpers import BERLIN

NAME = 'Ayşe "Ada" <Öztürk> & Co'
MANAGE_URL = "**/b/*"


# --- helpers ------------------------------------------------------------------------


def tab_to(page: Page, target: Locator, limit: int = 200) -> None:
    """Press Tab until ``target`` has the focus; fail after ``limit`` presses."""
    target.wait_for()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{target} not reached with {limit} Tab presses")


def click_and_load(page: Page, target: Locator) -> None:
    """Click a link or submit button and wait for the page it loads."""
    with page.expect_navigation():
        target.click()


def submit(page: Page) -> None:
    click_and_load(page, page.locator("form button[type=submit]"))


def open_week_with_slots(page: Page, base_url: str, service: str, language: str = "de") -> None:
    """The week page of a Herne service in ``language``, moved on to the first week with
    a free slot (it opens on the week of the next free time)."""
    page.goto(f"{base_url}/centres/herne/{service}")
    click_and_load(page, page.locator(f'a.language-choice[href$="language={language}"]'))
    for _ in range(6):
        if page.locator("a.slot").count():
            return
        click_and_load(page, page.locator("a[rel=next]"))
    raise AssertionError("no free slot in six weeks")


def fill_details(page: Page, name: str, mail: str) -> None:
    page.locator("#name").fill(name)
    page.locator("#email").fill(mail)
    page.locator("#consent").check()


def book(page: Page, base_url: str, *, service: str = "beratung-1", mail: str) -> datetime:
    """Book the first free slot through the pages; leaves the page on the manage page."""
    open_week_with_slots(page, base_url, service)
    slot = page.locator("a.slot").first
    start = datetime.fromisoformat(slot.locator("time").get_attribute("datetime"))
    slot.click()
    page.wait_for_url("**/book?*")
    fill_details(page, NAME, mail)
    submit(page)
    page.wait_for_url(MANAGE_URL)
    return start


def free_starts(page: Page, base_url: str, service: str, day) -> set[datetime]:
    response = page.request.get(
        f"{base_url}/api/v1/centres/herne/slots",
        params={"service": service, "from": day.isoformat(), "to": day.isoformat()},
    )
    assert response.ok, response.text()
    return {datetime.fromisoformat(s["start"]) for s in response.json()["slots"]}


def local_day(start: datetime):
    return start.astimezone(BERLIN).date()


def mails(outbox_dir: Path) -> list[str]:
    """The decoded text of every part of every .eml in the outbox, one string per mail."""
    found = []
    for path in sorted(outbox_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        parts = []
        for part in message.walk():
            if part.is_multipart():
                continue
            payload = part.get_payload(decode=True) or b""
            parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
        found.append("\n".join(parts))
    return found


def calendar_mails(outbox_dir: Path, method: str) -> list[str]:
    return [text for text in mails(outbox_dir) if f"METHOD:{method}" in text]


def assert_no_horizontal_scroll(page: Page) -> None:
    scroll, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll <= client, f"{page.url}: scrollWidth {scroll} > clientWidth {client}"


# --- tests --------------------------------------------------------------------------


def test_family_books_by_keyboard_only(page: Page, live_server, outbox_dir):
    page.goto(f"{live_server}/")

    tab_to(page, page.locator('a[href="/centres/herne"]'))
    page.keyboard.press("Enter")
    page.wait_for_url("**/centres/herne")

    tab_to(page, page.locator('a.service[href="/centres/herne/beratung-1"]'))
    page.keyboard.press("Enter")
    page.wait_for_url("**/centres/herne/beratung-1")

    # The first step: the language of the consultation.
    tab_to(page, page.locator('a.language-choice[href$="language=de"]'))
    page.keyboard.press("Enter")
    page.wait_for_url("**/centres/herne/beratung-1?language=de")

    for _ in range(6):
        if page.locator("a.slot").count():
            break
        current = page.url
        tab_to(page, page.locator("a[rel=next]"))
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url, current=current: url != current)
    slot = page.locator("a.slot").first
    tab_to(page, slot)
    page.keyboard.press("Enter")
    page.wait_for_url("**/book?*")

    tab_to(page, page.locator("#name"))
    page.keyboard.type(NAME)
    tab_to(page, page.locator("#email"))
    page.keyboard.type("ayse.keyboard@example.org")
    tab_to(page, page.locator("#consent"))
    page.keyboard.press("Space")
    expect(page.locator("#consent")).to_be_checked()
    tab_to(page, page.locator("form button[type=submit]"))
    page.keyboard.press("Enter")
    page.wait_for_url(MANAGE_URL)

    expect(page.locator("h1")).to_have_count(1)
    reference = page.locator("dd.reference")
    expect(reference).not_to_be_empty()
    name_cell = page.locator("dl.booking-details dd").filter(has_text="Öztürk")
    assert name_cell.text_content() == NAME
    expect(page.locator("dd.status")).to_have_class("status status-confirmed")
    assert calendar_mails(outbox_dir, "REQUEST"), "no invitation .eml with METHOD:REQUEST"


def test_validation_messages_next_to_fields(page: Page, live_server):
    open_week_with_slots(page, live_server, "beratung-1")
    page.locator("a.slot").first.click()
    page.wait_for_url("**/book?*")
    page.locator("#phone").fill("+49 2323 12345")
    submit(page)

    for field in ("name", "email", "consent"):
        control = page.locator(f"#{field}")
        expect(control).to_have_attribute("aria-invalid", "true")
        described = (control.get_attribute("aria-describedby") or "").split()
        assert f"{field}-error" in described, (field, described)
        message = page.locator(f"#{field}-error")
        expect(message).to_be_visible()
        expect(message).not_to_be_empty()
        summary_link = page.locator(f'#form-errors a[href="#{field}"]')
        expect(summary_link).to_have_count(1)
    expect(page.locator("#form-errors")).to_have_attribute("role", "alert")
    expect(page.locator("#phone")).to_have_value("+49 2323 12345")

    # A link of the summary takes the focus to its field.
    page.locator('#form-errors a[href="#email"]').click()
    assert page.locator("#email").evaluate("el => el === document.activeElement")


def test_cancel_from_manage_page_frees_the_slot(page: Page, live_server, outbox_dir):
    # Only one Herne counsellor offers "beratung-5": a booking takes the slot away.
    start = book(page, live_server, service="beratung-5", mail="cancel@example.org")
    day = local_day(start)
    assert start not in free_starts(page, live_server, "beratung-5", day)
    manage_url = page.url

    page.locator('a[href$="/cancel"]').click()
    page.wait_for_url("**/cancel")
    page.locator('form[action$="/cancel"] button[type=submit]').click()
    page.wait_for_url(manage_url)

    status = page.locator("dd.status")
    expect(status).to_have_class("status status-cancelled")
    expect(status).not_to_be_empty()
    expect(page.locator('a[href$="/cancel"]')).to_have_count(0)
    assert start in free_starts(page, live_server, "beratung-5", day)
    assert calendar_mails(outbox_dir, "CANCEL"), "no .eml with METHOD:CANCEL"


def test_move_to_another_time(page: Page, live_server, outbox_dir):
    start = book(page, live_server, mail="move@example.org")
    manage_url = page.url

    page.locator('a[href$="/move"]').click()
    page.wait_for_url("**/move*")
    choices = page.locator("a.slot")
    expect(choices.first).to_be_visible()
    target = None
    for index in range(choices.count()):
        candidate = choices.nth(index)
        when = datetime.fromisoformat(candidate.locator("time").get_attribute("datetime"))
        if when != start:
            target = candidate
            break
    assert target is not None, "no other time offered"
    new_time = target.locator("time").inner_text().strip()
    click_and_load(page, target)
    # Nothing has changed yet: the family confirms the move first.
    expect(page.locator("#move-to")).to_contain_text(new_time)
    page.locator("#confirm-move").click()
    page.wait_for_url(manage_url)

    when_text = page.locator("dl.booking-details div").nth(1).locator("dd").inner_text()
    assert f", {new_time}–" in when_text, when_text
    requests = calendar_mails(outbox_dir, "REQUEST")
    assert len(requests) == 2, len(requests)
    assert any("SEQUENCE:1" in text for text in requests), "no update with SEQUENCE:1"


def test_works_without_javascript(new_context, live_server):
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    book(page, live_server, mail="nojs@example.org")
    expect(page.locator("dd.reference")).not_to_be_empty()
    expect(page.locator("dd.status")).to_have_class("status status-confirmed")


def test_phone_viewport(new_context, live_server):
    context = new_context(viewport={"width": 375, "height": 667})
    page = context.new_page()
    page.goto(f"{live_server}/")
    assert_no_horizontal_scroll(page)
    page.goto(f"{live_server}/centres/herne")
    assert_no_horizontal_scroll(page)
    open_week_with_slots(page, live_server, "beratung-1")
    assert_no_horizontal_scroll(page)
    page.locator("a.slot").first.click()
    page.wait_for_url("**/book?*")
    assert_no_horizontal_scroll(page)
    submit(page)
    expect(page.locator("#form-errors")).to_be_visible()
    assert_no_horizontal_scroll(page)


def axe_problems(page: Page, where: str) -> list[tuple[str, str]]:
    """Serious and critical axe violations of the page as (rule, line); prints the rest."""
    results = Axe().run(page)
    serious = []
    for violation in results.response["violations"]:
        targets = [" ".join(node["target"]) for node in violation["nodes"]]
        line = f"{where}: {violation['id']} ({violation['impact']}) {violation['help']}: {targets}"
        if violation["impact"] in ("serious", "critical"):
            serious.append((violation["id"], line))
        else:
            print(line)
    return serious


def test_axe_no_serious_violations(page: Page, live_server):
    problems = []
    page.goto(f"{live_server}/")
    problems += axe_problems(page, "index")
    page.goto(f"{live_server}/centres/herne")
    problems += axe_problems(page, "centre")
    open_week_with_slots(page, live_server, "beratung-1")
    problems += axe_problems(page, "week")
    page.locator("a.slot").first.click()
    page.wait_for_url("**/book?*")
    problems += axe_problems(page, "form")
    submit(page)
    problems += axe_problems(page, "form with errors")
    fill_details(page, NAME, "axe@example.org")
    submit(page)
    page.wait_for_url(MANAGE_URL)
    problems += axe_problems(page, "manage")
    manage_url = page.url
    page.goto(f"{manage_url}/move")
    problems += axe_problems(page, "move")
    page.goto(f"{manage_url}/cancel")
    problems += axe_problems(page, "cancel")
    assert not problems, "\n".join(line for _, line in problems)
