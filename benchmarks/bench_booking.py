"""Median time of POST /api/v1/centres/herne/bookings on PostgreSQL behind gunicorn -w 2.

Run: make bench-booking  (or .venv/bin/python benchmarks/bench_booking.py [--requests N])
Needs PostgreSQL; BENCH_DATABASE_URL defaults to a database "ki_bench" on 127.0.0.1:5432
(user postgres), which is dropped and made anew. Rate limiting is off, as for load runs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/ki_bench"


def recreate_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port: int, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    payload = json.dumps(body) if body is not None else None
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = json.loads(response.read() or b"null")
    conn.close()
    return response.status, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    recreate_database(url)
    instance = ROOT / "instance" / "bench"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "INSTANCE_PATH": str(instance),
        "RATELIMIT_ENABLED": "0",
        "SECRET_KEY": "bench",
        "SERVER_NAME": "",
    }
    flask = [str(BIN / "flask"), "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True)
    subprocess.run([*flask, "seed-demo"], env=env, cwd=ROOT, check=True, capture_output=True)

    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-w", str(args.workers), "-b", f"127.0.0.1:{port}", "wsgi:app"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                request(port, "GET", "/api/v1/centres")
                break
            except OSError:
                time.sleep(0.1)
        today = date.today()
        slots = []
        for service in ("beratung-1", "beratung-2", "beratung-3", "beratung-4", "beratung-5"):
            status, body = request(
                port,
                "GET",
                f"/api/v1/centres/herne/slots?service={service}&from={today}"
                f"&to={today + timedelta(days=56)}",
            )
            assert status == 200, body
            slots += [(service, s["start"]) for s in body["slots"]]
        timings, statuses = [], {}
        for i in range(args.requests):
            service, start = slots[(i * 7919) % len(slots)]
            body = {
                "service": service,
                "start": start,
                "name": f"Bench Person {i}",
                "email": f"bench{i}@example.org",
                "consent": True,
            }
            began = time.perf_counter()
            status, _ = request(port, "POST", "/api/v1/centres/herne/bookings", body)
            timings.append((time.perf_counter() - began) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
        print(f"POST booking, PostgreSQL, gunicorn -w {args.workers}, {args.requests} requests")
        print(f"  statuses: {dict(sorted(statuses.items()))}")
        print(
            f"  median {statistics.median(timings):.1f} ms, "
            f"p95 {statistics.quantiles(timings, n=20)[18]:.1f} ms, "
            f"min {min(timings):.1f} ms, max {max(timings):.1f} ms"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
