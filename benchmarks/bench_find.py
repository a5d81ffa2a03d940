"""``POST /find`` for a booking that exists and for one that does not, timed in turns.

The page must take the same time either way (issue 22, item 7: 36 ms for a match, 13 ms for
a miss told whether a booking exists). On the demo data (a throw-away SQLite file, or the
database ``BENCH_DATABASE_URL`` names, emptied first), one process, Flask's test client, rate
limits off: a match (an upcoming demo booking's reference and address) and a miss (an unknown
reference, the same address) take turns, after 10 warm-up requests each. Prints the wall-time
median of each and their difference. The outbox worker, which answers the requests later, is
not timed.

Run from the repository root: ``.venv/bin/python benchmarks/bench_find.py [requests]``.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select, text  # noqa: E402

from booking import create_app  # noqa: E402  (the path must be set first)
from booking.config import Config  # noqa: E402
from booking.models import Booking, utcnow  # noqa: E402

WARMUP = 10


def main(requests: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{folder}/bench.sqlite"
        app = create_app(
            Config,
            instance_path=folder,
            SQLALCHEMY_DATABASE_URI=url,
            SECRET_KEY="bench",  # noqa: S106 - a throw-away database
            RATELIMIT_ENABLED=False,
            OUTBOX_SEND_AFTER_COMMIT="off",
            WTF_CSRF_ENABLED=False,
        )
        with app.app_context():
            from flask_migrate import upgrade

            from booking.demo import seed_demo
            from booking.extensions import db

            if url.startswith("postgresql"):
                db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
                db.session.commit()
            upgrade()
            seed_demo(with_bookings=True)
            booking = db.session.scalars(
                select(Booking)
                .where(Booking.email.is_not(None), Booking.is_changeable(utcnow()))
                .limit(1)
            ).one()
            reference, address = booking.reference, booking.email
        client = app.test_client()
        asked = {
            "match": {"reference": reference, "email": address},
            "miss": {"reference": "ZZZZ-ZZZZ", "email": address},
        }
        times: dict[str, list[float]] = {"match": [], "miss": []}
        for turn in range(WARMUP + requests):
            for name, form in asked.items():
                started = clock.perf_counter()
                response = client.post("/find", data=form)
                took = clock.perf_counter() - started
                assert response.status_code == 200, response.status_code
                assert re.search(r'id="find-sent"', response.get_data(as_text=True))
                if turn >= WARMUP:
                    times[name].append(took)
        match = statistics.median(times["match"]) * 1000
        miss = statistics.median(times["miss"]) * 1000
        backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        print(
            f"POST /find, {backend}, {requests} each in turns: median match {match:.2f} ms, "
            f"miss {miss:.2f} ms, difference {match - miss:+.2f} ms"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
