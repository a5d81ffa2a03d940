"""Input checks of SPEC "Bookings", shared by the JSON API, the public and staff forms and
the admin pages (``clean_text``, ``check_year``).

Each check takes the raw value and returns the clean one or raises FieldError with a
message for the person (a messages.Message: translated when it is read, no Flask here).
``clean_details`` runs them all and collects every error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from email_validator import EmailNotValidError, validate_email

from booking.messages import Message as _  # the name pybabel extracts
from booking.messages import ngettext
from booking.phones import ascii_digits
from booking.text import (
    has_bidi_controls,
    has_control_characters,
    has_unreadable_characters,
    is_invisible,
)

MAX_NAME = 200
MAX_MESSAGE = 1000
MAX_EMAIL = 254
MAX_PHONE = 60
ASCII_DIGITS = re.compile(r"^[0-9]{1,3}$")
# Dates and times outside these years are refused as input: the calendar arithmetic of
# years 1 and 9999 overflows, and no appointment or closure is ever that far away.
FIRST_YEAR, LAST_YEAR = 2000, 2100
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
PHONE = re.compile(r"^\+?[0-9 ()/.\-]{3,40}$")
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class FieldError(ValueError):
    """A value a person typed is not acceptable; the message says why."""


@dataclass(frozen=True)
class BookingDetails:
    """What a booker tells us about themselves: nothing more than SPEC allows."""

    name: str
    email: str | None
    phone: str | None = None
    language: str | None = None
    interpreter_language: str | None = None
    persons: int = 1
    message: str | None = None


def clean_text(
    raw,
    *,
    max_length: int,
    required: bool = False,
    multiline: bool = False,
    missing: str | _ | None = None,
) -> str | None:
    """The one check of free text for the API, the public forms, staff and admin pages.

    Trims the text; empty gives None (or ``missing`` as the error when ``required``).
    Refuses what is not a string, characters that could not be read (lone surrogates,
    U+FFFD), control characters (line breaks too, unless ``multiline``; in a single line
    also bidirectional embeddings, overrides and isolates, U+202A-202E and U+2066-2069),
    text of invisible characters only (U+200B, U+202E, ...) and text longer than ``max_length``.
    """
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise FieldError(_("Please enter text."))
    value = raw.replace("\r\n", "\n").replace("\r", "\n") if multiline else raw
    value = value.strip()
    if not value:
        if required:
            raise FieldError(missing or _("This field is required."))
        return None
    if has_unreadable_characters(value):
        raise FieldError(
            _("The text holds characters that could not be read. Please type it again.")
        )
    if has_control_characters(value, allow_line_breaks=multiline) or (
        not multiline and has_bidi_controls(value)
    ):
        if multiline:
            raise FieldError(_("The text must not contain control characters."))
        raise FieldError(_("Please use a single line without line breaks or control characters."))
    if is_invisible(value):
        raise FieldError(_("Please enter visible text, not only spaces or invisible characters."))
    if len(value) > max_length:
        raise FieldError(
            ngettext(
                "Please use at most %(num)d character.",
                "Please use at most %(num)d characters.",
                max_length,
            )
        )
    return value


def clean_name(raw) -> str:
    return clean_text(raw, max_length=MAX_NAME, required=True, missing=_("Please enter your name."))


def clean_email(raw, required: bool = True) -> str | None:
    """An e-mail address in ASCII: internationalised addresses (``Ä@example.org``) are
    refused, since not every mail server on the way accepts them (SMTPUTF8)."""
    value = clean_text(
        raw,
        max_length=MAX_EMAIL,
        required=required,
        missing=_("Please enter your e-mail address."),
    )
    if value is None:
        return None
    if not value.partition("@")[0].isascii():
        raise FieldError(
            _(
                "Please use an e-mail address with Latin letters, digits, dots or hyphens "
                "before the @ (no umlauts or accents)."
            )
        )
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise FieldError(_("This is not a valid e-mail address.")) from error
    # An internationalised domain (bücher.example) is kept in its ASCII form.
    return checked.ascii_email or checked.normalized


def clean_phone(raw, required: bool = False) -> str | None:
    value = clean_text(
        raw, max_length=MAX_PHONE, required=required, missing=_("Please enter a phone number.")
    )
    if value is None:
        return None
    # A phone keyboard in Arabic or Persian types ٠١٧٦ or ۰۹۱۲: kept as 0176, 0912.
    value = ascii_digits(value)
    if not PHONE.match(value) or sum(c.isdigit() for c in value) < 3:
        raise FieldError(_("Please enter a phone number with digits only, e.g. 02325 123456."))
    return value


def clean_language(raw) -> str | None:
    """A BCP 47 / ISO 639-1 tag, kept as its lower-case primary subtag ("tr-TR" -> "tr")."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str) or not LANGUAGE_TAG.match(raw.strip()):
        raise FieldError(_('Please use a language code such as "tr", "ar" or "uk".'))
    return raw.strip().split("-")[0].lower()


