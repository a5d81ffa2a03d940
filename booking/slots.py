"""The slot engine: which appointments can be offered (SPEC "Slot rules").

Pure: no Flask, no database, no clock. Callers pass plain values and ``now``.
Times come in and go out as timezone-aware datetimes in UTC; the rules are
applied in the centre's local wall time.

A slot of a service at a centre is ``[start, start + duration)``. It is offered
only when all of these hold:

1. it lies wholly inside one opening interval of the centre for that date;
2. the date is not a public holiday of the centre's region, and the slot
   overlaps no closure;
3. some counsellor who offers the service (and speaks the requested language)
   is working then, is not absent, and has no active booking overlapping
   ``[start - buffer, end + buffer)``;
4. ``start >= now + min_notice`` and start's local date ``<= today + horizon``;
5. start is on the grid: every ``slot_step`` minutes from the interval's start.

Daylight saving time: the grid is laid in wall time; a wall time that does not
exist (spring forward) gives no slot, one that exists twice (fall back) gives a
slot at its first occurrence only, and ``end = start + duration`` is absolute
time, so a 60-minute slot is 60 real minutes on every day.

An opening (or working) interval spans, in absolute time, from its ``opens`` to
its ``closes`` wall time, each mapped like a grid time; a boundary that falls in
a spring-forward gap is mapped to the instant the gap ends (the first valid
instant after it). An interval whose ``closes`` is not after ``opens`` is empty.

Intervals (closures, absences, bookings) are half-open; an empty one
(``start_at >= end_at``) occupies no time and blocks nothing, as with
PostgreSQL's empty ranges.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

UTC_ZONE = "UTC"


@dataclass(frozen=True)
class Interval:
    """A half-open span of absolute time ``[start_at, end_at)``; aware datetimes."""

    start_at: datetime
    end_at: datetime


@dataclass(frozen=True)
class WeeklyHours:
    """One opening (or working) interval on a weekday, in local wall time.

    ``weekday`` 0 is Monday. ``valid_from``/``valid_until`` bound the dates the
    interval applies to, both inclusive; ``None`` means unbounded.
    """

    weekday: int
    opens: time
    closes: time
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass(frozen=True)
class CentreRules:
    """What the slot engine needs to know about a centre."""

    timezone: str
    opening_hours: tuple[WeeklyHours, ...]
    holiday_region: str = "DE-NW"  # ISO 3166: country, optionally "-" subdivision
    closures: tuple[Interval, ...] = ()
    min_notice: timedelta = timedelta(hours=24)
    horizon_days: int = 56
    slot_step_minutes: int = 30
    buffer: timedelta = timedelta(0)


@dataclass(frozen=True)
class Counsellor:
    """A counsellor as the engine sees them.

    ``working_hours`` of ``None`` means the centre's opening hours.
    ``busy`` holds their active bookings; ``absences`` their absences.
    Languages are lower-case primary subtags ("de", "tr", "ar").
    """

    id: int
    languages: frozenset[str] = frozenset()
    service_slugs: frozenset[str] = frozenset()
    working_hours: tuple[WeeklyHours, ...] | None = None
    absences: tuple[Interval, ...] = ()
    busy: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class Slot:
    """An offered slot and the counsellors free for all of it."""

    start_at: datetime
    end_at: datetime
    counsellor_ids: tuple[int, ...] = field(default=())


def available_slots(
    rules: CentreRules,
    service_slug: str,
    duration: timedelta,
    counsellors: list[Counsellor] | tuple[Counsellor, ...],
    date_from: date,
    date_to: date,
    now: datetime,
    language: str | None = None,
) -> list[Slot]:
    """Return the free slots whose local start date lies in ``[date_from, date_to]``, in order."""
    _check_arguments(rules, duration, now)
    tz = ZoneInfo(rules.timezone)
    earliest_start_at = _earliest_start(rules, now)
    first_day, last_day = _bookable_days(rules, tz, now, date_from, date_to)
    candidates = _counsellors_offering(counsellors, service_slug, language, rules.buffer)
    if first_day > last_day or not candidates:
        return []

    step = timedelta(minutes=rules.slot_step_minutes)
    closures = _Timeline.of(rules.closures)
    slots: dict[datetime, Slot] = {}
    for day in _days(first_day, last_day):
        if _is_public_holiday(rules.holiday_region, day):
            continue
        for candidate in candidates:
            candidate.start_day(day, tz)
        for opening in _spans_on(rules.opening_hours, day, tz):
            for start_at in _grid(opening, day, step, tz):
                end_at = start_at + duration
                if start_at in slots or not _is_within(opening, start_at, end_at):
                    continue
                if start_at < earliest_start_at or closures.overlaps(start_at, end_at):
                    continue
                free_ids = tuple(c.id for c in candidates if c.is_free(start_at, end_at))
                if free_ids:
                    slots[start_at] = Slot(start_at, end_at, free_ids)
    return sorted(slots.values(), key=lambda slot: slot.start_at)


def _check_arguments(rules: CentreRules, duration: timedelta, now: datetime) -> None:
    """Raise ValueError for arguments no rule can be applied to."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if duration <= timedelta(0):
        raise ValueError("duration must be positive")
    if rules.slot_step_minutes <= 0:
        raise ValueError("slot_step_minutes must be positive")


