"""Held online bookings (a centre setting, off by default): an online booking holds its time
until the family confirms it from the mail, within the centre's expiry; then it is confirmed
(one mail with the invitation), or its time is released for everyone (slot search, cache and
writer alike, before any sweep). Staff bookings are never held."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from booking import bookings, cli, outbox
from booking.extensions import db
from booking.models import (
    AuditEntry,
    Booking,
    Centre,
    Occupancy,
    OutboxMessage,
    Service,
    User,
    utcnow,
)
from booking.validation import BookingDetails
from tests.conftest import csrf_from
from tests.helpers import (
    answer_find_requests,
    at,
    booking_payload,
    local,
    next_working_day,
)
from tests.web.test_mail import _rows_holding, _tokens, calendar_of


@pytest.fixture
def clock(monkeypatch):
    """The requests' clock (booking/clock.py), set by the test: ``clock.now``."""
    from booking import clock as request_clock

    class Clock:
        now: datetime = utcnow()

    found = Clock()
    monkeypatch.setattr(request_clock, "utcnow", lambda: found.now)
    return found


@pytest.fixture
def monday():
    return next_working_day(0)


@pytest.fixture
def holding(make_centre):
    """A centre that holds online bookings for 30 minutes."""
    return make_centre(hold_online_bookings=True, hold_minutes=30)


def text_of(message) -> str:
    return next(p for p in message.walk() if p.get_content_type() == "text/plain").get_content()


def confirm_token(message) -> str:
    (token,) = re.findall(r"/confirm/([A-Za-z0-9_-]{20,})", text_of(message))
    return token


def slot_starts(client, day) -> set[str]:
    response = client.get(
        f"/api/v1/centres/test/slots?service=short&from={day.isoformat()}&to={day.isoformat()}"
    )
    assert response.status_code == 200
    return {local(s["start"]).isoformat() for s in response.get_json()["slots"]}


def book(client, start: str, email: str = "ayse@example.org"):
    return client.post("/api/v1/centres/test/bookings", json=booking_payload(start, email=email))


def confirm(client, token: str):
    page = client.get(f"/confirm/{token}")
    if page.status_code != 200:
        return page
    return client.post(
        f"/confirm/{token}", data={"csrf_token": csrf_from(page.get_data(as_text=True))}
    )


def send_due(app, clock) -> None:
    """What the outbox worker sends at the test's clock (the mails sent after the commit
    are sent at the real clock, which the test's clock is ahead of)."""
    with app.app_context():
        outbox.send_due(app, now=clock.now)


def booking_row(app, reference: str) -> tuple[str, datetime | None, list[tuple]]:
    with app.app_context():
        booking = db.session.scalar(select(Booking).where(Booking.reference == reference))
        rows = db.session.execute(
            select(Occupancy.is_active, Occupancy.expires_at).where(
                Occupancy.booking_id == booking.id
            )
        ).all()
        return booking.status, booking.hold_expires_at, [tuple(r) for r in rows]


def test_with_the_setting_off_an_online_booking_is_confirmed_at_once(
    app, client, make_centre, smtp, monday
):
    make_centre()
    with app.app_context():
        assert db.session.scalar(select(Centre.hold_online_bookings)) is False
    body = book(client, at(monday, 10)).get_json()
    assert body["status"] == "confirmed" and "hold_expires_at" not in body
    assert [m["Subject"] for _, m in smtp.messages] == ["Ihr Termin: Testzentrum test"]
    calendar_of(smtp.messages[0][1])


