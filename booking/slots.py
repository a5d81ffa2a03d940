"""The slot engine: which appointments can be offered (SPEC "Slot rules").

Pure: no Flask, no database, no clock. Callers pass plain values and ``now``.
Times come in and go out as timezone-aware datetimes in UTC; the rules are
applied in the centre's local wall time.

A slot of a service at a centre is ``[start, start + duration)``. It is offered
only when all of these hold:

1. it lies wholly inside one opening interval of the centre for that date;
2. the date is not a public holiday of the centre's region, and the slot
   overlaps no closure;
3. for every role the service needs (a counsellor; for a joint appointment also a
   school supervision officer), someone of that role who offers the service (the
   counsellor speaking the requested language) is working then, is not absent, and is
   not busy within ``[start - buffer, end + buffer)``: AND across the roles, OR within
   one;
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

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache, partial
from itertools import compress, repeat
from operator import add, attrgetter, lt, sub
from typing import NamedTuple
from zoneinfo import ZoneInfo

import holidays

from booking.needs import Need

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


# The roles a staff member can hold an appointment in. The counsellor is the one who must
# speak the family's language; a school supervision officer joins the Seiteneinsteiger-
# beratung (SPEC "Invitations and joint appointments").
COUNSELLOR = "counsellor"
OFFICER = "school_supervision"
LANGUAGE_ROLE = COUNSELLOR


@dataclass(frozen=True)
class Counsellor:
    """A staff member who can hold appointments, as the engine sees them.

    ``role`` is the role they hold appointments in (COUNSELLOR or OFFICER).
    ``working_hours`` of ``None`` means the centre's opening hours.
    ``busy`` holds whatever makes them busy; ``absences`` their absences.
    Languages are lower-case primary subtags ("de", "tr", "ar").
    """

    id: int
    languages: frozenset[str] = frozenset()
    service_slugs: frozenset[str] = frozenset()
    working_hours: tuple[WeeklyHours, ...] | None = None
    absences: tuple[Interval, ...] = ()
    busy: tuple[Interval, ...] = ()
    role: str = COUNSELLOR


class Slot(NamedTuple):
    """An offered slot and who is free for all of it: the counsellors, and for each further
    role the service needs, that role and its free people.

    A named tuple: the engine makes one per offered slot, and it is the cheapest to make.
    """

    start_at: datetime
    end_at: datetime
    counsellor_ids: tuple[int, ...] = ()
    others: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def ids_of(self, role: str) -> tuple[int, ...]:
        """The people of ``role`` free for the whole slot."""
        if role == COUNSELLOR:
            return self.counsellor_ids
        return next((ids for name, ids in self.others if name == role), ())


# A Slot from a tuple of its four fields, made without a Python step.
_new_slot = partial(tuple.__new__, Slot)


def available_slots(
    rules: CentreRules,
    service_slug: str,
    duration: timedelta,
    counsellors: list[Counsellor] | tuple[Counsellor, ...],
    date_from: date,
    date_to: date,
    now: datetime,
    language: str | None = None,
    roles: tuple[str, ...] = (COUNSELLOR,),
) -> list[Slot]:
    """Return the free slots whose local start date lies in ``[date_from, date_to]``, in order.

    ``roles`` are the roles the service needs, one person of each at once; the first must
    be COUNSELLOR (the one who speaks ``language``).

    The grid of candidate starts is laid once for all days; each rule then strikes out
    the starts it forbids, an interval at a time rather than a slot at a time. The wall-time
    rules place the grid in whole microseconds since the epoch (UTC); closures, absences and
    bookings are compared as the datetimes they are with the grid's start and end datetimes,
    so that none of them is converted.
    """
    _check_arguments(rules, duration, now)
    tz = ZoneInfo(rules.timezone)
    earliest_start_at = _micros(_earliest_start(rules, now))
    first_day, last_day = _bookable_days(rules, tz, now, date_from, date_to)
    if not roles or roles[0] != COUNSELLOR or len(set(roles)) != len(roles):
        raise ValueError("roles must name the counsellor first, each role once")
    groups = [
        _counsellors_offering(
            counsellors,
            service_slug,
            language if role == LANGUAGE_ROLE else None,
            rules.buffer,
            role,
        )
        for role in roles
    ]
    if first_day > last_day or not all(groups):
        return []

    length = duration // _MICROSECOND
    days, grid = _laid_grid(
        rules.opening_hours,
        rules.timezone,
        rules.holiday_region,
        first_day,
        last_day,
        rules.slot_step_minutes,
        duration,
    )
    # Rule 4: no start before the notice.
    grid = grid.from_start(earliest_start_at)
    # Rule 2: no slot overlapping a closure.
    if rules.closures:
        free = [True] * len(grid.starts)
        _strike_overlapping(rules.closures, grid, free)
        grid = grid.where(free)
    # Rule 3: a row per person, True where they are free for the slot at that start.
    rows = [candidate.free_at(grid, length, days) for candidate in groups[0]]
    ids = [candidate.id for candidate in groups[0]]
    if len(roles) == 1:
        # zip(*rows) gives one column per start: which counsellors are free then; a start
        # with someone free is a slot. (Built by map() and compress(), without a Python
        # step per start.)
        free_ids = list(map(tuple, map(compress, repeat(ids), zip(*rows, strict=True))))
        return list(
            map(
                _new_slot,
                zip(
                    compress(grid.start_ats, free_ids),
                    compress(grid.end_ats, free_ids),
                    compress(free_ids, free_ids),
                    repeat(()),
                ),
            )
        )
    slots = []
    # Several roles: AND across the roles, OR within one.
    others = [
        (role, [c.id for c in group], [c.free_at(grid, length, days) for c in group])
        for role, group in zip(roles[1:], groups[1:], strict=True)
    ]
    columns = [zip(*rows, strict=True)] + [zip(*other, strict=True) for _, _, other in others]
    for start, end, column, *other_columns in zip(
        grid.start_ats, grid.end_ats, *columns, strict=True
    ):
        free_ids = tuple(compress(ids, column))
        if not free_ids:
            continue
        free_others = tuple(
            (role, tuple(compress(other_ids, other_column)))
            for (role, other_ids, _), other_column in zip(others, other_columns, strict=True)
        )
        if all(free for _, free in free_others):
            slots.append(Slot(start, end, free_ids, free_others))
    return slots


def _check_arguments(rules: CentreRules, duration: timedelta, now: datetime) -> None:
    """Raise ValueError for arguments no rule can be applied to."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if duration <= timedelta(0):
        raise ValueError("duration must be positive")
    if rules.slot_step_minutes <= 0:
        raise ValueError("slot_step_minutes must be positive")


