"""Who can be booked, in which language: one rule each, asked by every path.

The demo centre Herne: "beratung-1" is offered by Aylin Demir (de, tr) and Olena Koval
(de, ru, uk). A Russian-speaking family's booking can only ever be Olena's, unless an
interpreter comes; an admin account given a service is never booked.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from booking.extensions import db
from booking.models import Booking, Centre, Service, User
from tests.conftest import STAFF_PASSWORD, csrf_from
from tests.helpers import at, local, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

ADMIN = "admin@herne.example"


@pytest.fixture
def monday(seeded):
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    return next_working_day(0)


@pytest.fixture
def staff(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff(ADMIN, "admin", "herne"))
    return client


def user_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.name == name))


def booking_start(app, booking_id: int) -> datetime:
    with app.app_context():
        return db.session.get(Booking, booking_id).start_at


def russian_bookings(make_booking, app, monday, **need) -> tuple:
    """A Russian booking at 09:00 (the one to move) and another at 11:00: both Olena's,
    so at 11:00 only Aylin is free, and she speaks no Russian."""
    moving = make_booking(at(monday, 9), language="ru", **need)
    other = make_booking(at(monday, 11), language="ru")
    olena = user_id(app, "Olena Koval")
    assert moving.counsellor_id == olena and other.counsellor_id == olena
    return moving, other


def offered_starts(html: str) -> set[datetime]:
    return {
        datetime.fromisoformat(v)
        for v in re.findall(r'name="start" id="slot-\d+" value="([^"]+)"', html)
    }


def staff_move_starts(client, booking_id: int, day) -> set[datetime]:
    page = client.get(f"/staff/bookings/{booking_id}/move?from={day.isoformat()}")
    assert page.status_code == 200
    return offered_starts(page.get_data(as_text=True))


def test_staff_move_offers_a_russian_booking_only_russian_speakers_times(
    app, staff, monday, make_booking
):
    """Regression: the staff move page listed times without the booking's language, so a
    Russian booking was offered Aylin's 11:00, which the writer then refused as taken."""
    moving, _other = russian_bookings(make_booking, app, monday)
    offered = staff_move_starts(staff, moving.id, monday)
    assert local(at(monday, 10)) in offered  # Olena is free then
    assert local(at(monday, 11)) not in offered  # only Aylin is
    assert local(at(monday, 10, 30)) not in offered  # would overlap Olena's 11:00


def test_staff_move_offers_anyone_free_when_an_interpreter_comes(app, staff, monday, make_booking):
    moving, _other = russian_bookings(make_booking, app, monday, interpreter_language="ru")
    aylin = user_id(app, "Aylin Demir")
    offered = staff_move_starts(staff, moving.id, monday)
    assert local(at(monday, 11)) in offered
    token = csrf_from(staff.get(f"/staff/bookings/{moving.id}/move").get_data(as_text=True))
    response = staff.post(
        f"/staff/bookings/{moving.id}/move", data={"csrf_token": token, "start": at(monday, 11)}
    )
    assert response.status_code == 303
    with app.app_context():
        moved = db.session.get(Booking, moving.id)
        assert moved.start_at == local(at(monday, 11))
        assert moved.counsellor_id == aylin


def test_staff_move_to_a_time_without_a_speaker_is_refused(app, staff, monday, make_booking):
    moving, _other = russian_bookings(make_booking, app, monday)
    token = csrf_from(staff.get(f"/staff/bookings/{moving.id}/move").get_data(as_text=True))
    response = staff.post(
        f"/staff/bookings/{moving.id}/move", data={"csrf_token": token, "start": at(monday, 11)}
    )
    assert response.status_code == 409
    assert booking_start(app, moving.id) == local(at(monday, 9))


def test_api_reschedule_keeps_the_language(app, client, monday, make_booking):
    moving, _other = russian_bookings(make_booking, app, monday)
    response = client.post(
        f"/api/v1/bookings/{moving.token}/reschedule", json={"start": at(monday, 11)}
    )
    assert response.status_code == 409
    assert response.get_json()["type"].endswith("slot-unavailable")
    assert booking_start(app, moving.id) == local(at(monday, 9))
    ok = client.post(f"/api/v1/bookings/{moving.token}/reschedule", json={"start": at(monday, 10)})
    assert ok.status_code == 200
    assert booking_start(app, moving.id) == local(at(monday, 10))