# Rule 1 and rule 5: opening intervals and the grid, in wall time.


@dataclass(frozen=True)
class _Span:
    """One opening or working interval of one date: its wall opening and absolute bounds."""

    opens_wall: datetime  # naive local wall time; the grid is laid from here
    closes_wall: datetime
    start_at: datetime  # UTC
    end_at: datetime  # UTC


def _hours_on(hours: Iterable[WeeklyHours], day: date) -> list[WeeklyHours]:
    """Return the weekly intervals that apply on ``day`` (its weekday, within validity)."""
    return [
        h
        for h in hours
        if h.weekday == day.weekday()
        and (h.valid_from is None or h.valid_from <= day)
        and (h.valid_until is None or day <= h.valid_until)
        and h.opens < h.closes
    ]


def _spans_on(hours: Iterable[WeeklyHours], day: date, tz: ZoneInfo) -> list[_Span]:
    """Return the intervals of ``day`` with their absolute bounds, earliest first."""
    spans = []
    for h in _hours_on(hours, day):
        opens_wall = datetime.combine(day, h.opens)
        closes_wall = datetime.combine(day, h.closes)
        start_at = _boundary_to_utc(opens_wall, tz)
        end_at = _boundary_to_utc(closes_wall, tz)
        if start_at < end_at:
            spans.append(_Span(opens_wall, closes_wall, start_at, end_at))
    return sorted(spans, key=lambda span: span.start_at)


def _is_within(span: _Span, start_at: datetime, end_at: datetime) -> bool:
    """Rule 1: the whole slot lies inside the interval's absolute span."""
    return span.start_at <= start_at and end_at <= span.end_at


def _grid(span: _Span, day: date, step: timedelta, tz: ZoneInfo) -> Iterator[datetime]:
    """Rule 5: yield the UTC starts on the wall-time grid opens, opens + step, ...

    Steps are counted on the wall clock so that 09:00, 09:30 stay on the grid after
    a DST switch earlier that day; wall times that do not exist are skipped.
    """
    wall = span.opens_wall
    while wall < span.closes_wall:
        start_at = _wall_to_utc(wall, tz)
        if start_at is not None:
            yield start_at
        wall += step


def _wall_to_utc(wall: datetime, tz: ZoneInfo) -> datetime | None:
    """Return the UTC instant a naive wall time names (its first, if two); None if none.

    fold=0 picks the first occurrence of a repeated wall time. A wall time in a
    spring-forward gap does not survive the round trip through UTC.
    """
    instant = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != wall:
        return None
    return instant


