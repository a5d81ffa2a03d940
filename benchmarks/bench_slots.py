"""Time the slot engine: Herne's hours, 10 counsellors, 1,000 bookings, 8 weeks of one service.

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


def make_counsellors(seed: int = 1) -> list[Counsellor]:
    """Spread 1,000 non-overlapping 45- and 60-minute bookings over the counsellors' weekdays."""
    rng = random.Random(seed)
    booked: dict[int, set[datetime]] = {n: set() for n in range(1, COUNSELLORS + 1)}
    busy: dict[int, list[Interval]] = {n: [] for n in booked}
    workdays = [
        FIRST_DAY + timedelta(days=n)
        for n in range(DAYS)
        if (FIRST_DAY + timedelta(days=n)).weekday() < 5
    ]
    while sum(len(intervals) for intervals in busy.values()) < BOOKINGS:
        counsellor_id = rng.randrange(1, COUNSELLORS + 1)
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


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    rules = CentreRules(timezone="Europe/Berlin", opening_hours=HERNE_HOURS)
    counsellors = make_counsellors()
    last_day = FIRST_DAY + timedelta(days=DAYS - 1)

    def run() -> list:
        return available_slots(rules, SERVICE, DURATION, counsellors, FIRST_DAY, last_day, NOW)

    slots = run()  # warm-up: imports, holiday tables, zoneinfo caches
    timings_ms = []
    for _ in range(repetitions):
        started = clock.perf_counter()
        run()
        timings_ms.append((clock.perf_counter() - started) * 1000)

    print(
        f"available_slots: {DAYS} days, {COUNSELLORS} counsellors, {BOOKINGS} bookings, "
        f"{repetitions} runs"
    )
    print(
        f"median {statistics.median(timings_ms):.2f} ms, min {min(timings_ms):.2f} ms, "
        f"max {max(timings_ms):.2f} ms; {len(slots)} slots"
    )


if __name__ == "__main__":
    main()
