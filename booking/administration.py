"""The only place that writes centre settings: opening hours, closures, rules, services,
and staff accounts and their working hours (the admin pages, `flask create-user` and a
person's own password change). Also requeues dead mails and settles bookings that changed
settings no longer allow.

Like bookings.py for bookings: each function checks its input against the rules, writes,
records the change in the audit log and commits. Invalid input raises SettingsInvalid
with messages per field (nothing is written); a refused action raises SettingsRefused.
Changing hours never cancels a booking: the admin pages list what no longer fits
(availability.bookings_needing_attention) for a person to decide.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import func, select

from booking import audit, auth, outbox
from booking.extensions import db
from booking.models import (
    HOLDING_ROLES,
    ROLES,
    SERVICE_FORMATS,
    Booking,
    Centre,
    Closure,
    OpeningHours,
    OutboxMessage,
    Service,
    User,
    WeeklyHoursMixin,
    WorkingHours,
)
from booking.transactions import commit
from booking.validation import (
    FieldError,
    check_year,
    clean_email,
    clean_text,
    has_control_characters,
)


def _commit_change(
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
DURATION_MINUTES = (5, 480)
MAX_NAME = 200
MAX_REASON = 300
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


class _Errors(dict):
    def add(self, field: str, message: str) -> None:
        self.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise SettingsInvalid(dict(self))


def _clean_text(value: str | None) -> str:
    """Trim; the text itself is checked by _check_text."""
    return (value or "").strip()


def _check_text(errors: _Errors, field: str, value: str, max_length: int) -> None:
    """The shared check of free text (booking/validation.py), its message at ``field``."""
    try:
        clean_text(value, max_length=max_length)
    except FieldError as error:
        errors.add(field, str(error))


def _check_year(errors: _Errors, field: str, value: date | None) -> None:
    if value is not None:
        try:
            check_year(value)
        except FieldError as error:
            errors.add(field, str(error))


def _check_range(errors: _Errors, field: str, value: int | None, bounds: tuple[int, int]) -> None:
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


def _check_interval(interval: WeeklyInterval, others: Iterable) -> None:
    """Raise SettingsInvalid unless the interval is well-formed and overlaps none of ``others``."""
    errors = _Errors()
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
    _check_year(errors, "valid_from", interval.valid_from)
    _check_year(errors, "valid_until", interval.valid_until)
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


def _assign(row, interval: WeeklyInterval) -> None:
    row.weekday = interval.weekday
    row.opens = interval.opens
    row.closes = interval.closes
    row.valid_from = interval.valid_from
    row.valid_until = interval.valid_until


def _add_interval(model, existing, interval: WeeklyInterval, **owner):
    """A new hours row of ``model`` for its owner, checked against the owner's ``existing``."""
    _check_interval(interval, existing)
    row = model(**owner)
    _assign(row, interval)
    db.session.add(row)
    return row


def add_opening_hours(
    centre: Centre, actor: User, interval: WeeklyInterval, *, now: datetime
) -> OpeningHours:
    """Add a weekly opening interval to the centre."""
    row = _add_interval(OpeningHours, centre.opening_hours, interval, centre=centre)
    _commit_change(actor, centre.id, "hours added: " + interval.describe(), now)
    return row