@pytest.mark.backends("sqlite", "pg")
def test_a_held_booking_takes_its_time_until_confirmed_then_one_mail_with_the_invitation(
    app, client, holding, smtp, monday, clock
):
    start = at(monday, 10)
    assert start in slot_starts(client, monday)
    response = book(client, start)
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "held"
    # As an instant: a Berlin wall time in the hour the clocks go back never equals a UTC
    # datetime (PEP 495), so the offset the API wrote is kept.
    assert datetime.fromisoformat(body["hold_expires_at"]) == clock.now + timedelta(minutes=30)
    # One mail: "please confirm", with its link and no invitation yet.
    assert len(smtp.messages) == 1
    message = smtp.messages[0][1]
    assert "bestätigen" in message["Subject"]
    assert not [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    token = confirm_token(message)
    # The time is gone for everyone else, in the slots and for the writer.
    assert start not in slot_starts(client, monday)
    taken = book(client, start, email="other@example.org")
    assert taken.status_code == 409
    assert taken.get_json()["type"].endswith("slot-unavailable")
    # The manage page says what to do; the confirmation link is no manage link.
    manage = client.get(body["manage_url"].split("localhost", 1)[-1])
    assert 'id="hold-notice"' in manage.get_data(as_text=True)
    assert client.get(f"/api/v1/bookings/{token}").status_code == 404

    clock.now += timedelta(minutes=20)
    page = client.get(f"/confirm/{token}")
    assert page.status_code == 200 and 'id="confirm-hold"' in page.get_data(as_text=True)
    csrf = csrf_from(page.get_data(as_text=True))
    assert len(smtp.messages) == 1  # a GET changes nothing
    done = confirm(client, token)
    assert done.status_code == 303
    assert 'id="hold-confirmed"' in client.get(done.headers["Location"]).get_data(as_text=True)
    status, expires, rows = booking_row(app, body["reference"])
    assert (status, expires) == ("confirmed", None)
    assert rows and all(active and until is None for active, until in rows)
    send_due(app, clock)
    # Exactly one more mail: the confirmation with its REQUEST invitation and a working link.
    assert len(smtp.messages) == 2
    confirmation = smtp.messages[1][1]
    assert confirmation["Subject"] == "Ihr Termin: Testzentrum test"
    _, method = calendar_of(confirmation)
    assert method == "REQUEST"
    (manage_token,) = _tokens(confirmation)
    assert client.get(f"/api/v1/bookings/{manage_token}").get_json()["status"] == "confirmed"
    # Confirming again (a second click on the sent form) sends nothing.
    assert client.post(f"/confirm/{token}", data={"csrf_token": csrf}).status_code == 303
    send_due(app, clock)
    assert len(smtp.messages) == 2
    # Once confirmed, the hold's expiry no longer frees the time.
    clock.now += timedelta(hours=1)
    assert start not in slot_starts(client, monday)


@pytest.mark.backends("sqlite", "pg")
def test_an_unconfirmed_hold_frees_its_time_at_expiry_before_any_sweep(
    app, client, holding, smtp, monday, clock
):
    start = at(monday, 10)
    body = book(client, start).get_json()
    token = confirm_token(smtp.messages[0][1])
    # Cached while held: the answer's clock span ends when the hold runs out.
    assert start not in slot_starts(client, monday)
    clock.now += timedelta(minutes=29)
    assert start not in slot_starts(client, monday)
    clock.now += timedelta(minutes=1)
    assert start in slot_starts(client, monday)
    # No sweep ran: the hold is still marked held, yet the writer books its time.
    assert booking_row(app, body["reference"])[0] == "held"
    other = book(client, start, email="other@example.org")
    assert other.status_code == 201, other.get_json()
    send_due(app, clock)  # the other family's "please confirm"
    status, _, rows = booking_row(app, body["reference"])
    assert status == "expired"
    assert rows and not any(active for active, _ in rows)
    # Confirming now: the expired page, nothing booked, no mail.
    sent = len(smtp.messages)
    page = client.get(f"/confirm/{token}")
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert 'id="hold-expired"' in html and 'id="book-again"' in html
    assert confirm(client, token).status_code == 410
    assert booking_row(app, body["reference"])[0] == "expired"
    send_due(app, clock)
    assert len(smtp.messages) == sent


@pytest.mark.backends("sqlite", "pg")
def test_the_sweep_marks_holds_that_ran_out_expired_and_releases_their_occupancy(
    app, client, holding, smtp, monday, clock
):
    body = book(client, at(monday, 10)).get_json()
    assert booking_row(app, body["reference"])[2] == [(True, clock.now + timedelta(minutes=30))]
    with app.app_context():
        assert bookings.expire_holds(clock.now + timedelta(minutes=29)) == 0
        assert bookings.expire_holds(clock.now + timedelta(minutes=30)) == 1
    status, _, rows = booking_row(app, body["reference"])
    assert status == "expired" and rows == [(False, None)]
    # The expired page at once, and through the API too.
    token = confirm_token(smtp.messages[0][1])
    assert confirm(client, token).status_code == 410
    manage_token = body["manage_url"].rsplit("/", 1)[1]
    assert client.get(f"/api/v1/bookings/{manage_token}").get_json()["status"] == "expired"


def test_confirming_after_expiry_before_the_sweep_books_nothing(
    app, client, holding, smtp, monday, clock
):
    body = book(client, at(monday, 10)).get_json()
    token = confirm_token(smtp.messages[0][1])
    page = client.get(f"/confirm/{token}")
    csrf = csrf_from(page.get_data(as_text=True))
    clock.now += timedelta(minutes=31)
    response = client.post(f"/confirm/{token}", data={"csrf_token": csrf})
    assert response.status_code == 410
    assert "This reservation has expired" in response.get_data(as_text=True) or (
        "abgelaufen" in response.get_data(as_text=True)
    )
    assert booking_row(app, body["reference"])[0] == "expired"
    send_due(app, clock)
    assert len(smtp.messages) == 1


def test_staff_bookings_are_never_held(app, holding, smtp, monday, make_staff):
    make_staff("empfang@test.example", "reception", "test")
    with app.test_request_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "test"))
        service = db.session.scalar(select(Service).where(Service.slug == "short"))
        staff = db.session.scalar(select(User).where(User.email == "empfang@test.example"))
        for channel, hour in (("phone", 10), ("walk_in", 11)):
            result = bookings.book_slot(
                bookings.BookingRequest(
                    centre,
                    service,
                    local(at(monday, hour)),
                    BookingDetails(name="Omar Nassar", email=f"{channel}@example.org"),
                    channel=channel,
                    created_by=staff,
                ),
                now=utcnow(),
            )
            assert result.booking.status == "confirmed"
            assert result.booking.hold_expires_at is None
            # A staff move keeps it confirmed.
            moved = bookings.staff_move(
                result.booking, local(at(monday, hour + 3)), staff, now=utcnow()
            )
            assert moved.status == "confirmed"
    kinds = [m["Subject"] for _, m in smtp.messages]
    assert not [s for s in kinds if "bestätigen" in s]
    assert kinds.count("Ihr Termin: Testzentrum test") == 2


