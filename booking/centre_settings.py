"""Centre settings: opening hours, closures, the slot and booking rules, and what the legal
pages say of the centre. The only writer of the tables opening_hours and closure, and of the
centre's settings.

Like bookings.py for bookings: each function checks its input against the rules, writes,
records the change in the audit log and commits (settings_checks.py holds the shared checks
and errors). Changing hours never cancels a booking: the admin pages list what no longer
fits (availability.bookings_needing_attention) for a person to decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
from flask_babel import gettext as _

from booking.extensions import db
from booking.i18n import PUBLIC_LANGUAGES
from booking.models import Centre, Closure, OpeningHours, User
from booking.settings_checks import (
    BUFFER_MINUTES,
    HOLD_MINUTES,
    HORIZON_DAYS,
    MAX_ACTIVE_BOOKINGS,
    MAX_LEGAL_TEXT,
    MAX_NAME,
    MAX_REASON,
    MIN_NOTICE_HOURS,
    SLOT_STEP_MINUTES,
    FieldErrors,
    SettingsInvalid,
    WeeklyInterval,
    add_interval,
    assign_interval,
    check_interval,
    check_range,
    check_text,
    check_year_field,
    clean_input,
    commit_change,
    german_needed,
    text_field,
)
from booking.validation import FieldError, clean_email, clean_text

# Opening hours.


def add_opening_hours(
    centre: Centre, actor: User, interval: WeeklyInterval, *, now: datetime
) -> OpeningHours:
    """Add a weekly opening interval to the centre."""
    row = add_interval(OpeningHours, centre.opening_hours, interval, centre=centre)
    commit_change(actor, centre.id, "hours added: " + interval.describe(), now)
    return row


def update_opening_hours(
    hours: OpeningHours, actor: User, interval: WeeklyInterval, *, now: datetime
) -> None:
    """Change an opening interval; bookings it no longer covers are kept and listed."""
    check_interval(interval, [h for h in hours.centre.opening_hours if h.id != hours.id])
    assign_interval(hours, interval)
    commit_change(actor, hours.centre_id, "hours changed: " + interval.describe(), now)


def split_opening_hours(
    hours: OpeningHours, change_from: date
) -> tuple[WeeklyInterval, WeeklyInterval] | None:
    """The interval as it stays until the day before ``change_from``, and the part from then
    on (still with the old times); None when ``change_from`` is on or before its start, so
    that the change applies to the whole interval."""
    if hours.valid_from is not None and change_from <= hours.valid_from:
        return None
    if hours.valid_until is not None and change_from > hours.valid_until:
        raise SettingsInvalid(
            {"change_from": [_("This date is after the end of the interval's validity.")]}
        )
    before = WeeklyInterval(
        hours.weekday, hours.opens, hours.closes, hours.valid_from, change_from - timedelta(days=1)
    )
    after = WeeklyInterval(hours.weekday, hours.opens, hours.closes, change_from, hours.valid_until)
    return before, after


def change_opening_hours_from(
    hours: OpeningHours, actor: User, interval: WeeklyInterval, change_from: date, *, now: datetime
) -> OpeningHours:
    """Change the times from ``change_from`` on, in one step: the old interval ends the day
    before, a new one with ``interval``'s times starts that day (and ends when the old did)."""
    parts = split_opening_hours(hours, change_from)
    if parts is None:
        whole = replace(interval, valid_from=hours.valid_from, valid_until=hours.valid_until)
        update_opening_hours(hours, actor, whole, now=now)
        return hours
    before, after = parts
    new = replace(interval, valid_from=after.valid_from, valid_until=after.valid_until)
    others = [h for h in hours.centre.opening_hours if h.id != hours.id]
    check_interval(new, [*others, before])
    assign_interval(hours, before)
    row = OpeningHours(centre=hours.centre)
    assign_interval(row, new)
    db.session.add(row)
    commit_change(
        actor,
        hours.centre_id,
        f"hours changed from {change_from}: {before.describe()} then {new.describe()}",
        now,
    )
    return row


