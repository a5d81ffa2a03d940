"""A change of weekday hours from a date on, in one step, and a preview of the bookings a
change would hit before anything is saved."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from sqlalchemy import select

from booking.extensions import db
from booking.models import Booking, Centre, OpeningHours
from tests.conftest import csrf_from
from tests.helpers import a_week_later, at, next_working_day

ADMIN = "admin@herne.example"


@pytest.fixture
def admin(seeded, client, make_staff, sign_in):
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    sign_in(client, make_staff(ADMIN, "admin", "herne"))
    return client


def friday_row(app) -> int:
    with app.app_context():
        return db.session.scalar(
            select(OpeningHours.id)
            .join(Centre)
            .where(Centre.slug == "herne", OpeningHours.weekday == 4)
        )


def friday_hours(app) -> list[tuple]:
    with app.app_context():
        rows = db.session.scalars(
            select(OpeningHours)
            .join(Centre)
            .where(Centre.slug == "herne", OpeningHours.weekday == 4)
            .order_by(OpeningHours.valid_from.is_not(None), OpeningHours.valid_from)
        ).all()
        return [(r.opens, r.closes, r.valid_from, r.valid_until) for r in rows]


def edit(client, row_id: int, **fields):
    """Change the interval as the page does: the preview first ("preview" in ``fields``
    stops there), then "Save" with the values previewed."""
    url = f"/admin/centres/herne/hours/{row_id}"
    token = csrf_from(client.get(url).get_data(as_text=True))
    data = {"csrf_token": token, "weekday": "4", "opens": "08:00", "closes": "13:00", **fields}
    shown = client.post(url + "?lang=en", data={**data, "preview": "1"})
    previewed = re.search(r'name="previewed" value="([^"]+)"', shown.get_data(as_text=True))
    if "preview" in fields or previewed is None:
        return shown
    return client.post(
        url + "?lang=en", data={**data, "save": "1", "previewed": previewed.group(1)}
    )


def test_friday_hours_change_from_a_date_in_one_step(seeded, admin):
    # Herne: Fridays 08:00–13:00. From a Friday four weeks ahead: 08:00–12:00.
    change_day = next_working_day(4, min_days_ahead=28)
    response = edit(
        admin, friday_row(seeded), opens="08:00", closes="12:00", change_from=change_day.isoformat()
    )
    assert response.status_code == 303
    assert friday_hours(seeded) == [
        (time(8), time(13), None, change_day - timedelta(days=1)),
        (time(8), time(12), change_day, None),
    ]


def test_a_change_date_after_the_validity_is_refused_next_to_the_field(seeded, admin):
    with seeded.app_context():
        row = db.session.get(OpeningHours, friday_row(seeded))
        row.valid_until = next_working_day(4, min_days_ahead=7)
        db.session.commit()
    later = next_working_day(4, min_days_ahead=40)
    response = edit(admin, friday_row(seeded), closes="12:00", change_from=later.isoformat())
    assert response.status_code == 422
    assert 'id="change_from-error"' in response.get_data(as_text=True)
    assert len(friday_hours(seeded)) == 1


def test_save_goes_through_the_preview_of_the_values_saved(seeded, admin, make_booking):
    """December's Fridays: "Save" without the preview, or with values changed after it,
    shows the preview and saves nothing; the date fields of the validity are folded."""
    friday = next_working_day(4)
    late = make_booking(at(friday, 12))
    url = f"/admin/centres/herne/hours/{friday_row(seeded)}"
    page = admin.get(url + "?lang=en").get_data(as_text=True)
    assert 'id="save-hours"' not in page
    assert re.search(r'<details class="validity">', page)
    token = csrf_from(page)
    data = {"csrf_token": token, "weekday": "4", "opens": "08:00", "closes": "12:00"}
    blind = admin.post(url + "?lang=en", data={**data, "save": "1"})
    assert blind.status_code == 200
    html = blind.get_data(as_text=True)
    assert f'<li data-booking-id="{late.id}"' in html and 'id="save-hours"' in html
    assert friday_hours(seeded) == [(time(8), time(13), None, None)]
    previewed = re.search(r'name="previewed" value="([^"]+)"', html).group(1)
    # Values changed after the preview: previewed again, not saved.
    changed = admin.post(
        url + "?lang=en", data={**data, "closes": "11:00", "save": "1", "previewed": previewed}
    )
    assert changed.status_code == 200 and 'id="preview"' in changed.get_data(as_text=True)
    assert friday_hours(seeded) == [(time(8), time(13), None, None)]
    saved = admin.post(url + "?lang=en", data={**data, "save": "1", "previewed": previewed})
    assert saved.status_code == 303
    assert friday_hours(seeded) == [(time(8), time(12), None, None)]


def test_the_preview_counts_the_bookings_a_change_would_hit_and_saves_nothing(
    seeded, admin, make_booking
):
    friday = next_working_day(4)
    early = make_booking(at(friday, 9))
    late = make_booking(at(friday, 12))
    later_friday = a_week_later(friday)
    late_next_week = make_booking(at(later_friday, 12))

    response = edit(admin, friday_row(seeded), closes="12:00", preview="1")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    listed = {int(i) for i in re.findall(r'<li data-booking-id="(\d+)"', html)}
    assert listed == {late.id, late_next_week.id}
    assert "Saving would leave 2 upcoming bookings" in html
    assert friday_hours(seeded) == [(time(8), time(13), None, None)]  # nothing saved

    # From the later Friday on, only that week's late booking is hit.
    response = edit(
        admin, friday_row(seeded), closes="12:00", preview="1", change_from=later_friday.isoformat()
    )
    listed = {
        int(i) for i in re.findall(r'<li data-booking-id="(\d+)"', response.get_data(as_text=True))
    }
    assert listed == {late_next_week.id}
    assert early.id not in listed

    response = edit(admin, friday_row(seeded), closes="13:00", preview="1")
    assert 'id="preview-bookings"' not in response.get_data(as_text=True)
    assert "no upcoming booking" in response.get_data(as_text=True)
    with seeded.app_context():
        assert {b.status for b in db.session.scalars(select(Booking))} == {"confirmed"}
