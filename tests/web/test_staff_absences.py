"""Absences take a counsellor's slots away at once; bookings they hit wait for a decision."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy

import pytest
from sqlalchemy import select

from booking.extensions import db
from booking.models import Absence, AuditEntry, Booking, Centre, OutboxMessage, utcnow
from tests.conftest import csrf_from
from tests.helpers import BERLIN, at, mail_of, next_working_day

KARIM = "karim.haddad@herne.example"
AYLIN = "aylin.demir@herne.example"


def free_starts(client, day, service="beratung-5") -> list[str]:
    response = client.get(
        f"/api/v1/centres/herne/slots?service={service}&from={day.isoformat()}&to={day.isoformat()}"
    )
    assert response.status_code == 200
    return [slot["start"] for slot in response.get_json()["slots"]]


def conflicts(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'<tr class="conflict" id="booking-(\d+)"', html)}


def add_absence(client, start: str, end: str, **extra):
    page = client.get("/staff/absences").get_data(as_text=True)
    return client.post(
        "/staff/absences",
        data={"csrf_token": csrf_from(page), "start": start, "end": end, "note": "", **extra},
    )


@pytest.fixture
def monday(seeded):
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    return next_working_day(0)


@pytest.mark.backends("sqlite", "pg")
def test_an_absence_takes_the_slots_away_and_lists_the_bookings_it_hits(
    db_backend, seeded, monday, client, make_staff, sign_in, make_booking
):
    # Karim is the only Herne counsellor for "beratung-5".
    first = make_booking(at(monday, 9), service="beratung-5").id
    second = make_booking(at(monday, 13), service="beratung-5", name="Lina Second").id
    assert free_starts(client, monday)
    sign_in(client, make_staff(KARIM, "counsellor", "herne"))

    day = monday.isoformat()
    response = add_absence(client, f"{day}T08:00", f"{day}T16:00", note="Fortbildung")
    assert response.status_code == 303
    assert free_starts(client, monday) == []
    # Other counsellors' slots stay: Aylin and Olena still offer "beratung-1".
    assert free_starts(client, monday, service="beratung-1")

    response = client.get("/staff/absences")
    # A fixed number, plus one slot search per service to find colleagues for a hand-over.
    assert int(response.headers["X-Query-Count"]) <= 20
    page = response.get_data(as_text=True)
    assert conflicts(page) == {first, second}
    assert "Fortbildung" in page
    with seeded.app_context():
        assert {b.status for b in db.session.scalars(select(Booking))} == {"confirmed"}
        assert db.session.scalars(select(OutboxMessage.kind)).all().count("cancellation") == 0
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "absence"))
        assert entry.actor_label == "Karim Haddad" and "Omar" not in entry.detail

    # "Keep": the booking stays and leaves the list.
    token = csrf_from(page)
    kept = client.post(f"/staff/absences/conflicts/{first}/keep", data={"csrf_token": token})
    assert kept.status_code == 303
    page = client.get("/staff/absences").get_data(as_text=True)
    assert conflicts(page) == {second}

    # "Notify and cancel": cancelled, and the family gets a CANCEL invitation.
    cancelled = client.post(
        f"/staff/absences/conflicts/{second}/cancel", data={"csrf_token": token}
    )
    assert cancelled.status_code == 303
    assert conflicts(client.get("/staff/absences").get_data(as_text=True)) == set()
    with seeded.app_context():
        assert db.session.get(Booking, first).status == "confirmed"
        assert db.session.get(Booking, first).kept_despite_conflict_at is not None
        assert db.session.get(Booking, second).status == "cancelled"
        (row,) = db.session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.booking_id == second, OutboxMessage.kind == "cancellation"
            )
        ).all()
        raw = mail_of(seeded, row)
    message = email.message_from_bytes(raw, policy=policy.default)
    calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert "METHOD:CANCEL" in calendar.get_content()


def test_deleting_an_absence_brings_the_slots_back(seeded, monday, client, make_staff, sign_in):
    sign_in(client, make_staff(KARIM, "counsellor", "herne"))
    before = free_starts(client, monday)
    day = monday.isoformat()
    assert add_absence(client, f"{day}T08:00", f"{day}T12:00").status_code == 303
    assert len(free_starts(client, monday)) < len(before)
    page = client.get("/staff/absences").get_data(as_text=True)
    (absence_id,) = re.findall(r'data-absence-id="(\d+)"', page)
    response = client.post(
        f"/staff/absences/{absence_id}/delete", data={"csrf_token": csrf_from(page)}
    )
    assert response.status_code == 303
    assert free_starts(client, monday) == before
    with seeded.app_context():
        details = db.session.scalars(
            select(AuditEntry.detail).where(AuditEntry.action == "absence").order_by(AuditEntry.id)
        ).all()
    assert [d.split()[0] for d in details] == ["added", "deleted"]


def test_absence_times_are_checked(seeded, monday, client, make_staff, sign_in):
    sign_in(client, make_staff(KARIM, "counsellor", "herne"))
    day = monday.isoformat()
    cases = [
        ((f"{day}T12:00", f"{day}T08:00"), "end"),
        (("2020-01-06T08:00", "2020-01-06T12:00"), "end"),
        (("gestern", f"{day}T08:00"), "start"),
        (("", ""), "start"),
    ]
    for (start, end), field in cases:
        response = add_absence(client, start, end)
        assert response.status_code == 422, (start, end)
        html = response.get_data(as_text=True)
        assert f'id="{field}-error"' in html, (start, end)
        assert re.search(rf'<input[^>]*aria-invalid="true"[^>]*id="{field}"', html) or re.search(
            rf'<input[^>]*id="{field}"[^>]*aria-invalid="true"', html
        )
    with seeded.app_context():
        assert db.session.scalars(select(Absence)).all() == []


def test_who_may_enter_and_delete_absences(seeded, monday, client, make_staff, sign_in):
    make_staff(KARIM, "counsellor", "herne")
    make_staff(AYLIN, "counsellor", "herne")
    make_staff("admin@herne.example", "admin", "herne")
    make_staff("admin@kreis-heinsberg.example", "admin", "kreis-heinsberg")
    day = monday.isoformat()
    # Reception enters absences too (see test_reception_runs_absences_route_by_route).

    # An admin enters one for any counsellor of the centre.
    sign_in(client, "admin@herne.example")
    page = client.get("/staff/absences").get_data(as_text=True)
    found = re.findall(r'<option value="(\d+)">([^<]+)</option>', page)
    options = {name: value for value, name in found}
    # The school supervision officer too: their absence hits their joint appointments.
    assert set(options) == {
        "Aylin Demir",
        "Karim Haddad",
        "Olena Koval",
        "Sabine Becker (Schulaufsicht)",
    }
    karim_id = options["Karim Haddad"]
    response = add_absence(client, f"{day}T08:00", f"{day}T16:00", counsellor=karim_id)
    assert response.status_code == 303
    assert free_starts(client, monday) == []
    with seeded.app_context():
        (absence,) = db.session.scalars(select(Absence)).all()
        assert str(absence.user_id) == karim_id
        absence_id = absence.id
        heinsberg_counsellor = (
            db.session.scalar(select(Centre).where(Centre.slug == "kreis-heinsberg")).staff[0].id
        )
    # A counsellor of another centre cannot be chosen.
    refused = add_absence(client, f"{day}T08:00", f"{day}T09:00", counsellor=heinsberg_counsellor)
    assert refused.status_code == 422
    assert 'id="counsellor-error"' in refused.get_data(as_text=True)

    # A colleague cannot delete it (403), nor an admin of another centre (404).
    aylin = seeded.test_client()
    sign_in(aylin, AYLIN)
    token = csrf_from(aylin.get("/staff/absences").get_data(as_text=True))
    assert "data-absence-id" not in aylin.get("/staff/absences").get_data(as_text=True)
    assert (
        aylin.post(f"/staff/absences/{absence_id}/delete", data={"csrf_token": token}).status_code
        == 403
    )
    other = seeded.test_client()
    sign_in(other, "admin@kreis-heinsberg.example")
    token = csrf_from(other.get("/staff/absences").get_data(as_text=True))
    assert (
        other.post(f"/staff/absences/{absence_id}/delete", data={"csrf_token": token}).status_code
        == 404
    )
    with seeded.app_context():
        assert db.session.get(Absence, absence_id) is not None

    # Karim himself may delete it; the counsellor select is not offered to him.
    karim = seeded.test_client()
    sign_in(karim, KARIM)
    page = karim.get("/staff/absences").get_data(as_text=True)
    assert 'id="counsellor"' not in page
    response = karim.post(
        f"/staff/absences/{absence_id}/delete", data={"csrf_token": csrf_from(page)}
    )
    assert response.status_code == 303
    assert free_starts(client, monday)


def test_an_absence_ending_in_the_past_is_refused_even_if_started_long_ago(
    seeded, monday, client, make_staff, sign_in
):
    sign_in(client, make_staff(KARIM, "counsellor", "herne"))
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    response = add_absence(client, f"{yesterday}T08:00", f"{yesterday}T09:00")
    assert response.status_code == 422


def test_a_whole_day_absence_needs_no_times(seeded, monday, client, make_staff, sign_in):
    sign_in(client, make_staff(KARIM, "counsellor", "herne"))
    tuesday = monday + timedelta(days=1)
    response = add_absence(
        client, "", "", first_day=monday.isoformat(), last_day=tuesday.isoformat()
    )
    assert response.status_code == 303
    assert free_starts(client, monday) == [] and free_starts(client, tuesday) == []
    # Listed as days, never "00:00 – 00:00".
    page = client.get("/staff/absences").get_data(as_text=True)
    (item,) = re.findall(r'<li class="absence".*?</li>', page, re.S)
    assert "00:00" not in item and "(ganze Tage)" in item
    with seeded.app_context():
        absence = db.session.scalar(select(Absence))
        start = absence.start_at.astimezone(BERLIN)
        assert (start.date(), start.hour, start.minute) == (monday, 0, 0)
        assert absence.end_at.astimezone(BERLIN).date() == tuesday + timedelta(days=1)
        assert absence.end_at.astimezone(BERLIN).time().hour == 0


def test_whole_days_and_times_together_or_a_wrong_order_are_refused_next_to_the_field(
    seeded, monday, client, make_staff, sign_in
):
    sign_in(client, make_staff(KARIM, "counsellor", "herne"))
    day = monday.isoformat()
    response = add_absence(client, f"{day}T08:00", f"{day}T09:00", first_day=day)
    assert response.status_code == 422
    assert 'id="first_day-error"' in response.get_data(as_text=True)
    earlier = (monday - timedelta(days=1)).isoformat()
    response = add_absence(client, "", "", first_day=day, last_day=earlier)
    assert response.status_code == 422
    assert 'id="last_day-error"' in response.get_data(as_text=True)
    response = add_absence(client, "", "", first_day="2026-02-30")
    assert response.status_code == 422
    with seeded.app_context():
        assert db.session.scalar(select(Absence)) is None


def test_a_weekly_absence_repeats_until_the_date_at_the_same_wall_time(
    seeded, monday, client, make_staff, sign_in
):
    sign_in(client, make_staff(KARIM, "counsellor", "herne"))
    day = monday.isoformat()
    until = monday + timedelta(weeks=3)
    response = add_absence(client, f"{day}T13:00", f"{day}T16:00", repeat_until=until.isoformat())
    assert response.status_code == 303
    with seeded.app_context():
        rows = db.session.scalars(select(Absence).order_by(Absence.start_at)).all()
        assert len(rows) == 4
        for week, row in enumerate(rows):
            start = row.start_at.astimezone(BERLIN)
            assert start.date() == monday + timedelta(weeks=week)
            assert (start.hour, row.end_at.astimezone(BERLIN).hour) == (13, 16)
    # Too many weeks, or an end before the start: a message next to the field, nothing saved.
    response = add_absence(
        client,
        f"{day}T08:00",
        f"{day}T09:00",
        repeat_until=(monday + timedelta(weeks=60)).isoformat(),
    )
    assert response.status_code == 422
    assert 'id="repeat_until-error"' in response.get_data(as_text=True)
    response = add_absence(
        client,
        f"{day}T08:00",
        f"{day}T09:00",
        repeat_until=(monday - timedelta(days=1)).isoformat(),
    )
    assert response.status_code == 422
    with seeded.app_context():
        assert len(db.session.scalars(select(Absence)).all()) == 4


# Every absence route, and what each role gets there: (method, path template, expected).
ABSENCE_ROUTES = ("absences", "add", "conflict_keep", "conflict_cancel", "bulk", "delete")


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        # Reception: any counsellor of its centre, as an admin (the ill counsellor phones).
        (
            "reception",
            {
                "absences": 200,
                "add": 303,
                "conflict_keep": 303,
                "conflict_cancel": 303,
                "bulk": 303,
                "delete": 303,
            },
        ),
        (
            "admin",
            {
                "absences": 200,
                "add": 303,
                "conflict_keep": 303,
                "conflict_cancel": 303,
                "bulk": 303,
                "delete": 303,
            },
        ),
        # A counsellor: their own absences and bookings only; Karim's are a colleague's.
        (
            "counsellor",
            {
                "absences": 200,
                "add": 303,
                "conflict_keep": 403,
                "conflict_cancel": 403,
                "bulk": 403,
                "delete": 403,
            },
        ),
    ],
)
def test_absence_and_conflict_routes_for_each_role(
    role, expected, seeded, monday, client, make_staff, sign_in, make_booking
):
    """Route by route: what reception, an admin and a colleague of Karim may do with his
    absences and the bookings they hit (booking/access.py PAGE_ROLES)."""
    karim = make_staff(KARIM, "counsellor", "herne")
    first = make_booking(at(monday, 9), service="beratung-5").id
    second = make_booking(at(monday, 11), service="beratung-5", name="Lina Second").id
    third = make_booking(at(monday, 13), service="beratung-5", name="Tom Third").id
    karim_client = seeded.test_client()
    sign_in(karim_client, karim)
    day = monday.isoformat()
    assert add_absence(karim_client, f"{day}T08:00", f"{day}T16:00").status_code == 303
    with seeded.app_context():
        karim_id = db.session.scalar(select(Absence.user_id))
        absence_id = db.session.scalar(select(Absence.id))

    account = {
        "reception": "rez@herne.example",
        "admin": "admin@herne.example",
        "counsellor": AYLIN,
    }[role]
    sign_in(client, make_staff(account, role, "herne"))
    got = {}
    page = client.get("/staff/absences")
    got["absences"] = page.status_code
    html = page.get_data(as_text=True)
    token = csrf_from(html)
    if role != "counsellor":
        assert re.search(r"<a href=\"/staff/absences\" aria-current=\"page\">", html)
        assert conflicts(html) == {first, second, third}
    tomorrow = (monday + timedelta(days=1)).isoformat()
    got["add"] = client.post(
        "/staff/absences",
        data={
            "csrf_token": token,
            "start": f"{tomorrow}T08:00",
            "end": f"{tomorrow}T09:00",
            "note": "krank",
            "counsellor": str(karim_id),
        },
    ).status_code
    got["conflict_keep"] = client.post(
        f"/staff/absences/conflicts/{first}/keep", data={"csrf_token": token}
    ).status_code
    got["conflict_cancel"] = client.post(
        f"/staff/absences/conflicts/{second}/cancel", data={"csrf_token": token}
    ).status_code
    got["bulk"] = client.post(
        "/staff/absences/conflicts",
        data={
            "csrf_token": token,
            "action": "cancel",
            "booking": str(third),
            "confirmed": "yes",
        },
    ).status_code
    got["delete"] = client.post(
        f"/staff/absences/{absence_id}/delete", data={"csrf_token": token}
    ).status_code
    assert got == expected
    with seeded.app_context():
        statuses = [db.session.get(Booking, i).status for i in (first, second, third)]
        kept = db.session.get(Booking, first).kept_despite_conflict_at is not None
        absences = db.session.scalars(select(Absence)).all()
    if role == "counsellor":
        assert statuses == ["confirmed"] * 3 and not kept
        # The counsellor named is ignored: the absence saved is Aylin's own; Karim's stays.
        assert [(a.id == absence_id, a.user_id == karim_id) for a in absences] == [
            (True, True),
            (False, False),
        ]
    else:
        assert statuses == ["confirmed", "cancelled", "cancelled"] and kept
        assert [(a.user_id, a.note) for a in absences] == [(karim_id, "krank")]
