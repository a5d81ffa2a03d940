"""Pages made without their answer kept: centres, services and counsellors read per request
(as before) and kept per process under the availability version (availability.py through
``availability_cache.remembered``).

In one process on the demo data (a throw-away SQLite file), each page is asked for in turns
both ways: "per request" replaces ``remembered`` by a plain call of what it would keep;
"kept" is the code as served. The answers and pages themselves are not kept in either way
(the answer cache is emptied before each request), so every request computes its page: the
first request after a write, or a page of a week, language or range nobody has asked for
under the current version. Prints CPU time medians (``time.process_time``) per page.

Run from the repository root: ``.venv/bin/python benchmarks/bench_kept_reads.py [runs]``.
"""

from __future__ import annotations

import re
import statistics
import sys
import time as clock
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.demo_app import demo_app  # noqa: E402  (the path must be set first)
from booking import availability_cache  # noqa: E402  (the path must be set first)
from booking.models import Centre, utcnow  # noqa: E402

CENTRE = "herne"


def without_token(page: bytes) -> bytes:
    """The page without its form's CSRF token and nonce (new in each request)."""
    return re.sub(rb'name="(csrf_token|nonce)"[^>]*>', b"", page)


def per_request(key, compute, centre_slug=None):
    """``remembered`` as it was not there: every read asks the database."""
    return compute()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with demo_app(with_bookings=True) as app:
        from booking.extensions import db

        with app.app_context():
            centre = db.session.query(Centre).filter_by(slug=CENTRE).one()
            service = sorted(
                (s for s in centre.services if s.is_active and s.online_bookable),
                key=lambda s: s.slug,
            )[0]
            monday = centre.today(utcnow()) + timedelta(days=7)
            monday -= timedelta(days=monday.weekday())
            service_slug = service.slug
        client = app.test_client()
        week = f"/centres/{CENTRE}/{service_slug}?language=de&week={monday}"
        slots_api = (
            f"/api/v1/centres/{CENTRE}/slots?service={service_slug}"
            f"&from={monday}&to={monday + timedelta(days=6)}"
        )
        first = client.get(slots_api).get_json()["slots"][0]["start"]
        pages = {
            "week page": week,
            "slots JSON, one week": slots_api,
            "booking form": (
                f"/centres/{CENTRE}/{service_slug}/book?language=de&start={quote(first)}"
            ),
            "centre page": f"/centres/{CENTRE}",
        }
        answers = app.extensions["availability_cache"]
        kept = availability_cache.remembered

        def cpu_ms(url: str) -> float:
            answers._entries.clear()
            started = clock.process_time()
            response = client.get(url)
            spent = (clock.process_time() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{url}: {response.status_code}")
            return spent

        for name, url in pages.items():
            availability_cache.remembered = per_request
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url}: {response.status_code}")
            fresh = without_token(response.get_data())
            availability_cache.remembered = kept
            client.get(url)
            if without_token(client.get(url).get_data()) != fresh:
                raise SystemExit(f"{name}: the two ways answer differently")
        times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in pages}
        for _ in range(runs):
            for name, url in pages.items():
                availability_cache.remembered = per_request
                times[name][0].append(cpu_ms(url))
                availability_cache.remembered = kept
                times[name][1].append(cpu_ms(url))
        print(f"{runs} requests each way in turns, CPU medians (demo data, SQLite):")
        for name, (before, after) in times.items():
            old, new = statistics.median(before), statistics.median(after)
            print(
                f"  {name:22} read per request {old:6.2f} ms, kept {new:6.2f} ms ({old / new:.2f}x)"
            )


if __name__ == "__main__":
    main()
