"""Admin forms: every rule gives a 422 with the message next to the right field, and writes
nothing. Elements are found by ids and names, never by (translated) text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from booking.extensions import db
from booking.models import AuditEntry, Centre, Closure, OpeningHours, Service, User
from tests.conftest import csrf_from

pytestmark = pytest.mark.backends("sqlite", "pg")

ADMIN = "admin@herne.example"


class _Fields(HTMLParser):
    """Collects the form controls by id and the field error messages by id."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: dict[str, dict] = {}
        self.errors: dict[str, str] = {}
        self._error_id: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("input", "select", "textarea", "fieldset") and attrs.get("id"):
            self.controls[attrs["id"]] = {**attrs, "tag": tag}
        if tag == "p" and attrs.get("class") == "field-error":
            self._error_id = attrs["id"]
            self.errors[self._error_id] = ""

    def handle_data(self, data):
        if self._error_id:
            self.errors[self._error_id] += data

    def handle_endtag(self, tag):
        if tag == "p":
            self._error_id = None


def field_errors(html: str) -> dict[str, str]:
    """Field name -> its error message, for errors shown at and linked to the field."""
    parser = _Fields()
    parser.feed(html)
    found = {}
    for error_id, message in parser.errors.items():
        name = error_id.removesuffix("-error")
        control = parser.controls.get(name)
        assert control is not None, f"error {error_id} belongs to no field"
        assert error_id in (control.get("aria-describedby") or "").split(), name
        if control["tag"] != "fieldset":  # a group of checkboxes is described, not invalid
            assert control.get("aria-invalid") == "true", name
        found[name] = message.strip()
    return found


@pytest.fixture
def admin(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff(ADMIN, "admin", "herne", "kreis-heinsberg"))
    return client


def post(client, url: str, data: dict):
    token = csrf_from(client.get("/admin/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


def snapshot(app) -> tuple:
    """Everything the admin forms could write."""
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        rules = (
            centre.min_notice_minutes,
            centre.horizon_days,
            centre.slot_step_minutes,
            centre.buffer_minutes,
            centre.max_active_bookings_per_email,
            centre.holiday_region,
            centre.hold_online_bookings,
            centre.hold_minutes,
        )
        hours = sorted(
            (h.weekday, h.opens, h.closes, h.valid_from, h.valid_until)
            for h in db.session.scalars(select(OpeningHours))
        )
        counts = tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Closure, Service, User, AuditEntry)
        )
        services = sorted(
            (s.slug, s.duration_minutes, str(s.names)) for s in db.session.scalars(select(Service))
        )
        return rules, hours, counts, services


def hours_id(app, weekday: int = 0, centre: str = "herne") -> int:
    with app.app_context():
        return db.session.scalar(
            select(OpeningHours.id)
            .join(Centre)
            .where(Centre.slug == centre, OpeningHours.weekday == weekday)
        )


def assert_refused(app, client, url: str, data: dict, field: str) -> str:
    before = snapshot(app)
    response = post(client, url, data)
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    errors = field_errors(response.get_data(as_text=True))
    assert field in errors, errors
    assert errors[field]
    assert snapshot(app) == before
    return errors[field]


HOURS = {"weekday": "5", "opens": "10:00", "closes": "14:00", "valid_from": "", "valid_until": ""}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"opens": "14:00", "closes": "10:00"}, "closes"),
        ({"opens": "10:00", "closes": "10:00"}, "closes"),
        ({"valid_from": "2030-08-31", "valid_until": "2030-06-01"}, "valid_until"),
        ({"opens": "25:00"}, "opens"),
        ({"closes": ""}, "closes"),
        ({"weekday": "9"}, "weekday"),
        ({"valid_from": "31.12.2030"}, "valid_from"),
        # Herne is open Monday 08:00–16:00 all year.
        ({"weekday": "0", "opens": "15:00", "closes": "17:00"}, "opens"),
        ({"weekday": "0", "opens": "06:00", "closes": "20:00"}, "opens"),
        (
            {"weekday": "0", "opens": "12:00", "closes": "13:00", "valid_from": "2030-06-01"},
            "opens",
        ),
    ],
)
def test_opening_hours_rules(app, admin, change, field):
    assert_refused(app, admin, "/admin/centres/herne/hours", {**HOURS, **change}, field)


