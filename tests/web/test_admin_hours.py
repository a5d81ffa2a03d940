"""Opening hours and closures take effect at once; changes never cancel bookings, they list
them for the admin to notify and cancel, or keep. On SQLite and PostgreSQL.

Elements are found by ids, names and data attributes, never by (translated) text.
"""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy

import pytest
from sqlalchemy import func, select

from booking.extensions import db
from booking.models import AuditEntry, Booking, Centre, Closure, OpeningHours, OutboxMessage
from tests.conftest import csrf_from
from tests.helpers import at, local, mail_of, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

ADMIN = "admin@herne.example"


@pytest.fixture
def admin(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff(ADMIN, "admin", "herne"))
    return client


def post(client, url: str, data: dict | None = None):
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **(data or {})})


def slot_starts(client, day, service="beratung-1") -> list[str]:
    """Local start times ("HH:MM") of the free slots on ``day``, from the public API."""
    response = client.get(
        "/api/v1/centres/herne/slots",
        query_string={"service": service, "from": day.isoformat(), "to": day.isoformat()},
    )
    assert response.status_code == 200
    return [local(s["start"]).strftime("%H:%M") for s in response.get_json()["slots"]]


def slot_ends(client, day, service="beratung-1") -> list[str]:
    response = client.get(
        "/api/v1/centres/herne/slots",
        query_string={"service": service, "from": day.isoformat(), "to": day.isoformat()},
    )
    return [local(s["end"]).strftime("%H:%M") for s in response.get_json()["slots"]]


def booking_row(app, reference: str) -> Booking:
    with app.app_context():
        booking = db.session.scalar(select(Booking).where(Booking.reference == reference))
        db.session.expunge(booking)
        return booking


def monday_hours_id(app) -> int:
    with app.app_context():
        return db.session.scalar(
            select(OpeningHours.id)
            .join(Centre)
            .where(Centre.slug == "herne", OpeningHours.weekday == 0)
        )


def attention_ids(client) -> list[int]:
    html = client.get("/admin/centres/herne/attention").get_data(as_text=True)
    return [int(i) for i in re.findall(r'<tr class="conflict" id="booking-(\d+)"', html)]


