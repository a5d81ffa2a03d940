"""A closure over several days that starts or ends within a day: the times get their
language's own wording ("um 10:00 Uhr"), never glued to the day ("23. Dezember 10:00")."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale

from booking.models import Closure
from booking.public.views import closure_notice

BERLIN = ZoneInfo("Europe/Berlin")


def closure(start: tuple, end: tuple) -> Closure:
    """A closure in December 2026 between two (year, month, day, hour)."""
    return Closure(
        start_at=datetime(*start, tzinfo=BERLIN),
        end_at=datetime(*end, tzinfo=BERLIN),
        reason="",
    )


MID_TO_MID = ((2026, 12, 23, 10), (2026, 12, 25, 12))
MID_TO_MIDNIGHT = ((2026, 12, 23, 10), (2026, 12, 26, 0))
MIDNIGHT_TO_MID = ((2026, 12, 23, 0), (2026, 12, 25, 12))


def notice(app, code: str, span) -> str:
    with app.test_request_context(), force_locale(code):
        return str(closure_notice(closure(*span), BERLIN))


@pytest.mark.parametrize(
    ("code", "span", "expected"),
    [
        (
            "de",
            MID_TO_MID,
            "Geschlossen von Mittwoch, 23. Dezember um 10:00 Uhr bis Freitag, 25. Dezember"
            " um 12:00 Uhr",
        ),
        (
            "de",
            MID_TO_MIDNIGHT,
            "Geschlossen von Mittwoch, 23. Dezember um 10:00 Uhr bis Freitag, 25. Dezember",
        ),
        (
            "de",
            MIDNIGHT_TO_MID,
            "Geschlossen von Mittwoch, 23. Dezember bis Freitag, 25. Dezember um 12:00 Uhr",
        ),
        (
            "de@easy",
            MID_TO_MID,
            "Das Zentrum ist von Mittwoch, 23. Dezember um 10:00 Uhr bis Freitag, 25. Dezember"
            " um 12:00 Uhr geschlossen",
        ),
        (
            "de@easy",
            MID_TO_MIDNIGHT,
            "Das Zentrum ist von Mittwoch, 23. Dezember um 10:00 Uhr bis Freitag, 25. Dezember"
            " geschlossen",
        ),
        (
            "de@easy",
            MIDNIGHT_TO_MID,
            "Das Zentrum ist von Mittwoch, 23. Dezember bis Freitag, 25. Dezember um 12:00 Uhr"
            " geschlossen",
        ),
    ],
)
def test_a_multi_day_closure_within_days_says_uhr_in_german(app, code, span, expected):
    assert notice(app, code, span) == expected


def test_a_multi_day_closure_within_days_reads_in_arabic(app):
    text = notice(app, "ar", MID_TO_MID)
    assert text.startswith("مغلق من ")
    # Each time is introduced by "the hour" after its own day, not glued to the day.
    first, last = text.removeprefix("مغلق من ").split(" إلى ")
    assert first.endswith(" الساعة 10:00"), text
    assert last.endswith(" الساعة 12:00"), text
    assert notice(app, "ar", MIDNIGHT_TO_MID).count("الساعة") == 1
    assert notice(app, "ar", MID_TO_MIDNIGHT).count("الساعة") == 1


@pytest.mark.parametrize("code", ["en", "tr", "fa", "uk", "ru", "bg", "ro"])
def test_a_multi_day_closure_within_days_is_translated(app, code):
    """No language falls back to the English wording, and the times stand in it."""
    for span in (MID_TO_MID, MID_TO_MIDNIGHT, MIDNIGHT_TO_MID):
        text = notice(app, code, span)
        if code != "en":
            assert not text.startswith("Closed"), (code, text)
        assert ("10:00" in text) == (span[0][3] == 10), (code, text)
        assert ("12:00" in text) == (span[1][3] == 12), (code, text)
