"""Conflicts (absences, deactivated counsellors) are handed over to a free colleague who
offers the service and speaks the family's language: same time, new counsellor, a changed
invitation with the same UID and a higher SEQUENCE. One at a time or several in one POST."""

from __future__ import annotations

import email
import re
from email import policy

import pytest
from sqlalchemy import select

from booking.extensions import db
from booking.models import AuditEntry, Booking, OutboxMessage, User
from tests.conftest import csrf_from
from tests.helpers import at, mail_of, next_working_day

AYLIN = "aylin.demir@herne.example"
ADMIN = "admin@herne.example"
HEINSBERG_ADMIN = "admin@kreis-heinsberg.example"


@pytest.fixture
def monday(seeded):
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    return next_working_day(0)


def user_id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.name == name))


def row(html: str, booking_id: int) -> str:
    match = re.search(
        rf'<tr class="conflict" id="booking-{booking_id}" [^>]*>(.*?)</tr>', html, re.S
    )
    assert match, f"booking {booking_id} is not listed"
    return match.group(1)


def aylins_booking(make_booking, app, start: str, name: str) -> int:
    """A "beratung-1" booking that goes to Aylin: Turkish, with a Turkish interpreter coming
    (so a colleague who speaks no Turkish can take it over)."""
    booking = make_booking(start, name=name, language="tr", interpreter_language="tr")
    assert booking.counsellor_id == user_id(app, "Aylin Demir")
    return booking.id


def absent_all_day(client, day) -> str:
    page = client.get("/staff/absences?lang=en").get_data(as_text=True)
    token = csrf_from(page)
    response = client.post(
        "/staff/absences",
        data={"csrf_token": token, "start": f"{day}T07:00", "end": f"{day}T18:00", "note": ""},
    )
    assert response.status_code == 303
    return token


def invitation(app, booking_id: int) -> list[str]:
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.booking_id == booking_id)
            .order_by(OutboxMessage.id)
        ).all()
        return [
            (r.kind, email.message_from_bytes(mail_of(app, r), policy=policy.default)) for r in rows
        ]


def ical_of(message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return part.get_content()
    raise AssertionError("no calendar part")


@pytest.mark.backends("sqlite", "pg")
def test_an_absent_counsellors_booking_is_handed_to_a_free_colleague(
    db_backend, seeded, monday, client, make_staff, sign_in, make_booking
):
    booking = make_booking(at(monday, 9), name="Omar Nassar")
    aylin, olena = user_id(seeded, "Aylin Demir"), user_id(seeded, "Olena Koval")
    assert booking.counsellor_id == aylin
    sign_in(client, make_staff(AYLIN, "counsellor", "herne"))
    token = absent_all_day(client, monday.isoformat())

    html = client.get("/staff/absences").get_data(as_text=True)
    cells = row(html, booking.id)
    # Handing over is the primary action; cancelling is the secondary one.
    assert f'<option value="{olena}">Olena Koval</option>' in cells
    assert 'class="conflict-hand-over"' in cells
    assert 'class="secondary conflict-cancel cancel-notify">Notify and cancel' in cells

    response = client.post(
        f"/staff/absences/conflicts/{booking.id}/hand_over",
        data={"csrf_token": token, f"colleague-{booking.id}": str(olena)},
    )
    assert response.status_code == 303
    assert "handed over" in client.get("/staff/absences").get_data(as_text=True)
    with seeded.app_context():
        moved = db.session.get(Booking, booking.id)
        assert moved.counsellor_id == olena and moved.status == "confirmed"
        assert moved.sequence == 1
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "hand_over"))
        assert entry.detail == "Aylin Demir -> Olena Koval" and entry.booking_id == booking.id
    mails = invitation(seeded, booking.id)
    kinds = [kind for kind, _m in mails]
    assert kinds.count("confirmation") == 1 and kinds.count("change") == 1
    first = ical_of(next(m for k, m in mails if k == "confirmation"))
    changed = ical_of(next(m for k, m in mails if k == "change"))
    uid = re.search(r"^UID:(.+)$", first, re.M).group(1).strip()
    assert re.search(r"^UID:(.+)$", changed, re.M).group(1).strip() == uid
    assert "SEQUENCE:1" in changed and "METHOD:REQUEST" in changed
    dtstart = re.search(r"^DTSTART.*$", first, re.M).group(0)
    assert re.search(r"^DTSTART.*$", changed, re.M).group(0) == dtstart
    # The mail says what happened: the same time, another counsellor; not "moved".
    change = next(m for k, m in mails if k == "change")
    body = change.get_body(preferencelist=("plain",)).get_content()
    assert "bleibt zur selben Zeit" in body and "verschoben" not in body
    assert "andere Beraterin oder ein anderer Berater" in str(change["Subject"])


