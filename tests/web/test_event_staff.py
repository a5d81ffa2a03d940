"""Staff and admin pages of events: a series in one step, the registration list (CSV,
attendance), a caller without e-mail, a message to all, move and cancel with a preview."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from sqlalchemy import select

from booking.extensions import db
from booking.models import Event, OutboxMessage, Registration, utcnow
from tests.conftest import csrf_from
from tests.events_helpers import event_url, make_event, registration_payload
from tests.helpers import BERLIN


@pytest.fixture
def admin(client, make_centre, make_staff, sign_in):
    make_centre()
    make_centre("other")
    sign_in(client, make_staff("admin@test.example", "admin", "test"))
    return client


@pytest.mark.backends("sqlite", "pg")
def test_admin_makes_a_weekly_series_across_the_change_to_summer_time(app, admin, db_backend):
    page = admin.get("/admin/centres/test/events/new").get_data(as_text=True)
    response = admin.post(
        "/admin/centres/test/events/new",
        data={
            "csrf_token": csrf_from(page),
            "title_de": "Elterncafé",
            "audience": "families",
            "date": "2031-03-18",
            "starts": "15:00",
            "ends": "16:30",
            "seats": "12",
            "has_waiting_list": "y",
            "closes_hours": "24",
            "languages": ["de", "ar"],
            "repeat": "weekly",
            "count": "6",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    with app.app_context():
        made = db.session.scalars(select(Event).order_by(Event.start_at)).all()
        assert len(made) == 6 and len({e.series_key for e in made}) == 1
        assert {e.start_at.astimezone(BERLIN).time() for e in made} == {time(15)}
        assert {e.start_at.utcoffset() for e in made} == {timedelta(0)}
        assert {e.start_at.hour for e in made} == {13, 14}
        assert all(e.registration_closes_at == e.start_at - timedelta(hours=24) for e in made)


@pytest.mark.backends("sqlite")
def test_admin_form_shows_errors_at_the_fields(app, admin, db_backend):
    page = admin.get("/admin/centres/test/events/new").get_data(as_text=True)
    response = admin.post(
        "/admin/centres/test/events/new",
        data={
            "csrf_token": csrf_from(page),
            "title_de": "",
            "date": "2031-03-18",
            "starts": "15:00",
            "ends": "14:00",
            "seats": "0",
            "repeat": "weekly",
            "count": "99",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for name in ("title_de", "ends", "seats", "count"):
        assert f'id="{name}-error"' in html, name
    with app.app_context():
        assert db.session.scalar(select(Event.id)) is None


@pytest.mark.backends("sqlite", "pg")
def test_registration_list_csv_attendance_caller_and_message(app, admin, db_backend):
    event_id = make_event(app, seats=4)
    admin.post(event_url(event_id), json=registration_payload(name="Ada", email="ada@example.org"))
    page = admin.get(f"/staff/events/{event_id}/register").get_data(as_text=True)
    response = admin.post(
        f"/staff/events/{event_id}/register",
        data={
            "csrf_token": csrf_from(page),
            "name": "Anrufer Ohne Mail",
            "phone": "02325 1234",
            "persons": "3",
            "channel": "phone",
        },
    )
    assert response.status_code == 303
    listing = admin.get(f"/staff/events/{event_id}").get_data(as_text=True)
    assert "Anrufer Ohne Mail" in listing and "Ada" in listing
    csv = admin.get(f"/staff/events/{event_id}/registrations.csv")
    body = csv.get_data()
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig")
    assert text.splitlines()[0].count(";") == 9
    # A registration's number, as the family's page and mail call it, not a booking's.
    assert text.splitlines()[0].startswith("Anmeldenummer;")
    assert "Anrufer Ohne Mail;3;" in text
    with app.app_context():
        ada = db.session.scalar(select(Registration).where(Registration.email == "ada@example.org"))
    admin.post(
        f"/staff/events/{event_id}/attendance",
        data={"csrf_token": csrf_from(listing), "registration": ada.id, "attendance": "attended"},
    )
    with app.app_context():
        assert db.session.get(Registration, ada.id).attendance == "attended"
    page = admin.get(f"/staff/events/{event_id}/message").get_data(as_text=True)
    empty = admin.post(
        f"/staff/events/{event_id}/message", data={"csrf_token": csrf_from(page), "message": " "}
    )
    assert empty.status_code == 422 and 'id="message-error"' in empty.get_data(as_text=True)
    sent = admin.post(
        f"/staff/events/{event_id}/message",
        data={"csrf_token": csrf_from(page), "message": "Bitte Raum 2 benutzen."},
    )
    assert sent.status_code == 303
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "event_message")
        ).all()
        assert [r.recipient for r in rows] == ["ada@example.org"]


@pytest.mark.backends("sqlite", "pg")
def test_move_and_cancel_preview_who_will_be_told(app, admin, db_backend):
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    event_id = make_event(app, seats=1)
    admin.post(event_url(event_id), json=registration_payload(name="Bea", email="bea@example.org"))
    admin.post(event_url(event_id), json=registration_payload(name="Cem", email="cem@example.org"))
    page = admin.get(f"/staff/events/{event_id}/move").get_data(as_text=True)
    with app.app_context():
        start = db.session.get(Event, event_id).start_at.astimezone(BERLIN)
    new_day = (start + timedelta(days=1)).date().isoformat()
    form = {
        "csrf_token": csrf_from(page),
        "date": new_day,
        "starts": "17:00",
        "ends": "18:00",
        "place": "",
    }
    preview = admin.post(f"/staff/events/{event_id}/move", data=form)
    assert preview.status_code == 200
    told = re.search(r'<ul class="told-by-mail">(.*?)</ul>', preview.get_data(as_text=True), re.S)
    assert "Bea" in told.group(1) and "Cem" in told.group(1)  # the waiting list is told too
    assert "Wartende erfahren die neue Zeit" in preview.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Event, event_id).start_at.astimezone(BERLIN) == start  # not yet
    done = admin.post(f"/staff/events/{event_id}/move", data={**form, "confirm": "yes"})
    assert done.status_code == 303
    with app.app_context():
        moved = db.session.get(Event, event_id).start_at.astimezone(BERLIN)
        assert (moved.date().isoformat(), moved.time()) == (new_day, time(17))
        kinds = dict(
            db.session.execute(
                select(OutboxMessage.recipient, OutboxMessage.kind).where(
                    OutboxMessage.kind.like("event_moved%")
                )
            ).all()
        )
        assert kinds == {"bea@example.org": "event_moved", "cem@example.org": "event_moved_waiting"}
    cancel_page = admin.get(f"/staff/events/{event_id}/cancel").get_data(as_text=True)
    assert "Bea" in cancel_page and "Cem" in cancel_page
    done = admin.post(
        f"/staff/events/{event_id}/cancel",
        data={"csrf_token": csrf_from(cancel_page), "reason": "Krankheit"},
    )
    assert done.status_code == 303
    with app.app_context():
        assert db.session.get(Event, event_id).status == "cancelled"
        kinds = dict(
            db.session.execute(
                select(OutboxMessage.recipient, OutboxMessage.kind).where(
                    OutboxMessage.kind.like("event_cancelled%")
                )
            ).all()
        )
        assert kinds == {
            "bea@example.org": "event_cancelled",
            "cem@example.org": "event_cancelled_waiting",
        }
        statuses = {r.status for r in db.session.scalars(select(Registration))}
        assert statuses == {"cancelled"}


@pytest.mark.backends("sqlite")
def test_another_centres_event_is_not_found(app, admin, db_backend):
    other = make_event(app, "other")
    assert admin.get(f"/staff/events/{other}").status_code == 404
    assert admin.get(f"/admin/centres/test/events/{other}").status_code == 404
    assert admin.get("/admin/centres/other/events").status_code == 404
    assert utcnow()


@pytest.mark.backends("sqlite")
def test_the_report_counts_events_per_audience_and_month(app, admin, db_backend):
    event_id = make_event(app, seats=3, audience="families")
    admin.post(event_url(event_id), json=registration_payload(email="r1@example.org", persons=2))
    admin.post(event_url(event_id), json=registration_payload(email="r2@example.org", persons=2))
    with app.app_context():
        start = db.session.get(Event, event_id).start_at.astimezone(BERLIN)
    page = admin.get(f"/admin/centres/test/events/report?year={start.year}").get_data(as_text=True)
    row = page.split(f'data-audience="families" data-month="{start.month}"')[1].split("</tr>")[0]
    numbers = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', row)]
    assert numbers == [1, 0, 1, 2, 0, 1]  # events, cancelled, registrations, persons, came, waiting


@pytest.mark.backends("sqlite", "pg")
def test_the_events_report_downloads_as_csv(app, admin, client, make_staff, db_backend):
    families = make_event(app, seats=3, audience="families")
    make_event(app, audience="professionals", title="Fortbildung")
    for n, persons in enumerate((2, 2)):
        admin.post(
            event_url(families),
            json=registration_payload(email=f"r{n}@example.org", persons=persons),
        )
    with app.app_context():
        start = db.session.get(Event, families).start_at.astimezone(BERLIN)
    page = admin.get(f"/admin/centres/test/events/report?year={start.year}&lang=en")
    link = re.search(r'<a href="([^"]+)" id="events-csv-link"', page.get_data(as_text=True))
    response = admin.get(link.group(1).replace("&amp;", "&"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="events-test-{start.year}.csv"'
    )
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0] == (
        "Month;For whom;Events;Cancelled events;Registrations;Persons;Persons attended;Waiting list"
    )
    month = start.month
    assert f"{month};Families;1;0;1;2;0;1" in lines
    assert f"{month};Professionals (schools, nurseries, agencies);1;0;0;0;0;0" in lines
    assert lines[-1] == "Total;;2;0;1;2;0;1"
    assert admin.get("/admin/centres/test/events/report.csv?year=abc").status_code == 400
    assert admin.get("/admin/centres/other/events/report.csv").status_code == 404
    reception = app.test_client()
    make_staff("rez@test.example", "reception", "test")
    from tests.conftest import STAFF_PASSWORD

    token = csrf_from(reception.get("/staff/login").get_data(as_text=True))
    reception.post(
        "/staff/login",
        data={"csrf_token": token, "email": "rez@test.example", "password": STAFF_PASSWORD},
    )
    assert reception.get("/admin/centres/test/events/report.csv").status_code == 403
