"""A booking POST on PostgreSQL beside a bare Flask POST that writes one row.

Run: ``make bench-booking`` (or ``.venv/bin/python benchmarks/bench_booking.py [--requests N]``).
Needs PostgreSQL. ``BENCH_DATABASE_URL`` names the server (default
``postgresql+psycopg://postgres@127.0.0.1:5432/``) and optionally the database (default
``ki_bench``); that database and ``<name>_bare`` are dropped and made anew. Rate limiting is
off, as for load runs.

Ours: migrated and seeded, ``gunicorn -w 2``, sequential ``POST /api/v1/centres/herne/bookings``
to free times of all five services over eight weeks, each from its own e-mail address. The
yardstick: ``benchmarks/bare_app.py`` under ``gunicorn -w 2``, ``POST /rows`` with the same JSON
bodies, one row inserted and committed per request with Flask-SQLAlchemy. Both are sent the
same way, one at a time on a new connection, taking turns (one to ours, one to the bare app),
after 10 warm-up requests each; the share is the bare median over ours (requests/s at one
request at a time).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from bare_app import CREATE_TABLE
from harness import HERE, BenchError, demo_env, fetch, migrate_and_seed, serve, verdict

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/"
DEFAULT_NAME = "ki_bench"
SERVICES = ("beratung-1", "beratung-2", "beratung-3", "beratung-4", "beratung-5")
TARGET = 0.05  # a booking POST >= 5% of a bare Flask POST (issue 11)
WARMUP = 10


def database_urls(url: str) -> tuple[str, str, str]:
    """SQLAlchemy URLs of ours and of the bare app's database, and a libpq URL to the server."""
    parts = urlsplit(url)
    name = parts.path.strip("/") or DEFAULT_NAME

    def at(database: str, scheme: str) -> str:
        return urlunsplit((scheme, parts.netloc, f"/{database}", parts.query, ""))

    return (
        at(name, parts.scheme),
        at(f"{name}_bare", parts.scheme),
        at("postgres", "postgresql"),
    )


def recreate_database(server: str, url: str) -> None:
    name = urlsplit(url).path.strip("/")
    try:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        raise BenchError(f"PostgreSQL at {server} is not reachable: {error}") from error


def free_times(port: int) -> list[tuple[str, str]]:
    """Free times of all five services that overlap none of the others taken.

    Times that overlap could need the same counsellor, and the second booking would be refused.
    """
    today = date.today()
    found = []
    for service in SERVICES:
        answer = fetch(
            port,
            "GET",
            f"/api/v1/centres/herne/slots?service={service}&from={today}"
            f"&to={today + timedelta(days=56)}",
        )
        if answer.status != 200:
            raise BenchError(f"slots of {service} answered {answer.status}: {answer.text()}")
        found += [(slot["start"], slot["end"], service) for slot in answer.json()["slots"]]
    chosen, taken_until = [], None
    for start, end, service in sorted(found, key=lambda slot: datetime.fromisoformat(slot[0])):
        if taken_until is None or datetime.fromisoformat(start) >= taken_until:
            chosen.append((service, start))
            taken_until = datetime.fromisoformat(end)
    return chosen


def post_both(ours: int, bare: int, bodies: list[dict]) -> tuple[list[float], list[float], int]:
    """Milliseconds of each POST after the warm-up, ours and the bare app taking turns.

    Taking turns puts both under the same noise of a shared machine. A booking refused (409:
    the time was taken after all) is not timed, nor its turn of the bare app; more than a
    tenth refused, or any other answer than 201, is an error.
    """
    timings: dict[str, list[float]] = {"ours": [], "bare": []}
    refused = 0
    for i, body in enumerate(bodies):
        for key, port, path in (
            ("ours", ours, "/api/v1/centres/herne/bookings"),
            ("bare", bare, "/rows"),
        ):
            began = time.perf_counter()
            answer = fetch(port, "POST", path, body)
            elapsed = (time.perf_counter() - began) * 1000
            if key == "ours" and answer.status == 409:
                refused += 1
                break
            if answer.status != 201:
                raise BenchError(f"POST {path} #{i} answered {answer.status}: {answer.text()}")
            if i >= WARMUP:
                timings[key].append(elapsed)
    if refused > len(bodies) // 10:
        raise BenchError(f"{refused} of {len(bodies)} bookings refused (409)")
    return timings["ours"], timings["bare"], refused


def describe(label: str, timings: list[float]) -> str:
    return (
        f"  {label:<28} median {statistics.median(timings):6.1f} ms, "
        f"p95 {statistics.quantiles(timings, n=20)[18]:6.1f} ms, "
        f"min {min(timings):5.1f} ms, max {max(timings):6.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    url, bare_url, server = database_urls(os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    try:
        with tempfile.TemporaryDirectory(prefix="ki-bench-booking-") as tmp:
            workdir = Path(tmp)
            ours, bare, refused = run(workdir, url, bare_url, server, args.requests)
    except BenchError as error:
        print(f"bench_booking: {error}", file=sys.stderr)
        return 1
    share = statistics.median(bare) / statistics.median(ours)
    print(
        f"POST on PostgreSQL, gunicorn -w 2 each, {args.requests} sequential requests "
        f"after {WARMUP} warm-up, taking turns"
    )
    if refused:
        print(f"  {refused} bookings refused (409: taken after all), not timed")
    print(describe("booking (201)", ours))
    print(describe("bare Flask, one row (201)", bare))
    print(
        f"  booking share of bare Flask POST: {share:.1%} (target >= {TARGET:.0%})  "
        f"{verdict(share >= TARGET)}"
    )
    return 0


def run(
    workdir: Path, url: str, bare_url: str, server: str, requests: int
) -> tuple[list[float], list[float], int]:
    recreate_database(server, url)
    recreate_database(server, bare_url)
    with psycopg.connect(bare_url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute(CREATE_TABLE)
    env = demo_env(workdir / "instance", DATABASE_URL=url)
    migrate_and_seed(env)
    bare_env = {**os.environ, "BARE_DATABASE_URL": bare_url}
    total = requests + WARMUP
    with (
        serve("wsgi:app", env, workdir / "app.log", ready_path="/api/v1/centres") as app,
        serve(f"{HERE.name}.bare_app:app", bare_env, workdir / "bare.log") as bare,
    ):
        slots = free_times(app.port)
        if len(slots) < total:
            raise BenchError(f"only {len(slots)} free times for {total} bookings")
        bodies = []
        for i in range(total):
            service, start = slots[i]
            bodies.append(
                {
                    "service": service,
                    "start": start,
                    "name": f"Bench Person {i}",
                    "email": f"bench{i}@example.org",
                    "consent": True,
                }
            )
        return post_both(app.port, bare.port, bodies)


if __name__ == "__main__":
    sys.exit(main())
