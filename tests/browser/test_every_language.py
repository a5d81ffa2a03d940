"""Every family in its own language, in a real browser.

A whole booking in Arabic at 320 px width, right to left, by keyboard only; the same in
Turkish without JavaScript; axe (WCAG 2.0/2.1 A and AA) with zero violations on every public
page in every language and on every staff and admin page.
"""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect
from sqlalchemy import select

from booking.accounts import create_or_update_user
from booking.config import Config
from booking.extensions import db
from booking.models import Booking, Centre, Event, OpeningHours, Service, User, utcnow
from tests.browser.test_booking_flow import (
    NAME,
    assert_no_horizontal_scroll,
    fill_details,
    open_week_with_slots,
    submit,
    tab_to,
)
from tests.conftest import STAFF_PASSWORD

LANGUAGES = tuple(Config.LANGUAGES)
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE = Axe()


def url_code(code: str) -> str:
    return code.replace("@", "-")


def axe_violations(page: Page, where: str) -> list[str]:
    """Every violation of WCAG 2.0/2.1 A and AA rules on the page, one line each."""
    results = AXE.run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    lines = []
    for violation in results.response["violations"]:
        for node in violation["nodes"]:
            lines.append(
                f"{where}: {violation['id']} ({violation['impact']}) {violation['help']}: "
                f"{' '.join(node['target'])} {node.get('failureSummary', '')[:160]!r}"
            )
    return lines


def html_attributes(page: Page) -> tuple[str, str]:
    return tuple(page.evaluate("[document.documentElement.lang, document.documentElement.dir]"))