def test_overlap_counts_only_where_validity_periods_meet(app, admin):
    summer = {**HOURS, "valid_from": "2030-06-01", "valid_until": "2030-08-31"}
    assert post(admin, "/admin/centres/herne/hours", summer).status_code == 303
    autumn = {**HOURS, "opens": "12:00", "valid_from": "2030-09-01", "valid_until": ""}
    assert post(admin, "/admin/centres/herne/hours", autumn).status_code == 303
    # Open-ended on both sides, it meets both of them.
    assert_refused(app, admin, "/admin/centres/herne/hours", {**HOURS, "opens": "13:00"}, "opens")
    # One day of overlap is an overlap.
    late_summer = {**HOURS, "valid_from": "2030-08-31", "valid_until": "2030-09-01"}
    assert_refused(app, admin, "/admin/centres/herne/hours", late_summer, "opens")


def test_editing_an_interval_does_not_overlap_itself_but_others(app, admin):
    monday = hours_id(app, 0)
    url = f"/admin/centres/herne/hours/{monday}"
    changed = {**HOURS, "weekday": "0", "opens": "09:00", "closes": "16:00"}
    # Saving goes through the preview (booking/admin/hours.py): Save applies what was shown.
    shown = post(admin, url, {**changed, "preview": "1"})
    previewed = re.search(r'name="previewed" value="([^"]+)"', shown.get_data(as_text=True))
    response = post(admin, url, {**changed, "save": "1", "previewed": previewed.group(1)})
    assert response.status_code == 303
    tuesday_url = f"/admin/centres/herne/hours/{hours_id(app, 1)}"
    moved_onto_monday = {**HOURS, "weekday": "0", "opens": "07:00", "closes": "10:00"}
    assert_refused(app, admin, tuesday_url, moved_onto_monday, "opens")
    assert_refused(app, admin, url, {**HOURS, "weekday": "0", "closes": "07:00"}, "closes")


CLOSURE = {"start_date": "", "start_time": "", "end_date": "", "end_time": "", "reason": "x"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_date": "2030-12-24", "end_date": "2030-12-23"}, "end_date"),
        ({"start_date": "2030-12-24", "start_time": "12:00", "end_time": "11:00"}, "end_time"),
        ({"start_date": "2030-12-24", "start_time": "12:00", "end_time": "12:00"}, "end_time"),
        ({"start_date": ""}, "start_date"),
        ({"start_date": "24.12.2030"}, "start_date"),
        ({"start_date": "2030-12-24", "end_time": "9am"}, "end_time"),
        ({"start_date": "2030-12-24", "reason": "x" * 301}, "reason"),
    ],
)
def test_closure_rules(app, admin, change, field):
    assert_refused(app, admin, "/admin/centres/herne/closures", {**CLOSURE, **change}, field)


RULES = {
    "min_notice_hours": "24",
    "horizon_days": "56",
    "slot_step_minutes": "30",
    "buffer_minutes": "0",
    "max_active_bookings_per_email": "3",
    "holiday_region": "DE-NW",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slot_step_minutes": "4"}, "slot_step_minutes"),
        ({"slot_step_minutes": "241"}, "slot_step_minutes"),
        ({"slot_step_minutes": "half an hour"}, "slot_step_minutes"),
        ({"min_notice_hours": "-1"}, "min_notice_hours"),
        ({"min_notice_hours": "100000"}, "min_notice_hours"),
        ({"horizon_days": "0"}, "horizon_days"),
        ({"horizon_days": "731"}, "horizon_days"),
        ({"buffer_minutes": "-5"}, "buffer_minutes"),
        ({"buffer_minutes": "241"}, "buffer_minutes"),
        ({"max_active_bookings_per_email": "0"}, "max_active_bookings_per_email"),
        ({"max_active_bookings_per_email": ""}, "max_active_bookings_per_email"),
        ({"holiday_region": "XX-YY"}, "holiday_region"),
        ({"holiday_region": "DE-XX"}, "holiday_region"),
        ({"holiday_region": ""}, "holiday_region"),
        ({"hold_online_bookings": "y", "hold_minutes": "4"}, "hold_minutes"),
        ({"hold_online_bookings": "y", "hold_minutes": "1441"}, "hold_minutes"),
        ({"hold_online_bookings": "y", "hold_minutes": "half an hour"}, "hold_minutes"),
    ],
)
def test_rules_are_checked(app, admin, change, field):
    assert_refused(app, admin, "/admin/centres/herne/rules", {**RULES, **change}, field)


def test_valid_rules_are_saved_with_the_region_spelled_canonically(app, admin):
    data = {**RULES, "slot_step_minutes": "15", "min_notice_hours": "2", "holiday_region": "de-by"}
    assert post(admin, "/admin/centres/herne/rules", data).status_code == 303
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        assert centre.slot_step_minutes == 15
        assert centre.min_notice_minutes == 120
        assert centre.holiday_region == "DE-BY"
        assert centre.hold_online_bookings is False and centre.hold_minutes == 30


