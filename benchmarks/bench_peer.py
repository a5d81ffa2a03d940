"""Slot search beside django-appointment: runs ``../shared/peer/compare`` from the project root.

Run: ``.venv/bin/python benchmarks/bench_peer.py`` (``make bench`` runs it). ``compare``
measures the committed HEAD of this checkout, not uncommitted changes. Its last line is
``perf-vs-peer: ours …, ratio …× (goal >= 300×)``; it exits 1 both when the ratio misses
the goal and when it cannot measure. Here a missed goal is reported (exit 0) and anything
else fails. Rate limiting is off for ours, so booking its 60 appointments does not wait.
It runs twice: cold (``AVAILABILITY_CACHE=0``: every GET computes the slots afresh) and warm
(the cache on, as served by default).
Without ``../shared/peer/compare`` this says so and exits 0.
"""

from __future__ import annotations

import os
import subprocess
import sys

from harness import ROOT, verdict

COMPARE = ROOT.parent / "shared" / "peer" / "compare"


def main() -> int:
    if not COMPARE.exists():
        print(f"perf-vs-peer: skipped: {COMPARE} does not exist (it sits beside the checkout)")
        return 0
    for label, cache in (("cold", "0"), ("warm", "1")):
        print(f"perf-vs-peer, {label} (AVAILABILITY_CACHE={cache}):", flush=True)
        passed = compare({"RATELIMIT_ENABLED": "0", "AVAILABILITY_CACHE": cache})
        if passed is None:
            return 1
        print(f"perf-vs-peer goal, {label}: {verdict(passed)}")
    return 0


def compare(settings: dict[str, str]) -> bool | None:
    """Run compare once with ``settings`` for ours; whether it met the goal, None on failure."""
    process = subprocess.Popen(
        [str(COMPARE)],
        cwd=ROOT,
        env={**os.environ, **settings},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    last = ""
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.strip():
            last = line.strip()
    process.wait()
    if not last.startswith("perf-vs-peer: ours "):
        print(f"bench_peer: compare failed (exit {process.returncode})", file=sys.stderr)
        return None
    return process.returncode == 0


if __name__ == "__main__":
    sys.exit(main())