def test_booking_start_is_kept_on_hand_over(
    seeded, monday, client, make_staff, sign_in, make_booking
):
    booking = make_booking(at(monday, 10), name="Omar Nassar")
    with seeded.app_context():
        before = db.session.get(Booking, booking.id)
        start, end = before.start_at, before.end_at
    sign_in(client, make_staff(AYLIN, "counsellor", "herne"))
    token = absent_all_day(client, monday.isoformat())
    olena = user_id(seeded, "Olena Koval")
    client.post(
        f"/staff/absences/conflicts/{booking.id}/hand_over",
        data={"csrf_token": token, f"colleague-{booking.id}": str(olena)},
    )
    with seeded.app_context():
        after = db.session.get(Booking, booking.id)
        assert (after.start_at, after.end_at, after.counsellor_id) == (start, end, olena)


def test_a_colleague_who_does_not_speak_the_language_is_not_offered(
    seeded, monday, client, make_staff, sign_in, make_booking
):
    # Turkish: only Aylin speaks it among the "beratung-1" counsellors.
    turkish = make_booking(
        at(monday, 9), name="Ayşe Öztürk", language="tr", email=None, phone="0171 1234567"
    )
    # With an interpreter coming, any free colleague can take it.
    interpreted = make_booking(
        at(monday, 11), name="Ali Kaya", language="tr", interpreter_language="tr"
    )
    aylin = user_id(seeded, "Aylin Demir")
    assert interpreted.counsellor_id == aylin
    sign_in(client, make_staff(AYLIN, "counsellor", "herne"))
    token = absent_all_day(client, monday.isoformat())
    html = client.get("/staff/absences").get_data(as_text=True)
    turkish_row = row(html, turkish.id)
    assert "conflict-hand-over" not in turkish_row and "no-colleague" in turkish_row
    # No e-mail address: the button says the family must be called.
    assert 'class="conflict-cancel cancel-call">Cancel (call the family)' in turkish_row
    assert "Olena Koval" in row(html, interpreted.id)

    # Posting Olena for the Turkish booking anyway changes nothing.
    olena = user_id(seeded, "Olena Koval")
    client.post(
        f"/staff/absences/conflicts/{turkish.id}/hand_over",
        data={"csrf_token": token, f"colleague-{turkish.id}": str(olena)},
    )
    with seeded.app_context():
        kept = db.session.get(Booking, turkish.id)
        assert kept.counsellor_id == aylin and kept.sequence == 0
        assert not db.session.scalar(select(AuditEntry).where(AuditEntry.action == "hand_over"))


def test_a_busy_colleague_is_not_offered(seeded, monday, client, make_staff, sign_in, make_booking):
    booking = make_booking(at(monday, 9), name="Omar Nassar")
    # Olena is busy at 9:00 with another "beratung-1" booking.
    busy = make_booking(at(monday, 9), name="Lina Busy")
    olena = user_id(seeded, "Olena Koval")
    assert busy.counsellor_id == olena
    sign_in(client, make_staff(AYLIN, "counsellor", "herne"))
    token = absent_all_day(client, monday.isoformat())
    assert "conflict-hand-over" not in row(
        client.get("/staff/absences").get_data(as_text=True), booking.id
    )
    client.post(
        f"/staff/absences/conflicts/{booking.id}/hand_over",
        data={"csrf_token": token, f"colleague-{booking.id}": str(olena)},
    )
    with seeded.app_context():
        assert db.session.get(Booking, booking.id).counsellor_id != olena