def test_summer_hours_apply_inside_their_validity_period_only(admin):
    # Herne is closed on Saturdays; open one Saturday only, as "summer hours".
    saturday = next_working_day(5)
    next_saturday = saturday + timedelta(days=7)
    assert slot_starts(admin, saturday) == []
    response = post(
        admin,
        "/admin/centres/herne/hours",
        {
            "weekday": "5",
            "opens": "10:00",
            "closes": "14:00",
            "valid_from": saturday.isoformat(),
            "valid_until": (saturday + timedelta(days=6)).isoformat(),
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/centres/herne/hours")
    starts = slot_starts(admin, saturday)
    assert starts[0] == "10:00" and starts[-1] == "13:00"  # 45 minutes end by 14:00
    assert slot_starts(admin, next_saturday) == []
    assert slot_starts(admin, saturday - timedelta(days=7)) == []


def test_the_add_page_folds_the_validity_as_the_edit_page_does(admin):
    """Adding hours shows weekday and times; the validity dates sit in a closed <details>,
    as on the edit page, and it opens by itself when one of its dates is refused."""
    page = admin.get("/admin/centres/herne/hours?lang=en").get_data(as_text=True)
    folded = re.search(r'<details class="validity">(.*?)</details>', page, re.S)
    assert folded is not None
    assert 'name="valid_from"' in folded.group(1) and 'name="valid_until"' in folded.group(1)
    assert page.count('name="valid_from"') == 1
    refused = post(
        admin,
        "/admin/centres/herne/hours?lang=en",
        {"weekday": "5", "opens": "10:00", "closes": "14:00", "valid_from": "1850-01-01"},
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert re.search(r'<details class="validity" open>', html)
    assert 'id="valid_from-error"' in html


def test_deleting_an_interval_removes_its_slots(app, admin):
    monday = next_working_day(0)
    assert slot_starts(admin, monday)
    response = post(admin, f"/admin/centres/herne/hours/{monday_hours_id(app)}/delete")
    assert response.status_code == 303
    assert slot_starts(admin, monday) == []


def test_a_closure_removes_its_slots_and_families_see_its_reason(app, admin):
    monday = next_working_day(0)
    tuesday = monday + timedelta(days=1)
    assert slot_starts(admin, monday) and slot_starts(admin, tuesday)
    response = post(
        admin,
        "/admin/centres/herne/closures",
        {"start_date": monday.isoformat(), "reason": "Betriebsausflug"},
    )
    assert response.status_code == 303
    assert slot_starts(admin, monday) == []
    assert slot_starts(admin, tuesday)  # one day only
    week = admin.get(f"/centres/herne/beratung-1?week={monday.isoformat()}&language=de")
    html = week.get_data(as_text=True)
    notices = re.search(r'<ul class="closures" id="closures">(.*?)</ul>', html, re.S)
    assert notices and "Betriebsausflug" in notices.group(1)
    # Another week does not mention it.
    later = admin.get(
        f"/centres/herne/beratung-1?week={(monday + timedelta(days=14)).isoformat()}&language=de"
    )
    assert "Betriebsausflug" not in later.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "settings")
        )


def test_a_half_day_closure_keeps_the_morning(admin):
    tuesday = next_working_day(1)
    response = post(
        admin,
        "/admin/centres/herne/closures",
        {"start_date": tuesday.isoformat(), "start_time": "12:00", "reason": "Teamsitzung"},
    )
    assert response.status_code == 303
    starts = slot_starts(admin, tuesday)
    assert starts and starts[0] == "08:00"
    assert max(slot_ends(admin, tuesday)) <= "12:00"
    html = admin.get(f"/centres/herne/beratung-1?week={tuesday.isoformat()}&language=de").get_data(
        as_text=True
    )
    assert "Teamsitzung" in html and "12:00" in html


def test_a_closure_over_several_days_and_its_deletion(app, admin):
    monday = next_working_day(0)
    wednesday = monday + timedelta(days=2)
    response = post(
        admin,
        "/admin/centres/herne/closures",
        {"start_date": monday.isoformat(), "end_date": wednesday.isoformat(), "reason": "Umzug"},
    )
    assert response.status_code == 303
    for offset in range(3):
        assert slot_starts(admin, monday + timedelta(days=offset)) == []
    assert slot_starts(admin, monday + timedelta(days=3))
    with app.app_context():
        closure_id = db.session.scalar(select(Closure.id))
    listing = admin.get("/admin/centres/herne/closures").get_data(as_text=True)
    assert f'id="closure-{closure_id}"' in listing
    assert post(admin, f"/admin/centres/herne/closures/{closure_id}/delete").status_code == 303
    assert slot_starts(admin, monday)


def test_changed_hours_list_bookings_outside_them_without_cancelling(app, admin, make_booking):
    monday = next_working_day(0)
    late = make_booking(at(monday, 15), email="late@example.org")
    later = make_booking(at(monday, 14, 30), service="beratung-3", email="later@example.org")
    early = make_booking(at(monday, 9), email="early@example.org")
    ids = {
        ref: booking_row(app, ref).id for ref in (late.reference, later.reference, early.reference)
    }
    assert attention_ids(admin) == []

    # Monday now closes at 14:00.
    values = {"weekday": "0", "opens": "08:00", "closes": "14:00", "valid_from": ""}
    url = f"/admin/centres/herne/hours/{monday_hours_id(app)}"
    shown = post(admin, url, {**values, "valid_until": "", "preview": "1"})
    previewed = re.search(r'name="previewed" value="([^"]+)"', shown.get_data(as_text=True))
    response = post(
        admin,
        url,
        {**values, "valid_until": "", "save": "1", "previewed": previewed.group(1)},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/centres/herne/attention")
    listed = attention_ids(admin)
    assert listed == [ids[later.reference], ids[late.reference]]  # by start, early not
    page = admin.get("/admin/centres/herne/attention").get_data(as_text=True)
    assert 'class="reason-outside_opening_hours"' in page
    assert late.reference in page
    for ref in ids:
        assert booking_row(app, ref).status == "confirmed"  # nothing was cancelled
    with app.app_context():
        assert not db.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "cancellation")
        )

    # Keep one: it leaves the list and stays confirmed.
    keep_id = ids[later.reference]
    response = post(admin, f"/admin/centres/herne/attention/{keep_id}/keep")
    assert response.status_code == 303
    assert attention_ids(admin) == [ids[late.reference]]
    kept = booking_row(app, later.reference)
    assert kept.status == "confirmed" and kept.kept_despite_conflict_at is not None

    # Notify and cancel the other: cancelled, and the family gets a CANCEL mail.
    cancel_id = ids[late.reference]
    response = post(admin, f"/admin/centres/herne/attention/{cancel_id}/cancel")
    assert response.status_code == 303
    assert attention_ids(admin) == []
    assert booking_row(app, late.reference).status == "cancelled"
    with app.app_context():
        mail = db.session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.booking_id == cancel_id, OutboxMessage.kind == "cancellation"
            )
        )
        assert mail is not None and mail.recipient == "late@example.org"
        calendar = next(
            part
            for part in email.message_from_bytes(mail_of(app, mail), policy=policy.default).walk()
            if part.get_content_type() == "text/calendar"
        )
        assert calendar.get_param("method") == "CANCEL"
        assert "METHOD:CANCEL" in calendar.get_content()
        actions = set(
            db.session.scalars(
                select(AuditEntry.action).where(AuditEntry.booking_id.in_([keep_id, cancel_id]))
            )
        )
        assert {"cancel", "settings"} <= actions
    assert booking_row(app, early.reference).status == "confirmed"
    # A second click changes nothing and sends nothing more.
    post(admin, f"/admin/centres/herne/attention/{cancel_id}/cancel")
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.kind == "cancellation")
            )
            == 1
        )


def test_a_closure_over_a_booking_lists_it(app, admin, make_booking):
    monday = next_working_day(0)
    booking = make_booking(at(monday, 10))
    response = post(
        admin,
        "/admin/centres/herne/closures",
        {"start_date": monday.isoformat(), "reason": "Brandschutzübung"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/admin/centres/herne/attention")
    page = admin.get("/admin/centres/herne/attention").get_data(as_text=True)
    assert booking.reference in page and 'class="reason-closure"' in page
    assert booking_row(app, booking.reference).status == "confirmed"


def test_attention_actions_need_the_csrf_token_and_the_admins_centre(
    app, admin, make_staff, sign_in, make_booking
):
    monday = next_working_day(0)
    booking = make_booking(at(monday, 15))
    booking_id = booking_row(app, booking.reference).id
    assert admin.post(f"/admin/centres/herne/attention/{booking_id}/cancel").status_code == 400
    assert booking_row(app, booking.reference).status == "confirmed"
    # An admin of another centre does not see Herne at all.
    other = app.test_client()
    sign_in(other, make_staff("admin@heinsberg.example", "admin", "kreis-heinsberg"))
    assert other.get("/admin/centres/herne/attention").status_code == 404
    token = csrf_from(other.get("/admin/").get_data(as_text=True))
    response = other.post(
        f"/admin/centres/kreis-heinsberg/attention/{booking_id}/cancel",
        data={"csrf_token": token},
    )
    assert response.status_code == 404
    assert booking_row(app, booking.reference).status == "confirmed"
