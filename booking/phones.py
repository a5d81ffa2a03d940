"""Phone numbers and digits as people type them: pure, no Flask, no database.

A phone keyboard in Arabic or Persian types Eastern Arabic (٠١٢…) or Persian (۰۱۲…)
digits; they are read as the digits 0–9 everywhere a number is asked for. A phone number is
compared in one normalised form (E.164 where it can be read, region DE, else its digits), so
"02325/883412", "+49 2325 883412", "0049 2325 883412" and "+49 (0)2325 883412" are one number.
"""

from __future__ import annotations

import re

import phonenumbers

DEFAULT_REGION = "DE"
# Eastern Arabic-Indic (U+0660…) and extended Arabic-Indic, i.e. Persian (U+06F0…) digits.
DIGITS = str.maketrans(
    {**{chr(0x0660 + n): str(n) for n in range(10)}, **{chr(0x06F0 + n): str(n) for n in range(10)}}
)
NON_DIGITS = re.compile(r"\D")
MAX_NORMALISED = 32


def ascii_digits(text: str) -> str:
    """``text`` with Eastern Arabic and Persian digits as 0–9; everything else kept."""
    return text.translate(DIGITS)


def normalised(phone: str | None, region: str = DEFAULT_REGION) -> str | None:
    """The one form a number is stored and compared in: "+492325883412", or its bare digits
    when it cannot be read as a number; None for no number."""
    if not phone:
        return None
    text = ascii_digits(phone)
    digits = NON_DIGITS.sub("", text)
    if not digits:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return digits[:MAX_NORMALISED]
    if not phonenumbers.is_possible_number(number):
        return digits[:MAX_NORMALISED]
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[:MAX_NORMALISED]


def search_forms(query: str, region: str = DEFAULT_REGION) -> tuple[str | None, set[str]]:
    """What a typed query finds: the whole number (normalised, when it reads as a complete
    one) and the digit runs a stored number may contain ("883412", "2325883412")."""
    text = ascii_digits(query)
    digits = NON_DIGITS.sub("", text)
    whole = None
    if len(digits) >= 6:
        whole = normalised(text, region)
        if whole is not None and not whole.startswith("+"):
            whole = None
    parts = {digits}
    if digits.startswith("00"):
        parts.add(digits[2:])
    stripped = digits.lstrip("0")
    if stripped:
        parts.add(stripped)
    if whole is not None:
        # "+49 (0)2325 883412": the national number without the trunk 0.
        parts.add(whole.lstrip("+"))
    return whole, {p for p in parts if len(p) >= 4}