# Absolute time inside the engine: microseconds since the epoch, UTC.

_MICROSECOND = timedelta(microseconds=1)
_MICROS_PER_MINUTE = 60_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_NO_TIME = timedelta(0)
_START_AT = attrgetter("start_at")
_END_AT = attrgetter("end_at")


def _micros(instant: datetime) -> int:
    """An aware datetime as microseconds since the epoch."""
    return (instant - _EPOCH) // _MICROSECOND


def _micros_of_day(wall: time) -> int:
    """A wall clock time as microseconds since midnight."""
    return ((wall.hour * 60 + wall.minute) * 60 + wall.second) * 1_000_000 + wall.microsecond


# Rule 1 and rule 5: opening intervals and the grid, in wall time.


class _Day:
    """One local date, and where its wall clock times lie in absolute time."""

    def __init__(self, day: date, tz: ZoneInfo) -> None:
        self.date = day
        self.tz = tz
        midnight = datetime.combine(day, time())
        offset = tz.utcoffset(midnight)
        # Most days keep one UTC offset from midnight to midnight: then every wall time
        # of the day exists once and maps by one subtraction. Only days with a DST switch
        # map each wall time through zoneinfo (fold=1 catches a switch at midnight itself).
        is_one_offset = offset == tz.utcoffset(midnight.replace(fold=1)) and offset == tz.utcoffset(
            midnight + timedelta(days=1)
        )
        self.midnight_at = (
            (midnight - _NAIVE_EPOCH - offset) // _MICROSECOND if is_one_offset else None
        )

    def _wall(self, micros_of_day: int) -> datetime:
        return datetime.combine(self.date, time()) + timedelta(microseconds=micros_of_day)

    def wall_to_utc(self, micros_of_day: int) -> int | None:
        """The instant of a wall time (its first, if two); None if it does not exist."""
        if self.midnight_at is not None:
            return self.midnight_at + micros_of_day
        instant = _wall_to_utc(self._wall(micros_of_day), self.tz)
        return None if instant is None else _micros(instant)

    def boundary_to_utc(self, micros_of_day: int) -> int:
        """The instant of an interval boundary; one in a gap becomes the instant the gap ends."""
        if self.midnight_at is not None:
            return self.midnight_at + micros_of_day
        return _micros(_boundary_to_utc(self._wall(micros_of_day), self.tz))