@pytest.mark.backends("sqlite", "pg")
def test_the_confirmation_link_is_not_kept_in_clear(app, client, holding, smtp, monday):
    book(client, at(monday, 10))
    token = confirm_token(smtp.messages[0][1])
    assert _rows_holding(app, token) == []
    with app.app_context():
        kept = db.session.scalars(
            select(OutboxMessage.link_hash).where(OutboxMessage.kind == "hold_request")
        ).all()
        assert kept and all(h and token not in h for h in kept)
    assert confirm(client, token).status_code == 303
    (manage_token,) = _tokens(smtp.messages[-1][1])
    for secret in (token, manage_token):
        assert _rows_holding(app, secret) == []


def test_an_address_at_its_limit_is_told_only_from_the_mail(app, client, make_centre, smtp, monday):
    make_centre(hold_online_bookings=True, max_active_bookings_per_email=1)
    first = book(client, at(monday, 10))
    assert confirm(client, confirm_token(smtp.messages[-1][1])).status_code == 303
    # The answer to the second request is the same as for any address: held.
    second = book(client, at(monday, 12))
    assert second.status_code == 201 and second.get_json()["status"] == "held"
    refused = confirm(client, confirm_token(smtp.messages[-1][1]))
    assert refused.status_code == 409
    assert 'id="limit-error"' in refused.get_data(as_text=True)
    assert booking_row(app, second.get_json()["reference"])[0] == "held"
    assert booking_row(app, first.get_json()["reference"])[0] == "confirmed"


