"""booking.emails: MIME structure, calendar parts and header safety, read back by the stdlib."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from icalendar import Calendar

from booking.emails import compose_message, format_address
from booking.ical import CalendarEvent, build_cancel, build_request

COMPOSED_AT = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)

NASTY_NAME = 'Ayşe "Ada" Öztürk, <test> & Co; x:y'


def make_ics(method: str = "REQUEST") -> bytes:
    event = CalendarEvent(
        uid="K7M2QX@ki-booking",
        sequence=0 if method == "REQUEST" else 1,
        start_at=datetime(2026, 5, 12, 8, 0, tzinfo=UTC),
        end_at=datetime(2026, 5, 12, 8, 45, tzinfo=UTC),
        timezone="Europe/Berlin",
        summary="Termin im Integrationszentrum Nord",
        location="Hauptstraße 1, 12345 Musterstadt",
        organizer_name="Integrationszentrum Nord",
        organizer_email="nord@ki.example.org",
        attendee_name=NASTY_NAME,
        attendee_email="ayse@example.org",
        description="Buchungsnummer K7M2QX " + "ü" * 120,
        dtstamp=datetime(2026, 5, 1, 9, 30, tzinfo=UTC),
    )
    return build_request(event) if method == "REQUEST" else build_cancel(event)


def make_message(**over) -> EmailMessage:
    """A confirmation with a REQUEST calendar; keyword arguments replace arguments."""
    values = {
        "subject": "Ihr Termin im Integrationszentrum Nord",
        "sender": format_address("Integrationszentrum Nord", "nord@ki.example.org"),
        "to": format_address("Ayşe Öztürk", "ayse@example.org"),
        "text": "Guten Tag,\nIhr Termin ist bestätigt.\n",
        "html": "<p>Guten Tag,</p><p>Ihr Termin ist bestätigt.</p>",
        "ics": make_ics(),
        "method": "REQUEST",
        "message_id": "<k7m2qx.0@ki.example.org>",
        "composed_at": COMPOSED_AT,
    }
    values.update(over)
    return compose_message(**values)


def round_trip(msg: EmailMessage) -> EmailMessage:
    """Serialise for SMTP and parse the bytes back, as a receiving client would."""
    return email.message_from_bytes(
        msg.as_bytes(policy=email.policy.SMTP), policy=email.policy.default
    )


def structure(msg: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in msg.walk()]


# --- structure -------------------------------------------------------------------------


def test_with_calendar_structure_is_mixed_of_alternative_and_attachment():
    parsed = round_trip(make_message())
    assert structure(parsed) == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
        "application/ics",
    ]
    alternative, attachment = parsed.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    assert attachment.get_content_type() == "application/ics"


def test_calendar_part_is_last_alternative_with_method_and_charset():
    parsed = round_trip(make_message())
    alternative = parsed.get_payload()[0]
    calendar_part = alternative.get_payload()[-1]
    assert calendar_part.get_content_type() == "text/calendar"
    assert calendar_part.get_param("method") == "REQUEST"
    assert calendar_part.get_param("charset") == "utf-8"
    assert calendar_part.get_content_disposition() is None


def test_calendar_part_and_attachment_carry_the_exact_ics_bytes():
    ics = make_ics()
    parsed = round_trip(make_message(ics=ics))
    calendar_part = parsed.get_payload()[0].get_payload()[-1]
    attachment = parsed.get_payload()[1]
    assert calendar_part.get_payload(decode=True) == ics
    assert attachment.get_payload(decode=True) == ics
    assert attachment.get_content() == ics
    assert str(Calendar.from_ical(calendar_part.get_payload(decode=True))["METHOD"]) == "REQUEST"


def test_attachment_is_invite_ics():
    attachment = round_trip(make_message()).get_payload()[1]
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_param("name") == "invite.ics"


def test_cancel_calendar_part_has_method_cancel():
    ics = make_ics("CANCEL")
    parsed = round_trip(make_message(ics=ics, method="CANCEL"))
    calendar_part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "CANCEL"
    assert calendar_part.get_payload(decode=True) == ics


def test_without_calendar_structure_is_text_and_html_only():
    parsed = round_trip(make_message(ics=None, method=None))
    assert structure(parsed) == ["multipart/alternative", "text/plain", "text/html"]


def test_text_and_html_bodies_are_utf8_and_read_back():
    parsed = round_trip(make_message())
    plain = next(p for p in parsed.walk() if p.get_content_type() == "text/plain")
    html = next(p for p in parsed.walk() if p.get_content_type() == "text/html")
    assert plain.get_param("charset") == "utf-8"
    assert html.get_param("charset") == "utf-8"
    # On the wire text lines end in CRLF (RFC 2046 canonical form).
    assert plain.get_content().replace("\r\n", "\n") == "Guten Tag,\nIhr Termin ist bestätigt.\n"
    assert html.get_content().rstrip("\r\n") == "<p>Guten Tag,</p><p>Ihr Termin ist bestätigt.</p>"


def test_serialised_message_is_7bit_with_crlf_lines_within_limits():
    data = make_message().as_bytes(policy=email.policy.SMTP)
    assert data.isascii()
    lines = data.split(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in lines) <= 998


def test_mime_version_appears_once():
    data = make_message().as_bytes(policy=email.policy.SMTP)
    assert data.count(b"MIME-Version:") == 1


# --- headers ---------------------------------------------------------------------------


def test_headers_are_set():
    parsed = round_trip(make_message(reply_to="beratung@ki.example.org", language="de"))
    assert parsed["Subject"] == "Ihr Termin im Integrationszentrum Nord"
    assert parsed["From"].addresses[0].addr_spec == "nord@ki.example.org"
    assert parsed["To"].addresses[0].addr_spec == "ayse@example.org"
    assert parsed["Reply-To"].addresses[0].addr_spec == "beratung@ki.example.org"
    assert parsed["Content-Language"] == "de"
    assert all("Content-Language" not in part for part in parsed.walk() if part is not parsed)
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Date"] == "Mon, 02 Mar 2026 08:15:00 -0000"  # the time given, in UTC


def test_optional_headers_are_absent_when_not_given():
    parsed = round_trip(make_message())
    assert "Reply-To" not in parsed
    assert "Content-Language" not in parsed


@pytest.mark.parametrize("given", ["k7m2qx.0@ki.example.org", "<k7m2qx.0@ki.example.org>"])
def test_message_id_is_bracketed_once(given):
    parsed = round_trip(make_message(message_id=given))
    assert parsed["Message-ID"] == "<k7m2qx.0@ki.example.org>"


@pytest.mark.parametrize("bad", ["", "no-at-sign", "a b@c", "<a@b", "a@b>x", "ä@b"])
def test_malformed_message_id_is_refused(bad):
    with pytest.raises(ValueError, match="Message-ID"):
        make_message(message_id=bad)


def test_non_ascii_names_and_subject_are_encoded_and_read_back():
    msg = make_message(
        subject="Terminbestätigung – Zentrum Süd",
        to=format_address(NASTY_NAME, "ayse@example.org"),
    )
    data = msg.as_bytes(policy=email.policy.SMTP)
    assert data.isascii()
    assert b"=?utf-8?" in data
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert parsed["Subject"] == "Terminbestätigung – Zentrum Süd"
    (address,) = parsed["To"].addresses
    assert address.display_name == "Ayşe Ada Öztürk test & Co x y"
    assert address.addr_spec == "ayse@example.org"


def test_long_subject_is_folded_and_read_back():
    subject = "Ihr Termin im Integrationszentrum Nord – Bestätigung " * 4
    data = make_message(subject=subject).as_bytes(policy=email.policy.SMTP)
    assert max(len(line) for line in data.split(b"\r\n")) <= 78
    assert email.message_from_bytes(data, policy=email.policy.default)["Subject"] == subject


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Ayşe Öztürk", "Ayşe Öztürk <a@example.org>"),
        ('Müller, "Bob"', "Müller Bob <a@example.org>"),
        ("x <evil@example.org>", '"x evil example.org" <a@example.org>'),
        ("back\\slash", "back slash <a@example.org>"),
        ("Plain", "Plain <a@example.org>"),
        ("", "a@example.org"),
    ],
)
def test_format_address_keeps_names_without_address_syntax(name, shown):
    formatted = format_address(name, "a@example.org")
    assert formatted == shown
    msg = make_message(to=formatted)
    (address,) = round_trip(msg)["To"].addresses
    assert address.addr_spec == "a@example.org"


@pytest.mark.parametrize(
    "name",
    [
        "Eve <attacker@evil.example>, Stadt Herne",
        "Eve <attacker@evil.example>, Stadt Herne Öffentliche Beratung " + "ü" * 40,
        '"Eve" <attacker@evil.example>; Herne',
        "=?utf-8?q?attacker=40evil.example=3E=2C?= Herne",
        "Eve (attacker@evil.example) Herne",
    ],
)
def test_a_name_cannot_add_a_second_recipient(name):
    """CPython unfolds the quotes of a long display name and decodes encoded words: a name
    holding address syntax must not become a second address on the way (issue 22, item 6)."""
    data = make_message(to=format_address(name, "ayse@example.org")).as_bytes(
        policy=email.policy.SMTP
    )
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ayse@example.org"]
    # Read again as a relay would, from the serialised header as it stands.
    assert b"evil.example>" not in data and b"attacker@" not in data
    again = email.message_from_bytes(parsed.as_bytes(), policy=email.policy.default)
    assert [a.addr_spec for a in again["To"].addresses] == ["ayse@example.org"]


@pytest.mark.parametrize("bad_email", ["not-an-address", "a@", "a b@example.org", "a@b@c", ""])
def test_format_address_refuses_malformed_email(bad_email):
    with pytest.raises(ValueError):
        format_address("Name", bad_email)


# --- header injection --------------------------------------------------------------------


@pytest.mark.parametrize("field", ["subject", "sender", "to", "reply_to"])
@pytest.mark.parametrize("bad", ["\r\nBcc: evil@example.org", "\n", "\r", "\x00", "\x0b", "\u2028"])
def test_control_characters_in_headers_are_refused(field, bad):
    good = {
        "subject": "Termin",
        "sender": "nord@ki.example.org",
        "to": "ayse@example.org",
        "reply_to": "beratung@ki.example.org",
    }[field]
    with pytest.raises(ValueError, match=field):
        make_message(**{field: good + bad})


@pytest.mark.parametrize("bad", ["Ayşe\r\nBcc: evil@example.org", "Ayşe\n", "A\x00"])
def test_format_address_refuses_control_characters_in_name(bad):
    with pytest.raises(ValueError, match="name"):
        format_address(bad, "ayse@example.org")


def test_format_address_refuses_control_characters_in_email():
    with pytest.raises(ValueError, match="email"):
        format_address("Ayşe", "ayse@example.org\r\nBcc: evil@example.org")


@pytest.mark.parametrize("bad", ["de\r\nX: y", "de_DE", "", "x" * 9])
def test_malformed_language_is_refused(bad):
    with pytest.raises(ValueError, match="language"):
        make_message(language=bad)


@pytest.mark.parametrize("field", ["sender", "to", "reply_to"])
def test_address_headers_need_an_address(field):
    with pytest.raises(ValueError, match=field):
        make_message(**{field: "nobody"})


# --- calendar arguments --------------------------------------------------------------------


def test_ics_without_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        make_message(method=None)


def test_method_without_ics_is_refused():
    with pytest.raises(ValueError, match="method"):
        make_message(ics=None)


def test_method_must_match_the_calendar():
    with pytest.raises(ValueError, match="METHOD"):
        make_message(ics=make_ics("REQUEST"), method="CANCEL")


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="iTIP"):
        make_message(method="REQUEST; x=y")


def test_lowercase_method_is_normalised():
    parsed = round_trip(make_message(method="request"))
    calendar_part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    assert calendar_part.get_param("method") == "REQUEST"
