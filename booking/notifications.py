"""Mails about a booking: what its transaction records, and the message composed from that.

The kinds of mail about a booking are registered here (mail_kinds.py), one entry each.

The ``enqueue_*`` functions run inside the booking's transaction. They write an outbox row
with a snapshot (plain JSON: the booking's fields as they are at that moment, the links with
the raw manage token, the reason of a cancellation) and no message, so a booking request
renders no template; a reminder's link is minted when it is sent (mail_kinds.LINK_TOKEN).
``_compose_booking_mail`` turns a snapshot into the message, in the
booking's language, when the outbox sends it (through the registry); the Date is the time of
the event, not of sending.
Subjects and the calendar SUMMARY name the centre only, never the person or the topic of
the consultation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace

from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import escape

from booking import ical, outbox
from booking.emails import compose_message, format_address
from booking.i18n import html_lang
from booking.mail_kinds import BOOKING, LINK_TOKEN, MailKind, new_outbox_row, register_kind
from booking.models import Booking, OutboxMessage

# A reminder goes out this long before the appointment, and only if that is still ahead.
REMINDER_BEFORE = timedelta(hours=24)
REMINDER_MIN_LEAD = timedelta(hours=2)


def calendar_uid(booking) -> str:
    """The UID every invitation of this booking carries."""
    return f"{booking.reference}@ki-booking"


def booking_event(
    booking,
    now: datetime,
    *,
    summary: str,
    description: str = "",
    url: str | None = None,
    with_attendee: bool = True,
) -> ical.CalendarEvent:
    """The booking's times, place and organiser as a calendar event; what it says is given.

    ``booking`` is a Booking, or a mail's snapshot of one (``compose``)."""
    centre = booking.centre
    return ical.CalendarEvent(
        uid=calendar_uid(booking),
        sequence=booking.sequence,
        start_at=booking.start_at,
        end_at=booking.end_at,
        timezone=centre.timezone,
        summary=summary,
        # Where to go: the service's own place, or the centre's visiting address.
        location=getattr(booking.service, "place", None) or centre.address,
        organizer_name=centre.name,
        organizer_email=centre.email,
        attendee_name=booking.name if with_attendee else None,
        attendee_email=booking.email if with_attendee else None,
        description=description,
        url=url,
        dtstamp=now,
    )


def calendar_event(booking, now: datetime, manage_url: str | None) -> ical.CalendarEvent:
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


def _snapshot(booking: Booking, now: datetime, **links) -> dict:
    """What the mail will say, as plain JSON: nothing in it is read again at sending."""
    centre, service, locale = booking.centre, booking.service, booking.locale
    bring, bring_lang = service.what_to_bring_with_language(locale)
    return {
        "locale": locale,
        "date": now.isoformat(),
        "booking": {
            "name": booking.name,
            "email": booking.email,
            "reference": booking.reference,
            "sequence": booking.sequence,
            "start_at": booking.start_at.isoformat(),
            "end_at": booking.end_at.isoformat(),
            "language": booking.language,
            "interpreter_language": booking.interpreter_language,
            "locale": locale,
        },
        "centre": {
            "name": centre.name,
            "address": centre.address,
            "phone": centre.phone,
            "email": centre.email,
            "timezone": centre.timezone,
        },
        "service": {
            "name": service.name_in(locale),
            "what_to_bring": bring,
            "what_to_bring_lang": bring_lang,
            "format": service.format,
            "place": service.place,
        },
        "links": links,
    }


def _row(
    booking: Booking,
    kind: MailKind,
    event_key: str,
    snapshot: dict,
    *,
    due_at: datetime,
) -> OutboxMessage:
    return new_outbox_row(
        kind,
        booking.id,
        event_key=event_key,
        recipient=booking.email,
        snapshot=snapshot,
        due_at=due_at,
    )


def _reminder(booking: Booking, now: datetime) -> list[OutboxMessage]:
    """The reminder, composed when it is due; none when that would be too late. Its link is
    minted when it is sent (mail_kinds.LINK_TOKEN): a waiting reminder holds no working link."""
    due_at = booking.start_at - REMINDER_BEFORE
    if due_at < now + REMINDER_MIN_LEAD:
        return []
    snapshot = _snapshot(
        booking,
        now,
        manage_url=manage_url(LINK_TOKEN),
        cancel_url=url_for("public.cancel", token=LINK_TOKEN, _external=True),
    )
    key = f"booking:{booking.id}:seq{booking.sequence}:reminder"
    return [_row(booking, REMINDER, key, snapshot, due_at=due_at)]


