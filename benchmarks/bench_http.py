"""Requests per second of the family pages beside a bare Flask app, and a worker's memory.

Run: ``.venv/bin/python benchmarks/bench_http.py`` (``make bench`` runs it). A throw-away
SQLite database with the demo data (``db upgrade`` + ``seed-demo``), rate limiting off;
ours and a bare Flask app that answers "hello" (``benchmarks/bare_app.py``) each served by
``gunicorn -w 2`` on a free loopback port; ``wrk`` with one thread and 4 connections.

1. Throughput: bare "hello" (before and after the others; their mean is the yardstick),
   ``GET /``, the week page of a week with free times, the slots JSON of that week (warm:
   the availability cache on, as served; and cold, from a second server with
   ``AVAILABILITY_CACHE=0``). Each
   answer is checked (status 200 and the right content) before it is timed, and every
   timed answer must be a 200. Printed as requests/s and share of bare Flask beside the
   targets of issue 11.
2. Memory: a fresh server, 10,000 mixed requests (``/``, week pages, slots JSON, booking
   forms) sent 4 at a time from Python threads (wrk cannot stop at a count); the resident
   memory of each worker (``/proc/<pid>/status``) after 1,000 and after 10,000.

Exits non-zero when a measurement cannot be taken; a missed target is reported, not fatal.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

from harness import (
    HERE,
    BenchError,
    Server,
    demo_env,
    fetch,
    migrate_and_seed,
    rss_mb,
    run_wrk,
    serve,
    verdict,
)

CENTRE = "herne"
SERVICE = "beratung-1"
LANGUAGE = "de"
# Shares of bare Flask's requests/s (issue 11).
TARGETS = {"/": 0.40, "week": 0.20, "slots": 0.30}
RSS_LIMIT_MB = 150
# "Flat": less growth than this from 1,000 to 10,000 requests (a leak of 0.5 KB a request).
RSS_GROWTH_LIMIT_MB = 5


@dataclass
class Probe:
    """A path to time and what its answer must hold, so a fast error never counts."""

    label: str
    path: str
    content_type: str
    must_contain: str

    def check(self, port: int) -> str:
        answer = fetch(port, "GET", self.path)
        if answer.status != 200:
            raise BenchError(f"{self.label}: GET {self.path} answered {answer.status}")
        if not answer.content_type.startswith(self.content_type):
            raise BenchError(f"{self.label}: {self.path} is {answer.content_type!r}")
        text = answer.text()
        if self.must_contain not in text:
            raise BenchError(f"{self.label}: {self.path} lacks {self.must_contain!r}")
        return text


def weeks_with_free_times(port: int, today: date) -> list[date]:
    """Mondays of the next eight weeks that have free times, the fullest first."""
    answer = fetch(
        port,
        "GET",
        f"/api/v1/centres/{CENTRE}/slots?service={SERVICE}&language={LANGUAGE}"
        f"&from={today}&to={today + timedelta(days=56)}",
    )
    if answer.status != 200:
        raise BenchError(f"slots of eight weeks answered {answer.status}: {answer.text()}")
    per_week: dict[date, int] = {}
    for slot in answer.json()["slots"]:
        day = date.fromisoformat(slot["start"][:10])
        monday = day - timedelta(days=day.weekday())
        per_week[monday] = per_week.get(monday, 0) + 1
    if not per_week:
        raise BenchError(f"no free times of {SERVICE} at {CENTRE} in eight weeks")
    return sorted(per_week, key=lambda monday: (-per_week[monday], monday))


def week_path(monday: date) -> str:
    return f"/centres/{CENTRE}/{SERVICE}?week={monday}&language={LANGUAGE}"


def slots_path(monday: date) -> str:
    return (
        f"/api/v1/centres/{CENTRE}/slots?service={SERVICE}"
        f"&from={monday}&to={monday + timedelta(days=6)}"
    )


def probes(port: int, monday: date) -> dict[str, Probe]:
    book_link = f"/centres/{CENTRE}/{SERVICE}/book?start="
    found = {
        "/": Probe("GET /", "/", "text/html", f'href="/centres/{CENTRE}"'),
        "week": Probe("week page", week_path(monday), "text/html", book_link),
        "slots": Probe("slots JSON, one week", slots_path(monday), "application/json", '"start"'),
    }
    for probe in found.values():
        probe.check(port)
    return found


def lua_script(directory: Path, path: str) -> Path:
    """A wrk script: GET ``path``, and count the answers that are not 200."""
    script = directory / f"script-{len(list(directory.glob('script-*.lua')))}.lua"
    script.write_text(
        f"""
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args)
  bad = 0
  wrk.path = "{path}"
  request_text = wrk.format("GET", "{path}")
