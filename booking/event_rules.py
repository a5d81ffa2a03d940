"""The rules of SPEC "Events" as pure functions: seats, the waiting list, series, closing.

No Flask, no database, no clock: the writer (booking/events.py) passes the counts and
times it read under the event's lock, and tests call these directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Registration closes this long before the start unless the admin says otherwise.
DEFAULT_CLOSING = timedelta(hours=24)
MAX_SEATS = 500
# A series is made as separate events: every week or every second week, at most this many.
SERIES_INTERVALS = {"weekly": 1, "fortnightly": 2}
MAX_SERIES = 52


@dataclass(frozen=True)
class Waiting:
    """A waiting registration: its id (the order of arrival) and its persons."""

    id: int
    persons: int


def decide(persons: int, seats: int, confirmed_persons: int, has_waiting_list: bool) -> str:
    """ "confirmed" when the whole party fits the free seats, else "waiting" where the event
    keeps a waiting list, else "full". A party is never split."""
    if confirmed_persons + persons <= seats:
        return "confirmed"
    return "waiting" if has_waiting_list else "full"


def promote(free_seats: int, waiting: Iterable[Waiting]) -> list[int]:
    """The waiting registrations confirmed when ``free_seats`` are free: in order of arrival,
    each whose persons still fit (a party that does not fit keeps its place)."""
    chosen = []
    for entry in sorted(waiting, key=lambda w: w.id):
        if entry.persons <= free_seats:
            chosen.append(entry.id)
            free_seats -= entry.persons
    return chosen


def waiting_position(registration_id: int, waiting_ids: Iterable[int]) -> int:
    """1 for the first in line; the order is the order of arrival."""
    return sum(1 for other in waiting_ids if other < registration_id) + 1


def date_window(
    first: date | None, last: date | None, zone: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """The instants that bound the days ``first`` to ``last`` (both included, either may be
    None) in the centre's wall time: midnight of ``first``, midnight after ``last``."""
    start = datetime.combine(first, time.min, zone) if first else None
    end = datetime.combine(last + timedelta(days=1), time.min, zone) if last else None
    return start, end


def starts_in_window(start_at: datetime, window: tuple[datetime | None, datetime | None]) -> bool:
    """True when an event starting at ``start_at`` starts on the days of date_window."""
    start, end = window
    return (start is None or start_at >= start) and (end is None or start_at < end)


def default_closing(start_at: datetime) -> datetime:
    """Registration closes 24 hours before the start."""
    return start_at - DEFAULT_CLOSING


def series_times(
    first_day: date,
    starts: time,
    ends: time,
    timezone: str,
    *,
    repeat: str | None = None,
    count: int = 1,
) -> list[tuple[datetime, datetime]]:
    """The (start, end) of each event of a series, at the same local wall time every time,
    across the changes to and from summer time; aware datetimes in the centre's zone.

    Each date's wall time is resolved on its own date, so a series of 15:00 stays at 15:00
    local (13:00 UTC in summer, 14:00 UTC in winter). ``repeat`` None makes one event."""
    if ends <= starts:
        raise ValueError("the end must come after the start")
    if repeat is None:
        count = 1
    elif repeat not in SERIES_INTERVALS:
        raise ValueError(f"unknown repeat {repeat!r}")
    if not 1 <= count <= MAX_SERIES:
        raise ValueError("count out of range")
    zone = ZoneInfo(timezone)
    step = timedelta(weeks=SERIES_INTERVALS.get(repeat or "weekly", 1))
    times = []
    for i in range(count):
        day = first_day + step * i
        start_at = _wall(day, starts, zone)
        end_at = _wall(day, ends, zone)
        times.append((start_at, end_at))
    return times


def _wall(day: date, at: time, zone: ZoneInfo) -> datetime:
    """``day`` at ``at`` in ``zone``; a time in the hour skipped in spring means the one
    after it (02:30 on the last Sunday of March is 03:30)."""
    local = datetime.combine(day, at, zone)
    # A wall time that does not exist does not survive the round trip through UTC.
    back = local.astimezone(ZoneInfo("UTC")).astimezone(zone)
    if back.replace(tzinfo=None) != local.replace(tzinfo=None):
        return back
    return local
