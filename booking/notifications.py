"""Mails about a booking, composed in the booker's language and put into the outbox.

Called inside the booking's transaction; nothing is sent here. Subjects and the calendar
SUMMARY name the centre only, never the person or the topic of the consultation.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import delete

from booking import ical, outbox
from booking.emails import compose_message, format_address
from booking.errors import log_error
from booking.extensions import db
from booking.i18n import html_lang
from booking.models import Booking, OutboxMessage, utcnow

# A reminder goes out this long before the appointment, and only if that is still ahead.
REMINDER_BEFORE = timedelta(hours=24)
REMINDER_MIN_LEAD = timedelta(hours=2)


def calendar_uid(booking: Booking) -> str:
    """The UID every invitation of this booking carries."""
    return f"{booking.reference}@ki-booking"


def booking_event(
    booking: Booking,
    now: datetime,
    *,
    summary: str,
    description: str = "",
    url: str | None = None,
    with_attendee: bool = True,
) -> ical.CalendarEvent:
    """The booking's times, place and organiser as a calendar event; what it says is given."""
    centre = booking.centre
    return ical.CalendarEvent(
        uid=calendar_uid(booking),
        sequence=booking.sequence,
        start_at=booking.start_at,
        end_at=booking.end_at,
        timezone=centre.timezone,
        summary=summary,
        location=centre.address,
        organizer_name=centre.name,
        organizer_email=centre.email,
        attendee_name=booking.name if with_attendee else None,
        attendee_email=booking.email if with_attendee else None,
        description=description,
        url=url,
        dtstamp=now,
    )


def calendar_event(booking: Booking, now: datetime, manage_url: str | None) -> ical.CalendarEvent:
    """The booking as a calendar event: the centre is named, the topic is not."""
    description = _("Reference: %(reference)s", reference=booking.reference)
    if manage_url:
        description += "\n" + _("Change or cancel: %(url)s", url=manage_url)
    return booking_event(
        booking,
        now,
        summary=_("Appointment: %(centre)s", centre=booking.centre.name),
        description=description,
        url=manage_url,
    )


def manage_url(token: str) -> str:
    return url_for("public.manage", token=token, _external=True)


def _enqueue(
    booking: Booking,
    kind: str,
    event_key: str,
    subject: str,
    template: str,
    *,
    ics: bytes | None,
    method: str | None,
    due_at: datetime,
    now: datetime,
    **context,
) -> int:
    message_id = f"{uuid.uuid4().hex}@ki-booking"
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    context.update(booking=booking, centre=booking.centre, service=booking.service)
    message = compose_message(
        subject=subject,
        sender=sender,
        to=format_address(booking.name, booking.email),
        text=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        ics=ics,
        method=method,
        message_id=message_id,
        composed_at=now,
        reply_to=booking.centre.email,
        language=html_lang(booking.locale),
    )
    row = OutboxMessage(
        event_key=event_key,
        booking_id=booking.id,
        kind=kind,
        recipient=booking.email,
        message_id=message_id,
        raw=message.as_bytes(),
        state="pending",
        due_at=due_at,
    )
    db.session.add(row)
    db.session.flush()
    return row.id


def _drop_pending_reminders(booking: Booking) -> None:
    # An unsent reminder of an old time is obsolete, not lost: the new mail replaces it.
    db.session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.booking_id == booking.id,
            OutboxMessage.kind == "reminder",
            OutboxMessage.state == "pending",
        )
    )


def _reminder(booking: Booking, token: str, now: datetime) -> list[int]:
    due_at = booking.start_at - REMINDER_BEFORE
    if due_at < now + REMINDER_MIN_LEAD:
        return []
    url = manage_url(token)
    return [
        _enqueue(
            booking,
            "reminder",
            f"booking:{booking.id}:seq{booking.sequence}:reminder",
            _("Reminder: your appointment at %(centre)s", centre=booking.centre.name),
            "reminder",
            ics=None,
            method=None,
            due_at=due_at,
            now=now,
            manage_url=url,
            cancel_url=url_for("public.cancel", token=token, _external=True),
        )
    ]


