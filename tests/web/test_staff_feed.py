"""A counsellor's calendar subscription: a secret URL, no data of families, renewable."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select

from booking import bookings
from booking.extensions import db
from booking.models import AuditEntry, Booking, User, utcnow
from tests.conftest import csrf_from
from tests.helpers import at, next_working_day

KARIM = "karim.haddad@herne.example"
FAMILY = {
    "name": "Zeynep Quellenfeld",
    "email": "zeynep.quellenfeld@example.org",
    "phone": "0171 9876543",
}


def family(**over) -> dict:
    """A family's details as these tests book them (make_booking's overrides)."""
    message = "Unser Sohn Emre hat Probleme in der Schule"
    return {**FAMILY, "message": message, "language": "ar", **over}


def new_feed_url(client) -> str:
    page = client.get("/staff/feed").get_data(as_text=True)
    response = client.post("/staff/feed", data={"csrf_token": csrf_from(page), "confirm": "yes"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(True)
    match = re.search(r'id="feed-url" class="feed-url" value="([^"]+)"', html)
    assert match
    url = match.group(1)
    # The primary action under the new address opens it in the calendar app (webcal:).
    webcal = re.search(r'<a class="button" id="open-feed" href="([^"]+)"', html).group(1)
    assert webcal == url.replace("http://", "webcal://", 1)
    assert '<button type="submit" class="secondary" id="renew-feed">' in html
    assert re.fullmatch(r"http://localhost/calendar/[A-Za-z0-9_-]{43}\.ics", url), url
    return url.removeprefix("http://localhost")


@pytest.fixture
def karim(seeded, client, make_staff, sign_in):
    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    sign_in(client, make_staff(KARIM, "counsellor", "herne"))
    return client


@pytest.mark.backends("sqlite", "pg")
def test_the_feed_lists_the_counsellors_bookings_without_family_data(
    db_backend, seeded, karim, make_booking
):
    monday = next_working_day(0)
    # Karim is the only Herne counsellor for "beratung-5"; Aylin takes "beratung-1" in Turkish.
    mine = [
        make_booking(at(monday, 9), service="beratung-5", **family()),
        make_booking(
            at(monday, 11),
            service="beratung-5",
            **family(name="Lale <Ünal> & Co", email="lale@example.org"),
        ),
    ]
    cancelled = make_booking(
        at(monday, 14), service="beratung-5", **family(email="gone@example.org")
    )
    with seeded.test_request_context():
        bookings.cancel_booking(db.session.get(Booking, cancelled.id), now=utcnow())
    other = make_booking(
        at(monday, 9), service="beratung-1", **family(email="other@example.org", language="tr")
    )
    with seeded.app_context():
        assert db.session.get(User, other.counsellor_id).email != KARIM
        # Last month's appointments stay in the feed; older ones drop out.
        past = make_booking(
            at(monday, 13), service="beratung-5", **family(email="past@example.org")
        )
        old = make_booking(at(monday, 15), service="beratung-5", **family(email="old@example.org"))
        for booking, days in ((past, 10), (old, 40)):
            row = db.session.get(Booking, booking.id)
            row.start_at = utcnow() - timedelta(days=days)
            row.end_at = row.start_at + timedelta(hours=1)
            row.status = "attended"
        db.session.commit()

    url = new_feed_url(karim)
    anonymous = seeded.test_client()
    response = anonymous.get(url)
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "Set-Cookie" not in response.headers
    body = response.get_data()

    calendar = Calendar.from_ical(body)
    events = list(calendar.walk("VEVENT"))
    uids = {str(event["UID"]) for event in events}
    assert uids == {f"{b.reference}@ki-booking" for b in [*mine, past]}
    for event in events:
        assert "ATTENDEE" not in event and "DESCRIPTION" not in event
        reference = str(event["UID"]).split("@")[0]
        assert reference in str(event["SUMMARY"])
    # Nothing that names or reaches the family, in any encoding the bytes could hold.
    text = body.decode("utf-8")
    unfolded = text.replace("\r\n ", "")
    for secret in (
        FAMILY["name"],
        "Zeynep",
        "Quellenfeld",
        "Lale",
        "Ünal",
        FAMILY["email"],
        "lale@example.org",
        "example.org",
        FAMILY["phone"],
        "9876543",
        "Emre",
        "Schule",
    ):
        assert secret not in unfolded, secret
        assert secret.encode() not in body, secret


@pytest.mark.backends("sqlite", "pg")
def test_renewing_ends_the_old_url(db_backend, seeded, karim):
    first = new_feed_url(karim)
    assert seeded.test_client().get(first).status_code == 200
    page = karim.get("/staff/feed").get_data(as_text=True)
    # The URL is shown once only: the page no longer holds it.
    assert first not in page and 'id="feed-exists"' in page
    # Without the tick, the address in use is kept.
    refused = karim.post("/staff/feed", data={"csrf_token": csrf_from(page)})
    assert 'id="feed-url"' not in refused.get_data(as_text=True)
    assert seeded.test_client().get(first).status_code == 200
    second = new_feed_url(karim)
    assert second != first
    assert seeded.test_client().get(first).status_code == 404
    assert seeded.test_client().get(second).status_code == 200
    with seeded.app_context():
        user = db.session.scalar(select(User).where(User.email == KARIM))
        token = second.removeprefix("/calendar/").removesuffix(".ics")
        # Only the hash is stored.
        assert user.feed_token_hash == bookings.hash_token(token)
        assert token not in user.feed_token_hash
        entries = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "feed_renewed")
        ).all()
        assert len(entries) == 2 and all(e.actor_id == user.id for e in entries)


def test_unknown_tokens_and_inactive_accounts_get_404(seeded, karim):
    client = seeded.test_client()
    assert client.get("/calendar/nope.ics").status_code == 404
    assert client.get("/calendar/" + "x" * 200 + ".ics").status_code == 404
    url = new_feed_url(karim)
    with seeded.app_context():
        db.session.scalar(select(User).where(User.email == KARIM)).is_active = False
        db.session.commit()
    assert client.get(url).status_code == 404


def test_only_counsellors_have_a_feed(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff("rez@herne.example", "reception", "herne"))
    assert client.get("/staff/feed").status_code == 403
    assert 'href="/staff/feed"' not in client.get("/staff/").get_data(as_text=True)


@pytest.mark.backends("sqlite", "pg")
def test_the_feed_holds_an_event_the_counsellor_leads_once(db_backend, seeded, karim, client):
    """One entry with a stable UID, title, place, time and a link to the staff page; no
    registrant; a move keeps the UID, a cancel takes the entry out."""
    from booking import events
    from booking.models import Event
    from booking.staff.events import details_of
    from tests.events_helpers import event_url, make_event, registration_payload
    from tests.helpers import BERLIN, local

    wednesday = next_working_day(2)
    event_id = make_event(
        seeded,
        "herne",
        start_at=local(at(wednesday, 14)),
        leaders=(KARIM, "aylin.demir@herne.example"),
        title="Fortbildung Interkulturell",
    )
    others = make_event(
        seeded, "herne", start_at=local(at(wednesday, 9)), leaders=("olena.koval@herne.example",)
    )
    for n in range(3):
        response = client.post(
            event_url(event_id, "herne"),
            json=registration_payload(name=f"Registrant Nummer{n}", email=f"r{n}@example.org"),
        )
        assert response.status_code == 201
    url = new_feed_url(karim)

    def entries():
        body = seeded.test_client().get(url).get_data()
        text = body.decode("utf-8").replace("\r\n ", "")
        for secret in ("Nummer", "Registrant", "example.org"):
            assert secret not in text, secret
        return [e for e in Calendar.from_ical(body).walk("VEVENT") if "event-" in str(e["UID"])]

    (entry,) = entries()
    assert str(entry["UID"]) == f"event-{event_id}@ki-booking"
    assert str(entry["SUMMARY"]) == "Fortbildung Interkulturell"
    assert "Rademachers Weg 15" in str(entry["LOCATION"])
    assert str(entry["URL"]).endswith(f"/staff/events/{event_id}")
    assert entry.decoded("DTSTART").astimezone(BERLIN).hour == 14
    assert "ATTENDEE" not in entry and "ORGANIZER" not in entry
    assert f"event-{others}@ki-booking" not in [str(e["UID"]) for e in entries()]

    with seeded.test_request_context():
        event = db.session.get(Event, event_id)
        events.change_event(
            event,
            details_of(event),
            local(at(wednesday, 15)),
            local(at(wednesday, 17)),
            list(event.leaders),
            None,
            now=utcnow(),
        )
    (entry,) = entries()
    assert str(entry["UID"]) == f"event-{event_id}@ki-booking"
    assert entry.decoded("DTSTART").astimezone(BERLIN).hour == 15
    with seeded.test_request_context():
        events.cancel_event(db.session.get(Event, event_id), "", None, now=utcnow())
    assert entries() == []
