"""Mails about a registration for an event: the snapshot its transaction writes to the
outbox, and the message composed from it in the registrant's language.

Each registration has its own invitation: UID ``registration-<reference>@ki-booking``, the
registrant the only ATTENDEE, SEQUENCE raised on every move and cancel. Nothing in a mail
names another registrant: a snapshot holds this registration's fields and the event's.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace

from flask import render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from booking import ical, outbox
from booking.emails import compose_message, format_address
from booking.i18n import html_lang
from booking.mail_kinds import REGISTRATION, MailKind, new_outbox_row, register_kind
from booking.models import OutboxMessage, Registration

REMINDER_BEFORE = timedelta(hours=24)
REMINDER_MIN_LEAD = timedelta(hours=2)


def calendar_uid(reference: str) -> str:
    return f"registration-{reference}@ki-booking"


def manage_url(token: str) -> str:
    return url_for("public.registration", token=token, _external=True)


def _snapshot(registration: Registration, kind: str, now: datetime, **extra) -> dict:
    event, centre, locale = registration.event, registration.event.centre, registration.locale
    return {
        "kind": kind,
        "locale": locale,
        "date": now.isoformat(),
        "registration": {
            "name": registration.name,
            "email": registration.email,
            "reference": registration.reference,
            "sequence": registration.sequence,
            "persons": registration.persons,
            "locale": locale,
        },
        "event": {
            "title": event.title_in(locale),
            "start_at": event.start_at.isoformat(),
            "end_at": event.end_at.isoformat(),
            "location": event.location(),
            "languages": list(event.languages or []),
        },
        "centre": {
            "name": centre.name,
            "address": centre.address,
            "phone": centre.phone,
            "email": centre.email,
            "timezone": centre.timezone,
        },
        **extra,
    }


def _row(registration: Registration, kind: str, key: str, snapshot: dict, due_at: datetime):
    return new_outbox_row(
        KINDS[kind],
        registration.id,
        event_key=key,
        recipient=registration.email,
        snapshot=snapshot,
        due_at=due_at,
    )


def _reminder(registration: Registration, token: str, now: datetime) -> list[OutboxMessage]:
    """The reminder the day before, composed when due; none when that would be too late."""
    due_at = registration.event.start_at - REMINDER_BEFORE
    if due_at < now + REMINDER_MIN_LEAD:
        return []
    snapshot = _snapshot(registration, "event_reminder", now, manage_url=manage_url(token))
    key = f"registration:{registration.id}:seq{registration.sequence}:reminder"
    return [_row(registration, "event_reminder", key, snapshot, due_at)]


def _invitation(registration: Registration, kind: str, token: str, now: datetime) -> list[int]:
    if not registration.email:
        return []
    outbox.drop_pending(KINDS["event_reminder"], registration.id)
    snapshot = _snapshot(registration, kind, now, manage_url=manage_url(token))
    key = f"registration:{registration.id}:seq{registration.sequence}:{kind}"
    return outbox.store(
        [_row(registration, kind, key, snapshot, now), *_reminder(registration, token, now)]
    )


def enqueue_confirmation(registration: Registration, token: str, now: datetime) -> list[int]:
    """Confirmed: the invitation (REQUEST, SEQUENCE 0) and the reminder."""
    return _invitation(registration, "event_confirmation", token, now)


def enqueue_seat_free(registration: Registration, token: str, now: datetime) -> list[int]:
    """A seat became free: the waiting registration is confirmed, with its invitation."""
    return _invitation(registration, "event_seat", token, now)


def enqueue_moved(registration: Registration, token: str, now: datetime) -> list[int]:
    """The event moved: the same UID with a higher SEQUENCE, and a new reminder."""
    return _invitation(registration, "event_moved", token, now)


def enqueue_waiting(
    registration: Registration, token: str, position: int, now: datetime
) -> list[int]:
    """On the waiting list, at ``position``; no invitation yet."""
    if not registration.email:
        return []
    snapshot = _snapshot(
        registration, "event_waiting", now, manage_url=manage_url(token), position=position
    )
    key = f"registration:{registration.id}:waiting"
    return outbox.store([_row(registration, "event_waiting", key, snapshot, now)])


def enqueue_moved_waiting(
    registration: Registration, token: str, position: int, now: datetime
) -> list[int]:
    """The event moved while this registration waits: the new time, its place in line; no
    invitation, since it holds no seat."""
    if not registration.email:
        return []
    snapshot = _snapshot(
        registration, "event_moved_waiting", now, manage_url=manage_url(token), position=position
    )
    key = f"registration:{registration.id}:moved-waiting:{uuid.uuid4().hex}"
    return outbox.store([_row(registration, "event_moved_waiting", key, snapshot, now)])


def enqueue_registration_cancelled(
    registration: Registration, was_confirmed: bool, now: datetime
) -> list[int]:
    """The registrant's own cancel: a CANCEL to them alone (a note when they were waiting)."""
    outbox.drop_pending(KINDS["event_reminder"], registration.id)
    if not registration.email:
        return []
    kind = "registration_cancelled" if was_confirmed else "registration_cancelled_waiting"
    snapshot = _snapshot(registration, kind, now)
    key = f"registration:{registration.id}:seq{registration.sequence}:cancel"
    return outbox.store([_row(registration, kind, key, snapshot, now)])