def _enqueue_invitation(booking: Booking, token: str, now: datetime, *, moved: bool) -> list[int]:
    """A REQUEST invitation with the booking's current SEQUENCE, and a fresh reminder."""
    if not booking.email:
        return []
    with force_locale(booking.locale):
        _drop_pending_reminders(booking)
        url = manage_url(token)
        if moved:
            subject = _(
                "Your appointment at %(centre)s has been changed", centre=booking.centre.name
            )
        else:
            subject = _("Your appointment at %(centre)s", centre=booking.centre.name)
        ids = [
            _enqueue(
                booking,
                "change" if moved else "confirmation",
                f"booking:{booking.id}:seq{booking.sequence}:request",
                subject,
                "moved" if moved else "confirmation",
                ics=ical.build_request(calendar_event(booking, now, url)),
                method="REQUEST",
                due_at=now,
                now=now,
                manage_url=url,
            )
        ]
        ids += _reminder(booking, token, now)
    return ids


def enqueue_confirmation(booking: Booking, token: str, now: datetime) -> list[int]:
    """The confirmation with a REQUEST invitation (SEQUENCE 0), and the reminder."""
    return _enqueue_invitation(booking, token, now, moved=False)


def enqueue_move(booking: Booking, token: str, now: datetime) -> list[int]:
    """The same UID with a higher SEQUENCE, so calendars move the event; a new reminder."""
    return _enqueue_invitation(booking, token, now, moved=True)


@dataclass(frozen=True)
class CentreCancellation:
    """Why the centre cancelled, and the next free times of the same service to offer."""

    # "closure" (with the closure's own reason, may be ""), "absence" or "staff".
    cause: str
    closure_reason: str = ""
    next_starts: tuple[datetime, ...] = ()


def book_again_url(booking: Booking) -> str:
    """The week of free times of the booking's service, in the booking's language."""
    language = booking.interpreter_language or booking.language
    kind = "interpreter" if booking.interpreter_language else "language"
    return url_for(
        "public.service_week",
        centre_slug=booking.centre.slug,
        service_slug=booking.service.slug,
        _external=True,
        **({kind: language} if language else {}),
    )


def enqueue_cancellation(
    booking: Booking, now: datetime, by_centre: CentreCancellation | None = None
) -> list[int]:
    """METHOD:CANCEL with a higher SEQUENCE, so calendars remove the event.

    When the centre cancelled (``by_centre``), the mail says why, apologises and offers
    the next free times of the same service.
    """
    _drop_pending_reminders(booking)
    if not booking.email:
        return []
    with force_locale(booking.locale):
        return [
            _enqueue(
                booking,
                "cancellation",
                f"booking:{booking.id}:seq{booking.sequence}:cancel",
                _("Your appointment at %(centre)s has been cancelled", centre=booking.centre.name),
                "cancelled",
                ics=ical.build_cancel(calendar_event(booking, now, None)),
                method="CANCEL",
                due_at=now,
                now=now,
                book_again_url=book_again_url(booking),
                by_centre=by_centre,
            )
        ]


def enqueue_manage_link(booking: Booking, token: str, now: datetime) -> list[int]:
    """The manage link again, for a family that lost it ("find my booking")."""
    if not booking.email:
        return []
    with force_locale(booking.locale):
        _drop_pending_reminders(booking)
        url = manage_url(token)
        ids = [
            _enqueue(
                booking,
                "manage_link",
                f"booking:{booking.id}:link:{uuid.uuid4().hex}",
                _("The link to your appointment at %(centre)s", centre=booking.centre.name),
                "manage_link",
                ics=None,
                method=None,
                due_at=now,
                now=now,
                manage_url=url,
            )
        ]
        # The unsent reminder carried the old link; the new one replaces it.
        if booking.status == "confirmed":
            ids += _reminder(booking, token, now)
    return ids


def send_after_commit(outbox_ids: list[int]) -> None:
    """Send the new mails now: in a thread (default), inline, or not at all ("off").

    Whatever fails here stays in the outbox and is retried by ``outbox send|work``.
    """
    mode = current_app.config.get("OUTBOX_SEND_AFTER_COMMIT", "thread")
    if not outbox_ids or mode == "off":
        return
    app = current_app._get_current_object()
    if mode == "inline":
        outbox.send_due(app, now=utcnow(), ids=outbox_ids)
        return

    def run() -> None:
        with app.app_context():
            try:
                outbox.send_due(app, now=utcnow(), ids=outbox_ids)
            except Exception as error:  # noqa: BLE001 - a thread must not die loudly; the outbox retries
                log_error(
                    app.logger, error, "sending outbox messages %s after commit failed", outbox_ids
                )

    threading.Thread(target=run, name="outbox-after-commit", daemon=True).start()
