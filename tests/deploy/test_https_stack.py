"""Booking, staff and admin work end to end over https behind nginx, with several workers."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta

from playwright.sync_api import Page, expect

from tests.browser.test_booking_flow import book
from tests.deploy.conftest import ADMIN, DEPLOY, RECEPTION, STAFF_PASSWORD, WORKERS
from tests.helpers import next_working_day

FAMILY = "familie.deploy@example.org"
SIGN_IN_PAGE = re.compile(r".*/staff/login(\?.*)?$")
LINK = re.compile(r"https?://[^\s\"'<>]+")


def mails_to(stack, address: str) -> list:
    return [message for rcpt, message in stack.inbox.messages if address in rcpt]


def wait_for_mails(stack, address: str, count: int, timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mails_to(stack, address)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{len(mails_to(stack, address))} of {count} mails to {address}")


def text_of(message) -> str:
    """Every text part, the calendar's folded lines unfolded (RFC 5545 3.1)."""
    texts = []
    for part in message.walk():
        if part.get_content_maintype() != "text" or part.is_attachment():
            continue
        content = part.get_content()
        if part.get_content_subtype() == "calendar":
            content = re.sub(r"\r?\n[ \t]", "", content)
        texts.append(content)
    return "\n".join(texts)


def manage_link(message, base_url: str) -> str:
    links = [link for link in LINK.findall(text_of(message)) if "/b/" in link]
    assert links, text_of(message)
    assert links[0].startswith(base_url + "/b/"), links[0]
    return links[0]


def sign_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/staff/login")
    page.locator("#email").fill(email)
    page.locator("#password").fill(STAFF_PASSWORD)
    with page.expect_navigation():
        page.locator("#password").press("Enter")
    expect(page.locator('form[action$="/staff/logout"]')).to_be_visible()


