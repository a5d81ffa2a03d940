"""Input checks of SPEC "Bookings", shared by the HTML form and the JSON API.

Each check takes the raw value and returns the clean one or raises FieldError with a
message for the person. ``clean_details`` runs them all and collects every error.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

MAX_NAME = 200
MAX_MESSAGE = 1000
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")
PHONE = re.compile(r"^\+?[0-9 ()/.\-]{3,40}$")


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


def has_control_characters(value: str, allow_line_breaks: bool = False) -> bool:
    """True when the text holds control characters (CR, LF, NUL, ...) or line separators."""
    for char in value:
        if allow_line_breaks and char in "\n\t":
            continue
        if unicodedata.category(char) in {"Cc", "Zl", "Zp"}:
            return True
    return False


def clean_name(raw) -> str:
    value = raw.strip() if isinstance(raw, str) else ""
    if not value:
        raise FieldError(_("Please enter your name."))
    if has_control_characters(value):
        raise FieldError(_("The name must not contain line breaks or control characters."))
    if len(value) > MAX_NAME:
        raise FieldError(_("Please use at most %(max)d characters.", max=MAX_NAME))
    return value


def clean_email(raw, required: bool = True) -> str | None:
    value = raw.strip() if isinstance(raw, str) else ""
    if not value:
        if required:
            raise FieldError(_("Please enter your e-mail address."))
        return None
    if has_control_characters(value):
        raise FieldError(_("The e-mail address must not contain control characters."))
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise FieldError(_("This is not a valid e-mail address.")) from error
    return checked.normalized


def clean_phone(raw, required: bool = False) -> str | None:
    value = raw.strip() if isinstance(raw, str) else ""
    if not value:
        if required:
            raise FieldError(_("Please enter a phone number."))
        return None
    if has_control_characters(value):
        raise FieldError(_("The phone number must not contain control characters."))
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


def clean_persons(raw) -> int:
    if raw is None or raw == "":
        return 1
    if isinstance(raw, bool):
        raise FieldError(_("Please enter a number from 1 to 10."))
    try:
        value = int(raw)
    except (TypeError, ValueError) as error:
        raise FieldError(_("Please enter a number from 1 to 10.")) from error
    if isinstance(raw, float) and raw != value:
        raise FieldError(_("Please enter a number from 1 to 10."))
    if not 1 <= value <= 10:
        raise FieldError(_("Please enter a number from 1 to 10."))
    return value


def clean_message(raw) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise FieldError(_("Please enter text."))
    value = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not value:
        return None
    if has_control_characters(value, allow_line_breaks=True):
        raise FieldError(_("The message must not contain control characters."))
    if len(value) > MAX_MESSAGE:
        raise FieldError(_("Please use at most %(max)d characters.", max=MAX_MESSAGE))
    return value


def clean_consent(raw) -> bool:
    if raw is True or (isinstance(raw, str) and raw.lower() in {"y", "yes", "on", "true", "1"}):
        return True
    raise FieldError(_("Please agree to the privacy notice so that we can book your appointment."))


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
    return value


def clean_details(data: dict, email_required: bool = True) -> tuple[BookingDetails | None, dict]:
    """Run every check over ``data``; return the details, or None and the errors by field."""
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    checks = {
        "name": clean_name,
        "email": lambda raw: clean_email(raw, required=email_required),
        "phone": clean_phone,
        "language": clean_language,
        "interpreter_language": clean_language,
        "persons": clean_persons,
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
