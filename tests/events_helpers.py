"""Events for the tests: made through the writer, as an admin would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select


def make_event(
    app,
    centre_slug: str = "test",
    *,
    seats: int = 10,
    waiting_list: bool = True,
    start_at: datetime | None = None,
    hours: float = 2,
    leaders: tuple[str, ...] = (),
    audience: str = "everyone",
    closes_before: timedelta | None = None,
    title: str = "Elterncafé",
) -> int:
    """An event at the centre, ten days ahead at 15:00 UTC by default; returns its id."""
    from booking import events
    from booking.extensions import db
    from booking.models import Centre, User, utcnow

    if start_at is None:
        day = (utcnow() + timedelta(days=10)).date()
        start_at = datetime(day.year, day.month, day.day, 13, tzinfo=UTC)
    with app.test_request_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == centre_slug))
        people = list(db.session.scalars(select(User).where(User.email.in_(leaders))))
        details = events.EventDetails(
            titles={"de": title, "en": "Parents' café"},
            descriptions={"de": "Austausch bei Kaffee."},
            audience=audience,
            seats=seats,
            has_waiting_list=waiting_list,
            closes_before=closes_before,
            languages=("de", "ar"),
        )
        (event,) = events.create_events(
            centre,
            details,
            [(start_at, start_at + timedelta(hours=hours))],
            people,
            None,
            now=utcnow(),
        )
        return event.id


def registration_payload(**over) -> dict:
    payload = {"name": "Layla Haddad", "email": "layla@example.org", "consent": True}
    payload.update(over)
    return payload


def event_url(event_id: int, centre_slug: str = "test") -> str:
    return f"/api/v1/centres/{centre_slug}/events/{event_id}/registrations"
