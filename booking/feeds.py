"""Counsellors' calendar subscriptions: /calendar/<token>.ics, with no data of families.

No sign-in: the random token in the URL is the credential (only its hash is stored,
renewing it ends the old URL, deactivating the account ends it for good). Each event reads
"Beratung" and the booking reference, never the person, and names the service only where
the centre's admin turned that on: a calendar app syncs its data to places the centre does
not control, and the topic of a consultation is confidential.

An event the person leads is in it once, under its own UID, with its title, place and a
link to its staff page; never a registrant. Moved, it keeps its UID; cancelled, it leaves
the feed as a cancelled booking does.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, abort, url_for
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from booking import events, feed_tokens, ical
from booking.clock import request_now
from booking.extensions import db
from booking.models import ACTIVE_STATUSES, Booking, Event, User
from booking.notifications import booking_event

bp = Blueprint("feeds", __name__)

# How far back a feed reaches, so today's and last weeks' appointments stay visible.
FEED_PAST = timedelta(days=30)
# How far ahead a feed shows the events a person leads: they are planned months ahead.
FEED_EVENTS_AHEAD = timedelta(days=366)
# The neutral summary of every feed entry (the staff's working language).
NEUTRAL_SUMMARY = "Beratung"


def feed_event(booking: Booking, now) -> ical.CalendarEvent:
    """A booking as a feed entry: "Beratung" (or the service, where the centre allows) and
    the reference only; no attendee, no description."""
    centre = booking.centre
    topic = booking.service.name_in("de") if centre.feed_shows_service else NEUTRAL_SUMMARY
    return booking_event(
        booking, now, summary=f"{topic} · {booking.reference}", with_attendee=False
    )


def event_uid(event: Event) -> str:
    """An event's UID in the feeds of its leaders: the same after every change."""
    return f"event-{event.id}@ki-booking"


def feed_event_entry(event: Event, now) -> ical.CalendarEvent:
    """An event the person leads as a feed entry: its title, place, time and a link to its
    staff page; no registrant, no attendee."""
    centre = event.centre
    return ical.CalendarEvent(
        uid=event_uid(event),
        sequence=0,
        start_at=event.start_at,
        end_at=event.end_at,
        timezone=centre.timezone,
        summary=event.title_in("de"),
        location=event.location(),
        organizer_name=centre.name,
        organizer_email=centre.email,
        url=url_for("staff.event_registrations", event_id=event.id, _external=True),
        dtstamp=now,
    )


def feed_bytes(user: User, now) -> bytes:
    """The active appointments the person holds (as counsellor or as officer) from 30 days
    ago to the centre's horizon, and the events they lead (a year ahead)."""
    centre = user.centre
    horizon = timedelta(days=(centre.horizon_days if centre else 56) + 1)
    bookings = db.session.scalars(
        select(Booking)
        .where(
            or_(Booking.counsellor_id == user.id, Booking.officer_id == user.id),
            Booking.status.in_(ACTIVE_STATUSES),
            Booking.start_at >= now - FEED_PAST,
            Booking.start_at < now + horizon,
        )
        .options(selectinload(Booking.service), selectinload(Booking.centre))
        .order_by(Booking.start_at)
    ).all()
    led = events.events_between(None, now - FEED_PAST, now + FEED_EVENTS_AHEAD, leader_id=user.id)
    entries = [
        *(feed_event(b, now) for b in bookings),
        *(feed_event_entry(e, now) for e in led if e.start_at >= now - FEED_PAST),
    ]
    entries.sort(key=lambda entry: (entry.start_at, entry.uid))
    name = f"{centre.name} – {user.name}" if centre else user.name
    return ical.build_feed(entries, name)


@bp.get("/calendar/<token>.ics")
def calendar_feed(token: str):
    user = feed_tokens.find_feed_user(token)
    if user is None:
        abort(404)
    return Response(
        feed_bytes(user, request_now()),
        mimetype="text/calendar",
        headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": 'inline; filename="appointments.ics"',
        },
    )
