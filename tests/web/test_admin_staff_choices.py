"""Admins choose counsellors' languages by name (stored as codes), see only counsellors in
"offered by", and are warned when a service goes live that no active counsellor offers."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from booking.extensions import db
from booking.models import Service, User
from tests.conftest import csrf_from

ADMIN = "admin@herne.example"
RECEPTION = "rezeption@herne.example"


@pytest.fixture
def admin(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff(ADMIN, "admin", "herne", name="Anna Admin"))
    make_staff(RECEPTION, "reception", "herne", name="Rita Rezeption")
    return client


def user(app, name: str) -> User:
    with app.app_context():
        found = db.session.scalar(select(User).where(User.name == name))
        db.session.expunge(found)
        return found


def service_row(html: str, slug: str) -> str:
    return re.search(rf'<tr id="service-{slug}".*?</tr>', html, re.S).group(0)


def test_languages_are_ticked_by_name_and_stored_as_codes(seeded, admin):
    aylin = user(seeded, "Aylin Demir")
    url = f"/admin/centres/herne/staff/{aylin.id}"
    html = admin.get(url + "?lang=en").get_data(as_text=True)
    # Names in the page's language, codes as values; Aylin's languages ticked.
    assert re.search(
        r'id="languages-tr" name="languages" value="tr" checked>\s*<label[^>]*>Turkish<', html
    )
    assert re.search(r'value="ar">\s*<label[^>]*>Arabic<', html)
    assert "Türkisch" in admin.get(url + "?lang=de").get_data(as_text=True)
    response = admin.post(
        url,
        data={
            "csrf_token": csrf_from(html),
            "name": "Aylin Demir",
            "languages": ["de", "ar"],
            "other_languages": "hy",
            "services": [str(s.id) for s in []],
        },
    )
    assert response.status_code == 303
    assert user(seeded, "Aylin Demir").languages == ["de", "ar", "hy"]
    html = admin.get(url).get_data(as_text=True)
    # A language outside the usual list stays visible and ticked, by its name.
    assert re.search(r'value="hy" checked>\s*<label[^>]*>Armenisch<', html)


def test_an_unknown_code_or_no_language_is_refused_next_to_the_field(seeded, admin):
    aylin = user(seeded, "Aylin Demir")
    url = f"/admin/centres/herne/staff/{aylin.id}"
    token = csrf_from(admin.get(url).get_data(as_text=True))
    for data in ({"other_languages": "klingonisch"}, {}):
        response = admin.post(url, data={"csrf_token": token, "name": "Aylin Demir", **data})
        assert response.status_code == 422
        assert 'id="languages-error"' in response.get_data(as_text=True)
    assert user(seeded, "Aylin Demir").languages == ["de", "tr"]


def test_offered_by_lists_counsellors_only(seeded, admin):
    html = admin.get("/admin/centres/herne/services/new").get_data(as_text=True)
    offered = re.search(
        r'<fieldset class="field checkboxes" id="counsellors".*?</fieldset>', html, re.S
    )
    names = offered.group(0)
    assert "Aylin Demir" in names and "Karim Haddad" in names
    assert "Rita Rezeption" not in names and "Anna Admin" not in names


def test_a_service_without_an_active_counsellor_is_saved_with_a_warning(seeded, admin):
    token = csrf_from(admin.get("/admin/centres/herne/services/new").get_data(as_text=True))
    response = admin.post(
        "/admin/centres/herne/services/new?lang=en",
        data={
            "csrf_token": token,
            "slug": "sprache",
            "name_de": "Sprachberatung",
            "duration_minutes": "45",
            "online_bookable": "y",
            "is_active": "y",
        },
    )
    assert response.status_code == 303
    html = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "No active counsellor offers this service" in html
    assert "no-counsellor" in service_row(html, "sprache")
    # With a counsellor, no warning.
    karim = user(seeded, "Karim Haddad")
    with seeded.app_context():
        service_id = db.session.scalar(select(Service.id).where(Service.slug == "sprache"))
    response = admin.post(
        f"/admin/centres/herne/services/{service_id}",
        data={
            "csrf_token": token,
            "slug": "sprache",
            "name_de": "Sprachberatung",
            "duration_minutes": "45",
            "online_bookable": "y",
            "is_active": "y",
            "counsellors": [str(karim.id)],
        },
    )
    assert response.status_code == 303
    html = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "No active counsellor offers this service" not in html
    assert "no-counsellor" not in service_row(html, "sprache")
    assert "no-counsellor" not in service_row(html, "beratung-1")