def mail_languages(outbox_dir) -> list[str]:
    found = []
    for path in sorted(outbox_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        found.append(message["Content-Language"])
    return found


# --- whole bookings ----------------------------------------------------------------


def test_arabic_booking_at_320px_right_to_left_by_keyboard_only(
    new_context, live_server, outbox_dir
):
    context = new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    page.goto(f"{live_server}/?lang=ar")
    assert html_attributes(page) == ("ar", "rtl")
    assert_no_horizontal_scroll(page)

    tab_to(page, page.locator('a[href="/centres/herne"]'))
    page.keyboard.press("Enter")
    page.wait_for_url("**/centres/herne")
    assert html_attributes(page) == ("ar", "rtl")
    assert_no_horizontal_scroll(page)

    # Arrival and residence: a counsellor of Herne speaks Arabic.
    tab_to(page, page.locator('a.service[href="/centres/herne/beratung-3"]'))
    page.keyboard.press("Enter")
    page.wait_for_url("**/centres/herne/beratung-3")
    tab_to(page, page.locator('a.language-choice[href$="language=ar"]'))
    page.keyboard.press("Enter")
    page.wait_for_url("**language=ar*")
    for _ in range(6):
        if page.locator("a.slot").count():
            break
        current = page.url
        next_link = page.locator("a[rel=next]")
        # Right to left, "next" is to the left: its arrow says so.
        assert next_link.inner_text().strip().endswith("←")
        tab_to(page, next_link)
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url, current=current: url != current)
    assert_no_horizontal_scroll(page)
    slot = page.locator("a.slot").first
    tab_to(page, slot)
    page.keyboard.press("Enter")
    page.wait_for_url("**/book?*")
    assert html_attributes(page) == ("ar", "rtl")
    assert_no_horizontal_scroll(page)
    # Times stay left to right inside the Arabic text.
    expect(page.locator('.summary bdi[dir="ltr"]')).to_have_text(
        re.compile(r"^\d\d:\d\d–\d\d:\d\d$")
    )

    tab_to(page, page.locator("#name"))
    page.keyboard.type("ليلى حداد")
    tab_to(page, page.locator("#email"))
    page.keyboard.type("layla.rtl@example.org")
    tab_to(page, page.locator("#consent"))
    page.keyboard.press("Space")
    expect(page.locator("#consent")).to_be_checked()
    tab_to(page, page.locator("form button[type=submit]"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/b/*")

    assert html_attributes(page) == ("ar", "rtl")
    assert_no_horizontal_scroll(page)
    expect(page.locator("dd.status")).to_have_class("status status-confirmed")
    expect(page.locator('dd.reference bdi[dir="ltr"]')).to_have_text(
        re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}$")
    )
    # The buttons fit the narrow screen.
    for button in page.locator(".actions .button").all():
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320, box
    assert "ar" in mail_languages(outbox_dir), mail_languages(outbox_dir)


def test_turkish_booking_without_javascript(new_context, live_server, live_app, outbox_dir):
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server}/?lang=tr")
    assert html_attributes(page) == ("tr", "ltr")
    page.locator('a[href="/centres/herne"]').click()
    page.wait_for_url("**/centres/herne")
    page.locator('a.service[href="/centres/herne/beratung-1"]').click()
    page.wait_for_url("**/centres/herne/beratung-1")
    open_week_with_slots(page, live_server, "beratung-1")
    assert html_attributes(page) == ("tr", "ltr")
    page.locator("a.slot").first.click()
    page.wait_for_url("**/book?*")
    fill_details(page, NAME, "ayse.tr@example.org")
    submit(page)
    page.wait_for_url("**/b/*")
    assert html_attributes(page) == ("tr", "ltr")
    expect(page.locator("dd.status")).to_have_class("status status-confirmed")
    reference = page.locator("dd.reference").inner_text().strip()
    with live_app.app_context():
        booking = db.session.scalar(select(Booking).where(Booking.reference == reference))
        assert booking.locale == "tr"
    assert "tr" in mail_languages(outbox_dir)


def test_switcher_works_without_javascript(new_context, live_server):
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server}/centres/herne")
    with page.expect_navigation():
        page.locator('.languages a[hreflang="fa"]').click()
    assert html_attributes(page) == ("fa", "rtl")
    assert page.url.endswith("/centres/herne?lang=fa")
    with page.expect_navigation():
        page.locator(".languages a").filter(has_text="Leichte Sprache").click()
    assert html_attributes(page) == ("de", "ltr")
    expect(page.locator('.languages [aria-current="true"]')).to_have_text("Leichte Sprache")


# --- axe on every page -------------------------------------------------------------


@pytest.fixture
def booking_token(live_app) -> str:
    """A booking of the seeded Herne centre, made through the service layer."""
    from datetime import UTC, datetime, timedelta

    from booking import availability, bookings
    from booking.validation import BookingDetails

    with live_app.test_request_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        service = db.session.scalar(
            select(Service).where(Service.centre_id == centre.id, Service.slug == "beratung-1")
        )
        now = datetime.now(UTC)
        found = availability.find_slots(
            centre, service, now.date(), (now + timedelta(days=40)).date(), now, None
        )
        slot = found[0]
        result = bookings.book_slot(
            bookings.BookingRequest(
                centre, service, slot.start_at, BookingDetails(name=NAME, email="axe@example.org")
            ),
            now=now,
        )
        return result.manage_token


@pytest.fixture
def held_tokens(live_app, outbox_dir) -> tuple[str, str]:
    """A held booking at Kreis Heinsberg (which holds online bookings here): its manage
    token, and the confirmation token its mail carries."""
    from datetime import UTC, datetime, timedelta

    from booking import availability, bookings
    from booking.validation import BookingDetails

    with live_app.test_request_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "kreis-heinsberg"))
        centre.hold_online_bookings = True
        db.session.commit()
        service = db.session.scalar(
            select(Service).where(Service.centre_id == centre.id, Service.slug == "beratung-1")
        )
        now = datetime.now(UTC)
        slot = availability.find_slots(
            centre, service, now.date(), (now + timedelta(days=40)).date(), now, None
        )[0]
        result = bookings.book_slot(
            bookings.BookingRequest(
                centre, service, slot.start_at, BookingDetails(name=NAME, email="held@example.org")
            ),
            now=now,
        )
    (path,) = sorted(outbox_dir.glob("*-hold_request.eml"))
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    text = message.get_body(("plain",)).get_content()
    (confirm,) = set(re.findall(r"/confirm/([A-Za-z0-9_-]{20,})", text))
    return result.manage_token, confirm


def public_pages(
    page: Page, base: str, code: str, token: str, held: tuple[str, str] | None = None
) -> list[str]:
    """Visit every public page in language ``code``; return axe's findings."""
    problems = []
    page.goto(f"{base}/?lang={url_code(code)}")
    lang = code.split("@")[0]
    assert html_attributes(page)[0] == lang
    problems += axe_violations(page, f"{code} index")
    page.goto(f"{base}/centres/herne")
    problems += axe_violations(page, f"{code} centre")
    open_week_with_slots(page, base, "beratung-1")
    problems += axe_violations(page, f"{code} week")
    page.locator("a.slot").first.click()
    page.wait_for_url("**/book?*")
    problems += axe_violations(page, f"{code} booking form")
    submit(page)
    expect(page.locator("#form-errors")).to_be_visible()
    problems += axe_violations(page, f"{code} form with errors")
    for path, where in (
        (f"/b/{token}", "manage"),
        (f"/b/{token}/move", "move"),
        (f"/b/{token}/cancel", "cancel"),
        ("/privacy", "privacy"),
        *([(f"/b/{held[0]}", "manage (held)"), (f"/confirm/{held[1]}", "confirm")] if held else []),
    ):
        page.goto(f"{base}{path}")
        if where == "confirm":
            expect(page.locator("#confirm-hold")).to_have_count(1)
        problems += axe_violations(page, f"{code} {where}")
    response = page.goto(f"{base}/centres/nowhere")
    assert response.status == 404
    problems += axe_violations(page, f"{code} error page")
    assert html_attributes(page)[0] == lang
    return problems


