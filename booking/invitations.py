"""The only place that writes invitations (SPEC "Invitations and joint appointments"):
invite one family or a school authority's list, withdraw, renew, and use one up inside the
booking's own transaction.

An invitation's link carries a token of 256 random bits; only its SHA-256 is stored. The
mails about an invitation (the invitation, one reminder when it is still unused after
``REMINDER_AFTER``) go through the outbox, written in the invitation's transaction; the
reminder is a row due later, sent by ``flask outbox send`` or ``outbox work`` like every
mail, and dropped when the invitation is used, withdrawn or renewed before it is due.
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace

from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text

from booking import audit, outbox
from booking.emails import compose_message, format_address
from booking.extensions import db
from booking.i18n import html_lang, url_code
from booking.mail_kinds import INVITATION, MailKind, new_outbox_row, register_kind
from booking.models import Booking, Centre, Invitation, Service, User
from booking.transactions import committed
from booking.validation import (
    MAX_MESSAGE,
    BookingDetails,
    FieldError,
    clean_email,
    clean_name,
    clean_phone,
    clean_text,
)

VALID_DAYS = 14
MAX_VALID_DAYS = 90
REMINDER_AFTER = timedelta(days=7)
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# The columns of a school authority's list, as the options of `flask invite`.
CSV_COLUMNS = ("name", "email", "phone", "language", "case_note", "expires_days")
MAX_CSV_ROWS = 500


class InvitationError(Exception):
    """A rule of SPEC "Invitations" refuses the request; ``problem`` names it for the API."""

    problem = "invitation-error"
    status = 409


class InvitationGone(InvitationError):
    """The invitation was used, has expired or was withdrawn: 410 with the centre's phone."""

    problem = "invitation-gone"
    status = 410

    def __init__(self, invitation: Invitation, status: str) -> None:
        super().__init__(status)
        self.invitation = invitation
        self.invitation_status = status


@dataclass(frozen=True)
class InvitationDetails:
    """What the centre tells about the family: nothing more than SPEC allows."""

    name: str
    email: str | None = None
    phone: str | None = None
    language: str = "de"
    case_note: str | None = None
    expires_days: int = VALID_DAYS


@dataclass
class ImportResult:
    """A list imported: the invitations made (with their links), the refused rows."""

    invited: list[tuple[Invitation, str]] = field(default_factory=list)
    # Row number (the header is row 1) -> field -> messages.
    refused: dict[int, dict[str, list[str]]] = field(default_factory=dict)


def hash_token(token: str) -> str:
    """The stored form of an invitation token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_reference() -> str:
    """A short reference for the phone and the staff list, e.g. "E-K7PQ2QXM"."""
    return "E-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))


def invitation_url(invitation: Invitation, token: str) -> str:
    """The family's link, in their language."""
    return url_for(
        "public.invitation", token=token, lang=url_code(invitation.language), _external=True
    )


def public_languages() -> tuple[str, ...]:
    return tuple(current_app.config["LANGUAGES"])


def clean_invitation_language(raw) -> str | None:
    """One of the public languages ("de-easy" as in ``?lang=`` too); empty is German."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return "de"
    if not isinstance(raw, str):
        return None
    value = raw.strip().replace("-", "@")
    return value if value in public_languages() else None


def clean_invitation(raw: dict) -> tuple[InvitationDetails | None, dict[str, list[str]]]:
    """Check what the centre typed (a form, a CSV row, the command's options)."""
    errors: dict[str, list[str]] = {}
    values: dict = {}
    checks = {
        "name": clean_name,
        "email": lambda v: clean_email(v, required=False),
        "phone": clean_phone,
        "case_note": lambda v: clean_text(v, max_length=MAX_MESSAGE, multiline=True),
    }
    for name, check in checks.items():
        try:
            values[name] = check(raw.get(name))
        except FieldError as error:
            errors[name] = [str(error)]
    language = clean_invitation_language(raw.get("language"))
    if language is None:
        errors["language"] = [
            _("Please choose one of: %(languages)s.", languages=", ".join(public_languages()))
        ]
    days_raw = raw.get("expires_days")
    days = VALID_DAYS
    if days_raw not in (None, ""):
        try:
            days = int(str(days_raw).strip())
        except ValueError:
            days = 0
        if not 1 <= days <= MAX_VALID_DAYS:
            errors["expires_days"] = [
                _("Please enter a number of days from 1 to %(max)d.", max=MAX_VALID_DAYS)
            ]
    if not errors and not values.get("email") and not values.get("phone"):
        errors["email"] = [_("Please enter an e-mail address or a phone number.")]
    if errors:
        return None, errors
    return InvitationDetails(language=language, expires_days=days, **values), {}


def booking_details(invitation: Invitation, spoken: set[str]) -> BookingDetails:
    """The booking's details from the invitation: the family's language, and an interpreter
    in it when none of the counsellors of the service speaks it."""
    language = html_lang(invitation.language)
    return BookingDetails(
        name=invitation.name,
        email=invitation.email,
        phone=invitation.phone,
        language=language,
        interpreter_language=None if language in spoken else language,
    )


def find_by_token(token: str) -> Invitation | None:
    """The invitation a link's token belongs to, whatever its status."""
    if not token or len(token) > 128:
        return None
    return db.session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))


