"""Checks of free text that every layer shares: pure, so emails.py and ical.py use them too.

booking/validation.py turns them into messages for the person who typed the text.
"""

from __future__ import annotations

import unicodedata

# Control characters, Unicode line and paragraph separators, and lone UTF-16 surrogates,
# which no encoder can write (a database, a mail header or a JSON answer would fail).
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
# What shows nothing on its own: format characters (U+200B, U+202E, soft hyphen), spaces,
# controls, private-use and unassigned code points, combining marks without a base.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Cc", "Cs", "Co", "Cn", "Mn", "Me"})
# Letters and symbols that are drawn as blanks.
_BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
REPLACEMENT_CHARACTER = "\ufffd"
# Embeddings, overrides (U+202A-202E) and isolates (U+2066-2069): in a name or a subject
# they turn what follows around ("Trojan Source"), on a staff page, in a mail header.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def has_bidi_controls(value: str) -> bool:
    """True when the text holds a bidirectional embedding, override or isolate."""
    return any(char in _BIDI_CONTROLS for char in value)


def has_control_characters(value: str, allow_line_breaks: bool = False) -> bool:
    """True when the text holds a control character (CR, LF, NUL, ESC, ...), a Unicode line
    separator or a lone surrogate; with ``allow_line_breaks``, LF and tab are allowed."""
    for char in value:
        if allow_line_breaks and char in "\n\t":
            continue
        if unicodedata.category(char) in _CONTROL_CATEGORIES:
            return True
    return False


def has_unreadable_characters(value: str) -> bool:
    """True for lone surrogates and U+FFFD, what is left of bytes that were not UTF-8."""
    return REPLACEMENT_CHARACTER in value or any(
        unicodedata.category(char) == "Cs" for char in value
    )


def is_invisible(value: str) -> bool:
    """True when nothing of the text would be seen: no letter, digit, mark or symbol."""
    return all(
        char in _BLANK_CHARACTERS or unicodedata.category(char) in _INVISIBLE_CATEGORIES
        for char in value
    )