def test_the_family_can_give_back_a_held_time(app, client, holding, smtp, monday):
    start = at(monday, 10)
    body = book(client, start).get_json()
    url = "/b/" + body["manage_url"].rsplit("/", 1)[1]
    page = client.get(url + "/cancel")
    response = client.post(
        url + "/cancel", data={"csrf_token": csrf_from(page.get_data(as_text=True))}
    )
    assert response.status_code == 303
    assert booking_row(app, body["reference"])[0] == "cancelled"
    assert start in slot_starts(client, monday)
    assert len(smtp.messages) == 1  # no CANCEL for an invitation never sent
    page = client.get(f"/confirm/{confirm_token(smtp.messages[0][1])}")
    assert "Dieser Termin ist abgesagt." in page.get_data(as_text=True)
    assert 'id="confirm-hold"' not in page.get_data(as_text=True)


def test_the_booking_form_holds_and_the_staff_calendar_marks_it(
    app, client, holding, smtp, monday, make_staff, sign_in
):
    url = f"/centres/test/short/book?start={at(monday, 10).replace('+', '%2B')}"
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)[:300]
    response = client.post(
        url,
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "start": at(monday, 10),
            "nonce": re.search(r'name="nonce"[^>]*value="([^"]+)"', page.get_data(as_text=True))[1],
            "name": "Ayşe Öztürk",
            "email": "ayse@example.org",
            "persons": "1",
            "consent": "y",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    manage = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'id="hold-notice"' in manage
    assert len(smtp.messages) == 1 and "bestätigen" in smtp.messages[0][1]["Subject"]

    staff = app.test_client()
    sign_in(staff, make_staff("empfang@test.example", "reception", "test"))
    calendar = staff.get(f"/staff/calendar?centre=test&date={monday.isoformat()}")
    html = calendar.get_data(as_text=True)
    assert "status-held" in html and "wartet auf Bestätigung" in html


def test_a_new_manage_link_leaves_the_confirmation_link_working(app, client, holding, smtp, monday):
    body = book(client, at(monday, 10)).get_json()
    token = confirm_token(smtp.messages[0][1])
    page = client.get("/find")
    found = client.post(
        "/find",
        data={
            "reference": body["reference"],
            "email": "ayse@example.org",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert found.status_code == 200
    answer_find_requests(app)  # the outbox worker's round
    assert len(smtp.messages) == 2
    assert confirm(client, token).status_code == 303
    assert booking_row(app, body["reference"])[0] == "confirmed"


@pytest.mark.backends("sqlite", "pg")
def test_an_event_takes_a_leader_whose_hold_ran_out_before_the_sweep(
    app, client, holding, smtp, monday, clock
):
    from booking import events

    body = book(client, at(monday, 10)).get_json()
    with app.test_request_context():
        leader = db.session.scalar(select(User).where(User.role == "counsellor"))
        centre = db.session.scalar(select(Centre).where(Centre.slug == "test"))
        times = [(local(at(monday, 10)), local(at(monday, 11)))]
        details = events.EventDetails(titles={"de": "Elterncafé"})
        with pytest.raises(events.LeaderBusy):
            events.create_events(centre, details, times, [leader], None, now=clock.now)
        later = clock.now + timedelta(minutes=30)
        (event,) = events.create_events(centre, details, times, [leader], None, now=later)
        assert event.id is not None
    assert booking_row(app, body["reference"])[0] == "expired"


def test_the_outbox_worker_sweeps_every_round(app, client, holding, smtp, monday):
    body = book(client, at(monday, 10)).get_json()
    with app.app_context():
        outbox.work(
            app,
            poll_seconds=0,
            max_rounds=1,
            # What `flask outbox work` does first in each round, half an hour on.
            before_sending=lambda app, now: cli.before_sending(
                app, now=now + timedelta(minutes=31)
            ),
        )
    assert booking_row(app, body["reference"])[0] == "expired"


def test_reports_count_a_hold_only_once_it_is_confirmed(app, client, holding, smtp, monday):
    from booking.admin import queries

    book(client, at(monday, 10))
    book(client, at(monday, 12), email="other@example.org")
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "test"))
        assert queries.report_facts(centre, monday.year) == []
    assert confirm(client, confirm_token(smtp.messages[0][1])).status_code == 303
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "test"))
        (fact,) = queries.report_facts(centre, monday.year)
        assert fact.status == "confirmed"


