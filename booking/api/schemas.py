"""Validation of API query input into plain values, collecting every error per field."""

from __future__ import annotations

from booking.validation import FieldError, clean_language


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
