"""What the settings writers share (centre_settings.py, service_catalogue.py, accounts.py):
the errors they raise, the checks of a field, the limits of the rules, weekly intervals
(a centre's opening hours and a person's working hours), and the commit with its audit entry.

Invalid input raises SettingsInvalid with messages per field (nothing is written); a refused
action raises SettingsRefused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time

from flask_babel import gettext as _

from booking import audit
from booking.extensions import db
from booking.i18n import field_suffix
from booking.models import User, WeeklyHoursMixin
from booking.transactions import commit
from booking.validation import FieldError, check_year, clean_text


def commit_change(
    actor: User | None, centre_id: int, detail: str, now: datetime, action: str = "settings"
) -> None:
    """Record a change of the centre's settings or staff in the audit log, and commit it."""
    audit.record(actor, action, centre_id=centre_id, detail=detail, now=now)
    commit()


# Limits of the centre's rules (SPEC "Slot rules", "Bookings"); the database checks the floor.
MIN_NOTICE_HOURS = (0, 24 * 90)
HORIZON_DAYS = (1, 730)
SLOT_STEP_MINUTES = (5, 240)
BUFFER_MINUTES = (0, 240)
MAX_ACTIVE_BOOKINGS = (1, 100)
HOLD_MINUTES = (5, 1440)
DURATION_MINUTES = (5, 480)
MAX_NAME = 200
MAX_REASON = 300
MAX_LEGAL_TEXT = 2000
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}$")
WEEKDAY_ABBR = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class SettingsInvalid(ValueError):
    """The input breaks a rule; ``errors`` maps each form field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class SettingsRefused(ValueError):
    """The action is not possible as asked; the message says why."""


class FieldErrors(dict):
    """Messages per form field, raised together as SettingsInvalid."""

    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise SettingsInvalid(dict(self))


def clean_input(value: str | None) -> str:
    """Trim; the text itself is checked by check_text."""
    return (value or "").strip()


def check_text(errors: FieldErrors, field: str, value: str, max_length: int) -> None:
    """The shared check of free text (booking/validation.py), its message at ``field``."""
    try:
        clean_text(value, max_length=max_length)
    except FieldError as error:
        errors.add(field, str(error))


def text_field(prefix: str, language: str) -> str:
    """The form field of a text in one language: ("description", "de@easy") ->
    "description_de_easy"; the writers key their messages about such texts so."""
    return f"{prefix}_{field_suffix(language)}"


def german_needed(errors: FieldErrors, field: str, german: str, others: Iterable[str]) -> None:
    """German is what every language without its own text reads: needed once another
    language has a text."""
    if not german and any(others):
        errors.add(
            field, _("Give the German text too: it is shown in every language without its own.")
        )


def check_year_field(errors: FieldErrors, field: str, value: date | None) -> None:
    if value is not None:
        try:
            check_year(value)
        except FieldError as error:
            errors.add(field, str(error))


def check_range(
    errors: FieldErrors, field: str, value: int | None, bounds: tuple[int, int]
) -> None:
    low, high = bounds
    if value is None:
        errors.add(field, _("This field is required."))
    elif not low <= value <= high:
        errors.add(field, _("Enter a number from %(low)d to %(high)d.", low=low, high=high))


# Weekly intervals: the centre's opening hours and a counsellor's working hours.


@dataclass(frozen=True)
class WeeklyInterval:
    """A weekly interval as entered: weekday (0 = Monday), wall times, validity dates."""

    weekday: int | None
    opens: time | None
    closes: time | None
    valid_from: date | None = None
    valid_until: date | None = None

    @classmethod
    def of(cls, row: WeeklyHoursMixin) -> WeeklyInterval:
        """The interval an opening or working hours row holds."""
        return cls(row.weekday, row.opens, row.closes, row.valid_from, row.valid_until)

    def describe(self) -> str:
        """For the audit log (English, no translation: it is a record, not a page)."""
        validity = ""
        if self.valid_from or self.valid_until:
            validity = f" ({self.valid_from or '…'}..{self.valid_until or '…'})"
        return f"{WEEKDAY_ABBR[self.weekday or 0]} {self.opens:%H:%M}-{self.closes:%H:%M}{validity}"


def _validity_overlaps(a, b) -> bool:
    """Two inclusive date ranges (None = unbounded) share a date."""
    return (a.valid_from is None or b.valid_until is None or a.valid_from <= b.valid_until) and (
        b.valid_from is None or a.valid_until is None or b.valid_from <= a.valid_until
    )


def check_interval(interval: WeeklyInterval, others: Iterable) -> None:
    """Raise SettingsInvalid unless the interval is well-formed and overlaps none of ``others``."""
    errors = FieldErrors()
    if interval.weekday is None or not 0 <= interval.weekday <= 6:
        errors.add("weekday", _("Choose a weekday."))
    if interval.opens is None:
        errors.add("opens", _("Enter a time of the form HH:MM."))
    if interval.closes is None:
        errors.add("closes", _("Enter a time of the form HH:MM."))
    elif interval.opens is not None and interval.closes <= interval.opens:
        errors.add("closes", _("The closing time must be after the opening time."))
    if (
        interval.valid_from is not None
        and interval.valid_until is not None
        and interval.valid_until < interval.valid_from
    ):
        errors.add("valid_until", _("The validity period must not end before it starts."))
    check_year_field(errors, "valid_from", interval.valid_from)
    check_year_field(errors, "valid_until", interval.valid_until)
    errors.raise_if_any()
    for other in others:
        if (
            other.weekday == interval.weekday
            and other.opens < interval.closes
            and interval.opens < other.closes
            and _validity_overlaps(interval, other)
        ):
            errors.add(
                "opens",
                _(
                    "This overlaps the interval %(opens)s–%(closes)s on the same day.",
                    opens=other.opens.strftime("%H:%M"),
                    closes=other.closes.strftime("%H:%M"),
                ),
            )
            break
    errors.raise_if_any()


def assign_interval(row, interval: WeeklyInterval) -> None:
    row.weekday = interval.weekday
    row.opens = interval.opens
    row.closes = interval.closes
    row.valid_from = interval.valid_from
    row.valid_until = interval.valid_until


def add_interval(model, existing, interval: WeeklyInterval, **owner):
    """A new hours row of ``model`` for its owner, checked against the owner's ``existing``."""
    check_interval(interval, existing)
    row = model(**owner)
    assign_interval(row, interval)
    db.session.add(row)
    return row
