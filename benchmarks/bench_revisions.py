"""Two revisions of the app timed in turns in one run: CPU time medians per request.

Each revision runs in a process of its own (the checkout's code, this checkout's virtualenv):
the demo data on a throw-away SQLite file, Flask's test client, no HTTP server. The driver
asks both processes for the same requests in small batches, taking turns (and turning the
order round every batch), so that whatever else the machine does falls on both alike. Every
answer must be a 200. Prints, per request, the CPU time median (``time.process_time``) of
each revision and their ratio; wall time medians beside them.

``--base`` names the revision to compare against (default ``main``), exported with
``git archive`` into a temporary folder (its catalogues compiled); ``--other`` another
revision in place of the working tree as it is (uncommitted changes included).

Run from the repository root:
``.venv/bin/python benchmarks/bench_revisions.py [--base REV] [--other REV] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CENTRE = "herne"

# The worker: one app on the demo data, answering "cache path count" lines with the CPU and
# wall nanoseconds of each of ``count`` GETs of ``path`` (the availability cache on or off).
WORKER = r"""
import json, sys, tempfile, time
from datetime import timedelta
sys.path.insert(0, sys.argv[1])
import booking
assert booking.__file__.startswith(sys.argv[1]), booking.__file__
from booking import create_app
from booking.config import Config
from flask_migrate import upgrade
from booking.demo import seed_demo
from booking.extensions import db
from booking.models import Centre, utcnow

with tempfile.TemporaryDirectory() as folder:
    app = create_app(Config, instance_path=folder,
                     SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder}/bench.db",
                     RATELIMIT_ENABLED=False)
    with app.app_context():
        upgrade()
        seed_demo()
        centre = db.session.query(Centre).filter_by(slug=sys.argv[2]).one()
        service = sorted(s.slug for s in centre.services if s.is_active and s.online_bookable)[0]
        today = centre.today(utcnow())
    print(json.dumps({"service": service, "today": today.isoformat()}), flush=True)
    client = app.test_client()
    for line in sys.stdin:
        cache, path, count = line.split()
        app.config["AVAILABILITY_CACHE"] = cache == "on"
        cpu, wall = [], []
        for _ in range(int(count)):
            started, started_cpu = time.perf_counter_ns(), time.process_time_ns()
            answer = client.get(path)
            cpu.append(time.process_time_ns() - started_cpu)
            wall.append(time.perf_counter_ns() - started)
            if answer.status_code != 200:
                print(json.dumps({"error": f"{path}: {answer.status_code}"}), flush=True)
                raise SystemExit(1)
        print(json.dumps({"cpu": cpu, "wall": wall}), flush=True)
"""


class Revision:
    """A worker process running the app of one checkout."""

    def __init__(self, label: str, tree: Path) -> None:
        self.label = label
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tree), CENTRE],
            cwd=tree,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            # The same hashes in both: the order of sets and dicts moves time about too.
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        self.facts = self._answer()

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"{self.label}: the worker ended (exit {self.process.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise SystemExit(f"{self.label}: {answer['error']}")
        return answer

    def run(self, cache: bool, path: str, count: int) -> dict:
        self.process.stdin.write(f"{'on' if cache else 'off'} {path} {count}\n")
        self.process.stdin.flush()
        return self._answer()

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def exported(revision: str, folder: Path) -> Path:
    """The files of ``revision`` in ``folder``, with its catalogues compiled."""
    folder.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    subprocess.run(
        [str(Path(sys.executable).parent / "pybabel"), "compile", "--use-fuzzy", "-d"]
        + [str(folder / "booking" / "translations")],
        check=True,
        capture_output=True,
    )
    return folder


def requests_of(facts: dict) -> list[tuple[str, bool, str]]:
    """(label, cache on, path) of each request timed."""
    from datetime import date, timedelta

    today = date.fromisoformat(facts["today"])
    service = facts["service"]
    monday = today + timedelta(days=7 - today.weekday())
    week_end = monday + timedelta(days=6)
    one_week = f"/api/v1/centres/{CENTRE}/slots?service={service}&from={monday}&to={week_end}"
    eight = (
        f"/api/v1/centres/{CENTRE}/slots?service={service}"
        f"&from={today}&to={today + timedelta(days=55)}"
    )
    week_page = f"/centres/{CENTRE}/{service}?language=de&week={monday}"
    return [
        ("GET / warm", True, "/"),
        ("week page warm", True, week_page),
        ("slots JSON 1 week warm", True, one_week),
        ("slots JSON 1 week cold (cache off)", False, one_week),
        ("slots JSON 8 weeks warm", True, eight),
        ("slots JSON 8 weeks cold (cache off)", False, eight),
        ("week page cold (cache off)", False, week_page),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main")
    parser.add_argument("--other", default=None, help="default: the working tree")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument(
        "--processes", type=int, default=2, help="per revision (a process's own layout counts)"
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base_tree = exported(options.base, Path(folder) / "base")
        other_tree = ROOT
        other_label = "working tree"
        if options.other:
            other_tree = exported(options.other, Path(folder) / "other")
            other_label = options.other
        workers = []
        try:
            for _ in range(options.processes):
                workers.append(("base", Revision(options.base, base_tree)))
                workers.append(("other", Revision(other_label, other_tree)))
            facts = {json.dumps(w.facts, sort_keys=True) for _, w in workers}
            if len(facts) != 1:
                raise SystemExit(f"different demo data: {facts}")
            requests = requests_of(workers[0][1].facts)
            times = {
                (revision, label): {"cpu": [], "wall": []}
                for revision in ("base", "other")
                for label, _, _ in requests
            }
            for _, worker in workers:  # warm all: the first answers are kept
                for _label, cache, path in requests:
                    worker.run(cache, path, 3)
            for turn in range(options.rounds):
                order = workers if turn % 2 == 0 else workers[::-1]
                for label, cache, path in requests:
                    for revision, worker in order:
                        answer = worker.run(cache, path, options.batch)
                        times[(revision, label)]["cpu"] += answer["cpu"]
                        times[(revision, label)]["wall"] += answer["wall"]
        finally:
            for _, worker in workers:
                worker.stop()
    count = options.rounds * options.batch * options.processes
    print(
        f"{count} GETs each ({options.processes} processes per revision), in turns; "
        f"CPU (wall) medians in ms; {options.base} -> {other_label}"
    )
    for label, _, _ in requests:
        before, after = times[("base", label)], times[("other", label)]
        cpu_before = statistics.median(before["cpu"]) / 1e6
        cpu_after = statistics.median(after["cpu"]) / 1e6
        wall_before = statistics.median(before["wall"]) / 1e6
        wall_after = statistics.median(after["wall"]) / 1e6
        print(
            f"  {label:36} {cpu_before:6.3f} ({wall_before:6.3f}) -> "
            f"{cpu_after:6.3f} ({wall_after:6.3f})  {cpu_before / cpu_after:5.2f}x"
        )


if __name__ == "__main__":
    main()
