"""The 8-week slots JSON in process, cold (AVAILABILITY_CACHE off) and warm (on).

The demo data on a throw-away SQLite file, Flask's test client (no HTTP server): the same
GET of eight weeks of one Herne service repeated, as ``../shared/peer/compare`` repeats it.
Prints wall and CPU time medians per request and the ratio cold/warm.

Run from the repository root: ``.venv/bin/python benchmarks/bench_slots_cache.py [repetitions]``.
"""

from __future__ import annotations

import statistics
import sys
import time as clock
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.demo_app import demo_app  # noqa: E402  (the path must be set first)
from booking.models import Centre, utcnow  # noqa: E402

CENTRE = "herne"


def timed(client, path: str, repetitions: int) -> tuple[float, float]:
    """Median wall and CPU ms of ``repetitions`` GETs of ``path``."""
    wall, cpu = [], []
    for _ in range(repetitions):
        started, started_cpu = clock.perf_counter(), clock.process_time()
        answer = client.get(path)
        cpu.append((clock.process_time() - started_cpu) * 1000)
        wall.append((clock.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:300]}")
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with demo_app() as app:
        from booking.extensions import db

        with app.app_context():
            centre = db.session.query(Centre).filter_by(slug=CENTRE).one()
            service = sorted(s.slug for s in centre.services if s.is_active)[0]
            today = centre.today(utcnow())
        path = (
            f"/api/v1/centres/{CENTRE}/slots?service={service}"
            f"&from={today}&to={today + timedelta(days=55)}"
        )
        client = app.test_client()
        count = len(client.get(path).json["slots"])
        print(f"8-week slots JSON in process, {count} slots, {repetitions} GETs each: {path}")
        figures = {}
        for label, on in (
            ("cold (AVAILABILITY_CACHE=0)", False),
            ("warm (AVAILABILITY_CACHE=1)", True),
        ):
            app.config["AVAILABILITY_CACHE"] = on
            client.get(path)
            figures[on] = timed(client, path, repetitions)
            wall, cpu = figures[on]
            print(f"  {label}: median {wall:.2f} ms, CPU time median {cpu:.2f} ms")
        print(f"  cold / warm (CPU medians): {figures[False][1] / figures[True][1]:.1f}x")


if __name__ == "__main__":
    main()