def delete_opening_hours(hours: OpeningHours, actor: User, *, now: datetime) -> None:
    """Remove an opening interval."""
    detail = "hours deleted: " + WeeklyInterval.of(hours).describe()
    centre_id = hours.centre_id
    db.session.delete(hours)
    commit_change(actor, centre_id, detail, now)


# Closures.


def local_instant(day: date, at: time, timezone: str) -> datetime:
    """A wall time of the centre as an aware datetime."""
    return datetime.combine(day, at, ZoneInfo(timezone))


def add_closure(
    centre: Centre,
    actor: User,
    *,
    start_date: date | None,
    start_time: time | None = None,
    end_date: date | None = None,
    end_time: time | None = None,
    reason: str = "",
    reasons: Mapping[str, str] | None = None,
    now: datetime,
) -> Closure:
    """Close the centre, in its local time: a day (start date only), a range of days (and
    an end date), or part of a day (with times). Without a start time the closure starts
    at midnight; without an end time it lasts to the end of the end date.

    ``reason`` is the German reason families read; ``reasons`` the reason in further
    public languages (code -> text), German needed once one of them is given."""
    errors = FieldErrors()
    reason = clean_input(reason)
    if start_date is None:
        errors.add("start_date", _("Enter a date."))
    check_year_field(errors, "start_date", start_date)
    check_year_field(errors, "end_date", end_date)
    check_text(errors, "reason", reason, MAX_REASON)
    further = {code: clean_input(text) for code, text in (reasons or {}).items()}
    for code, text in further.items():
        if code not in PUBLIC_LANGUAGES or code == "de":
            raise ValueError(f"not a further public language: {code!r}")
        check_text(errors, text_field("reason", code), text, MAX_REASON)
    german_needed(errors, "reason", reason, further.values())
    errors.raise_if_any()
    end_date = end_date or start_date
    start_at = local_instant(start_date, start_time or time(0), centre.timezone)
    if end_time is None:
        end_at = local_instant(end_date + timedelta(days=1), time(0), centre.timezone)
    else:
        end_at = local_instant(end_date, end_time, centre.timezone)
    if end_date < start_date:
        errors.add("end_date", _("The end must not be before the start."))
    elif end_at <= start_at:
        errors.add("end_time", _("The end must be after the start."))
    errors.raise_if_any()
    closure = Closure(
        centre=centre,
        start_at=start_at,
        end_at=end_at,
        reason=reason,
        reasons={code: text for code, text in further.items() if text},
    )
    db.session.add(closure)
    commit_change(
        actor, centre.id, f"closure added: {start_at.isoformat()}..{end_at.isoformat()}", now
    )
    return closure


def delete_closure(closure: Closure, actor: User, *, now: datetime) -> None:
    detail = f"closure deleted: {closure.start_at.isoformat()}..{closure.end_at.isoformat()}"
    centre_id = closure.centre_id
    db.session.delete(closure)
    commit_change(actor, centre_id, detail, now)


# The centre's rules.


@cache
def _supported_regions() -> dict[str, tuple[str, ...]]:
    return {
        country.upper(): tuple(subdivisions)
        for country, subdivisions in holidays.list_supported_countries().items()
    }


def clean_holiday_region(raw: str | None) -> str:
    """The region in its canonical spelling ("de-nw" -> "DE-NW"); ValueError if unknown.

    The country must be one the holidays package knows, and so must the subdivision.
    """
    country, _sep, subdivision = clean_input(raw).partition("-")
    subdivisions = _supported_regions().get(country.upper())
    if not country or subdivisions is None:
        raise ValueError("unknown country")
    if not subdivision:
        return country.upper()
    match = next((s for s in subdivisions if s.lower() == subdivision.lower()), None)
    if match is None:
        raise ValueError("unknown subdivision")
    return f"{country.upper()}-{match}"


