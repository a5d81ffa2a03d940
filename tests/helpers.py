"""Small helpers shared by the test suites."""

from __future__ import annotations

import email
import socket
from datetime import UTC, date, datetime, timedelta
from email import policy
from zoneinfo import ZoneInfo

import holidays

BERLIN = ZoneInfo("Europe/Berlin")
# Years are filled in as they are asked for (holidays expands on lookup): no year to update.
NRW_HOLIDAYS = holidays.country_holidays("DE", subdiv="NW")


def berlin_today() -> date:
    return datetime.now(UTC).astimezone(BERLIN).date()


def next_working_day(weekday: int, min_days_ahead: int = 3) -> date:
    """The next date with this weekday (0 = Monday), a few days ahead, not an NRW holiday."""
    day = berlin_today() + timedelta(days=min_days_ahead)
    while day.weekday() != weekday or day in NRW_HOLIDAYS:
        day += timedelta(days=1)
    return day


def a_week_later(day: date) -> date:
    """The same weekday a week after ``day``, or the first week after that whose day is not
    an NRW holiday (a week after 18 December 2026 is Christmas Day)."""
    later = day + timedelta(days=7)
    while later in NRW_HOLIDAYS:
        later += timedelta(days=7)
    return later


def local(value: str) -> datetime:
    """An ISO 8601 string with offset, as an aware datetime in Berlin wall time."""
    return datetime.fromisoformat(value).astimezone(BERLIN)


def at(day: date, hh: int, mm: int = 0) -> str:
    """A local Berlin wall time on ``day`` as ISO 8601 with offset."""
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=BERLIN).isoformat()


def booking_payload(start: str, service: str = "short", **over) -> dict:
    payload = {
        "service": service,
        "start": start,
        "name": "Ayşe Öztürk",
        "email": "ayse@example.org",
        "consent": True,
    }
    payload.update(over)
    return payload


def book_through_writer(
    app, centre_slug: str, service_slug: str, start: str, *, channel: str = "online", **details
):
    """Book through bookings.book_slot; returns id, reference, counsellor_id and token.
    ``channel`` "phone" or "walk_in" books as staff do: at any notice.
    The body of the ``make_booking`` fixture (tests/conftest.py), which tests use; called
    directly only for an app that is not the ``app`` fixture (a live server, a second app).

    ``details`` are BookingDetails fields; name and a fresh e-mail address are filled in.
    """
    import secrets
    from types import SimpleNamespace

    from sqlalchemy import select

    from booking import bookings
    from booking.extensions import db
    from booking.models import Centre, Service, utcnow
    from booking.validation import BookingDetails

    details.setdefault("name", "Omar Nassar")
    details.setdefault("email", f"f{secrets.token_hex(4)}@example.org")
    with app.test_request_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == centre_slug))
        service = db.session.scalar(
            select(Service).where(Service.centre_id == centre.id, Service.slug == service_slug)
        )
        asked = bookings.BookingRequest(
            centre, service, local(start), BookingDetails(**details), channel=channel
        )
        result = bookings.book_slot(asked, now=utcnow())
        booking = result.booking
        return SimpleNamespace(
            id=booking.id,
            reference=booking.reference,
            counsellor_id=booking.counsellor_id,
            token=result.manage_token,
        )


class Inbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append(
            (envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mail_of(app, row) -> bytes:
    """The message of an outbox row as the family gets it: a sent mail from the .eml file the
    outbox wrote (the database keeps no sent message), a waiting one composed from its
    snapshot."""
    from pathlib import Path

    from booking import outbox

    if row.state == "sent":
        found = sorted(Path(app.config["OUTBOX_DIR"]).glob(f"*-{row.id:06d}-{row.kind}.eml"))
        assert len(found) == 1, f"no .eml file of sent mail {row.id}"
        return found[0].read_bytes()
    return outbox.message_of(app, row)


def answer_find_requests(app, now=None) -> int:
    """An outbox worker's round: answer the waiting "find my booking" requests, then send
    what is due. Returns how many requests were answered."""
    from booking import find_requests, outbox
    from booking.models import utcnow

    with app.app_context():
        now = now or utcnow()
        answered = find_requests.resolve_pending(app, now=now)
        outbox.send_due(app, now=now)
    return answered
