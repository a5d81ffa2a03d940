"""The registry of mail kinds, and of the subjects a mail belongs to.

A **subject** is what a mail is about and belongs to: a booking, a registration for an
event (an invitation next). Each has its own column on ``outbox_message`` (a foreign key),
and says when its personal data was erased; retention (retention.py) erases the mails of every
subject registered here, so no subject's mail outlives its erasure.

A **kind** is one mail an event sends (indico's ``notify_<event>``): its name (stored in
``outbox_message.kind``), its subject, its templates (``templates/email/<template>.txt`` and
``.html``), its subject line, the calendar part it carries, and the function that composes
it from the snapshot its transaction wrote. The writer that sends a kind registers it, once,
beside the function that enqueues it (notifications.py for bookings).

To add a subject: a nullable foreign key column on ``OutboxMessage`` (``ondelete="SET
NULL"``, indexed) with its migration, and one ``MailSubject`` line in SUBJECTS below.
To add a kind: one ``register_kind(MailKind(...))`` in its writer, and its two templates;
the writer puts its mails in the outbox with ``new_outbox_row(kind, subject_id, ...)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from booking.models import Booking, Invitation, OutboxMessage, Registration


@dataclass(frozen=True)
class MailSubject:
    """What a mail belongs to: the outbox column that ties it, and the subject's own table."""

    name: str
    model: type
    column: Any  # OutboxMessage.<subject>_id
    erased_at: Any  # <model>.erased_at: set once its personal data is erased


SUBJECTS: dict[str, MailSubject] = {
    subject.name: subject
    for subject in (
        MailSubject("booking", Booking, OutboxMessage.booking_id, Booking.erased_at),
        MailSubject("invitation", Invitation, OutboxMessage.invitation_id, Invitation.erased_at),
        MailSubject(
            "registration", Registration, OutboxMessage.registration_id, Registration.erased_at
        ),
    )
}
BOOKING = SUBJECTS["booking"]
INVITATION = SUBJECTS["invitation"]
REGISTRATION = SUBJECTS["registration"]

# (kind, snapshot, message_id, sender) -> the message's bytes; needs an app context.
Composer = Callable[["MailKind", dict, str, str], bytes]


@dataclass(frozen=True)
class MailKind:
    """One kind of mail: what it is about, how it looks, and how it is composed."""

    name: str  # outbox_message.kind
    subject: MailSubject
    template: str  # templates/email/<template>.txt and .html
    subject_line: Any  # a lazy_gettext string; may use %(centre)s
    compose: Composer
    calendar_method: str | None = None  # "REQUEST", "CANCEL" or no calendar part
    # The mail's links carry LINK_TOKEN in place of a manage token: the outbox mints one when
    # it sends the mail (a waiting mail holds no working link), and keeps only its hash.
    mints_link: bool = False


# Stands for the manage token in the links of a kind that mints its link (URL-safe, so it
# passes through url_for unchanged).
LINK_TOKEN = "link-token-minted-when-sent"  # noqa: S105 - a placeholder, not a secret


def with_link_token(snapshot: dict, token: str) -> dict:
    """The snapshot with ``token`` in its links in place of LINK_TOKEN."""
    links = {
        name: value.replace(LINK_TOKEN, token) if isinstance(value, str) else value
        for name, value in snapshot["links"].items()
    }
    return {**snapshot, "links": links}


MAIL_KINDS: dict[str, MailKind] = {}


def register_kind(kind: MailKind) -> MailKind:
    """Add a kind to the registry; a name is registered once."""
    if kind.name in MAIL_KINDS:
        raise ValueError(f"mail kind {kind.name!r} is registered already")
    if kind.subject.name not in SUBJECTS:
        raise ValueError(f"mail kind {kind.name!r} is about an unknown subject")
    MAIL_KINDS[kind.name] = kind
    return kind


def kind_of(name: str) -> MailKind:
    """The registered kind of that name; ValueError (the mail fails, and is retried) if none."""
    try:
        return MAIL_KINDS[name]
    except KeyError:
        raise ValueError(f"no mail kind {name!r} is registered") from None


def new_outbox_row(
    kind: MailKind, subject_id: int, *, event_key: str, recipient: str, snapshot: dict, due_at
) -> OutboxMessage:
    """A pending outbox row of a registered kind, tied to its subject (not added)."""
    return OutboxMessage(
        **{kind.subject.column.key: subject_id},
        event_key=event_key,
        kind=kind.name,
        recipient=recipient,
        message_id=f"{uuid.uuid4().hex}@ki-booking",
        snapshot=snapshot,
        raw=b"",
        state="pending",
        due_at=due_at,
    )


def compose(kind: str, snapshot: dict, *, message_id: str, sender: str) -> bytes:
    """The message of a mail of a registered kind, composed from its snapshot in its language
    (needs an app context). Raises ValueError (and the templates' errors) when it cannot be."""
    found = kind_of(kind)
    return found.compose(found, snapshot, message_id, sender)


def subject_columns() -> list:
    """The outbox columns of every subject: a mail whose every one is NULL has lost its
    subject (deleted)."""
    return [subject.column for subject in SUBJECTS.values()]