@dataclass(frozen=True)
class _Span:
    """One opening or working interval of one date: its wall times and absolute bounds."""

    opens: int  # wall time, microseconds since local midnight; the grid is laid from here
    closes: int
    start_at: int  # microseconds since the epoch
    end_at: int


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


def _spans_on(hours: Iterable[WeeklyHours], day: _Day) -> list[_Span]:
    """Return the intervals of ``day`` with their absolute bounds, earliest first."""
    spans = []
    for h in _hours_on(hours, day.date):
        opens, closes = _micros_of_day(h.opens), _micros_of_day(h.closes)
        start_at, end_at = day.boundary_to_utc(opens), day.boundary_to_utc(closes)
        if start_at < end_at:
            spans.append(_Span(opens, closes, start_at, end_at))
    return sorted(spans, key=lambda span: span.start_at)


def _is_within(span: _Span, start_at: int, end_at: int) -> bool:
    """Rule 1: the whole slot lies inside the interval's absolute span."""
    return span.start_at <= start_at and end_at <= span.end_at


def _grid(span: _Span, day: _Day, step: int) -> list[int]:
    """Rule 5: the starts on the wall-time grid opens, opens + step, ... before closes.

    Steps are counted on the wall clock so that 09:00, 09:30 stay on the grid after
    a DST switch earlier that day; wall times that do not exist are skipped.
    """
    walls = range(span.opens, span.closes, step)
    if day.midnight_at is not None:
        return [day.midnight_at + wall for wall in walls]
    return [start_at for wall in walls if (start_at := day.wall_to_utc(wall)) is not None]


def _opening_starts(opening: _Span, day: _Day, step: int, length: int) -> list[int]:
    """Rules 1 and 5: the grid starts whose slot lies inside the opening interval; a run of
    the ascending grid."""
    grid = _grid(opening, day, step)
    first = bisect_left(grid, opening.start_at)
    last = bisect_right(grid, opening.end_at - length)
    return grid[first:last]


@lru_cache(maxsize=128)
def _laid_grid(
    opening_hours: tuple[WeeklyHours, ...],
    timezone: str,
    holiday_region: str,
    first_day: date,
    last_day: date,
    slot_step_minutes: int,
    duration: timedelta,
) -> tuple[tuple[_Day, ...], _Grid]:
    """Rules 1, 2 (public holidays) and 5 for the dates ``first_day..last_day``: the dates
    that are not public holidays, and the candidate starts, each once, ascending.

    Kept per process, as a function of these values alone (neither is ever changed): a
    search of the same service and weeks lays the same grid, whatever ``now`` and the
    bookings are."""
    tz = ZoneInfo(timezone)
    step = slot_step_minutes * _MICROS_PER_MINUTE
    length = duration // _MICROSECOND
    days = tuple(
        _Day(day, tz)
        for day in _days(first_day, last_day)
        if not is_public_holiday(holiday_region, day)  # rule 2
    )
    starts = {
        start_at
        for day in days
        for opening in _spans_on(opening_hours, day)
        for start_at in _opening_starts(opening, day, step, length)
    }
    return days, _Grid(sorted(starts), duration)


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


def is_public_holiday(region: str, day: date) -> bool:
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


class _Grid:
    """The candidate starts, ascending: as microseconds since the epoch (for the wall-time
    rules) and as the aware UTC datetimes of each slot's start and end.

    Closures, absences and bookings are compared with the datetimes as they come: an
    interval is never converted, which is most of the engine's work with many bookings.
    """

    def __init__(self, starts: list[int], duration: timedelta) -> None:
        self.starts = tuple(starts)
        self.start_ats = tuple(_EPOCH + start_at * _MICROSECOND for start_at in starts)
        self.end_ats = tuple(start + duration for start in self.start_ats)

    @staticmethod
    def _of(starts, start_ats, end_ats) -> _Grid:
        grid = _Grid.__new__(_Grid)
        grid.starts, grid.start_ats, grid.end_ats = tuple(starts), tuple(start_ats), tuple(end_ats)
        return grid

    def where(self, keep: list[bool]) -> _Grid:
        """The starts whose ``keep`` is true."""
        return self._of(
            compress(self.starts, keep),
            compress(self.start_ats, keep),
            compress(self.end_ats, keep),
        )

    def from_start(self, earliest_start_at: int) -> _Grid:
        """The starts at or after ``earliest_start_at``."""
        first = bisect_left(self.starts, earliest_start_at)
        if first == 0:
            return self
        return self._of(self.starts[first:], self.start_ats[first:], self.end_ats[first:])


