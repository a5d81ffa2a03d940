"""E-mail messages as MIME, with the calendar part mail clients act on (SPEC "Confirmations").

Pure: no Flask, no network. Built with the standard library's ``EmailMessage``
because Flask-Mail cannot put ``method=`` on the ``text/calendar`` part (the app does not
use Flask-Mail at all: README "Mail").

With a calendar the structure is::

    multipart/mixed
        multipart/alternative
            text/plain; charset=utf-8
            text/html; charset=utf-8
            text/calendar; method=REQUEST; charset=utf-8    <- last: Outlook and Gmail
        application/ics; name="invite.ics"  (attachment)      act on this one

Without one it is just the ``multipart/alternative`` of text and HTML.
"""

from __future__ import annotations

import email.policy
import re
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate

from booking.text import has_control_characters

ICS_FILENAME = "invite.ics"

# iTIP methods (RFC 5546 §1.4); the part's method must be the calendar's METHOD.
ITIP_METHODS = frozenset(
    {"PUBLISH", "REQUEST", "REPLY", "ADD", "CANCEL", "REFRESH", "COUNTER", "DECLINECOUNTER"}
)

_MESSAGE_ID = re.compile(r"[^\s<>@()\[\]\\,;:\"]+@[^\s<>@()\\,;:\"]+")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*")
_ICS_METHOD = re.compile(rb"^METHOD:([^\r\n]*)\r?$", re.MULTILINE)


# What could end the display name or start another address once a parser on the way has
# unfolded the quotes (CPython's does) or decoded an encoded word: dropped from names.
_ADDRESS_SYNTAX = re.compile(r'[<>,;:"@\\()\[\]]|=\?|\?=')


def display_name(name: str) -> str:
    """A person's name made safe as a display name: no address syntax and no encoded-word
    markers, so ``Eve <attacker@evil.example>, Stadt Herne`` stays one address."""
    return " ".join(_ADDRESS_SYNTAX.sub(" ", name).split())


def format_address(name: str, email: str) -> str:
    """Return ``email`` with display name ``name`` as one address for a To/From header."""
    _check_header_text(name, "name")
    _check_header_text(email, "email")
    try:
        # The policy encodes non-ASCII (RFC 2047) when the message is serialised.
        return str(Address(display_name=display_name(name), addr_spec=email.strip()))
    except (ValueError, IndexError, HeaderParseError) as error:
        raise ValueError("email is not a usable e-mail address") from error


def compose_message(
    *,
    subject: str,
    sender: str,
    to: str,
    text: str,
    html: str,
    ics: bytes | None,
    method: str | None,
    message_id: str,
    composed_at: datetime,
    reply_to: str | None = None,
    language: str | None = None,
) -> EmailMessage:
    """Return the complete message: text, HTML and, given ``ics``, the calendar part;
    ``composed_at`` is its Date."""
    _check_header_text(subject, "subject")
    if (ics is None) != (method is None):
        raise ValueError("ics and method go together: give both or neither")

    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = _address_header(sender, "sender")
    msg["To"] = _address_header(to, "to")
    if reply_to is not None:
        msg["Reply-To"] = _address_header(reply_to, "reply_to")
    msg["Subject"] = subject
    msg["Date"] = formatdate(composed_at.timestamp(), localtime=False)
    msg["Message-ID"] = _message_id(message_id)
    if language is not None and not _LANGUAGE_TAG.fullmatch(language):
        raise ValueError(f"not a language tag: {language!r}")
    # RFC 3834: out-of-office robots must not answer a confirmation.
    msg["Auto-Submitted"] = "auto-generated"

    # Quoted-printable keeps the bodies 7-bit clean for any relay and readable in a .eml.
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    if ics is not None and method is not None:
        method = _check_method(ics, method)
        # base64 carries the iCalendar bytes unchanged: CRLF line ends and folding intact.
        msg.add_alternative(
            ics,
            maintype="text",
            subtype="calendar",
            cte="base64",
            params={"method": method, "charset": "utf-8"},
        )
        # application/ics, not text/calendar: a client that handled the inline part
        # must not take the attachment for a second invitation.
        msg.add_attachment(
            ics,
            maintype="application",
            subtype="ics",
            filename=ICS_FILENAME,
            params={"name": ICS_FILENAME},
        )
    # EmailMessage stamps MIME-Version on every part it creates; RFC 2045 wants it once.
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]
    if language is not None:
        # Set last: making the message multipart moves every Content-* header into a part.
        msg["Content-Language"] = language
    return msg


def _address_header(value: str, field: str) -> str:
    _check_header_text(value, field)
    if "@" not in value:
        raise ValueError(f"{field} holds no e-mail address")
    return value


def _message_id(value: str) -> str:
    _check_header_text(value, "message_id")
    core = value.strip()
    if core.startswith("<") and core.endswith(">"):
        core = core[1:-1]
    if not _MESSAGE_ID.fullmatch(core) or not core.isascii():
        raise ValueError(f"not a Message-ID: {value!r}")
    return f"<{core}>"


def _check_method(ics: bytes, method: str) -> str:
    method = method.upper()
    if method not in ITIP_METHODS:
        raise ValueError(f"not an iTIP method: {method!r}")
    found = _ICS_METHOD.search(ics)
    # Outlook ignores or mishandles an invitation whose part and body disagree.
    if found is None or found.group(1).decode("ascii", "replace").strip().upper() != method:
        raise ValueError(f"the calendar's METHOD does not match {method!r}")
    return method


def _check_header_text(value: str, field: str) -> None:
    # CR and LF would start a new header; other control characters and Unicode line
    # separators are split on by some parsers. Refuse them rather than strip them. The
    # message names the field only: the value is a person's data and ends up in logs.
    if has_control_characters(value):
        raise ValueError(f"{field} contains a control character")
