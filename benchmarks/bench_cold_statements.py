"""The slot search's busy-times query, built per call (as before) and built once per process.

Every cold slot search (the first after a write, or with the cache off) reads the busy times,
absences and closures in one UNION query. It used to be built for each search: three selects,
their union and, at execution, its cache key. It is now built once per process
(``booking.availability.BUSY_TIMES``) and only its values are bound. Both ways are timed in
turns in one process on the demo data (a throw-away SQLite file), one week of one Herne
service, and then the whole cold search (``SlotSearch.find``) once more with the statement
built once. Prints CPU time medians.

Run from the repository root: ``.venv/bin/python benchmarks/bench_cold_statements.py [runs]``.
"""

from __future__ import annotations

import statistics
import sys
import time as clock
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import cast, literal, null, select, union_all  # noqa: E402

from benchmarks.demo_app import demo_app  # noqa: E402  (the path must be set first)
from booking.models import Absence, Centre, Closure, Occupancy, utcnow  # noqa: E402

CENTRE = "herne"


def built_per_call(ids, window, centre_id):
    """The statement as the search built it before, for each search."""
    no_reason = cast(null(), Closure.reason.type)
    busy = select(
        literal("busy").label("kind"),
        Occupancy.user_id.label("owner_id"),
        Occupancy.start_at,
        Occupancy.end_at,
        no_reason.label("reason"),
    ).where(
        Occupancy.user_id.in_(ids),
        Occupancy.is_active.is_(True),
        Occupancy.start_at < window.end_at,
        Occupancy.end_at > window.start_at,
    )
    absences = select(
        literal("absence"), Absence.user_id, Absence.start_at, Absence.end_at, no_reason
    ).where(
        Absence.user_id.in_(ids),
        Absence.start_at < window.end_at,
        Absence.end_at > window.start_at,
    )
    closures = select(
        literal("closure"), Closure.id, Closure.start_at, Closure.end_at, Closure.reason
    ).where(
        Closure.centre_id == centre_id,
        Closure.start_at < window.end_at,
        Closure.end_at > window.start_at,
    )
    return union_all(busy, absences, closures)


def cpu_ms(action) -> float:
    started = clock.process_time()
    action()
    return (clock.process_time() - started) * 1000


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with demo_app(with_bookings=True) as app:
        from booking.availability import SlotSearch, _utc_window
        from booking.extensions import db

        with app.app_context():
            centre = db.session.query(Centre).filter_by(slug=CENTRE).one()
            service = sorted((s for s in centre.services if s.is_active), key=lambda s: s.slug)[0]
            now = utcnow()
            first = centre.today(now) + timedelta(days=7)
            last = first + timedelta(days=6)
            search = SlotSearch(centre, service)
            ids = [c.id for c in search.counsellors]
            window = _utc_window(centre, first, last, search.buffer + timedelta(days=1))
            statement, values = search._busy_times(ids, window, now)
            before = db.session.execute(built_per_call(ids, window, centre.id)).all()
            after = db.session.execute(statement, values).all()
            # The kept statement also returns a hold's expiry (none in the demo): compare the rest.
            if sorted(before) != sorted(tuple(row)[:5] for row in after):
                raise SystemExit("the two statements answer differently")
            old, new = [], []
            for _ in range(runs):
                old.append(
                    cpu_ms(lambda: db.session.execute(built_per_call(ids, window, centre.id)).all())
                )
                new.append(
                    cpu_ms(lambda: db.session.execute(*search._busy_times(ids, window, now)).all())
                )
            print(
                f"busy-times query, {len(after)} rows, {runs} runs each in turns: CPU medians "
                f"{statistics.median(old) * 1000:.0f} µs built per call, "
                f"{statistics.median(new) * 1000:.0f} µs built once "
                f"({statistics.median(old) / statistics.median(new):.2f}x)"
            )
            whole = [
                cpu_ms(lambda: SlotSearch(centre, service).find(first, last, now))
                for _ in range(runs // 4)
            ]
            print(
                f"whole cold search of one week (SlotSearch.find, statement built once): "
                f"CPU median {statistics.median(whole):.2f} ms"
            )


if __name__ == "__main__":
    main()
