"""Where a warm request's time goes: cProfile of repeated GETs of each path given.

The demo data on a throw-away SQLite file, Flask's test client (no HTTP server); 20 GETs
to warm the caches, then ``repetitions`` profiled GETs; prints the functions by cumulative
time.

Run from the repository root:
``.venv/bin/python benchmarks/profile_warm.py [--repetitions N] PATH [PATH ...]``,
for example ``.venv/bin/python benchmarks/profile_warm.py /
'/api/v1/centres/herne/slots?service=beratung-1'``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.demo_app import demo_app  # noqa: E402  (the path must be set first)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--repetitions", type=int, default=500)
    parser.add_argument("--lines", type=int, default=30)
    options = parser.parse_args()
    with demo_app() as app:
        client = app.test_client()
        for path in options.paths:
            for _ in range(20):
                answer = client.get(path)
                if answer.status_code != 200:
                    raise SystemExit(f"{path} answered {answer.status_code}")
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(options.repetitions):
                client.get(path)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(options.lines)
            print(f"===== {path}: {options.repetitions} warm GETs")
            print(out.getvalue())


if __name__ == "__main__":
    main()
