"""The clock every test runs on (tests/conftest.py): clear of the five-minute edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import TEST_NOW, clock_start


@pytest.mark.parametrize(
    ("now", "start"),
    [
        ("2026-12-06T06:59:59", "2026-12-06T07:07:30"),
        ("2026-12-06T07:00:00", "2026-12-06T07:07:30"),
        ("2026-12-06T07:07:30", "2026-12-06T07:07:30"),
        ("2026-12-06T07:07:31", "2026-12-06T07:22:30"),
        ("2026-12-06T23:59:00", "2026-12-07T00:07:30"),
    ],
)
def test_a_test_starts_at_the_next_half_of_a_quarter_hour(now, start):
    now = datetime.fromisoformat(now).replace(tzinfo=UTC)
    assert clock_start(now) == datetime.fromisoformat(start).replace(tzinfo=UTC)


@pytest.mark.skipif(bool(TEST_NOW), reason="KI_TEST_NOW sets the start instead")
def test_this_test_runs_clear_of_the_edges():
    now = datetime.now(UTC)
    into_the_quarter = timedelta(minutes=now.minute % 15, seconds=now.second)
    # Started at 7½ minutes past; the first edge of a five-minute grid is at 10.
    assert timedelta(minutes=7, seconds=30) <= into_the_quarter < timedelta(minutes=10)