end
function request() return request_text end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("bad") end
  io.write(string.format("not-200: %d\\n", total))
end
"""
    )
    return script


def timed(server: Server, script: Path, seconds: int, warmup: int, connections: int):
    """Requests/s of ``script`` on ``server`` after a warm-up; every answer must be a 200."""
    run_wrk(server.url("/"), warmup, connections=connections, script=script)
    result = run_wrk(server.url("/"), seconds, connections=connections, script=script)
    if result.requests == 0:
        raise BenchError(f"{script.name}: no answer within {seconds} s")
    if result.bad or result.not_200:
        raise BenchError(
            f"{script.name}: {result.not_200} answers not 200, {result.bad} errors "
            f"in {result.requests} requests ({result.errors})"
        )
    return result


def throughput(workdir: Path, env: dict[str, str], args: argparse.Namespace) -> None:
    today = date.today()
    with serve(f"{HERE.name}.bare_app:app", env, workdir / "bare.log") as bare:
        bare_script = lua_script(workdir, "/")
        answer = fetch(bare.port, "GET", "/")
        if answer.status != 200 or answer.body != b"hello":
            raise BenchError(f"bare Flask answered {answer.status} {answer.body[:80]!r}")
        with serve("wsgi:app", env, workdir / "app.log") as ours:
            monday = weeks_with_free_times(ours.port, today)[0]
            found = probes(ours.port, monday)
            week_times = found["week"].check(ours.port).count(found["week"].must_contain)
            print(
                f"HTTP throughput: gunicorn -w 2 each, wrk -t1 -c{args.connections}, "
                f"{args.warmup:g} s warm-up + {args.seconds:g} s each, demo data on SQLite"
            )
            print(f"  week page: {found['week'].path} ({week_times} free times)")
            print(f"  slots JSON: {found['slots'].path}")
            before = timed(bare, bare_script, args.seconds, args.warmup, args.connections)
            results = {
                key: timed(
                    ours,
                    lua_script(workdir, probe.path),
                    args.seconds,
                    args.warmup,
                    args.connections,
                )
                for key, probe in found.items()
            }
            # The slots JSON again with the availability cache off: every GET computes afresh.
            cold_env = {**env, "AVAILABILITY_CACHE": "0"}
            with serve("wsgi:app", cold_env, workdir / "cold.log") as cold:
                found["slots"].check(cold.port)
                cold_slots = timed(
                    cold,
                    lua_script(workdir, found["slots"].path),
                    args.seconds,
                    args.warmup,
                    args.connections,
                )
            after = timed(bare, bare_script, args.seconds, args.warmup, args.connections)
    yardstick = (before.requests_per_s + after.requests_per_s) / 2
    bare_label = 'bare Flask "hello"'
    print(f"  {'what':<24} {'req/s':>8} {'share':>7}  target")
    print(
        f"  {bare_label:<24} {yardstick:>8.0f} {'100%':>7}"
        f"  (mean of {before.requests_per_s:.0f} before and {after.requests_per_s:.0f} after)"
    )
    for key, probe in found.items():
        share = results[key].requests_per_s / yardstick
        print(
            f"  {probe.label:<24} {results[key].requests_per_s:>8.1f} {share:>7.1%}"
            f"  >= {TARGETS[key]:.0%}  {verdict(share >= TARGETS[key])}"
        )
    share = cold_slots.requests_per_s / yardstick
    print(
        f"  {'slots JSON, cache off':<24} {cold_slots.requests_per_s:>8.1f} {share:>7.1%}"
        f"  >= {TARGETS['slots']:.0%}  {verdict(share >= TARGETS['slots'])} (cold)"
    )


def mixed_paths(port: int, today: date) -> list[str]:
    """Paths a family opens: the centres, week pages, slots JSON, booking forms."""
    mondays = weeks_with_free_times(port, today)[:3]
    paths = ["/"]
    for monday in mondays:
        paths += [week_path(monday), slots_path(monday)]
    answer = fetch(
        port,
        "GET",
        f"/api/v1/centres/{CENTRE}/slots?service={SERVICE}&language={LANGUAGE}"
        f"&from={mondays[0]}&to={mondays[0] + timedelta(days=6)}",
    )
    for slot in answer.json()["slots"][:3]:
        paths.append(
            f"/centres/{CENTRE}/{SERVICE}/book?start={quote(slot['start'])}&language={LANGUAGE}"
        )
    form = Probe("booking form", paths[-1], "text/html", 'name="nonce"')
    form.check(port)
    for path in paths:
        answer = fetch(port, "GET", path)
        if answer.status != 200:
            raise BenchError(f"GET {path} answered {answer.status}")
    return paths


def send_all(port: int, paths: list[str], count: int, connections: int) -> None:
    """GET ``count`` requests, ``paths`` in turn, ``connections`` at a time; all must be 200."""
    with ThreadPoolExecutor(connections) as pool:
        statuses = Counter(
            pool.map(lambda n: fetch(port, "GET", paths[n % len(paths)]).status, range(count))
        )
    if set(statuses) != {200}:
        raise BenchError(f"mixed requests answered {dict(statuses)}")


def memory(workdir: Path, env: dict[str, str], args: argparse.Namespace) -> None:
    total = args.memory_requests
    first = total // 10
    with serve("wsgi:app", env, workdir / "memory.log") as ours:
        paths = mixed_paths(ours.port, date.today())
        print(
            f"Worker memory: gunicorn -w 2, {total:,} mixed requests, {args.connections} at a "
            f"time ({len(paths)} paths in turn: /, week pages, slots JSON, booking forms)"
        )
        samples = []
        for count in (first, total - first):
            send_all(ours.port, paths, count, args.connections)
            samples.append({pid: rss_mb(pid) for pid in ours.worker_pids()})
    for sample, count in zip(samples, (first, total), strict=True):
        workers = ", ".join(f"worker {pid} {mb:.1f} MB" for pid, mb in sample.items())
        print(f"  after {count:>6,} requests: {workers}")
    if samples[0].keys() != samples[1].keys():
        raise BenchError("a worker was replaced during the memory run")
    largest = max(samples[1].values())
    growth = max(samples[1][pid] - samples[0][pid] for pid in samples[1])
    print(
        f"  largest worker after {total:,}: {largest:.1f} MB (target < {RSS_LIMIT_MB} MB)"
        f"  {verdict(largest < RSS_LIMIT_MB)}"
    )
    print(
        f"  growth {first:,} -> {total:,}: {growth:+.1f} MB (target flat: < "
        f"{RSS_GROWTH_LIMIT_MB} MB)  {verdict(growth < RSS_GROWTH_LIMIT_MB)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="timed seconds per path")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up seconds per path")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--memory-requests", type=int, default=10_000)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ki-bench-http-") as tmp:
        workdir = Path(tmp)
        env = demo_env(workdir / "instance")
        try:
            migrate_and_seed(env)
            if not args.skip_throughput:
                throughput(workdir, env, args)
            if not args.skip_memory:
                memory(workdir, env, args)
        except BenchError as error:
            print(f"bench_http: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