def test_family_move_keeps_the_language(app, client, monday, make_booking):
    moving, _other = russian_bookings(make_booking, app, monday)
    token = moving.token
    week = client.get(f"/b/{token}/move?week={monday.isoformat()}").get_data(as_text=True)
    offered = {datetime.fromisoformat(unquote(v)) for v in re.findall(r"start=([^&\"]+)", week)}
    assert local(at(monday, 10)) in offered
    assert local(at(monday, 11)) not in offered
    page = client.get(f"/b/{token}/move", query_string={"start": at(monday, 10)})
    page = page.get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]*)"', page).group(1)
    response = client.post(f"/b/{token}/move", data={"csrf_token": csrf, "start": at(monday, 11)})
    assert response.status_code in (200, 409)
    assert booking_start(app, moving.id) == local(at(monday, 9))


def give_admin_a_service(app, email: str = ADMIN) -> int:
    """An admin account that offers "beratung-1" (written past the staff writer, as older
    data may hold it): it must never be booked."""
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.email == email))
        service = db.session.scalar(
            select(Service).join(Centre).where(Centre.slug == "herne", Service.slug == "beratung-1")
        )
        admin.services.append(service)
        admin.languages = ["de", "es"]
        db.session.commit()
        return admin.id


def spanish_slots(client, day, service: str = "beratung-1") -> list[datetime]:
    response = client.get(
        "/api/v1/centres/herne/slots",
        query_string={
            "service": service,
            "from": day.isoformat(),
            "to": day.isoformat(),
            "language": "es",
        },
    )
    assert response.status_code == 200
    return [local(s["start"]) for s in response.get_json()["slots"]]


def test_an_admin_given_a_service_is_never_booked(app, staff, monday, make_booking):
    """Before, the slot search had no role filter: the admin "offered" beratung-1 to
    Spanish-speaking families and received the bookings, but appeared nowhere in intake,
    hand-over or the calendars."""
    give_admin_a_service(app)
    assert spanish_slots(staff, monday) == []
    # Both counsellors busy at 10:00: the admin is free then, and still not offered.
    make_booking(at(monday, 10), language="tr")
    make_booking(at(monday, 10), language="ru")
    response = staff.get(
        "/api/v1/centres/herne/slots",
        query_string={
            "service": "beratung-1",
            "from": monday.isoformat(),
            "to": monday.isoformat(),
        },
    )
    starts = {local(s["start"]) for s in response.get_json()["slots"]}
    assert local(at(monday, 9)) in starts
    assert local(at(monday, 10)) not in starts


def post_admin(client, url: str, data: dict):
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def service_id(app, slug: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(Service.id).join(Centre).where(Centre.slug == "herne", Service.slug == slug)
        )


def test_the_staff_writer_lets_only_counsellors_offer_services(app, staff):
    response = post_admin(
        staff,
        "/admin/centres/herne/staff/new",
        {
            "name": "Rezeption Neu",
            "email": "rezeption.neu@herne.example",
            "role": "reception",
            "languages": "de",
            "services": [str(service_id(app, "beratung-1"))],
            "password": STAFF_PASSWORD,
        },
    )
    assert response.status_code == 422
    with app.app_context():
        assert (
            db.session.scalar(select(User).where(User.email == "rezeption.neu@herne.example"))
            is None
        )
    with app.app_context():
        admin_id = db.session.scalar(select(User.id).where(User.email == ADMIN))
    response = post_admin(
        staff,
        f"/admin/centres/herne/staff/{admin_id}",
        {"name": "Admin", "languages": "de", "services": [str(service_id(app, "beratung-1"))]},
    )
    assert response.status_code == 422
    with app.app_context():
        assert db.session.get(User, admin_id).services == []


def test_an_admin_changing_languages_alone_raises_the_availability_version(app, staff, monday):
    """The slots API caches answers under the availability version: a language added to a
    counsellor (nothing else changed) must show at once in a search with that language."""
    assert spanish_slots(staff, monday) == []
    assert spanish_slots(staff, monday) == []  # now from the cache
    aylin = user_id(app, "Aylin Demir")
    with app.app_context():
        services = [s.id for s in db.session.get(User, aylin).services]
    response = post_admin(
        staff,
        f"/admin/centres/herne/staff/{aylin}",
        {"name": "Aylin Demir", "languages": "de tr es", "services": services},
    )
    assert response.status_code == 303
    assert spanish_slots(staff, monday)
