"""Families in a real browser, with no dead ends: the language kept from the first choice to
the mail, a move confirmed before it happens, no free time said once, book again after a
cancellation, and a lost link found again. Each journey counts the family's clicks and
keystrokes (printed; run with -s to see them)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from booking.extensions import db
from booking.models import Absence, Booking, Service, User
from tests.browser.test_booking_flow import axe_problems, mails
from tests.helpers import answer_find_requests

NAME = "Layla Haddad"


@dataclass
class Journey:
    """Does what a family does, and counts it: clicks (or taps) and typed keys."""

    page: Page
    clicks: int = 0
    keys: int = 0

    def click(self, target: Locator, navigates: bool = True) -> None:
        self.clicks += 1
        if navigates:
            with self.page.expect_navigation():
                target.click()
        else:
            target.click()

    def type(self, target: Locator, text: str) -> None:
        self.clicks += 1  # into the field
        target.fill(text)
        self.keys += len(text)

    def choose(self, target: Locator, value: str) -> None:
        self.clicks += 2  # open the list, pick the entry
        target.select_option(value)

    def report(self, name: str) -> None:
        print(f"\njourney {name}: {self.clicks} clicks, {self.keys} keystrokes")


def first_slot(page: Page) -> Locator:
    slot = page.locator("a.slot").first
    expect(slot).to_be_visible()
    return slot


def fill_and_book(journey: Journey, address: str) -> None:
    page = journey.page
    journey.type(page.locator("#name"), NAME)
    journey.type(page.locator("#email"), address)
    journey.clicks += 1
    page.locator("#consent").check()
    journey.click(page.locator("form button[type=submit]"))
    page.wait_for_url("**/b/*")


def booking_of(app, reference: str) -> tuple[Booking, list[str]]:
    with app.app_context():
        booking = db.session.scalar(select(Booking).where(Booking.reference == reference))
        languages = list(booking.counsellor.languages)
        db.session.expunge(booking)
        return booking, languages


def test_a_family_asking_for_arabic_gets_an_arabic_speaker(
    page: Page, live_server, live_app, outbox_dir
):
    journey = Journey(page)
    page.goto(f"{live_server}/")
    journey.click(page.locator('a[href="/centres/herne"]'))
    journey.click(page.locator('a.service[href="/centres/herne/beratung-3"]'))
    # The first question is the language; only languages spoken here are offered.
    choices = page.locator("a.language-choice")
    offered = {
        re.search(r"language=(\w+)", h).group(1)
        for h in choices.evaluate_all("els => els.map(e => e.href)")
    }
    assert offered == {"de", "ar", "fa", "ru", "uk"}
    assert not axe_problems(page, "language step")
    journey.click(page.locator('a.language-choice[href$="language=ar"]'))
    expect(page.locator("#chosen-language")).to_contain_text("Arabisch")
    journey.click(first_slot(page))
    # Kept, and not asked again: said in words, with a link to change it.
    expect(page.locator("#language")).to_have_count(0)
    expect(page.locator("input[type=hidden][name=language]")).to_have_value("ar")
    expect(page.locator("#chosen-language")).to_contain_text("Arabisch")
    fill_and_book(journey, "layla@example.org")
    journey.report("book in Arabic")
    assert journey.clicks <= 8 and journey.keys == len(NAME) + len("layla@example.org")

    expect(page.locator("dd.consultation-language")).to_have_text("Arabisch")
    reference = page.locator("dd.reference").inner_text()
    booking, languages = booking_of(live_app, reference)
    assert booking.language == "ar" and "ar" in languages
    (confirmation,) = [m for m in mails(outbox_dir) if reference in m and "METHOD:REQUEST" in m]
    assert "Sprache: Arabisch" in confirmation


def test_the_interpreter_list_preselects_no_other_language(page: Page, live_server):
    """A Turkish mother must not book "Arabic, with an interpreter" with one tap: the list
    preselects the page's own language when nobody speaks it, else nothing, and sending
    it empty says to choose."""
    # beratung-1 at Herne: nobody speaks Arabic, Aylin speaks Turkish.
    page.goto(f"{live_server}/centres/herne/beratung-1?lang=ar")
    expect(page.locator("#interpreter")).to_have_value("ar")
    page.goto(f"{live_server}/centres/herne/beratung-1?lang=tr")
    expect(page.locator("#interpreter")).to_have_value("")
    expect(page.locator("#interpreter option:checked")).to_have_text("Lütfen bir dil seçin")
    with page.expect_navigation():
        page.locator(".language-step form button[type=submit]").click()
    expect(page.locator("#language-error")).to_be_visible()
    expect(page.locator("#interpreter")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("a.slot")).to_have_count(0)


def test_an_interpreter_is_recorded_and_shown(page: Page, live_server, live_app, outbox_dir):
    # At Herne nobody who offers "beratung-1" speaks Arabic: the family asks for an interpreter.
    journey = Journey(page)
    page.goto(f"{live_server}/centres/herne/beratung-1")
    expect(page.locator('a.language-choice[href$="language=ar"]')).to_have_count(0)
    journey.choose(page.locator("#interpreter"), "ar")
    journey.click(page.locator(".language-step form button[type=submit]"))
    expect(page.locator("#chosen-language")).to_contain_text("mit Dolmetscher")
    journey.click(first_slot(page))
    expect(page.locator("#interpreter_language")).to_have_count(0)
    expect(page.locator("input[type=hidden][name=interpreter_language]")).to_have_value("ar")
    fill_and_book(journey, "interpreter@example.org")
    journey.report("book with an interpreter")

    expect(page.locator("dd.consultation-language")).to_have_text("Arabisch, mit Dolmetscher")
    expect(page.locator(".interpreter-note")).to_be_visible()
    reference = page.locator("dd.reference").inner_text()
    booking, _ = booking_of(live_app, reference)
    assert booking.interpreter_language == "ar"
    (confirmation,) = [m for m in mails(outbox_dir) if reference in m and "METHOD:REQUEST" in m]
    assert "Sprache: Arabisch, mit Dolmetscher" in confirmation


def test_a_move_is_confirmed_before_anything_changes(page: Page, live_server, outbox_dir):
    page.goto(f"{live_server}/centres/herne/beratung-1?language=de")
    first_slot(page).click()
    page.wait_for_url("**/book?*")
    fill_and_book(Journey(page), "move-confirm@example.org")
    manage_url = page.url
    before = page.locator("dl.booking-details div").nth(1).locator("dd").inner_text()

    journey = Journey(page)
    journey.click(page.locator('a[href$="/move"]'))
    current = page.locator("#current-time")
    expect(current).to_be_visible()
    expect(current).to_contain_text(before.split(", ")[-1].split("–")[0])
    target = page.locator("a.slot").first
    new_time = target.locator("time").inner_text()
    journey.click(target)
    expect(page.locator("h1")).to_have_text("Termin verschieben?")
    expect(page.locator("#move-to")).to_contain_text(new_time)
    assert not axe_problems(page, "move confirmation")

    # "No": back to the times, nothing changed, no mail.
    page.locator("#back-to-times").click()
    page.wait_for_url("**/move?week=*")
    page.goto(manage_url)
    assert page.locator("dl.booking-details div").nth(1).locator("dd").inner_text() == before
    assert len([m for m in mails(outbox_dir) if "METHOD:REQUEST" in m]) == 1

    journey = Journey(page)
    journey.click(page.locator('a[href$="/move"]'))
    journey.click(page.locator("a.slot").first)
    journey.click(page.locator("#confirm-move"))
    journey.report("move")
    assert journey.clicks == 3
    page.wait_for_url(manage_url)
    after = page.locator("dl.booking-details div").nth(1).locator("dd").inner_text()
    assert f", {new_time}–" in after
    assert len([m for m in mails(outbox_dir) if "METHOD:REQUEST" in m]) == 2


def test_a_service_without_free_time_says_so_once(page: Page, live_server, live_app):
    now = datetime.now(UTC)
    with live_app.app_context():
        service = db.session.scalar(select(Service).where(Service.slug == "beratung-5"))
        for user in db.session.scalars(select(User).where(User.services.contains(service))):
            db.session.add(
                Absence(user_id=user.id, start_at=now, end_at=now + timedelta(days=100), note="")
            )
        db.session.commit()
    page.goto(f"{live_server}/centres/herne/beratung-5?language=de")
    expect(page.locator("#no-free-times")).to_have_count(1)
    expect(page.locator("section.day")).to_have_count(0)
    expect(page.locator("a[rel=next]")).to_have_count(0)
    phone = page.locator('#no-free-times a[href^="tel:"]')
    expect(phone).to_have_attribute("href", "tel:023256589313")
    assert not axe_problems(page, "no free times")


def test_book_again_after_a_cancellation(page: Page, live_server):
    page.goto(f"{live_server}/centres/herne/beratung-2?language=tr")
    first_slot(page).click()
    page.wait_for_url("**/book?*")
    fill_and_book(Journey(page), "again@example.org")
    page.locator('a[href$="/cancel"]').click()
    page.locator('form[action$="/cancel"] button[type=submit]').click()
    expect(page.locator("dd.status")).to_have_class("status status-cancelled")
    expect(page.locator("#add-to-calendar")).to_have_count(0)
    page.locator("#book-again").click()
    page.wait_for_url("**/centres/herne/beratung-2?language=tr")
    expect(page.locator("#chosen-language")).to_contain_text("Türkisch")
    expect(first_slot(page)).to_be_visible()


def test_a_lost_link_is_found_again_by_mail(page: Page, live_app, live_server, outbox_dir):
    page.goto(f"{live_server}/centres/herne/beratung-1?language=de")
    first_slot(page).click()
    page.wait_for_url("**/book?*")
    fill_and_book(Journey(page), "lost@example.org")
    reference = page.locator("dd.reference").inner_text()
    old_link = page.url

    # The family has lost the mail and the reference with it. On a phone, the link to
    # "find my booking" is at the top of every page, visible without scrolling.
    journey = Journey(page)
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(f"{live_server}/")
    link = page.locator("#find-my-booking")
    expect(link).to_be_in_viewport()
    journey.click(link)
    assert not axe_problems(page, "find my booking")
    journey.type(page.locator("#email"), "lost@example.org")
    journey.click(page.locator("form button[type=submit]"))
    expect(page.locator("#find-sent")).to_be_visible()
    assert "/b/" not in page.content()
    assert answer_find_requests(live_app) == 1  # the outbox worker's round
    (mail,) = [m for m in mails(outbox_dir) if reference in m and "Ihren Termin öffnen" in m]
    # The worker builds the link from the configuration (SERVER_NAME, unset here: localhost),
    # never from a request's host; the family's browser opens it on this server.
    path = re.search(r"http://[^\s\"<]+(/b/[\w-]+)", mail).group(1)
    new_link = f"{live_server}{path}"
    journey.clicks += 1  # the link in the mail
    page.goto(new_link)
    journey.report("find a lost booking")
    expect(page.locator("dd.reference")).to_have_text(reference)

    # The old link now explains itself and gives the phone numbers.
    page.goto(old_link)
    expect(page.locator("h1")).to_have_text("Dieser Link funktioniert nicht mehr")
    expect(page.locator('.centre-phones a[href^="tel:"]')).to_have_count(2)
    assert not axe_problems(page, "unknown link")


def test_legal_pages_from_the_footer(page: Page, live_server):
    page.goto(f"{live_server}/")
    for href, heading in (
        ("/impressum", "Impressum"),
        ("/privacy", "Datenschutz"),
        ("/accessibility", "Erklärung zur Barrierefreiheit"),
    ):
        page.locator(f'footer a[href="{href}"]').click()
        page.wait_for_url(f"**{href}")
        expect(page.locator("h1")).to_contain_text(heading)
        assert not axe_problems(page, href)
    expect(page.locator("main")).to_contain_text("Schlichtungsstelle nach § 16 BGG")
