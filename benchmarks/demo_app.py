"""The app on a throw-away SQLite file with the demo data, for the in-process benchmarks."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from booking import create_app  # noqa: E402  (the path must be set first)
from booking.config import Config  # noqa: E402


@contextmanager
def demo_app(*, with_bookings: bool = False) -> Iterator:
    """A migrated database seeded with the demo (and its bookings, if asked), rate limits
    off; the file goes when the block ends."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            Config,
            instance_path=folder,
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{folder}/bench.db",
            RATELIMIT_ENABLED=False,
        )
        from flask_migrate import upgrade

        from booking.demo import seed_demo

        with app.app_context():
            upgrade()
            seed_demo(with_bookings=with_bookings)
        yield app