def test_several_conflicts_are_handed_over_in_one_post(
    seeded, monday, client, make_staff, sign_in, make_booking
):
    ids = [
        aylins_booking(make_booking, seeded, at(monday, hour), f"Family {hour}")
        for hour in (9, 10, 11)
    ]
    sign_in(client, make_staff(AYLIN, "counsellor", "herne"))
    token = absent_all_day(client, monday.isoformat())
    # Only the first two are selected.
    response = client.post(
        "/staff/absences/conflicts",
        data={
            "csrf_token": token,
            "action": "hand_over",
            "booking": [str(i) for i in ids[:2]],
            "listed": [str(i) for i in ids],
            "confirmed": "yes",
        },
    )
    assert response.status_code == 303
    olena = user_id(seeded, "Olena Koval")
    with seeded.app_context():
        owners = [db.session.get(Booking, i).counsellor_id for i in ids]
    assert owners[:2] == [olena, olena] and owners[2] != olena
    # "All that can be": the rest.
    client.post(
        "/staff/absences/conflicts",
        data={
            "csrf_token": token,
            "action": "hand_over_all",
            "listed": [str(ids[2])],
            "confirmed": "yes",
        },
    )
    with seeded.app_context():
        assert db.session.get(Booking, ids[2]).counsellor_id == olena
        changes = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "change")
        ).all()
        assert sorted(m.booking_id for m in changes) == sorted(ids)
    assert 'id="no-conflicts"' in client.get("/staff/absences").get_data(as_text=True)


def test_bulk_cancel_and_nothing_selected(
    seeded, monday, client, make_staff, sign_in, make_booking
):
    ids = [
        aylins_booking(make_booking, seeded, at(monday, hour), f"Family {hour}") for hour in (9, 10)
    ]
    sign_in(client, make_staff(AYLIN, "counsellor", "herne"))
    token = absent_all_day(client, monday.isoformat())
    client.post("/staff/absences/conflicts", data={"csrf_token": token, "action": "cancel"})
    assert "Please select at least one" in client.get("/staff/absences").get_data(as_text=True)
    # First the numbers: how many are cancelled, how many families are told; nothing yet.
    asked = client.post(
        "/staff/absences/conflicts",
        data={"csrf_token": token, "action": "cancel", "booking": [str(i) for i in ids]},
    )
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert "2 appointments will be cancelled." in page
    assert "2 families will be told by e-mail." in page
    assert "Yes, cancel 2 appointments" in page
    with seeded.app_context():
        assert {db.session.get(Booking, i).status for i in ids} == {"confirmed"}
        assert not db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "cancellation")
        ).all()
    carried = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    assert carried["action"] == "cancel" and carried["confirmed"] == "yes"
    response = client.post(
        "/staff/absences/conflicts",
        data={
            "csrf_token": token,
            "action": "cancel",
            "booking": [str(i) for i in ids],
            "confirmed": "yes",
        },
    )
    assert response.status_code == 303
    with seeded.app_context():
        assert {db.session.get(Booking, i).status for i in ids} == {"cancelled"}
    assert (
        client.post(
            "/staff/absences/conflicts",
            data={"csrf_token": token, "action": "explode", "booking": "1"},
        ).status_code
        == 400
    )


def test_a_bulk_post_with_a_booking_of_another_centre_changes_nothing(
    seeded, monday, client, make_staff, sign_in, make_booking
):
    ours = make_booking(at(monday, 9), name="Omar Nassar").id
    theirs = make_booking(at(monday, 9), centre="kreis-heinsberg", name="Hanna").id
    sign_in(client, make_staff(ADMIN, "admin", "herne"))
    token = csrf_from(client.get("/staff/absences").get_data(as_text=True))
    response = client.post(
        "/staff/absences/conflicts",
        data={"csrf_token": token, "action": "cancel", "booking": [str(ours), str(theirs)]},
    )
    assert response.status_code == 404
    with seeded.app_context():
        assert db.session.get(Booking, ours).status == "confirmed"
        assert db.session.get(Booking, theirs).status == "confirmed"