def update_opening_hours(
    hours: OpeningHours, actor: User, interval: WeeklyInterval, *, now: datetime
) -> None:
    """Change an opening interval; bookings it no longer covers are kept and listed."""
    _check_interval(interval, [h for h in hours.centre.opening_hours if h.id != hours.id])
    _assign(hours, interval)
    _commit_change(actor, hours.centre_id, "hours changed: " + interval.describe(), now)


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
    _check_interval(new, [*others, before])
    _assign(hours, before)
    row = OpeningHours(centre=hours.centre)
    _assign(row, new)
    db.session.add(row)
    _commit_change(
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
    _commit_change(actor, centre_id, detail, now)


def add_working_hours(
    user: User, actor: User, interval: WeeklyInterval, *, now: datetime
) -> WorkingHours:
    """Give a staff member their own working interval (without any, the centre's hours apply)."""
    row = _add_interval(WorkingHours, user.working_hours, interval, user=user)
    _commit_change(
        actor, user.centre_id, f"working hours of user {user.id} added: {interval.describe()}", now
    )
    return row


def delete_working_hours(hours: WorkingHours, actor: User, *, now: datetime) -> None:
    user = hours.user
    detail = f"working hours of user {user.id} deleted: " + WeeklyInterval.of(hours).describe()
    user.working_hours.remove(hours)
    _commit_change(actor, user.centre_id, detail, now)


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
    now: datetime,
) -> Closure:
    """Close the centre, in its local time: a day (start date only), a range of days (and
    an end date), or part of a day (with times). Without a start time the closure starts
    at midnight; without an end time it lasts to the end of the end date."""
    errors = _Errors()
    reason = _clean_text(reason)
    if start_date is None:
        errors.add("start_date", _("Enter a date."))
    _check_year(errors, "start_date", start_date)
    _check_year(errors, "end_date", end_date)
    _check_text(errors, "reason", reason, MAX_REASON)
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
    closure = Closure(centre=centre, start_at=start_at, end_at=end_at, reason=reason)
    db.session.add(closure)
    _commit_change(
        actor, centre.id, f"closure added: {start_at.isoformat()}..{end_at.isoformat()}", now
    )
    return closure