def _boundary_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """Map an interval boundary to UTC; one inside a gap becomes the instant the gap ends."""
    instant = _wall_to_utc(wall, tz)
    return instant if instant is not None else _end_of_gap(wall, tz)


def _end_of_gap(wall: datetime, tz: ZoneInfo) -> datetime:
    """Return the first instant after the DST gap that swallows the wall time ``wall``."""
    # With fold=1 a gap time is read with the offset after the switch (an instant
    # before it), with fold=0 with the offset before (an instant after it); the
    # switch lies between. zoneinfo has no public transition list, so bisect seconds.
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    after = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    offset_after = after.astimezone(tz).utcoffset()
    low, high = 0, int((after - before).total_seconds())
    while low < high:
        middle = (low + high) // 2
        if (before + timedelta(seconds=middle)).astimezone(tz).utcoffset() == offset_after:
            high = middle
        else:
            low = middle + 1
    return before + timedelta(seconds=low)


# Rule 2: public holidays and closures.


def _is_public_holiday(region: str, day: date) -> bool:
    """Rule 2: ``day`` is a public holiday of ``region`` ("DE" or "DE-NW")."""
    return day in _public_holidays(region, day.year)


@lru_cache(maxsize=64)
def _public_holidays(region: str, year: int) -> frozenset[date]:
    """Return the public holidays of ``region`` in ``year``; cached, the table is slow to build."""
    country, _, subdivision = region.partition("-")
    try:
        table = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    except NotImplementedError as error:
        raise ValueError(f"unknown holiday region {region!r}") from error
    return frozenset(table)


@dataclass(frozen=True)
class _Timeline:
    """Disjoint, sorted UTC intervals answering "does [start, end) overlap any?" by bisection."""

    starts: tuple[datetime, ...]
    ends: tuple[datetime, ...]

    @classmethod
    def of(cls, intervals: Iterable[Interval], widen_by: timedelta = timedelta(0)) -> _Timeline:
        """Build a timeline from ``intervals``, each widened by ``widen_by`` on both sides.

        Overlapping and touching intervals are merged, so the last interval that starts
        before a slot ends is the only one that can reach into the slot.
        """
        spans = sorted(
            (
                interval.start_at.astimezone(UTC) - widen_by,
                interval.end_at.astimezone(UTC) + widen_by,
            )
            for interval in intervals
            if interval.start_at < interval.end_at
        )
        starts: list[datetime] = []
        ends: list[datetime] = []
        for start_at, end_at in spans:
            if ends and start_at <= ends[-1]:
                ends[-1] = max(ends[-1], end_at)
            else:
                starts.append(start_at)
                ends.append(end_at)
        return cls(tuple(starts), tuple(ends))

    def overlaps(self, start_at: datetime, end_at: datetime) -> bool:
        """Half-open overlap: some interval has ``start < end_at`` and ``start_at < end``."""
        last = bisect_left(self.starts, end_at) - 1
        return last >= 0 and start_at < self.ends[last]


# Rule 3: counsellors.


def _primary_subtag(language: str) -> str:
    """Return the lower-case primary subtag of a BCP 47 tag: "tr-TR" -> "tr"."""
    return language.replace("_", "-").split("-", 1)[0].strip().lower()


class _Candidate:
    """A counsellor who offers the service, with their times prepared for fast checks."""

    def __init__(self, counsellor: Counsellor, buffer: timedelta) -> None:
        self.id = counsellor.id
        self.working_hours = counsellor.working_hours
        self.absences = _Timeline.of(counsellor.absences)
        # Widening each booking by the buffer is the same as widening the slot.
        self.busy = _Timeline.of(counsellor.busy, widen_by=buffer)
        self.working_spans: list[_Span] = []

    def start_day(self, day: date, tz: ZoneInfo) -> None:
        """Work out this counsellor's working intervals for ``day``."""
        if self.working_hours is not None:
            self.working_spans = _spans_on(self.working_hours, day, tz)

    def is_working(self, start_at: datetime, end_at: datetime) -> bool:
        """The whole slot lies in one working interval; default hours are the opening hours."""
        if self.working_hours is None:
            return True  # rule 1 has already placed the slot inside an opening interval
        return any(_is_within(span, start_at, end_at) for span in self.working_spans)

    def is_free(self, start_at: datetime, end_at: datetime) -> bool:
        """Rule 3: working, not absent, and no booking within the buffer of the slot."""
        return (
            self.is_working(start_at, end_at)
            and not self.absences.overlaps(start_at, end_at)
            and not self.busy.overlaps(start_at, end_at)
        )