def test_admin_hands_over_a_deactivated_counsellors_bookings(
    seeded, monday, client, make_staff, sign_in, make_booking
):
    ids = [
        aylins_booking(make_booking, seeded, at(monday, hour), f"Family {hour}") for hour in (9, 10)
    ]
    aylin = user_id(seeded, "Aylin Demir")
    with seeded.app_context():
        db.session.get(User, aylin).is_active = False
        db.session.commit()
    sign_in(client, make_staff(ADMIN, "admin", "herne"))
    page = client.get("/admin/centres/herne/attention?lang=en").get_data(as_text=True)
    assert "reason-counsellor_inactive" in page and "conflict-hand-over" in page
    token = csrf_from(page)
    response = client.post(
        "/admin/centres/herne/attention/bulk",
        data={
            "csrf_token": token,
            "action": "hand_over_all",
            "listed": [str(i) for i in ids],
            "confirmed": "yes",
        },
    )
    assert response.status_code == 303
    olena = user_id(seeded, "Olena Koval")
    with seeded.app_context():
        assert [db.session.get(Booking, i).counsellor_id for i in ids] == [olena, olena]
    assert 'id="no-conflicts"' in client.get("/admin/centres/herne/attention").get_data(
        as_text=True
    )

    # The single-row hand-over needs a colleague chosen; another centre's admin gets 404.
    other = make_booking(at(monday, 11), name="Late").id
    response = client.post(
        f"/admin/centres/herne/attention/{other}/hand_over", data={"csrf_token": token}
    )
    assert response.status_code == 303
    with seeded.app_context():
        assert db.session.get(Booking, other).sequence == 0


def test_both_pages_list_the_same_bookings_needing_attention(
    seeded, monday, client, make_staff, sign_in, make_booking
):
    """One query for the admin's "bookings to check" and the absence page: a deactivated
    counsellor's bookings and those an absence no longer allows show on both, in one table."""
    orphaned = aylins_booking(make_booking, seeded, at(monday, 9), "Family Demir")
    absent = make_booking(at(monday, 10), service="beratung-3", name="Family Koval")
    fits = make_booking(at(monday, 11), service="beratung-3", name="Family Yilmaz").id
    with seeded.app_context():
        db.session.get(User, user_id(seeded, "Aylin Demir")).is_active = False
        db.session.commit()
    sign_in(client, make_staff(ADMIN, "admin", "herne"))
    absent_counsellor = absent.counsellor_id
    assert absent_counsellor != user_id(seeded, "Aylin Demir")
    token = csrf_from(client.get("/staff/absences?lang=en").get_data(as_text=True))
    response = client.post(
        "/staff/absences",
        data={
            "csrf_token": token,
            "counsellor": str(absent_counsellor),
            "start": f"{monday}T09:45",
            "end": f"{monday}T10:45",
            "note": "",
        },
    )
    assert response.status_code == 303
    pages = [
        client.get("/admin/centres/herne/attention?lang=en").get_data(as_text=True),
        client.get("/staff/absences?lang=en").get_data(as_text=True),
    ]
    for page in pages:
        assert "reason-counsellor_inactive\">the counsellor's account is deactivated" in row(
            page, orphaned
        )
        assert 'class="reason-counsellor_absent"' in row(page, absent.id)
        assert f'id="booking-{fits}"' not in page


def test_select_all_ticks_every_row(seeded, monday, client, make_staff, sign_in, make_booking):
    ids = [
        aylins_booking(make_booking, seeded, at(monday, hour), f"Family {hour}") for hour in (9, 10)
    ]
    sign_in(client, make_staff(AYLIN, "counsellor", "herne"))
    absent_all_day(client, monday.isoformat())
    html = client.get("/staff/absences").get_data(as_text=True)
    assert 'class="conflict-select" checked' not in html
    html = client.get("/staff/absences?select=all").get_data(as_text=True)
    for booking_id in ids:
        assert (
            f'value="{booking_id}" id="select-{booking_id}" class="conflict-select" checked' in html
        )
