"""Validation of API input into plain values, collecting every error per field."""

from __future__ import annotations

import re

from flask_babel import gettext as _

# BCP 47 language tag, simplified: a 2-3 letter primary subtag and optional subtags.
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


class ValidationFailed(Exception):
    """Input was invalid; ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("invalid input")
        self.errors = errors


def parse_language(raw: str | None, field: str, errors: dict[str, list[str]]) -> str | None:
    """A BCP 47 tag reduced to its lower-case primary subtag ("tr-TR" -> "tr"), or None."""
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if not LANGUAGE_TAG.match(raw):
        errors.setdefault(field, []).append(_('Use a language code such as "tr" or "ar" (BCP 47).'))
        return None
    return raw.split("-")[0].lower()
