"""A working day at the centre in a real browser: reception finds a caller's booking by
phone number and cancels it; a counsellor's absence is handed over to a colleague.

Each journey counts its clicks and keystrokes (typed characters plus special keys) from the
staff overview on, so the figures can be compared when the pages change.
"""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from booking.accounts import create_or_update_user
from booking.extensions import db
from booking.models import Booking, User, utcnow
from tests.conftest import STAFF_PASSWORD
from tests.helpers import BERLIN, at, book_through_writer, next_working_day

RECEPTION = "rezeption@herne.example"
AYLIN = "aylin.demir@herne.example"


class Counter:
    """Clicks and keystrokes of one journey."""

    def __init__(self, page: Page):
        self.page, self.clicks, self.keys = page, 0, 0

    def click(self, locator) -> None:
        self.clicks += 1
        locator.click()

    def type(self, locator, text: str) -> None:
        locator.focus()
        self.keys += len(text)
        self.page.keyboard.type(text)

    def press(self, key: str) -> None:
        self.keys += 1
        self.page.keyboard.press(key)


def calendar_texts(outbox_dir) -> list[str]:
    """The calendar part of every mail written (one per mail; the .ics attachment aside)."""
    found = []
    for path in sorted(outbox_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        if parts:
            found.append(parts[0].get_content())
    return found


def sign_in(page: Page, base_url: str, email_address: str) -> None:
    page.goto(f"{base_url}/staff/login?lang=en")
    page.locator("#email").fill(email_address)
    page.locator("#password").fill(STAFF_PASSWORD)
    with page.expect_navigation():
        page.locator("#password").press("Enter")
    page.wait_for_url(re.compile(r".*/staff/$"))


@pytest.fixture
def accounts(live_app):
    with live_app.test_request_context():
        create_or_update_user(
            RECEPTION, "reception", ["herne"], STAFF_PASSWORD, "Rita Rezeption", now=utcnow()
        )
        create_or_update_user(AYLIN, "counsellor", ["herne"], STAFF_PASSWORD, None, now=utcnow())


def test_reception_finds_a_booking_by_phone_and_cancels_it(
    page: Page, live_server, live_app, accounts, outbox_dir
):
    monday = next_working_day(0)
    wanted = book_through_writer(
        live_app, "herne", "beratung-3", at(monday, 10), name="Omar Nassar", phone="0171 234 56 78"
    )
    book_through_writer(
        live_app, "herne", "beratung-3", at(monday, 11), name="Other", phone="0157 999"
    )
    sign_in(page, live_server, RECEPTION)

    count = Counter(page)
    with page.expect_navigation():
        count.click(page.locator("nav.staff-nav a[href='/staff/search']"))
    # The caller gives the number in its international spelling ("+49 171 ..."), stored
    # as "0171 234 56 78" at booking.
    count.type(page.locator("#q"), "+49 171 2345678")
    with page.expect_navigation():
        count.press("Enter")
    results = page.locator("#search-results tbody tr")
    expect(results).to_have_count(1)
    expect(results.first.locator(".reference")).to_have_text(wanted.reference)
    with page.expect_navigation():
        count.click(results.first.locator(".reference a"))
    # The family asked for it: the mail says so, without the centre's apology.
    count.click(page.locator("#asked-by-family"))
    count.click(page.locator("#confirm-cancel"))
    with page.expect_navigation():
        count.click(page.locator("#cancel-button"))
    expect(page.locator(".status")).to_have_class(re.compile("status-cancelled"))
    print(f"\nsearch and cancel: {count.clicks} clicks, {count.keys} keystrokes")
    assert count.clicks + count.keys <= 6 + len("+49 171 2345678")

    with live_app.app_context():
        assert db.session.get(Booking, wanted.id).status == "cancelled"
    assert len([t for t in calendar_texts(outbox_dir) if "METHOD:CANCEL" in t]) == 1


def test_an_absence_is_handed_over_to_a_colleague(
    page: Page, live_server, live_app, accounts, outbox_dir
):
    monday = next_working_day(0)
    booking = book_through_writer(
        live_app, "herne", "beratung-1", at(monday, 9), name="Omar Nassar"
    )
    with live_app.app_context():
        before = db.session.get(Booking, booking.id)
        start, end = before.start_at, before.end_at
        assert before.counsellor.name == "Aylin Demir"
        olena = db.session.scalar(select(User.id).where(User.name == "Olena Koval"))
    sign_in(page, live_server, AYLIN)

    count = Counter(page)
    with page.expect_navigation():
        count.click(page.locator("nav.staff-nav a[href='/staff/absences']"))
    # A whole day: only the date is typed, eight digits (the order depends on the
    # browser's locale, so the value is filled in and counted as eight keystrokes).
    page.locator("#first_day").fill(monday.isoformat())
    count.keys += 8
    expect(page.locator("#first_day")).to_have_value(monday.isoformat())
    with page.expect_navigation():
        count.click(page.locator("#save-absence"))
    row = page.locator(f"tr.conflict[data-booking-id='{booking.id}']")
    expect(row.locator(".colleague-choice")).to_have_value(str(olena))
    # The absence page with its list of conflicts fits a 1280 px screen.
    page.set_viewport_size({"width": 1280, "height": 800})
    scroll, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert scroll <= client, f"absence page is {scroll} px wide at {client} px"
    table = page.locator(".conflicts-table").bounding_box()
    region = page.locator("#conflicts .table-scroll").bounding_box()
    assert table["width"] <= region["width"] + 1, "the conflicts table scrolls sideways"
    with page.expect_navigation():
        count.click(row.locator(".conflict-hand-over"))
    expect(page.locator("#no-conflicts")).to_be_visible()
    print(f"\nabsence and hand-over: {count.clicks} clicks, {count.keys} keystrokes")

    with live_app.app_context():
        after = db.session.get(Booking, booking.id)
        assert after.counsellor_id == olena
        assert (after.start_at, after.end_at, after.status) == (start, end, "confirmed")
        assert after.sequence == 1
    changed = [t for t in calendar_texts(outbox_dir) if "SEQUENCE:1" in t and "METHOD:REQUEST" in t]
    assert len(changed) == 1, "one changed invitation (same UID, SEQUENCE:1) was written"


def test_the_day_list_prints_without_menus_and_buttons(page: Page, live_server, live_app, accounts):
    monday = next_working_day(0)
    booking = book_through_writer(
        live_app, "herne", "beratung-1", at(monday, 9), name="Omar Nassar"
    )
    sign_in(page, live_server, RECEPTION)
    page.goto(f"{live_server}/staff/?date={monday.isoformat()}")
    row = page.locator(f"#row-{booking.id}")
    expect(row).to_contain_text("Omar Nassar")
    expect(page.locator("nav.staff-nav")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator("nav.staff-nav")).to_be_hidden()
    expect(page.locator(".week-nav")).to_be_hidden()
    expect(row).to_be_visible()
    expect(row).to_contain_text("Omar Nassar")
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")


def test_reception_books_a_caller_who_can_only_come_on_thursdays(
    page: Page, live_server, live_app, accounts
):
    sign_in(page, live_server, RECEPTION)
    count = Counter(page)
    with page.expect_navigation():
        count.click(page.locator("nav.staff-nav a[href='/staff/intake']"))
    # A choice in a select: one click to open it, one to choose.
    page.locator("#service").select_option("beratung-3")
    count.clicks += 2
    page.locator("#weekday").select_option("3")
    count.clicks += 2
    with page.expect_navigation():
        count.click(page.locator("#show-filtered"))
    times = page.locator("input[name='start']")
    # Nothing is preselected: the caller's time is chosen.
    expect(page.locator("input[name='start']:checked")).to_have_count(0)
    times.first.check()
    count.clicks += 1
    chosen = times.first.get_attribute("value")
    count.type(page.locator("#name"), "Dilan Kaya")
    count.type(page.locator("#phone"), "0171 7654321")
    with page.expect_navigation():
        count.click(page.locator("#book-button"))
    expect(page.locator("#booked-reference")).to_have_text(re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}$"))
    print(f"\nphone booking for a Thursday: {count.clicks} clicks, {count.keys} keystrokes")
    with live_app.app_context():
        booking = db.session.scalar(select(Booking).where(Booking.name == "Dilan Kaya"))
        assert booking.start_at.isoformat() == chosen
        assert booking.start_at.astimezone(BERLIN).weekday() == 3


def test_reception_enters_an_absence_and_hands_the_day_over(
    page: Page, live_server, live_app, accounts, outbox_dir
):
    """Aylin phones in sick at 7:45: reception enters her day and hands it over."""
    monday = next_working_day(0)
    # Turkish with a Turkish interpreter: Aylin's, and a colleague without Turkish may take it.
    first, second = (
        book_through_writer(
            live_app,
            "herne",
            "beratung-1",
            at(monday, hour),
            name=name,
            language="tr",
            interpreter_language="tr",
        )
        for hour, name in ((9, "Omar Nassar"), (11, "Lina Second"))
    )
    with live_app.app_context():
        aylin = db.session.scalar(select(User.id).where(User.name == "Aylin Demir"))
        assert {db.session.get(Booking, b.id).counsellor_id for b in (first, second)} == {aylin}
    sign_in(page, live_server, RECEPTION)

    count = Counter(page)
    with page.expect_navigation():
        count.click(page.locator("nav.staff-nav a[href='/staff/absences']"))
    page.locator("#counsellor").select_option(str(aylin))
    count.clicks += 2
    page.locator("#first_day").fill(monday.isoformat())
    count.keys += 8
    with page.expect_navigation():
        count.click(page.locator("#save-absence"))
    expect(page.locator("tr.conflict")).to_have_count(2)
    # "Hand over all that can be" first names what will happen.
    with page.expect_navigation():
        count.click(page.locator("#bulk-hand-over-all"))
    expect(page.locator("#families-told")).to_contain_text("2 families will be told by e-mail")
    with page.expect_navigation():
        count.click(page.locator("#bulk-confirm-button"))
    expect(page.locator("#no-conflicts")).to_be_visible()
    print(f"\nabsence and hand-over as reception: {count.clicks} clicks, {count.keys} keystrokes")
    with live_app.app_context():
        owners = {db.session.get(Booking, b.id).counsellor_id for b in (first, second)}
    assert aylin not in owners
    changed = [t for t in calendar_texts(outbox_dir) if "SEQUENCE:1" in t and "METHOD:REQUEST" in t]
    assert len(changed) == 2


def test_bulk_cancel_asks_first_naming_how_many_families_are_told(
    page: Page, live_server, live_app, accounts, outbox_dir
):
    monday = next_working_day(0)
    ids = [
        book_through_writer(
            live_app,
            "herne",
            "beratung-1",
            at(monday, h),
            name=f"Family {h}",
            language="tr",
            interpreter_language="tr",
        ).id
        for h in (9, 10)
    ]
    sign_in(page, live_server, AYLIN)
    page.goto(f"{live_server}/staff/absences")
    page.locator("#first_day").fill(monday.isoformat())
    with page.expect_navigation():
        page.locator("#save-absence").click()
    for booking_id in ids:
        page.locator(f"#select-{booking_id}").check()
    with page.expect_navigation():
        page.locator("#bulk-cancel").click()
    expect(page.locator("#bulk-confirm")).to_contain_text("2 appointments will be cancelled.")
    expect(page.locator("#families-told")).to_contain_text("2 families will be told by e-mail.")
    with live_app.app_context():
        assert {db.session.get(Booking, i).status for i in ids} == {"confirmed"}
    assert not [t for t in calendar_texts(outbox_dir) if "METHOD:CANCEL" in t]
    # "Back" changes nothing; confirming cancels both.
    with page.expect_navigation():
        page.locator("#bulk-back").click()
    expect(page.locator("tr.conflict")).to_have_count(2)
    for booking_id in ids:
        page.locator(f"#select-{booking_id}").check()
    with page.expect_navigation():
        page.locator("#bulk-cancel").click()
    with page.expect_navigation():
        page.locator("#bulk-confirm-button").click()
    with live_app.app_context():
        assert {db.session.get(Booking, i).status for i in ids} == {"cancelled"}
    assert len([t for t in calendar_texts(outbox_dir) if "METHOD:CANCEL" in t]) == 2


def test_the_feed_page_offers_the_calendar_app_and_copy_not_destruction(
    page: Page, live_server, live_app, accounts
):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, live_server, AYLIN)
    page.goto(f"{live_server}/staff/feed")
    with page.expect_navigation():
        page.locator("#renew-feed").click()
    address = page.locator("#feed-url").input_value()
    assert re.fullmatch(r"https?://[^/]+/calendar/[\w-]{43}\.ics", address)
    opener = page.locator("#open-feed")
    expect(opener).to_have_attribute("href", re.sub(r"^https?://", "webcal://", address))
    expect(opener).to_have_class(re.compile(r"\bbutton\b"))
    copy = page.locator("#copy-feed")
    expect(copy).to_be_visible()
    copy.click()
    expect(page.locator("#copy-status")).not_to_be_empty()
    assert page.evaluate("navigator.clipboard.readText()") == address
    # Right under the new address, renewing is secondary and asks first: without the
    # tick the browser does not send the form, and the address keeps working.
    renew = page.locator("#renew-feed")
    expect(renew).to_have_class(re.compile(r"\bsecondary\b"))
    renew.click()
    expect(page.locator("#feed-url")).to_have_value(address)
    assert page.request.get(address).status == 200