def delete_closure(closure: Closure, actor: User, *, now: datetime) -> None:
    detail = f"closure deleted: {closure.start_at.isoformat()}..{closure.end_at.isoformat()}"
    centre_id = closure.centre_id
    db.session.delete(closure)
    _commit_change(actor, centre_id, detail, now)


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
    country, _sep, subdivision = _clean_text(raw).partition("-")
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
    now: datetime,
) -> None:
    """Set the slot and booking rules of SPEC "Slot rules" and "Bookings", and whether
    counsellors' calendar feeds name the service (off: "Beratung" and the reference)."""
    errors = _Errors()
    _check_range(errors, "min_notice_hours", min_notice_hours, MIN_NOTICE_HOURS)
    _check_range(errors, "horizon_days", horizon_days, HORIZON_DAYS)
    _check_range(errors, "slot_step_minutes", slot_step_minutes, SLOT_STEP_MINUTES)
    _check_range(errors, "buffer_minutes", buffer_minutes, BUFFER_MINUTES)
    _check_range(
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
    _commit_change(
        actor,
        centre.id,
        f"rules: notice {min_notice_hours} h, horizon {horizon_days} d, "
        f"step {slot_step_minutes} min, buffer {buffer_minutes} min, "
        f"max {max_active_bookings_per_email}, region {region}, "
        f"service in feeds {'on' if feed_shows_service else 'off'}",
        now,
    )


# Services.


def _minutes_between(opens: time, closes: time) -> int:
    return (closes.hour * 60 + closes.minute) - (opens.hour * 60 + opens.minute)


def longest_opening_minutes(centre: Centre, today: date) -> int | None:
    """The longest opening interval still valid on or after ``today``; None without any."""
    lengths = [
        _minutes_between(h.opens, h.closes)
        for h in centre.opening_hours
        if h.valid_until is None or h.valid_until >= today
    ]
    return max(lengths, default=None)


MAX_SERVICE_TEXT = 1000
MAX_LEGAL_TEXT = 2000


@dataclass(frozen=True)
class ServiceTexts:
    """What families read about a service besides its name, and how it takes place."""

    format: str = "in_person"
    description_de: str = ""
    description_en: str = ""
    what_to_bring_de: str = ""
    what_to_bring_en: str = ""


def _check_service_texts(errors: _Errors, texts: ServiceTexts) -> ServiceTexts:
    if texts.format not in SERVICE_FORMATS:
        errors.add("format", _("Please choose one of the formats."))
    cleaned = {}
    for field in ("description_de", "description_en", "what_to_bring_de", "what_to_bring_en"):
        value = (getattr(texts, field) or "").strip()
        if len(value) > MAX_SERVICE_TEXT:
            errors.add(field, _("Use at most %(max)d characters.", max=MAX_SERVICE_TEXT))
        elif has_control_characters(value, allow_line_breaks=True):
            errors.add(field, _("Please use plain text without special characters."))
        cleaned[field] = value
    return ServiceTexts(format=texts.format, **cleaned)


def _with_texts(current: dict | None, de: str, en: str) -> dict:
    """``current`` with the German and English text set (or removed when empty); the
    texts of other languages are kept."""
    merged = dict(current or {})
    for language, value in (("de", de), ("en", en)):
        if value:
            merged[language] = value
        else:
            merged.pop(language, None)
    return merged


def _free_neutral_slug(centre: Centre) -> str:
    """The first of beratung-1, beratung-2, … that no service of the centre uses."""
    used = set(db.session.scalars(select(Service.slug).where(Service.centre_id == centre.id)))
    number = 1
    while f"beratung-{number}" in used:
        number += 1
    return f"beratung-{number}"


def save_service(
    centre: Centre,
    actor: User,
    service: Service | None,
    *,
    slug: str | None,
    name_de: str | None,
    name_en: str | None,
    duration_minutes: int | None,
    buffer_minutes: int | None,
    online_bookable: bool,
    is_active: bool,
    counsellor_ids: Iterable[int],
    now: datetime,
    texts: ServiceTexts | None = None,
) -> Service:
    """Create (``service`` None) or change a service of the centre.

    ``buffer_minutes`` None means the centre's buffer. Names in languages other than
    German and English are kept as they are.
    """
    errors = _Errors()
    slug = _clean_text(slug).lower() or (service.slug if service else _free_neutral_slug(centre))
    name_de, name_en = _clean_text(name_de), _clean_text(name_en)
    if len(slug) > 64 or not SLUG.match(slug):
        errors.add(
            "slug",
            _(
                "Use lower-case letters, digits and hyphens, e.g. %(example)s.",
                example=_free_neutral_slug(centre),
            ),
        )
    else:
        taken = db.session.scalar(
            select(Service.id).where(
                Service.centre_id == centre.id,
                Service.slug == slug,
                Service.id != (service.id if service is not None else -1),
            )
        )
        if taken is not None:
            errors.add("slug", _("This short name is already used by another service."))
    if not name_de:
        errors.add("name_de", _("This field is required."))
    for field, name in (("name_de", name_de), ("name_en", name_en)):
        _check_text(errors, field, name, MAX_NAME)
    _check_range(errors, "duration_minutes", duration_minutes, DURATION_MINUTES)
    if "duration_minutes" not in errors:
        today = centre.today(now)
        longest = longest_opening_minutes(centre, today)
        if longest is not None and duration_minutes > longest:
            errors.add(
                "duration_minutes",
                _(
                    "This is longer than every opening interval (the longest has %(minutes)d "
                    "minutes): the service could never be booked.",
                    minutes=longest,
                ),
            )
    if buffer_minutes is not None:
        _check_range(errors, "buffer_minutes", buffer_minutes, BUFFER_MINUTES)
    if texts is not None:
        texts = _check_service_texts(errors, texts)
    wanted_ids = set(counsellor_ids)
    staff = {u.id: u for u in centre.staff}
    if not wanted_ids <= staff.keys():
        errors.add("counsellors", _("Choose staff of this centre."))
    else:
        current = {u.id for u in service.counsellors} if service is not None else set()
        _check_holders(errors, "counsellors", [staff[i] for i in wanted_ids - current])
    errors.raise_if_any()

    created = service is None
    if created:
        position = db.session.scalar(
            select(func.coalesce(func.max(Service.position), -1)).where(
                Service.centre_id == centre.id
            )
        )
        service = Service(centre=centre, position=position + 1, names={})
        db.session.add(service)
    names = dict(service.names or {})
    names["de"] = name_de
    if name_en:
        names["en"] = name_en
    else:
        names.pop("en", None)
    if not created and service.slug != slug:
        service.former_slug = service.slug  # old links still find the service
    service.slug = slug
    service.names = names
    service.duration_minutes = duration_minutes
    service.buffer_minutes = buffer_minutes
    service.online_bookable = online_bookable
    service.is_active = is_active
    service.counsellors = [staff[i] for i in sorted(wanted_ids)]
    if texts is not None:
        service.format = texts.format
        service.descriptions = _with_texts(
            service.descriptions, texts.description_de, texts.description_en
        )
        service.what_to_bring = _with_texts(
            service.what_to_bring, texts.what_to_bring_de, texts.what_to_bring_en
        )
    db.session.flush()
    _commit_change(
        actor,
        centre.id,
        f"service {slug} {'created' if created else 'changed'}: {duration_minutes} min, "
        f"{'online' if online_bookable else 'phone only'}, "
        f"{'active' if is_active else 'inactive'}, staff {sorted(wanted_ids)}",
        now,
    )
    return service


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
    errors = _Errors()
    operator = (legal_operator or "").strip()
    person = _clean_text(responsible_person)
    contact = _clean_text(accessibility_contact)
    officer = _clean_text(privacy_officer_contact)
    visiting = _clean_text(visiting_address)
    email = _clean_text(contact_email)
    if len(operator) > MAX_LEGAL_TEXT:
        errors.add("legal_operator", _("Use at most %(max)d characters.", max=MAX_LEGAL_TEXT))
    elif has_control_characters(operator, allow_line_breaks=True):
        errors.add("legal_operator", _("Please use plain text without special characters."))
    for field, value, limit in (
        ("responsible_person", person, MAX_NAME),
        ("accessibility_contact", contact, MAX_REASON),
        ("privacy_officer_contact", officer, MAX_REASON),
        ("visiting_address", visiting, MAX_REASON),
    ):
        if len(value) > limit:
            errors.add(field, _("Use at most %(max)d characters.", max=limit))
        elif has_control_characters(value):
            errors.add(field, _("Please use a single line without special characters."))
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
    _commit_change(actor, centre.id, "legal pages changed", now)


# Staff accounts.


class AccountError(ValueError):
    """The command line's account cannot be written as asked; the message says why."""


class PasswordChangeInvalid(ValueError):
    """The own password change is refused; ``errors`` maps each form field to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def normalise_email(email: str) -> str:
    """The normalised form of an e-mail address; AccountError if it is not one."""
    try:
        return validate_email(
            email.strip(), check_deliverability=False, allow_smtputf8=False
        ).normalized
    except EmailNotValidError as error:
        raise AccountError(f"not a valid e-mail address: {email}") from error


def change_own_password(user: User, *, current: str, new: str, confirm: str, now: datetime) -> None:
    """A staff member changes their own password; their other sessions end."""
    errors: dict[str, list[str]] = {}
    if not auth.verify_password(user, current or ""):
        errors["current"] = [_("This is not your current password.")]
    try:
        auth.check_password_policy(new or "", user.email, user.name)
    except auth.PasswordRejected as error:
        errors["new"] = [str(error)]
    else:
        if new == current:
            errors["new"] = [_("Choose a password different from the current one.")]
        elif new != confirm:
            errors["confirm"] = [_("The two passwords are not the same.")]
    if errors:
        db.session.rollback()
        raise PasswordChangeInvalid(errors)
    user.password_hash = auth.hash_password(new)
    user.must_change_password = False
    auth.end_other_sessions(user)
    _commit_change(user, user.centre_id, "own password changed", now, action="password")


def create_or_update_user(
    email: str,
    role: str,
    centre_slugs: list[str],
    password: str,
    name: str | None = None,
    *,
    now: datetime,
) -> tuple[User, bool]:
    """`flask create-user`: create the account, or update role, centres and password of an
    existing one (and reactivate it); the audit log names no person but the command line."""
    email = normalise_email(email)
    if role not in ROLES:
        raise AccountError(f"unknown role {role}")
    centres = []
    for slug in centre_slugs:
        centre = db.session.scalar(select(Centre).where(Centre.slug == slug))
        if centre is None:
            raise AccountError(f"no centre with slug {slug}")
        centres.append(centre)
    if not centres:
        raise AccountError("give the centre with --centre SLUG")
    if role != "admin" and len(centres) > 1:
        raise AccountError("only an admin works for several centres")
    user = auth.find_user_by_email(email)
    try:
        auth.check_password_policy(password, email, name or (user.name if user else None))
    except auth.PasswordRejected as error:
        raise AccountError(f"password refused: {error}") from error

    created = user is None
    if created:
        user = User(email=email, name=name or email.split("@")[0], languages=["de"])
        db.session.add(user)
    elif name:
        user.name = name
    user.role = role
    if not user.holds_appointments:
        user.services = []  # only a role that holds appointments offers services
    user.centre = centres[0]
    user.extra_centres = centres[1:] if role == "admin" else []
    user.password_hash = auth.hash_password(password)
    user.is_active = True
    if not created:
        auth.end_all_sessions(user)
    db.session.flush()
    change = "created" if created else "updated, password set"
    for centre in centres:
        audit.record(
            None,
            "settings",
            centre_id=centre.id,
            detail=f"staff {user.id} {change} as {role} on the command line",
            now=now,
        )
    commit()
    return user, created


def parse_languages(raw: str | None) -> list[str]:
    """ "de, tr ar" -> ["de", "tr", "ar"]; ValueError naming the first unknown code."""
    codes = []
    for part in re.split(r"[\s,;]+", (raw or "").strip().lower()):
        if not part:
            continue
        try:
            if not LANGUAGE_CODE.match(part):
                raise UnknownLocaleError(part)
            Locale.parse(part)
        except (ValueError, UnknownLocaleError) as error:
            raise ValueError(part) from error
        if part not in codes:
            codes.append(part)
    return codes


def _check_holders(errors: _Errors, field: str, users: Iterable[User]) -> None:
    """Only a role that holds appointments may newly offer a service (User.holds_appointments);
    what an account of another role offered before stays until removed."""
    if any(not u.holds_appointments for u in users):
        errors.add(field, _("Only counsellors offer services."))


def _check_staff_fields(
    errors: _Errors, centre_id: int, name: str, languages: str | None, service_ids: Iterable[int]
) -> tuple[list[str], list[Service]]:
    if not name:
        errors.add("name", _("This field is required."))
    else:
        _check_text(errors, "name", name, MAX_NAME)
    codes: list[str] = []
    try:
        codes = parse_languages(languages)
    except ValueError as error:
        errors.add("languages", _("Unknown language code: %(code)s", code=str(error)))
    else:
        if not codes:
            errors.add("languages", _("Enter at least one language code, e.g. de."))
    wanted = set(service_ids)
    chosen = []
    if wanted:
        chosen = list(
            db.session.scalars(
                select(Service)
                .where(Service.centre_id == centre_id, Service.id.in_(wanted))
                .order_by(Service.position)
            )
        )
        if len(chosen) != len(wanted):
            errors.add("services", _("Choose services of this centre."))
    return codes, chosen


def create_staff(
    centre: Centre,
    actor: User,
    *,
    email: str | None,
    name: str | None,
    role: str | None,
    languages: str | None,
    service_ids: Iterable[int],
    password: str | None,
    now: datetime,
) -> User:
    """Create a staff account of the centre with an initial password (auth's policy)."""
    errors = _Errors()
    name = _clean_text(name)
    normalized = ""
    try:
        normalized = normalise_email(email or "")
    except AccountError:
        errors.add("email", _("Enter a valid e-mail address."))
    else:
        if auth.find_user_by_email(normalized) is not None:
            errors.add("email", _("An account with this e-mail address exists already."))
    if role not in ROLES:
        errors.add("role", _("Choose a role."))
    codes, chosen = _check_staff_fields(errors, centre.id, name, languages, service_ids)
    if chosen and role not in HOLDING_ROLES:
        errors.add("services", _("Only counsellors offer services."))
    try:
        auth.check_password_policy(password or "", normalized or None, name)
    except auth.PasswordRejected as error:
        errors.add("password", str(error))
    errors.raise_if_any()
    user = User(
        email=normalized,
        name=name,
        role=role,
        centre=centre,
        languages=codes,
        services=chosen,
        password_hash=auth.hash_password(password),
        is_active=True,
        # The admin knows this password: the person chooses their own at first sign-in.
        must_change_password=True,
    )
    db.session.add(user)
    db.session.flush()
    _commit_change(actor, centre.id, f"staff {user.id} created as {role}", now)
    return user


def update_staff(
    user: User,
    actor: User,
    *,
    name: str | None,
    languages: str | None,
    service_ids: Iterable[int],
    now: datetime,
) -> None:
    """Change a staff member's name, languages and the services they offer."""
    errors = _Errors()
    name = _clean_text(name)
    codes, chosen = _check_staff_fields(errors, user.centre_id, name, languages, service_ids)
    if not user.holds_appointments and not {s.id for s in chosen} <= {s.id for s in user.services}:
        errors.add("services", _("Only counsellors offer services."))
    errors.raise_if_any()
    user.name = name
    user.languages = codes
    user.services = chosen
    _commit_change(
        actor,
        user.centre_id,
        f"staff {user.id} changed: languages {codes}, services {[s.slug for s in chosen]}",
        now,
    )


def set_staff_password(
    user: User, actor: User, *, password: str | None, confirm: str | None, now: datetime
) -> None:
    """An admin sets a new password: the account's sessions end, and the person must choose
    their own password at the next sign-in."""
    errors = _Errors()
    password = password or ""
    try:
        auth.check_password_policy(password, user.email, user.name)
    except auth.PasswordRejected as error:
        errors.add("password", str(error))
    else:
        if password != (confirm or ""):
            errors.add("confirm", _("The two passwords are not the same."))
    errors.raise_if_any()
    user.password_hash = auth.hash_password(password)
    user.must_change_password = True
    auth.end_all_sessions(user)
    _commit_change(actor, user.centre_id, f"staff {user.id}: password set", now, action="password")


def deactivate_staff(user: User, actor: User, *, now: datetime) -> None:
    """Deactivate an account: its sessions end at once, its calendar feed address stops
    working for good (reactivating does not bring it back), and it is given no new
    bookings."""
    if user.id == actor.id:
        raise SettingsRefused(_("You cannot deactivate your own account."))
    user.is_active = False
    user.feed_token_hash = None
    auth.end_all_sessions(user)
    _commit_change(actor, user.centre_id, f"staff {user.id} deactivated", now)


def reactivate_staff(user: User, actor: User, *, now: datetime) -> None:
    user.is_active = True
    _commit_change(actor, user.centre_id, f"staff {user.id} reactivated", now)


# Bookings that changed settings no longer allow, and dead mails.


def requeue_mail(message: OutboxMessage, booking: Booking, actor: User, *, now: datetime) -> bool:
    """Send a dead mail again: pending, no attempts, due now. False if it was not dead."""
    if not outbox.requeue_dead(message, now=now):
        db.session.rollback()
        return False
    audit.record(
        actor, "settings", booking, detail=f"{message.kind} mail {message.id} requeued", now=now
    )
    commit()
    return True