def _strike_overlapping(
    intervals: Sequence[Interval], grid: _Grid, free: list[bool], widen_by: timedelta = _NO_TIME
) -> None:
    """Set ``free[k]`` to False for each slot of the grid that overlaps an interval, each
    widened by ``widen_by`` on both sides (half-open; an empty interval blocks nothing).
    The slots are ascending, so an interval strikes out a run: those ending after it starts
    and starting before it ends. The bounds are read and looked up by map(), without a
    Python step per interval; only a run to strike out costs one."""
    if not intervals:
        return
    starts = list(map(_START_AT, intervals))
    ends = list(map(_END_AT, intervals))
    if not all(map(lt, starts, ends)):
        kept = [(start, end) for start, end in zip(starts, ends, strict=True) if start < end]
        starts = [start for start, _ in kept]
        ends = [end for _, end in kept]
    if widen_by:
        starts = map(sub, starts, repeat(widen_by))
        ends = map(add, ends, repeat(widen_by))
    lows = map(bisect_right, repeat(grid.end_ats), starts)  # slots ending after it starts
    highs = map(bisect_left, repeat(grid.start_ats), ends)  # slots starting before it ends
    for low, high in zip(lows, highs, strict=True):
        if low < high:
            free[low:high] = [False] * (high - low)


def _overlaps(intervals: Iterable[Interval], start_at: datetime, end_at: datetime) -> bool:
    """Half-open overlap with some non-empty interval."""
    return any(
        i.start_at < i.end_at and i.start_at < end_at and start_at < i.end_at for i in intervals
    )


# Rule 3: counsellors.


class _Candidate:
    """A counsellor who offers the service."""

    def __init__(self, counsellor: Counsellor, buffer: timedelta) -> None:
        self.id = counsellor.id
        self.working_hours = counsellor.working_hours
        self.absences = counsellor.absences
        self.busy = counsellor.busy
        self.buffer = buffer

    def free_at(self, grid: _Grid, length: int, days: list[_Day]) -> list[bool]:
        """Rule 3, for each start of the grid: working for the whole slot, not absent, and
        no booking within the buffer of it."""
        starts = grid.starts
        if self.working_hours is None:
            # Rule 1 has already placed each slot inside an opening interval.
            free = [True] * len(starts)
        else:
            free = [False] * len(starts)
            for day in days:
                for span in _spans_on(self.working_hours, day):
                    low = bisect_left(starts, span.start_at)
                    high = bisect_right(starts, span.end_at - length)
                    free[low:high] = [True] * (high - low)
        _strike_overlapping(self.absences, grid, free)
        # Widening each booking by the buffer is the same as widening the slot.
        _strike_overlapping(self.busy, grid, free, self.buffer)
        return free


def _counsellors_offering(
    counsellors: Sequence[Counsellor],
    service_slug: str,
    language: str | None,
    buffer: timedelta,
    role: str = COUNSELLOR,
) -> list[_Candidate]:
    """Rule 3: the people of ``role`` who offer the service and speak the language
    (``Need.spoken`` of booking/needs.py), sorted by id."""
    need = Need(language or None)  # "" asks for no language
    chosen = [
        c
        for c in counsellors
        if c.role == role and service_slug in c.service_slugs and need.is_met_by(c.languages)
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
    local_day = start_at.astimezone(tz).date()
    day = _Day(local_day, tz)
    start, end = _micros(start_at), _micros(end_at)
    reasons = []
    if not any(_is_within(s, start, end) for s in _spans_on(rules.opening_hours, day)):
        reasons.append(OUTSIDE_OPENING_HOURS)
    if is_public_holiday(rules.holiday_region, local_day):
        reasons.append(PUBLIC_HOLIDAY)
    if _overlaps(rules.closures, start_at, end_at):
        reasons.append(CLOSURE)
    if counsellor.working_hours is not None and not any(
        _is_within(s, start, end) for s in _spans_on(counsellor.working_hours, day)
    ):
        reasons.append(COUNSELLOR_NOT_WORKING)
    if _overlaps(counsellor.absences, start_at, end_at):
        reasons.append(COUNSELLOR_ABSENT)
    return reasons