def sign_out(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/staff/")
    with page.expect_navigation():
        page.locator('form[action$="/staff/logout"] button[type=submit]').click()
    page.wait_for_url(SIGN_IN_PAGE)
    # Signed out on the server: the staff pages send the browser back to the sign-in page.
    page.goto(f"{base_url}/staff/intake")
    page.wait_for_url(SIGN_IN_PAGE)


def test_find_my_booking_is_answered_by_the_outbox_worker(stack, https_context):
    """/find only queues the request (the same work for a match and a miss); the running
    `outbox work` process answers it: one mail with a new link, the old link ends then."""
    address = "finder.deploy@example.org"
    page = https_context.new_page()
    book(page, stack.base_url, service="beratung-3", mail=address)
    old_link = page.url
    wait_for_mails(stack, address, 1)
    for typed in (address, "nobody.deploy@example.org"):
        page.goto(f"{stack.base_url}/find")
        page.locator("#email").fill(typed)
        with page.expect_navigation():
            page.locator("form button[type=submit]").click()
        expect(page.locator("#find-sent")).to_be_visible()
    confirmation, found = wait_for_mails(stack, address, 2)
    new_link = manage_link(found, stack.base_url)
    assert new_link != old_link
    assert page.goto(new_link).status == 200
    assert page.goto(old_link).status == 404
    time.sleep(3)  # stragglers: one mail per request, none to the unknown address
    assert len(mails_to(stack, address)) == 2
    assert mails_to(stack, "nobody.deploy@example.org") == []


def test_the_stack_passes_its_own_check(stack):
    done = stack.flask("check", "--gunicorn-config", str(DEPLOY / "gunicorn.conf.py"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{WORKERS} gunicorn worker(s)" in done.stdout
    assert stack.log("gunicorn").count("Booting worker") >= WORKERS


def test_family_books_moves_and_cancels_over_https(stack, https_context):
    page = https_context.new_page()
    first = page.goto(f"{stack.base_url}/")
    assert first.ok
    assert first.headers["strict-transport-security"] == "max-age=31536000"

    start = book(page, stack.base_url, mail=FAMILY)
    assert page.url.startswith(f"{stack.base_url}/b/")
    (cookie,) = [c for c in https_context.cookies() if "session" in c["name"]]
    assert cookie["name"] == "__Host-session" and cookie["secure"] and cookie["httpOnly"]

    (confirmation,) = wait_for_mails(stack, FAMILY, 1)
    assert "Guten Tag" in text_of(confirmation)

    # The link in the mail, opened in a fresh tab as a family would.
    page.close()
    page = https_context.new_page()
    link = manage_link(confirmation, stack.base_url)
    response = page.goto(link)
    assert response.headers["cache-control"] == "no-store"
    expect(page.locator("dd.status")).to_have_class("status status-confirmed")

    page.locator('a[href$="/move"]').click()
    page.wait_for_url("**/move*")
    choices = page.locator("a.slot")
    expect(choices.first).to_be_visible()
    other = [
        choices.nth(i)
        for i in range(choices.count())
        if datetime.fromisoformat(choices.nth(i).locator("time").get_attribute("datetime")) != start
    ]
    other[0].click()
    # The family confirms the move before anything changes.
    page.locator("#confirm-move").click()
    page.wait_for_url(link)
    wait_for_mails(stack, FAMILY, 2)

    page.locator('a[href$="/cancel"]').click()
    page.wait_for_url("**/cancel")
    page.locator('form[action$="/cancel"] button[type=submit]').click()
    page.wait_for_url(link)
    expect(page.locator("dd.status")).to_have_class("status status-cancelled")
    wait_for_mails(stack, FAMILY, 3)

    # Every mail once: wait for stragglers from the workers and the outbox process.
    time.sleep(3)
    received = mails_to(stack, FAMILY)
    assert len(received) == 3, [m["Subject"] for m in received]
    assert len({m["Message-ID"] for m in received}) == 3
    for message in received:
        for found in LINK.findall(text_of(message)):
            assert found.startswith(stack.base_url + "/"), found
    with_link = [m for m in received if "/b/" in text_of(m)]
    assert len(with_link) >= 2  # the confirmation and the change; a cancellation needs none
    assert {manage_link(m, stack.base_url) for m in with_link} == {link}

    # Neither nginx nor gunicorn logged a path with its secret.
    token = link.rsplit("/", 1)[1]
    for log in ("ki-booking.access", "gunicorn"):
        text = stack.log(log)
        assert token not in text and "/b/" not in text, log
    assert '"POST" 303' in stack.log("ki-booking.access")


def test_reception_books_for_a_caller_and_signs_out(stack, https_context):
    page = https_context.new_page()
    sign_in(page, stack.base_url, RECEPTION)
    page.goto(f"{stack.base_url}/staff/intake")
    page.locator("#service").select_option("beratung-1")
    with page.expect_navigation():
        page.locator("#show-times").click()
    page.locator("#name").fill("Anrufer Deploy")
    page.locator("#phone").fill("0171 7654321")
    # Nothing is preselected: reception chooses the time the caller wants.
    page.locator("#slot-0").check()
    with page.expect_navigation():
        page.locator("#book-button").click()
    expect(page.locator("#booked-reference")).to_have_text(re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}$"))
    sign_out(page, stack.base_url)


def test_admin_changes_the_hours(stack, https_context):
    page = https_context.new_page()
    sign_in(page, stack.base_url, ADMIN)
    # Herne is closed on Saturdays: open one Saturday, 10:00 to 14:00.
    saturday = next_working_day(5)
    page.goto(f"{stack.base_url}/admin/centres/herne/hours")
    page.locator("#weekday").select_option("5")
    page.locator("#opens").fill("10:00")
    page.locator("#closes").fill("14:00")
    page.locator("details.validity > summary").click()  # the validity dates are folded
    page.locator("#valid_from").fill(saturday.isoformat())
    page.locator("#valid_until").fill((saturday + timedelta(days=1)).isoformat())
    with page.expect_navigation():
        page.locator('form[action$="/hours"] button[type=submit]').click()
    assert page.url == f"{stack.base_url}/admin/centres/herne/hours"
    expect(page.locator("#hours-table")).to_contain_text("10:00–14:00")

    day = saturday.isoformat()
    answer = page.goto(
        f"{stack.base_url}/api/v1/centres/herne/slots?service=beratung-1&from={day}&to={day}"
    )
    slots = json.loads(answer.text())["slots"]
    assert slots and slots[0]["start"].startswith(f"{day}T10:00")
    sign_out(page, stack.base_url)