def _add(
    centre: Centre,
    service: Service,
    details: InvitationDetails,
    actor: User | None,
    now: datetime,
    replaces: Booking | None = None,
) -> tuple[Invitation, str, list[int]]:
    """One invitation and its mails, added to the current transaction."""
    token = new_token()
    invitation = Invitation(
        reference=new_reference(),
        centre=centre,
        service=service,
        name=details.name,
        email=details.email,
        phone=details.phone,
        language=details.language,
        case_note=details.case_note,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + timedelta(days=details.expires_days),
        created_by_id=actor.id if actor is not None else None,
        replaces_booking_id=replaces.id if replaces is not None else None,
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(
        actor,
        "invite",
        replaces,
        detail=f"{invitation.reference} {service.slug}",
        centre_id=centre.id,
        now=now,
    )
    return invitation, token, _enqueue_mails(invitation, token, now)


def invite(
    centre: Centre,
    service: Service,
    details: InvitationDetails,
    *,
    actor: User | None,
    now: datetime,
    replaces: Booking | None = None,
) -> tuple[Invitation, str]:
    """Invite one family; commit; mail the link (when there is an address). Returns the
    invitation and its token (shown once: on the staff page, the letter, the command)."""
    with committed(keep_loaded=True) as outbox_ids:
        invitation, token, mail_ids = _add(centre, service, details, actor, now, replaces)
        outbox_ids += mail_ids
    return invitation, token


def read_csv(content: str) -> tuple[list[tuple[int, dict]], dict[int, dict[str, list[str]]]]:
    """The rows of a school authority's list, numbered as a spreadsheet shows them (the
    header is row 1); a missing header or unknown columns refuse the whole file (row 1)."""
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "name" not in header or any(h not in CSV_COLUMNS for h in header):
        return [], {
            1: {
                "header": [
                    _(
                        "The first row must name the columns: %(columns)s.",
                        columns=", ".join(CSV_COLUMNS),
                    )
                ]
            }
        }
    reader.fieldnames = header
    rows = []
    for number, row in enumerate(reader, start=2):
        if number > MAX_CSV_ROWS + 1:
            return [], {number: {"file": [_("At most %(max)d rows at once.", max=MAX_CSV_ROWS)]}}
        if None in row:  # more cells than columns
            rows.append((number, {"name": None, "_extra": True}))
            continue
        if not any((v or "").strip() for v in row.values()):
            continue  # an empty line
        rows.append((number, row))
    return rows, {}


def invite_list(
    centre: Centre, service: Service, content: str, *, actor: User | None, now: datetime
) -> ImportResult:
    """Invite every good row of a CSV list in one transaction; bad rows are refused by
    their number and written nowhere. A failure while writing writes nothing at all."""
    rows, refused = read_csv(content)
    result = ImportResult(refused=dict(refused))
    checked = []
    for number, row in rows:
        if row.get("_extra"):
            result.refused[number] = {"row": [_("This row has more cells than the header.")]}
            continue
        details, errors = clean_invitation(row)
        if errors:
            result.refused[number] = errors
        else:
            checked.append(details)
    if not checked:
        return result
    with committed(keep_loaded=True) as outbox_ids:
        for details in checked:
            invitation, token, mail_ids = _add(centre, service, details, actor, now)
            result.invited.append((invitation, token))
            outbox_ids += mail_ids
    return result


def withdraw(invitation: Invitation, actor: User, *, now: datetime) -> bool:
    """Withdraw an open invitation (its link answers 410); False when it is not open."""
    with committed():
        if not invitation.is_open(now):
            db.session.rollback()
            return False
        invitation.withdrawn_at = now
        outbox.drop_pending(INVITATION_REMINDER, invitation.id)
        audit.record(
            actor,
            "invite",
            detail=f"{invitation.reference} withdrawn",
            centre_id=invitation.centre_id,
            now=now,
        )
    return True


def renew(
    invitation: Invitation, actor: User, *, now: datetime, days: int = VALID_DAYS
) -> str | None:
    """A new link, valid ``days`` from now, for an invitation not yet used (open, expired or
    withdrawn); the old link stops working and the family is mailed again. Returns the new
    token, or None when it was used."""
    with committed(keep_loaded=True) as outbox_ids:
        if invitation.used_at is not None or invitation.erased_at is not None:
            db.session.rollback()
            return None
        token = new_token()
        invitation.token_hash = hash_token(token)
        invitation.expires_at = now + timedelta(days=days)
        invitation.withdrawn_at = None
        outbox.drop_pending(INVITATION_REMINDER, invitation.id)
        audit.record(
            actor,
            "invite",
            detail=f"{invitation.reference} renewed",
            centre_id=invitation.centre_id,
            now=now,
        )
        outbox_ids += _enqueue_mails(invitation, token, now, renewed=True)
    return token


def lock_open(invitation: Invitation, now: datetime) -> None:
    """Inside a booking's transaction: hold the invitation until the commit, then check it
    is still open. A concurrent booking through the same link waits here and then finds it
    used (InvitationGone). SQLite's writers are already serialised (BEGIN IMMEDIATE)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(
            text("SELECT id FROM invitation WHERE id = :id FOR UPDATE"), {"id": invitation.id}
        )
    db.session.refresh(invitation)
    status = invitation.status(now)
    if status != "open":
        raise InvitationGone(invitation, status)


def use(invitation: Invitation, booking: Booking, now: datetime) -> None:
    """Inside the booking's transaction: the invitation is used up by ``booking``."""
    invitation.used_at = now
    invitation.booking_id = booking.id
    outbox.drop_pending(INVITATION_REMINDER, invitation.id)


def status_of(invitation: Invitation, now: datetime) -> str:
    return invitation.status(now)


# Mails.


def _enqueue_mails(
    invitation: Invitation, token: str, now: datetime, *, renewed: bool = False
) -> list[int]:
    """The invitation now, and its reminder due after REMINDER_AFTER when still unused; the
    ids of those due now."""
    if not invitation.email:
        return []
    url = invitation_url(invitation, token)
    rows = [_mail_row(INVITATION_MAIL, invitation, url, now, due_at=now)]
    reminder_at = now + REMINDER_AFTER
    if reminder_at < invitation.expires_at:
        rows.append(_mail_row(INVITATION_REMINDER, invitation, url, now, due_at=reminder_at))
    outbox.store(rows)
    return [row.id for row in rows if row.due_at <= now]


def _mail_row(kind: MailKind, invitation: Invitation, url: str, now: datetime, *, due_at):
    """An outbox row about the invitation, owned by it; what it says, as of ``now``."""
    centre = invitation.centre
    snapshot = {
        "locale": invitation.language,
        "date": now.isoformat(),
        "invitation": {
            "name": invitation.name,
            "email": invitation.email,
            "reference": invitation.reference,
            "expires_at": invitation.expires_at.isoformat(),
            "locale": invitation.language,
        },
        "centre": {
            "name": centre.name,
            "address": centre.address,
            "phone": centre.phone,
            "email": centre.email,
            "timezone": centre.timezone,
        },
        "service": {"name": invitation.service.name_in(invitation.language)},
        "links": {"invitation_url": url},
    }
    return new_outbox_row(
        kind,
        invitation.id,
        # One mail per kind and link: a renewed link is mailed anew.
        event_key=f"invitation:{invitation.id}:{kind.name}:{invitation.token_hash[:16]}",
        recipient=invitation.email,
        snapshot=snapshot,
        due_at=due_at,
    )


def _compose_mail(kind: MailKind, snapshot: dict, message_id: str, sender: str) -> bytes:
    """A mail about an invitation, from its snapshot, in the family's language."""
    found = snapshot["invitation"]
    invitation = SimpleNamespace(
        **{**found, "expires_at": datetime.fromisoformat(found["expires_at"])}
    )
    centre = SimpleNamespace(**snapshot["centre"])
    date = datetime.fromisoformat(snapshot["date"])
    with force_locale(snapshot["locale"]):
        context = {
            **snapshot["links"],
            "invitation": invitation,
            "booking": invitation,  # the mail layout reads the language from "booking"
            "centre": centre,
            "service": SimpleNamespace(**snapshot["service"]),
        }
        message = compose_message(
            subject=kind.subject_line % {"centre": centre.name},
            sender=sender,
            to=format_address(invitation.name, invitation.email),
            text=render_template(f"email/{kind.template}.txt", **context),
            html=render_template(f"email/{kind.template}.html", **context),
            ics=None,
            method=None,
            message_id=message_id,
            composed_at=date,
            reply_to=centre.email,
            language=html_lang(invitation.locale),
        )
    return message.as_bytes()


INVITATION_MAIL = register_kind(
    MailKind(
        "invitation",
        INVITATION,
        "invitation",
        _l("Invitation to a consultation at %(centre)s"),
        compose=_compose_mail,
    )
)
INVITATION_REMINDER = register_kind(
    MailKind(
        "invitation_reminder",
        INVITATION,
        "invitation_reminder",
        _l("Reminder: please choose a time at %(centre)s"),
        compose=_compose_mail,
    )
)