def test_axe_check_finds_a_violation(page: Page, live_server):
    """The check itself: an image without a text alternative is reported."""
    page.goto(f"{live_server}/")
    assert not axe_violations(page, "index")
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    found = axe_violations(page, "index with an unlabelled image")
    assert any("image-alt" in line for line in found), found


# The languages in three parts, one test each: the two workers of `make test` share them.
LANGUAGE_PARTS = [LANGUAGES[part::3] for part in range(3)]


def test_the_language_parts_are_every_language_once():
    assert sorted(code for part in LANGUAGE_PARTS for code in part) == sorted(LANGUAGES)


@pytest.mark.slow
@pytest.mark.parametrize("codes", LANGUAGE_PARTS, ids=lambda codes: "-".join(codes))
def test_axe_no_violations_on_public_pages_in_every_language(
    page: Page, live_server, booking_token, held_tokens, codes
):
    problems = []
    for code in codes:
        problems += public_pages(page, live_server, code, booking_token, held_tokens)
    assert not problems, f"{len(problems)} axe violations:\n" + "\n".join(problems)


# Values for the arguments of staff and admin routes; a new argument needs a line here.
def route_arguments(app) -> dict[str, object]:
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        return {
            "centre_slug": "herne",
            "hours_id": db.session.scalar(
                select(OpeningHours.id).where(OpeningHours.centre_id == centre.id).limit(1)
            ),
            "service_id": db.session.scalar(
                select(Service.id).where(Service.centre_id == centre.id).limit(1)
            ),
            "user_id": db.session.scalar(
                select(User.id).where(User.role == "counsellor").order_by(User.id).limit(1)
            ),
            "booking_id": db.session.scalar(select(Booking.id).order_by(Booking.id).limit(1)),
            "event_id": db.session.scalar(
                select(Event.id).where(Event.centre_id == centre.id).order_by(Event.id).limit(1)
            ),
        }


def staff_urls(app, prefixes: tuple[str, ...]) -> list[str]:
    """Every GET page (not a download) of the staff and admin blueprints."""
    values = route_arguments(app)
    urls = []
    with app.test_request_context():
        from flask import url_for

        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if not rule.endpoint.startswith(prefixes) or "GET" not in rule.methods:
                continue
            if rule.rule.endswith((".csv", ".ics")) or rule.endpoint == "staff.login":
                continue
            missing = rule.arguments - set(values)
            assert not missing, f"add a value for {missing} of {rule.rule} to route_arguments"
            urls.append(url_for(rule.endpoint, **{a: values[a] for a in rule.arguments}))
    return urls


def sign_in(page: Page, base: str, email_address: str) -> None:
    page.goto(f"{base}/staff/login")
    page.locator("#email").fill(email_address)
    page.locator("#password").fill(STAFF_PASSWORD)
    with page.expect_navigation():
        page.locator("form button[type=submit]").click()
    assert "/staff/login" not in page.url, page.url


# Who is signed in, and in which language they walk their pages: one test each.
STAFF_WALKS = [("admin", "de"), ("admin", "en"), ("reception", "de"), ("counsellor", "de")]


@pytest.mark.slow
@pytest.mark.parametrize(("role", "code"), STAFF_WALKS, ids=lambda value: value)
def test_axe_no_violations_on_staff_and_admin_pages(
    new_context, live_server, live_app, booking_token, role, code
):
    with live_app.test_request_context():
        for email_address, account_role in (
            ("admin@herne.example", "admin"),
            ("reception@herne.example", "reception"),
            ("counsellor@herne.example", "counsellor"),
        ):
            create_or_update_user(
                email_address,
                account_role,
                ["herne"],
                STAFF_PASSWORD,
                account_role.title(),
                now=utcnow(),
            )
    problems = []
    context = new_context()
    page = context.new_page()
    if (role, code) == STAFF_WALKS[0]:
        page.goto(f"{live_server}/staff/login")
        problems += axe_violations(page, "de login")
    prefixes = ("staff.", "admin.") if role == "admin" else ("staff.",)
    urls = staff_urls(live_app, prefixes)
    if role == "admin":
        assert len(urls) >= 20, urls
    visited = 0
    sign_in(page, live_server, f"{role}@herne.example")
    for url in urls:
        response = page.goto(f"{live_server}{url}?lang={code}")
        if response.status == 403:
            continue  # not this role's page
        assert response.ok, (role, url, response.status)
        assert html_attributes(page)[0] == code, (role, url)
        problems += axe_violations(page, f"{role} {code} {url}")
        visited += 1
    assert visited, "no page of this role was walked"
    print(f"axe: {visited} {role} pages in {code}")
    assert not problems, f"{len(problems)} axe violations:\n" + "\n".join(problems)
