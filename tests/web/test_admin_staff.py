"""Staff accounts: creation with the password policy, services and languages that make
slots appear, deactivation that ends sessions at once, working hours.

Elements are found by ids, names and data attributes, never by (translated) text.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from booking.extensions import db
from booking.models import AuditEntry, Booking, Centre, Service, StaffSession, User
from tests.conftest import STAFF_PASSWORD, csrf_from
from tests.helpers import at, booking_payload, local, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

ADMIN = "admin@herne.example"
NEW = "neu@herne.example"


@pytest.fixture
def admin(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff(ADMIN, "admin", "herne"))
    return client


def post(client, url: str, data: dict | None = None):
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **(data or {})})


def service_id(app, slug: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(Service.id).join(Centre).where(Centre.slug == "herne", Service.slug == slug)
        )


def user_of(app, email: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def spanish_slots(client, day, service="beratung-1") -> list[str]:
    """Free slots for a Spanish-speaking family; no demo counsellor speaks Spanish."""
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
    return [local(s["start"]).strftime("%H:%M") for s in response.get_json()["slots"]]


def create(app, client, **over):
    data = {
        "name": "Elena García",
        "email": NEW,
        "role": "counsellor",
        "languages": "de, es",
        "services": [str(service_id(app, "beratung-1"))],
        "password": STAFF_PASSWORD,
    }
    data.update(over)
    return post(client, "/admin/centres/herne/staff/new", data)


def test_a_new_counsellor_with_services_gets_slots(app, admin):
    monday = next_working_day(0)
    assert spanish_slots(admin, monday) == []
    response = create(app, admin)
    assert response.status_code == 303
    user = user_of(app, NEW)
    assert response.headers["Location"].endswith(f"/admin/centres/herne/staff/{user.id}")
    assert user.role == "counsellor" and user.languages == ["de", "es"] and user.is_active
    assert spanish_slots(admin, monday)[0] == "08:00"
    assert spanish_slots(admin, monday, "beratung-2") == []  # a service they do not offer
    listing = admin.get("/admin/centres/herne/staff").get_data(as_text=True)
    assert f'id="staff-{user.id}"' in listing
    with app.app_context():
        assert db.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "settings", AuditEntry.detail.contains(str(user.id)))
        )


def test_the_new_account_can_sign_in_and_must_choose_its_own_password(app, admin, sign_in):
    assert create(app, admin).status_code == 303
    other = app.test_client()
    sign_in(other, NEW)
    # The admin knows the first password: every page leads to the change page first.
    assert other.get("/staff/").headers["Location"] == "/staff/password"
    page = other.get("/staff/password").get_data(as_text=True)
    assert 'id="must-change"' in page
    response = other.post(
        "/staff/password",
        data={
            "csrf_token": csrf_from(page),
            "current": STAFF_PASSWORD,
            "new": "Tulpen-am-Kanal-im-Mai",
            "confirm": "Tulpen-am-Kanal-im-Mai",
        },
    )
    assert response.status_code == 303
    assert other.get("/staff/").status_code == 200


@pytest.mark.parametrize(
    "password",
    ["kurz", "password", "passwort1", "aaaaaaaaaaaa", NEW, "x" * 65],
)
def test_the_password_policy_is_enforced_on_create(app, admin, password):
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(User))
    response = create(app, admin, password=password)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'<p class="field-error" id="password-error">[^<]+</p>', html)
    assert re.search(
        r'<input[^>]*aria-describedby="[^"]*password-error[^"]*"[^>]*id="password"', html
    )
    assert user_of(app, NEW) is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == before


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"email": ADMIN.upper()}, "email"),  # already taken, compared case-insensitively
        ({"name": ""}, "name"),
        ({"languages": ""}, "languages"),
        ({"languages": "de, klingonisch"}, "languages"),
        ({"role": "boss"}, "role"),
        ({"services": ["999999"]}, "services"),
    ],
)
def test_account_fields_are_checked(app, admin, over, field):
    response = create(app, admin, **over)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert user_of(app, NEW) is None


def test_deactivating_ends_the_session_and_the_slots(app, admin, sign_in):
    monday = next_working_day(0)
    assert create(app, admin).status_code == 303
    user = user_of(app, NEW)
    counsellor = app.test_client()
    sign_in(counsellor, NEW)
    assert counsellor.get("/staff/password").status_code == 200
    assert spanish_slots(admin, monday)

    response = post(admin, f"/admin/centres/herne/staff/{user.id}/deactivate")
    assert response.status_code == 303
    assert not user_of(app, NEW).is_active
    with app.app_context():
        assert not db.session.scalar(
            select(func.count()).select_from(StaffSession).where(StaffSession.user_id == user.id)
        )
    # Their very next request finds no session.
    next_request = counsellor.get("/staff/")
    assert next_request.status_code == 302
    assert next_request.headers["Location"].startswith("/staff/login")
    assert spanish_slots(admin, monday) == []
    # Nor can they sign in again.
    token = csrf_from(counsellor.get("/staff/login").get_data(as_text=True))
    again = counsellor.post(
        "/staff/login", data={"csrf_token": token, "email": NEW, "password": STAFF_PASSWORD}
    )
    assert again.status_code == 401

    assert post(admin, f"/admin/centres/herne/staff/{user.id}/reactivate").status_code == 303
    assert user_of(app, NEW).is_active
    assert spanish_slots(admin, monday)


def test_bookings_of_a_deactivated_counsellor_are_kept_and_listed(app, admin):
    monday = next_working_day(0)
    assert create(app, admin).status_code == 303
    user = user_of(app, NEW)
    response = admin.post(
        "/api/v1/centres/herne/bookings",
        json=booking_payload(at(monday, 9), "beratung-1", language="es"),
    )
    assert response.status_code == 201
    reference = response.get_json()["reference"]
    with app.app_context():
        booking = db.session.scalar(select(Booking).where(Booking.reference == reference))
        assert booking.counsellor_id == user.id  # the only one speaking Spanish
        booking_id = booking.id
    response = post(admin, f"/admin/centres/herne/staff/{user.id}/deactivate")
    assert response.headers["Location"].endswith("/admin/centres/herne/attention")
    page = admin.get("/admin/centres/herne/attention").get_data(as_text=True)
    assert f'id="booking-{booking_id}"' in page and 'class="reason-counsellor_inactive"' in page
    with app.app_context():
        assert db.session.get(Booking, booking_id).status == "confirmed"


def test_an_admin_cannot_deactivate_themselves(app, admin):
    me = user_of(app, ADMIN)
    response = post(admin, f"/admin/centres/herne/staff/{me.id}/deactivate")
    assert response.status_code == 303
    assert user_of(app, ADMIN).is_active
    assert admin.get("/admin/").status_code == 200


def test_languages_and_services_can_be_changed(app, admin):
    monday = next_working_day(0)
    with app.app_context():
        aylin = db.session.scalar(select(User).where(User.name == "Aylin Demir"))
        aylin_id = aylin.id
    assert spanish_slots(admin, monday, "beratung-3") == []
    response = post(
        admin,
        f"/admin/centres/herne/staff/{aylin_id}",
        {
            "name": "Aylin Demir",
            "languages": "de tr ES",
            "services": [service_id(app, "beratung-3")],
        },
    )
    assert response.status_code == 303
    user = user_of(app, "aylin.demir@herne.example")
    assert user.languages == ["de", "tr", "es"]
    assert spanish_slots(admin, monday, "beratung-3")
    assert spanish_slots(admin, monday, "beratung-1") == []


def test_own_working_hours_limit_the_slots(app, admin):
    monday = next_working_day(0)
    assert create(app, admin).status_code == 303
    user = user_of(app, NEW)
    url = f"/admin/centres/herne/staff/{user.id}/hours"
    hours = {
        "weekday": "0",
        "opens": "10:00",
        "closes": "12:00",
        "valid_from": "",
        "valid_until": "",
    }
    assert post(admin, url, hours).status_code == 303
    starts = spanish_slots(admin, monday)
    assert starts[0] == "10:00" and starts[-1] == "11:00"
    assert spanish_slots(admin, monday + timedelta(days=1)) == []  # works Mondays only now
    # Overlapping working hours are refused next to the field.
    response = post(admin, url, {**hours, "opens": "11:00", "closes": "13:00"})
    assert response.status_code == 422
    assert 'id="opens-error"' in response.get_data(as_text=True)
    with app.app_context():
        hours_id = db.session.get(User, user.id).working_hours[0].id
    response = post(admin, f"/admin/centres/herne/staff/{user.id}/hours/{hours_id}/delete")
    assert response.status_code == 303
    assert spanish_slots(admin, monday + timedelta(days=1))


def test_staff_of_another_centre_is_not_found(app, admin, make_staff):
    make_staff("rez@kreis-heinsberg.example", "reception", "kreis-heinsberg")
    stranger = user_of(app, "rez@kreis-heinsberg.example")
    assert admin.get(f"/admin/centres/herne/staff/{stranger.id}").status_code == 404
    response = post(admin, f"/admin/centres/herne/staff/{stranger.id}/deactivate")
    assert response.status_code == 404
    assert user_of(app, "rez@kreis-heinsberg.example").is_active
    assert admin.get("/admin/centres/kreis-heinsberg/staff").status_code == 404
    assert admin.get("/admin/centres/nowhere/staff").status_code == 404


def test_a_counsellors_languages_are_joined_as_the_page_language_joins_a_list(app, admin):
    """ "Deutsch, Spanisch und Türkisch" on a German page, "German, Spanish, and Turkish" on
    an English one: the locale's list format, as the public pages join an event's languages."""
    create(app, admin, languages="de, es, tr")
    user = user_of(app, NEW)
    row = re.search(
        rf'<tr id="staff-{user.id}".*?</tr>',
        admin.get("/admin/centres/herne/staff").get_data(as_text=True),
        re.S,
    ).group(0)
    assert "<td>Deutsch, Spanisch und Türkisch</td>" in row
    english = admin.get("/admin/centres/herne/staff", headers={"Accept-Language": "en"})
    assert "<td>German, Spanish, and Turkish</td>" in english.get_data(as_text=True)