def update_rules(
    centre: Centre,
    actor: User,
    *,
    min_notice_hours: int | None,
    horizon_days: int | None,
    slot_step_minutes: int | None,
    buffer_minutes: int | None,
    max_active_bookings_per_email: int | None,
    holiday_region: str | None,
    feed_shows_service: bool = False,
    hold_online_bookings: bool = False,
    hold_minutes: int | None = None,
    now: datetime,
) -> None:
    """Set the slot and booking rules of SPEC "Slot rules" and "Bookings", whether
    counsellors' calendar feeds name the service (off: "Beratung" and the reference), and
    whether online bookings wait for the family's confirmation from the mail, for how many
    minutes (``hold_minutes`` None keeps the current number)."""
    errors = FieldErrors()
    if hold_minutes is None:
        hold_minutes = centre.hold_minutes
    check_range(errors, "hold_minutes", hold_minutes, HOLD_MINUTES)
    check_range(errors, "min_notice_hours", min_notice_hours, MIN_NOTICE_HOURS)
    check_range(errors, "horizon_days", horizon_days, HORIZON_DAYS)
    check_range(errors, "slot_step_minutes", slot_step_minutes, SLOT_STEP_MINUTES)
    check_range(errors, "buffer_minutes", buffer_minutes, BUFFER_MINUTES)
    check_range(
        errors, "max_active_bookings_per_email", max_active_bookings_per_email, MAX_ACTIVE_BOOKINGS
    )
    try:
        region = clean_holiday_region(holiday_region)
    except ValueError:
        errors.add(
            "holiday_region",
            _("Unknown holiday region. Use a country and state code, e.g. DE-NW."),
        )
    errors.raise_if_any()
    centre.min_notice_minutes = min_notice_hours * 60
    centre.horizon_days = horizon_days
    centre.slot_step_minutes = slot_step_minutes
    centre.buffer_minutes = buffer_minutes
    centre.max_active_bookings_per_email = max_active_bookings_per_email
    centre.holiday_region = region
    centre.feed_shows_service = bool(feed_shows_service)
    centre.hold_online_bookings = bool(hold_online_bookings)
    centre.hold_minutes = hold_minutes
    commit_change(
        actor,
        centre.id,
        f"rules: notice {min_notice_hours} h, horizon {horizon_days} d, "
        f"step {slot_step_minutes} min, buffer {buffer_minutes} min, "
        f"max {max_active_bookings_per_email}, region {region}, "
        f"service in feeds {'on' if feed_shows_service else 'off'}, "
        f"online bookings held {f'{hold_minutes} min' if hold_online_bookings else 'off'}",
        now,
    )


# Legal pages.


def update_legal_details(
    centre: Centre,
    actor: User,
    *,
    legal_operator: str | None,
    responsible_person: str | None,
    contact_email: str | None,
    accessibility_contact: str | None,
    now: datetime,
    privacy_officer_contact: str | None = None,
    visiting_address: str | None = None,
) -> None:
    """Set what the Impressum, privacy notice and accessibility statement say of the centre,
    and where families go when that is not the postal address."""
    errors = FieldErrors()
    try:
        # Several lines; the shared check refuses controls and unreadable characters.
        operator = clean_text(legal_operator, max_length=MAX_LEGAL_TEXT, multiline=True) or ""
    except FieldError as error:
        errors.add("legal_operator", str(error))
        operator = ""
    person = clean_input(responsible_person)
    contact = clean_input(accessibility_contact)
    officer = clean_input(privacy_officer_contact)
    visiting = clean_input(visiting_address)
    email = clean_input(contact_email)
    for field, value, limit in (
        ("responsible_person", person, MAX_NAME),
        ("accessibility_contact", contact, MAX_REASON),
        ("privacy_officer_contact", officer, MAX_REASON),
        ("visiting_address", visiting, MAX_REASON),
    ):
        # The shared check of a single line: no line breaks, controls, bidirectional
        # overrides or isolates (they turn the Impressum's text around), nothing invisible.
        check_text(errors, field, value, limit)
    if email:
        try:
            email = clean_email(email)
        except FieldError as error:
            errors.add("contact_email", str(error))
    errors.raise_if_any()
    centre.legal_operator = operator
    centre.responsible_person = person
    centre.contact_email = email or ""
    centre.accessibility_contact = contact
    if privacy_officer_contact is not None:
        centre.privacy_officer_contact = officer
    if visiting_address is not None:
        centre.visiting_address = visiting
    commit_change(actor, centre.id, "legal pages changed", now)