def clean_persons(raw, from_form: bool = False) -> int:
    """1 to 10: a JSON integer in the API (not a string); digits in a form, Eastern Arabic
    and Persian ones ("٣", "۳") read as 3 ("５" is refused)."""
    message = _("Please enter a number from 1 to 10.")
    if raw is None or (from_form and isinstance(raw, str) and not raw.strip()):
        return 1
    if from_form and isinstance(raw, str) and ASCII_DIGITS.match(ascii_digits(raw.strip())):
        value = int(ascii_digits(raw.strip()))
    elif not from_form and isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif not from_form and isinstance(raw, float) and raw.is_integer():
        # JSON Schema counts 7.0 as an integer; 7.5 and "7" are not.
        value = int(raw)
    else:
        raise FieldError(message)
    if not 1 <= value <= 10:
        raise FieldError(message)
    return value


def _persons_of(data, from_form: bool) -> int:
    """``persons`` of a form or a JSON body: absent means one person; in JSON an explicit
    null is not a number (the API's document says an integer)."""
    if not from_form and "persons" in data and data["persons"] is None:
        raise FieldError(_("Please enter a number from 1 to 10."))
    return clean_persons(data.get("persons"), from_form=from_form)


def clean_message(raw) -> str | None:
    return clean_text(raw, max_length=MAX_MESSAGE, multiline=True)


def clean_consent(raw) -> bool:
    if raw is True or (isinstance(raw, str) and raw.lower() in {"y", "yes", "on", "true", "1"}):
        return True
    raise FieldError(_("Please confirm that you have read the privacy notice."))


def clean_start(raw) -> datetime:
    """An ISO 8601 date-time with an offset (naive times are ambiguous and refused)."""
    if not isinstance(raw, str) or not raw.strip():
        raise FieldError(_("Please choose a time."))
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError as error:
        raise FieldError(_("Use an ISO 8601 date and time with offset.")) from error
    if value.tzinfo is None:
        raise FieldError(_("Use an ISO 8601 date and time with offset."))
    check_year(value)
    return value


def check_year(value: date) -> None:
    """Raise FieldError unless the date (or date-time) lies in FIRST_YEAR..LAST_YEAR."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise FieldError(
            _(
                "Please enter a date between the years %(first)d and %(last)d.",
                first=FIRST_YEAR,
                last=LAST_YEAR,
            )
        )


def clean_day(raw) -> date:
    """A date of the form YYYY-MM-DD (as a form's date field sends it), in the years allowed."""
    value = raw.strip() if isinstance(raw, str) else ""
    try:
        if not ISO_DATE.match(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError as error:
        raise FieldError(_("Use a date of the form YYYY-MM-DD.")) from error
    check_year(day)
    return day


def clean_details(
    data, email_required: bool = True, from_form: bool = False
) -> tuple[BookingDetails | None, dict]:
    """Run every check over ``data`` (a JSON object, or a form with ``from_form``); return
    the details, or None and the errors by field."""
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    checks = {
        "name": clean_name,
        "email": lambda raw: clean_email(raw, required=email_required),
        "phone": clean_phone,
        "language": clean_language,
        "interpreter_language": clean_language,
        "persons": lambda _raw: _persons_of(data, from_form),
        "message": clean_message,
    }
    for field, check in checks.items():
        try:
            clean[field] = check(data.get(field))
        except FieldError as error:
            errors[field] = [str(error)]
    if errors:
        return None, errors
    return BookingDetails(**clean), {}


@dataclass(frozen=True)
class RegistrationDetails:
    """What a registrant for an event tells us: nothing more than SPEC "Events" asks."""

    name: str
    email: str | None
    phone: str | None = None
    organisation: str | None = None
    language: str | None = None
    persons: int = 1


MAX_ORGANISATION = 200


def clean_registration(
    data, email_required: bool = True, from_form: bool = False
) -> tuple[RegistrationDetails | None, dict]:
    """The checks of a registration for an event (SPEC "Events"), every error by field."""
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    checks = {
        "name": clean_name,
        "email": lambda raw: clean_email(raw, required=email_required),
        "phone": clean_phone,
        "organisation": lambda raw: clean_text(raw, max_length=MAX_ORGANISATION),
        "language": clean_language,
        "persons": lambda _raw: _persons_of(data, from_form),
    }
    for name, check in checks.items():
        try:
            clean[name] = check(data.get(name))
        except FieldError as error:
            errors[name] = [str(error)]
    if errors:
        return None, errors
    return RegistrationDetails(**clean), {}


class ValidationFailed(Exception):
    """Input was invalid; ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("invalid input")
        self.errors = errors


def parse_language(raw: str | None, field: str, errors: dict[str, list[str]]) -> str | None:
    """A BCP 47 tag reduced to its lower-case primary subtag ("tr-TR" -> "tr"), or None;
    a malformed tag adds a message to ``errors[field]``."""
    try:
        return clean_language(raw)
    except FieldError as error:
        errors.setdefault(field, []).append(str(error))
        return None
