"""A family books at a centre that holds online bookings, in a real browser: the manage page
says to confirm from the mail, the mail's link confirms, the invitation follows; both pages
pass axe (the web tests prove the time is gone for others meanwhile)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect
from sqlalchemy import update

from booking.extensions import db
from booking.models import Centre
from tests.browser.test_booking_flow import (
    MANAGE_URL,
    NAME,
    axe_problems,
    calendar_mails,
    fill_details,
    mails,
    open_week_with_slots,
    submit,
)


def test_a_held_booking_is_confirmed_from_the_mail(page: Page, live_app, live_server, outbox_dir):
    with live_app.app_context():
        db.session.execute(
            update(Centre).where(Centre.slug == "herne").values(hold_online_bookings=True)
        )
        db.session.commit()
    open_week_with_slots(page, live_server, "beratung-1")
    slot = page.locator("a.slot").first
    slot.click()
    page.wait_for_url("**/book?*")
    fill_details(page, NAME, "held@example.org")
    submit(page)
    page.wait_for_url(MANAGE_URL)
    expect(page.locator("#hold-notice")).to_be_visible()
    expect(page.locator("#add-to-calendar")).to_have_count(0)
    problems = axe_problems(page, "manage (held)")

    (sent,) = mails(outbox_dir)
    assert "METHOD:" not in sent  # no invitation before the confirmation
    link = re.search(r"https?://\S+/confirm/[A-Za-z0-9_-]+", sent).group()
    page.goto(live_server + urlsplit(link).path)
    problems += axe_problems(page, "confirm")
    page.locator("#confirm-hold").click()
    expect(page.locator("#hold-confirmed").first).to_be_visible()
    assert not problems, "\n".join(line for _, line in problems)
    (invitation,) = calendar_mails(outbox_dir, "REQUEST")
    assert "/b/" in invitation
    assert len(mails(outbox_dir)) == 2