def test_a_leader_finds_the_event_in_the_calendar_and_day_list_and_opens_it(
    page: Page, live_server, live_app, accounts
):
    """The event a counsellor leads is one entry on the day list and in the week, no axe
    violation on either; its link opens the event's staff page."""
    from tests.browser.test_every_language import axe_violations
    from tests.events_helpers import make_event
    from tests.helpers import local

    wednesday = next_working_day(2)
    event_id = make_event(
        live_app,
        "herne",
        start_at=local(at(wednesday, 14)),
        leaders=(AYLIN,),
        title="Elterncafé am Mittwoch",
    )
    sign_in(page, live_server, AYLIN)
    problems = []
    for path in (f"/staff/?date={wednesday}", f"/staff/calendar?view=week&date={wednesday}"):
        page.goto(f"{live_server}{path}&lang=de")
        entries = page.locator(f'li.calendar-event[data-event-id="{event_id}"]')
        expect(entries).to_have_count(1)
        expect(entries).to_contain_text("Elterncafé am Mittwoch")
        expect(entries).to_contain_text("14:00")
        problems += axe_violations(page, path)
    assert not problems, "\n".join(problems)
    page.locator(f'li.calendar-event[data-event-id="{event_id}"] a').click()
    page.wait_for_url(re.compile(rf".*/staff/events/{event_id}$"))
    expect(page.locator(".breadcrumb")).to_contain_text("Elterncafé am Mittwoch")