def _enqueue_invitation(
    booking: Booking, token: str | None, now: datetime, *, moved: bool, handed_over: bool = False
) -> list[int]:
    """A REQUEST invitation with the booking's current SEQUENCE, and a fresh reminder.
    Without ``token`` (a confirmed hold: nobody has the manage token in clear) the mail
    mints its manage link when it is sent."""
    if not booking.email:
        return []
    if moved:  # a new booking has no reminder to replace
        outbox.drop_pending(REMINDER, booking.id)
    kind = CHANGE if moved else CONFIRMATION
    if token is None:
        kind, token = HELD_CONFIRMATION, LINK_TOKEN
    snapshot = _snapshot(booking, now, manage_url=manage_url(token))
    if handed_over:
        # Same time, another counsellor: the mail says so, not "moved to another time".
        snapshot["handed_over"] = True
    key = f"booking:{booking.id}:seq{booking.sequence}:request"
    row = _row(booking, kind, key, snapshot, due_at=now)
    return outbox.store([row, *_reminder(booking, now)])


def enqueue_confirmation(booking: Booking, token: str | None, now: datetime) -> list[int]:
    """The confirmation with a REQUEST invitation (SEQUENCE 0), and the reminder; without
    ``token`` its manage link is minted when it is sent (a held booking just confirmed)."""
    return _enqueue_invitation(booking, token, now, moved=False)


def enqueue_hold_request(booking: Booking, now: datetime) -> list[int]:
    """ "Please confirm by HH:MM" for a held booking: the confirmation link is minted when
    the mail is sent (only its hash is kept); no invitation yet."""
    if not booking.email:
        return []
    snapshot = _snapshot(
        booking,
        now,
        confirm_url=url_for("public.confirm_hold", token=LINK_TOKEN, _external=True),
    )
    snapshot["hold_expires_at"] = booking.hold_expires_at.isoformat()
    key = f"booking:{booking.id}:hold"
    return outbox.store([_row(booking, HOLD_REQUEST, key, snapshot, due_at=now)])


def drop_hold_request(booking_id: int) -> None:
    """A "please confirm" mail not yet sent is pointless once the hold ended."""
    outbox.drop_pending(HOLD_REQUEST, booking_id)


def enqueue_move(
    booking: Booking, token: str, now: datetime, *, handed_over: bool = False
) -> list[int]:
    """The same UID with a higher SEQUENCE, so calendars move the event; a new reminder.
    ``handed_over``: the same time with another counsellor."""
    return _enqueue_invitation(booking, token, now, moved=True, handed_over=handed_over)


@dataclass(frozen=True)
class CentreCancellation:
    """Why the centre cancelled, and the next free times of the same service to offer."""

    # "closure" (with the closure's own reason, may be ""), "absence" or "staff".
    cause: str
    closure_reason: str = ""
    # The language the reason is in: the family's, or "de" when none was given in theirs.
    closure_reason_lang: str = ""
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
    booking: Booking,
    now: datetime,
    by_centre: CentreCancellation | None = None,
    *,
    at_request: bool = False,
) -> list[int]:
    """METHOD:CANCEL with a higher SEQUENCE, so calendars remove the event.

    When the centre cancelled (``by_centre``), the mail says why, apologises and offers
    the next free times of the same service.
    """
    outbox.drop_pending(REMINDER, booking.id)
    if not booking.email:
        return []
    snapshot = _snapshot(booking, now, book_again_url=book_again_url(booking))
    if at_request:
        # Staff cancelled because the family asked (by phone, at the desk): no apology.
        snapshot["at_request"] = True
    if by_centre is not None:
        snapshot["by_centre"] = {
            "cause": by_centre.cause,
            "closure_reason": by_centre.closure_reason,
            "closure_reason_lang": by_centre.closure_reason_lang,
            "next_starts": [start.isoformat() for start in by_centre.next_starts],
        }
    key = f"booking:{booking.id}:seq{booking.sequence}:cancel"
    return outbox.store([_row(booking, CANCELLATION, key, snapshot, due_at=now)])


def enqueue_manage_link(booking: Booking, token: str, now: datetime) -> list[int]:
    """The manage link again, for a family that lost it ("find my booking"). A waiting
    reminder stays: it mints its own link when it is sent."""
    if not booking.email:
        return []
    snapshot = _snapshot(booking, now, manage_url=manage_url(token))
    key = f"booking:{booking.id}:link:{uuid.uuid4().hex}"
    return outbox.store([_row(booking, MANAGE_LINK, key, snapshot, due_at=now)])


def enqueue_account_notice(
    recipient: str, subject: str, text: str, event_key: str, now: datetime
) -> list[int]:
    """A plain mail to a staff account's owner (auth.py writes the words), composed now:
    it names no family and holds no link with a secret."""
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in text.split("\n\n"))
    message_id = f"{uuid.uuid4().hex}@ki-booking"
    raw = compose_message(
        subject=subject,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        to=recipient,
        text=text,
        html=f'<!DOCTYPE html><html lang="de"><body>{paragraphs}</body></html>',
        ics=None,
        method=None,
        message_id=message_id,
        composed_at=now,
        language="de",
    ).as_bytes()
    row = OutboxMessage(
        event_key=event_key[:120],
        booking_id=None,
        kind="account_notice",
        recipient=recipient,
        message_id=message_id,
        snapshot=None,
        raw=raw,
        state="pending",
        due_at=now,
    )
    return outbox.store([row])