def test_online_bookings_are_held_once_an_admin_switches_it_on(app, admin):
    page = admin.get("/admin/centres/herne/rules").get_data(as_text=True)
    assert 'name="hold_online_bookings"' in page and 'name="hold_minutes"' in page
    data = {**RULES, "hold_online_bookings": "y", "hold_minutes": "45"}
    assert post(admin, "/admin/centres/herne/rules", data).status_code == 303
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        assert centre.hold_online_bookings is True and centre.hold_minutes == 45
    assert post(admin, "/admin/centres/herne/rules", RULES).status_code == 303
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        assert centre.hold_online_bookings is False and centre.hold_minutes == 45


SERVICE = {
    "slug": "sprache",
    "name_de": "Sprachberatung",
    "name_en": "Language advice",
    "duration_minutes": "45",
    "buffer_minutes": "",
    "online_bookable": "y",
    "is_active": "y",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slug": "beratung-1"}, "slug"),
        ({"slug": "Beratung-1"}, "slug"),  # slugs are lower case: the same as "beratung-1"
        ({"slug": "mit leerzeichen"}, "slug"),
        ({"slug": "-x-"}, "slug"),
        ({"name_de": ""}, "name_de"),
        ({"name_de": "a\nb"}, "name_de"),
        ({"duration_minutes": "4"}, "duration_minutes"),
        ({"duration_minutes": "481"}, "duration_minutes"),
        ({"duration_minutes": ""}, "duration_minutes"),
        ({"buffer_minutes": "-1"}, "buffer_minutes"),
    ],
)
def test_service_rules(app, admin, change, field):
    assert_refused(app, admin, "/admin/centres/herne/services/new", {**SERVICE, **change}, field)


def test_service_longer_than_every_opening_interval_is_refused(app, admin):
    # Heinsberg's longest interval is 08:30–12:00: 210 minutes.
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Service))
    response = post(
        admin,
        "/admin/centres/kreis-heinsberg/services/new",
        {**SERVICE, "duration_minutes": "211"},
    )
    assert response.status_code == 422
    assert "duration_minutes" in field_errors(response.get_data(as_text=True))
    ok = post(
        admin,
        "/admin/centres/kreis-heinsberg/services/new",
        {**SERVICE, "duration_minutes": "210"},
    )
    assert ok.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Service)) == count + 1


def test_changing_a_service_keeps_its_own_slug_and_refuses_another(app, admin):
    with app.app_context():
        bildung = db.session.scalar(
            select(Service).join(Centre).where(Centre.slug == "herne", Service.slug == "beratung-1")
        )
        bildung_id = bildung.id
        counsellor_ids = [str(u.id) for u in bildung.counsellors]
    url = f"/admin/centres/herne/services/{bildung_id}"
    data = {
        **SERVICE,
        "slug": "beratung-1",
        "duration_minutes": "50",
        "counsellors": counsellor_ids,
    }
    assert post(admin, url, data).status_code == 303
    assert_refused(app, admin, url, {**data, "slug": "beratung-3"}, "slug")
    with app.app_context():
        service = db.session.get(Service, bildung_id)
        assert service.duration_minutes == 50
        assert service.names["de"] == "Sprachberatung" and service.names["en"] == "Language advice"


def test_same_slug_is_fine_at_another_centre(app, admin):
    # Slugs are unique per centre: every demo centre has "beratung-1".
    response = post(admin, "/admin/centres/herne/services/new", {**SERVICE, "slug": "sprache"})
    assert response.status_code == 303
    response = post(
        admin, "/admin/centres/kreis-heinsberg/services/new", {**SERVICE, "slug": "sprache"}
    )
    assert response.status_code == 303


def test_counsellors_of_another_centre_cannot_be_chosen(app, admin):
    with app.app_context():
        stranger = db.session.scalar(
            select(User.id)
            .join(Centre, User.centre_id == Centre.id)
            .where(Centre.slug == "kreis-heinsberg")
        )
    data = {**SERVICE, "counsellors": [str(stranger)]}
    assert_refused(app, admin, "/admin/centres/herne/services/new", data, "counsellors")


def test_a_form_without_csrf_token_writes_nothing(app, admin):
    before = snapshot(app)
    response = admin.post("/admin/centres/herne/rules", data={**RULES, "horizon_days": "10"})
    assert response.status_code == 400
    assert snapshot(app) == before


def test_error_summary_links_to_the_fields(app, admin):
    response = post(admin, "/admin/centres/herne/rules", {**RULES, "slot_step_minutes": "1"})
    html = response.get_data(as_text=True)
    assert re.search(r'id="form-errors".*?href="#slot_step_minutes"', html, re.S)
