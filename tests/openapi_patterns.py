"""The pattern of a name in booking/openapi.json, built from the server's own rule.

A name is accepted (booking/validation.py, clean_text) when, trimmed, it holds no control
character, no bidirectional control and no U+FFFD, and at least one character that is not
invisible (booking/text.py: spaces, format characters, combining marks alone, private-use
and unassigned code points). The pattern says the same: ``^S*A*VA*S*$`` with S what
trimming removes, A what may stand inside a name and V a visible character, each class
listed from the rule of the running Python's Unicode tables. Lone surrogates are left out
of the classes (no UTF-8 text holds them, and not every regular expression engine takes
them); the server refuses them.

``.venv/bin/python -m tests.openapi_patterns`` writes the pattern into booking/openapi.json;
tests/web/test_api_schema.py fails while the document's pattern differs.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

from booking.text import has_bidi_controls, has_control_characters, is_invisible

DOCUMENT = Path(__file__).resolve().parents[1] / "booking" / "openapi.json"
SURROGATES = range(0xD800, 0xE000)
REPLACEMENT_CHARACTER = 0xFFFD


def _is_forbidden(char: str) -> bool:
    """Refused anywhere inside a (trimmed) single-line text."""
    return (
        has_control_characters(char)
        or has_bidi_controls(char)
        or ord(char) == REPLACEMENT_CHARACTER
    )


def _ranges(included) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for code in range(0x110000):
        if code in SURROGATES or not included(chr(code)):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return ranges


def _one(code: int) -> str:
    # Escapes for the Basic Multilingual Plane (ECMA-262 and Python alike); the characters
    # themselves beyond it, where the two write escapes differently.
    return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)


def _class(ranges: list[tuple[int, int]], negated: bool) -> str:
    parts = []
    for first, last in ranges:
        if first <= 0xFFFF < last:  # written apart: an escape and a character do not pair up
            parts += [_span(first, 0xFFFF), _span(0x10000, last)]
        else:
            parts.append(_span(first, last))
    return "[" + ("^" if negated else "") + "".join(parts) + "]"


def _span(first: int, last: int) -> str:
    if first == last:
        return _one(first)
    if first + 1 == last:
        return _one(first) + _one(last)
    return f"{_one(first)}-{_one(last)}"


def name_pattern() -> str:
    """The pattern of a single-line text that must show something (a name)."""
    trimmed = _class(_ranges(str.isspace), negated=False)
    inside = _class(_ranges(_is_forbidden), negated=True)
    # Listed as what it holds, not as what it leaves out: a generator (hypothesis, under
    # schemathesis) walks a class character by character, and the invisible ones number
    # near a million (the unassigned planes), the visible ones about 150,000.
    visible = _class(_ranges(lambda c: not (is_invisible(c) or _is_forbidden(c))), negated=False)
    return f"^{trimmed}*{inside}*{visible}{inside}*{trimmed}*$"


def name_description() -> str:
    return (
        "At most 200 characters, trimmed first; on one line, without control characters, "
        "bidirectional controls (U+202A-202E, U+2066-2069) or U+FFFD; and at least one "
        "visible character: not only spaces or invisible characters such as U+200B, "
        "combining marks alone, private-use or unassigned code points (by Unicode "
        f"{unicodedata.unidata_version}, whose tables the pattern lists)."
    )


def dumped(document: dict) -> str:
    """The document as booking/openapi.json keeps it: two spaces, characters beyond the
    Basic Multilingual Plane as JSON escapes (the file stays readable in any editor)."""
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return "".join(json.dumps(char)[1:-1] if ord(char) > 0xFFFF else char for char in text)


def write() -> None:
    document = json.loads(DOCUMENT.read_text())
    schema = document["components"]["schemas"]["PersonName"]
    schema["pattern"] = name_pattern()
    schema["description"] = name_description()
    DOCUMENT.write_text(dumped(document))


if __name__ == "__main__":
    write()