# Composing, when the outbox sends: from the snapshot alone, no query.


def _booking_of(snapshot: dict) -> SimpleNamespace:
    """The snapshot read like a booking (attributes, datetimes), for templates and events."""
    return SimpleNamespace(
        **{
            **snapshot["booking"],
            "start_at": datetime.fromisoformat(snapshot["booking"]["start_at"]),
            "end_at": datetime.fromisoformat(snapshot["booking"]["end_at"]),
        },
        centre=SimpleNamespace(**snapshot["centre"]),
        service=SimpleNamespace(**snapshot["service"]),
    )


def _by_centre_of(snapshot: dict) -> CentreCancellation | None:
    found = snapshot.get("by_centre")
    if found is None:
        return None
    return CentreCancellation(
        cause=found["cause"],
        closure_reason=found["closure_reason"],
        # Mails put in the outbox before the reason had a language of its own: German.
        closure_reason_lang=found.get("closure_reason_lang") or "de",
        next_starts=tuple(datetime.fromisoformat(s) for s in found["next_starts"]),
    )


# A hand-over is a change of kind, said in its own subject line: the time stays.
HANDED_OVER_SUBJECT = _l("Your appointment at %(centre)s: another counsellor")


def _subject_line(kind: MailKind, snapshot: dict):
    if kind.name == "change" and snapshot.get("handed_over"):
        return HANDED_OVER_SUBJECT
    return kind.subject_line


def _compose_booking_mail(kind: MailKind, snapshot: dict, message_id: str, sender: str) -> bytes:
    """A mail about a booking, from its snapshot: templates, subject line and calendar part
    are the kind's."""
    booking = _booking_of(snapshot)
    links = snapshot["links"]
    date = datetime.fromisoformat(snapshot["date"])
    method = kind.calendar_method
    with force_locale(snapshot["locale"]):
        ics = None
        if method == "REQUEST":
            ics = ical.build_request(calendar_event(booking, date, links["manage_url"]))
        elif method == "CANCEL":
            ics = ical.build_cancel(calendar_event(booking, date, None))
        context = {
            **links,
            "booking": booking,
            "centre": booking.centre,
            "service": booking.service,
            "by_centre": _by_centre_of(snapshot),
            "handed_over": snapshot.get("handed_over", False),
            "at_request": snapshot.get("at_request", False),
            "hold_expires_at": datetime.fromisoformat(snapshot["hold_expires_at"])
            if snapshot.get("hold_expires_at")
            else None,
        }
        message = compose_message(
            subject=_subject_line(kind, snapshot) % {"centre": booking.centre.name},
            sender=sender,
            to=format_address(booking.name, booking.email),
            text=render_template(f"email/{kind.template}.txt", **context),
            html=render_template(f"email/{kind.template}.html", **context),
            ics=ics,
            method=method,
            message_id=message_id,
            composed_at=date,
            reply_to=booking.centre.email,
            language=html_lang(booking.locale),
        )
    return message.as_bytes()


# The kinds of mail about a booking: one entry each.


def _booking_kind(
    name: str, template: str, subject_line, calendar_method=None, *, mints_link: bool = False
) -> MailKind:
    return register_kind(
        MailKind(
            name,
            BOOKING,
            template,
            subject_line,
            compose=_compose_booking_mail,
            calendar_method=calendar_method,
            mints_link=mints_link,
        )
    )


CONFIRMATION = _booking_kind(
    "confirmation", "confirmation", _l("Your appointment at %(centre)s"), "REQUEST"
)
CHANGE = _booking_kind(
    "change", "moved", _l("Your appointment at %(centre)s has been changed"), "REQUEST"
)
CANCELLATION = _booking_kind(
    "cancellation", "cancelled", _l("Your appointment at %(centre)s has been cancelled"), "CANCEL"
)
REMINDER = _booking_kind(
    "reminder", "reminder", _l("Reminder: your appointment at %(centre)s"), mints_link=True
)
MANAGE_LINK = _booking_kind(
    "manage_link", "manage_link", _l("The link to your appointment at %(centre)s")
)
# A held booking (a centre setting): first "please confirm", with a link minted when sent;
# once confirmed, the confirmation as above, its manage link minted when sent too.
HOLD_REQUEST = _booking_kind(
    "hold_request",
    "hold_request",
    _l("Please confirm your appointment at %(centre)s"),
    mints_link=True,
)
HELD_CONFIRMATION = _booking_kind(
    "held_confirmation",
    "confirmation",
    _l("Your appointment at %(centre)s"),
    "REQUEST",
    mints_link=True,
)
