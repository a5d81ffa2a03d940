"""Time the slot engine: Herne's hours, 10 counsellors, 1,000 bookings, 8 weeks of one service.

Then the growth table: 1, 10 and 50 counsellors over 8 weeks, and 1, 8 and 26 weeks with
10 counsellors, each at the same density of bookings (100 per counsellor in 8 weeks).
The time per counsellor-day should stay about the same down each column.

Run from the repository root: ``python benchmarks/bench_slots.py [repetitions]``.
"""

import random
import statistics
import sys
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from booking.slots import (  # noqa: E402  (the path must be set first)
    CentreRules,
    Counsellor,
    Interval,
    WeeklyHours,
    _laid_grid,
    available_slots,
)

BERLIN = ZoneInfo("Europe/Berlin")
HERNE_HOURS = (
    *(WeeklyHours(weekday, time(8), time(16)) for weekday in range(4)),
    WeeklyHours(4, time(8), time(13)),
)
SERVICE = "beratung-2"
DURATION = timedelta(minutes=60)
COUNSELLORS = 10
BOOKINGS = 1_000
DAYS = 56
FIRST_DAY = date(2026, 11, 2)
NOW = datetime(2026, 11, 1, 8, 0, tzinfo=BERLIN)
TARGET_MS = 2.0
# Bookings per counsellor and day in the growth table: 1,000 / (10 counsellors * 56 days).
DENSITY = BOOKINGS / (COUNSELLORS * DAYS)


def make_counsellors(
    seed: int = 1, counsellors: int = COUNSELLORS, days: int = DAYS, bookings: int = BOOKINGS
) -> list[Counsellor]:
    """Spread non-overlapping 45- and 60-minute bookings over the counsellors' weekdays."""
    rng = random.Random(seed)
    booked: dict[int, set[datetime]] = {n: set() for n in range(1, counsellors + 1)}
    busy: dict[int, list[Interval]] = {n: [] for n in booked}
    workdays = [
        FIRST_DAY + timedelta(days=n)
        for n in range(days)
        if (FIRST_DAY + timedelta(days=n)).weekday() < 5
    ]
    while sum(len(intervals) for intervals in busy.values()) < bookings:
        counsellor_id = rng.randrange(1, counsellors + 1)
        day = rng.choice(workdays)
        closes = 13 if day.weekday() == 4 else 16
        hour = rng.randrange(8, closes)  # whole hours, so bookings of one counsellor never overlap
        start_at = datetime.combine(day, time(hour), tzinfo=BERLIN).astimezone(UTC)
        if start_at in booked[counsellor_id]:
            continue
        booked[counsellor_id].add(start_at)
        length = timedelta(minutes=rng.choice([45, 60]))
        busy[counsellor_id].append(Interval(start_at, start_at + length))
    return [
        Counsellor(
            id=n,
            languages=frozenset({"de", "tr"} if n % 2 else {"de", "ar"}),
            service_slugs=frozenset({"beratung-1", SERVICE}),
            busy=tuple(rng.sample(busy[n], len(busy[n]))),  # unsorted, as a query might give them
        )
        for n in booked
    ]


def time_engine(
    counsellors: int, days: int, bookings: int, repetitions: int, grid_anew: bool = False
) -> tuple:
    """Median and min wall time, and median CPU time, in ms of ``repetitions`` runs over
    ``days`` days, and the slot count. The CPU time of the process barely moves when others
    share the machine; the wall time does. The engine keeps the grid of the days asked for
    (``slots._laid_grid``); ``grid_anew`` lays it anew in each run, as the first search of
    those days in a process does."""
    rules = CentreRules(timezone="Europe/Berlin", opening_hours=HERNE_HOURS, horizon_days=days)
    people = make_counsellors(counsellors=counsellors, days=days, bookings=bookings)
    last_day = FIRST_DAY + timedelta(days=days - 1)

    def run() -> list:
        return available_slots(rules, SERVICE, DURATION, people, FIRST_DAY, last_day, NOW)

    slots = run()  # warm-up: imports, holiday tables, zoneinfo caches
    timings_ms, cpu_ms = [], []
    for _ in range(repetitions):
        if grid_anew:
            _laid_grid.cache_clear()
        started, started_cpu = clock.perf_counter(), clock.process_time()
        run()
        timings_ms.append((clock.perf_counter() - started) * 1000)
        cpu_ms.append((clock.process_time() - started_cpu) * 1000)
    return (
        statistics.median(timings_ms),
        min(timings_ms),
        statistics.median(cpu_ms),
        len(slots),
    )


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    median_ms, min_ms, cpu_ms, slot_count = time_engine(COUNSELLORS, DAYS, BOOKINGS, repetitions)
    print(
        f"available_slots: {DAYS} days, {COUNSELLORS} counsellors, {BOOKINGS} bookings, "
        f"{repetitions} runs; {slot_count} slots"
    )
    verdict = "met" if median_ms <= TARGET_MS else "MISSED"
    print(
        f"median {median_ms:.2f} ms (target <= {TARGET_MS:.0f} ms: {verdict}), "
        f"min {min_ms:.2f} ms, CPU time median {cpu_ms:.2f} ms"
    )
    median_ms, min_ms, cpu_ms, _ = time_engine(
        COUNSELLORS, DAYS, BOOKINGS, repetitions, grid_anew=True
    )
    print(
        f"the grid laid anew in each run (the first search of these days): median "
        f"{median_ms:.2f} ms, min {min_ms:.2f} ms, CPU time median {cpu_ms:.2f} ms"
    )
    print()
    print("growth (same density of bookings; medians of the runs)")
    print("| counsellors | weeks | bookings | median ms | CPU ms | CPU µs per counsellor-day |")
    print("|---:|---:|---:|---:|---:|---:|")
    for counsellors, weeks in ((1, 8), (10, 8), (50, 8), (10, 1), (10, 26)):
        days = 7 * weeks
        bookings = round(DENSITY * counsellors * days)
        median_ms, _, cpu_ms, _ = time_engine(counsellors, days, bookings, max(5, repetitions // 5))
        per_day_us = cpu_ms * 1000 / (counsellors * days)
        print(
            f"| {counsellors} | {weeks} | {bookings} | {median_ms:.2f} | {cpu_ms:.2f} "
            f"| {per_day_us:.1f} |"
        )


if __name__ == "__main__":
    main()