def test_reception_gives_back_a_held_time_without_a_mail(
    app, client, holding, smtp, monday, make_staff, sign_in
):
    start = at(monday, 10)
    body = book(client, start).get_json()
    assert start not in slot_starts(client, monday)
    with app.app_context():
        booking_id = db.session.scalar(
            select(Booking.id).where(Booking.reference == body["reference"])
        )
    staff = app.test_client()
    sign_in(staff, make_staff("empfang@test.example", "reception", "test"))
    page = staff.get(f"/staff/bookings/{booking_id}")
    html = page.get_data(as_text=True)
    assert 'id="release-form"' in html and 'id="cancel-form"' not in html
    token = csrf_from(html)
    # Without the tick nothing happens.
    staff.post(f"/staff/bookings/{booking_id}/cancel", data={"csrf_token": token})
    assert booking_row(app, body["reference"])[0] == "held"
    response = staff.post(
        f"/staff/bookings/{booking_id}/cancel", data={"csrf_token": token, "confirm": "yes"}
    )
    assert response.status_code in (302, 303)
    assert booking_row(app, body["reference"])[0] == "cancelled"
    assert start in slot_starts(client, monday)
    assert len(smtp.messages) == 1  # only the request to confirm; no CANCEL
    with app.app_context():
        details = db.session.scalars(
            select(AuditEntry.detail).where(
                AuditEntry.booking_id == booking_id, AuditEntry.action == "cancel"
            )
        ).all()
        assert details == ["hold given back"]
    page = client.get(f"/confirm/{confirm_token(smtp.messages[0][1])}")
    assert 'id="confirm-hold"' not in page.get_data(as_text=True)


@pytest.mark.backends("sqlite", "pg")
def test_purge_erases_a_hold_that_ran_out_at_once_and_keeps_a_confirmed_booking(
    app, client, holding, smtp, monday, clock
):
    from booking import retention

    lapsed = book(client, at(monday, 10), email="lapsed@example.org").get_json()
    kept = book(client, at(monday, 11), email="kept@example.org").get_json()
    lapsed_token = confirm_token(smtp.messages[0][1])
    assert confirm(client, confirm_token(smtp.messages[1][1])).status_code == 303
    clock.now += timedelta(minutes=30)
    with app.app_context():
        assert bookings.expire_holds(clock.now) == 1
        counts = retention.purge(clock.now, 90)
    assert (counts.bookings, counts.expired_holds) == (0, 1)
    with app.app_context():
        rows = {
            b.reference: b
            for b in db.session.scalars(
                select(Booking).where(
                    Booking.reference.in_([lapsed["reference"], kept["reference"]])
                )
            )
        }
        erased, confirmed = rows[lapsed["reference"]], rows[kept["reference"]]
        assert (erased.status, erased.name, erased.email, erased.phone) == (
            "expired",
            "",
            None,
            None,
        )
        assert erased.erased_at is not None
        mails = db.session.execute(
            select(OutboxMessage.raw, OutboxMessage.recipient).where(
                OutboxMessage.booking_id == erased.id
            )
        ).all()
        assert mails and all(raw == b"" and to == "" for raw, to in mails)
        # The confirmed booking is kept until the retention time.
        assert (confirmed.status, confirmed.email) == ("confirmed", "kept@example.org")
        assert confirmed.erased_at is None
    # The link from the mail still says the time was released.
    page = client.get(f"/confirm/{lapsed_token}")
    assert page.status_code == 410 and "lapsed@example.org" not in page.get_data(as_text=True)
    with app.app_context():
        assert retention.purge(clock.now, 90).expired_holds == 0