def enqueue_event_cancelled(
    registration: Registration, was_confirmed: bool, reason: str, now: datetime
) -> list[int]:
    """The centre cancelled the event: a CANCEL with the reason (a note to those waiting)."""
    outbox.drop_pending(KINDS["event_reminder"], registration.id)
    if not registration.email:
        return []
    kind = "event_cancelled" if was_confirmed else "event_cancelled_waiting"
    snapshot = _snapshot(registration, kind, now, reason=reason)
    key = f"registration:{registration.id}:seq{registration.sequence}:event-cancel"
    return outbox.store([_row(registration, kind, key, snapshot, now)])


def enqueue_message(registration: Registration, text: str, key: str, now: datetime) -> list[int]:
    """A message from staff to this registrant."""
    if not registration.email:
        return []
    snapshot = _snapshot(registration, "event_message", now, message=text)
    row_key = f"registration:{registration.id}:message:{key}"
    return outbox.store([_row(registration, "event_message", row_key, snapshot, now)])


# --- composing, when the outbox sends ------------------------------------------------


def calendar_event(registration, event, centre, now: datetime, url: str | None):
    """This registration's own calendar event: the registrant its only attendee."""
    description = _("Reference: %(reference)s", reference=registration.reference)
    if url:
        description += "\n" + _("Cancel your registration: %(url)s", url=url)
    return ical.CalendarEvent(
        uid=calendar_uid(registration.reference),
        sequence=registration.sequence,
        start_at=event.start_at,
        end_at=event.end_at,
        timezone=centre.timezone,
        summary=event.title,
        location=event.location,
        organizer_name=centre.name,
        organizer_email=centre.email,
        attendee_name=registration.name if registration.email else None,
        attendee_email=registration.email or None,
        description=description,
        url=url,
        dtstamp=now,
    )


def calendar_parts(registration: Registration):
    """A registration as the parts its calendar event is made of (as ``_parts`` reads a
    snapshot), for the manage page's "add to calendar"."""
    event = registration.event
    locale = registration.locale or "de"
    return (
        SimpleNamespace(
            reference=registration.reference,
            sequence=registration.sequence,
            name=registration.name,
            email=registration.email,
        ),
        SimpleNamespace(
            title=event.title_in(locale),
            start_at=event.start_at,
            end_at=event.end_at,
            location=event.location(),
        ),
        event.centre,
    )


def _parts(snapshot: dict):
    registration = SimpleNamespace(**snapshot["registration"])
    event = SimpleNamespace(
        **{
            **snapshot["event"],
            "start_at": datetime.fromisoformat(snapshot["event"]["start_at"]),
            "end_at": datetime.fromisoformat(snapshot["event"]["end_at"]),
        }
    )
    return registration, event, SimpleNamespace(**snapshot["centre"])


def _compose(mail_kind: MailKind, snapshot: dict, message_id: str, sender: str) -> bytes:
    """The message a registration's snapshot describes, in its language."""
    registration, event, centre = _parts(snapshot)
    kind = mail_kind.name
    method = mail_kind.calendar_method
    date = datetime.fromisoformat(snapshot["date"])
    with force_locale(snapshot["locale"]):
        ics = None
        if method == "REQUEST":
            url = snapshot.get("manage_url")
            ics = ical.build_request(calendar_event(registration, event, centre, date, url))
        elif method == "CANCEL":
            ics = ical.build_cancel(calendar_event(registration, event, centre, date, None))
        context = {
            "kind": kind,
            "booking": registration,
            "registration": registration,
            "event": event,
            "centre": centre,
            "manage_url": snapshot.get("manage_url"),
            "position": snapshot.get("position"),
            "reason": snapshot.get("reason"),
            "message": snapshot.get("message"),
        }
        message = compose_message(
            subject=str(mail_kind.subject_line) % {"title": event.title},
            sender=sender,
            to=format_address(registration.name, registration.email),
            text=render_template("email/registration.txt", **context),
            html=render_template("email/registration.html", **context),
            ics=ics,
            method=method,
            message_id=message_id,
            composed_at=date,
            reply_to=centre.email,
            language=html_lang(registration.locale),
        )
    return message.as_bytes()


# The kinds of mail about a registration: one entry each; one template pair serves them all.


def _kind(name: str, subject_line, calendar_method: str | None = None) -> MailKind:
    return register_kind(
        MailKind(
            name,
            REGISTRATION,
            "registration",
            subject_line,
            compose=_compose,
            calendar_method=calendar_method,
        )
    )


KINDS: dict[str, MailKind] = {
    kind.name: kind
    for kind in (
        _kind("event_confirmation", _l("Your registration: %(title)s"), "REQUEST"),
        _kind("event_seat", _l("Your registration: %(title)s"), "REQUEST"),
        _kind("event_waiting", _l("Waiting list: %(title)s")),
        _kind("event_moved", _l("Changed: %(title)s"), "REQUEST"),
        _kind("event_moved_waiting", _l("Changed: %(title)s")),
        _kind("event_cancelled", _l("Cancelled: %(title)s"), "CANCEL"),
        _kind("event_cancelled_waiting", _l("Cancelled: %(title)s")),
        _kind("registration_cancelled", _l("Your registration is cancelled: %(title)s"), "CANCEL"),
        _kind("registration_cancelled_waiting", _l("Your registration is cancelled: %(title)s")),
        _kind("event_reminder", _l("Reminder: %(title)s")),
        _kind("event_message", _l("Message about: %(title)s")),
    )
}