def _counsellors_offering(
    counsellors: Sequence[Counsellor], service_slug: str, language: str | None, buffer: timedelta
) -> list[_Candidate]:
    """Rule 3: the counsellors who offer the service and speak the language, sorted by id."""
    wanted = _primary_subtag(language) if language else None  # "" asks for no language
    chosen = [
        c
        for c in counsellors
        if service_slug in c.service_slugs
        and (wanted is None or wanted in {_primary_subtag(spoken) for spoken in c.languages})
    ]
    return [_Candidate(c, buffer) for c in sorted(chosen, key=lambda c: c.id)]


# Rule 4: notice and horizon.


def _earliest_start(rules: CentreRules, now: datetime) -> datetime:
    """Rule 4: the first instant a slot may start, ``now + min_notice``, in UTC."""
    return now.astimezone(UTC) + rules.min_notice


def _bookable_days(
    rules: CentreRules, tz: ZoneInfo, now: datetime, date_from: date, date_to: date
) -> tuple[date, date]:
    """Rule 4: narrow the asked dates to those from the notice's date to today + horizon."""
    today = now.astimezone(tz).date()
    first_day = max(date_from, _earliest_start(rules, now).astimezone(tz).date())
    last_day = min(date_to, today + timedelta(days=rules.horizon_days))
    return first_day, last_day


def _days(first_day: date, last_day: date) -> Iterator[date]:
    """Yield the dates from ``first_day`` to ``last_day``, both included."""
    for ordinal in range(first_day.toordinal(), last_day.toordinal() + 1):
        yield date.fromordinal(ordinal)


# An appointment already made, checked against today's rules.

OUTSIDE_OPENING_HOURS = "outside_opening_hours"
PUBLIC_HOLIDAY = "public_holiday"
CLOSURE = "closure"
COUNSELLOR_NOT_WORKING = "counsellor_not_working"
COUNSELLOR_ABSENT = "counsellor_absent"


def reasons_unavailable(
    rules: CentreRules, counsellor: Counsellor, start_at: datetime, end_at: datetime
) -> list[str]:
    """Why an existing appointment no longer fits rules 1–3; empty when it still fits.

    Used after hours, closures or absences change: such a booking is listed for a person to
    handle, never dropped. Notice, horizon and grid (rules 4 and 5) are left out on
    purpose: they govern new bookings, not ones already made. The counsellor's other
    bookings are left out too: the database already keeps them from overlapping.
    """
    tz = ZoneInfo(rules.timezone)
    day = start_at.astimezone(tz).date()
    reasons = []
    if not any(_is_within(s, start_at, end_at) for s in _spans_on(rules.opening_hours, day, tz)):
        reasons.append(OUTSIDE_OPENING_HOURS)
    if _is_public_holiday(rules.holiday_region, day):
        reasons.append(PUBLIC_HOLIDAY)
    if _Timeline.of(rules.closures).overlaps(start_at, end_at):
        reasons.append(CLOSURE)
    if counsellor.working_hours is not None and not any(
        _is_within(s, start_at, end_at) for s in _spans_on(counsellor.working_hours, day, tz)
    ):
        reasons.append(COUNSELLOR_NOT_WORKING)
    if _Timeline.of(counsellor.absences).overlaps(start_at, end_at):
        reasons.append(COUNSELLOR_ABSENT)
    return reasons
