"""The rules of one booking, as Booking's predicates answer them (no app, no database)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from booking.models import Booking

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def booking(status: str, start_in: timedelta) -> Booking:
    start_at = NOW + start_in
    return Booking(status=status, start_at=start_at, end_at=start_at + timedelta(minutes=45))


@pytest.mark.parametrize(
    ("status", "start_in", "changeable"),
    [
        ("confirmed", timedelta(minutes=1), True),
        ("confirmed", timedelta(0), False),
        ("confirmed", -timedelta(minutes=1), False),
        ("cancelled", timedelta(days=1), False),
        ("attended", timedelta(days=1), False),
        ("no_show", timedelta(days=1), False),
    ],
)
def test_only_a_confirmed_booking_not_yet_begun_is_changeable(status, start_in, changeable):
    assert booking(status, start_in).is_changeable(NOW) is changeable


@pytest.mark.parametrize(
    ("status", "start_in", "can_mark"),
    [
        ("confirmed", timedelta(0), True),
        ("confirmed", -timedelta(hours=1), True),
        ("attended", -timedelta(hours=1), True),
        ("no_show", -timedelta(hours=1), True),
        ("confirmed", timedelta(minutes=1), False),
        ("cancelled", -timedelta(hours=1), False),
    ],
)
def test_attendance_is_marked_once_begun_unless_cancelled(status, start_in, can_mark):
    assert booking(status, start_in).can_mark_attendance(NOW) is can_mark


def test_a_changeable_booking_is_never_markable_and_the_other_way_round():
    for status in ("confirmed", "cancelled", "attended", "no_show"):
        for minutes in (-60, 0, 60):
            b = booking(status, timedelta(minutes=minutes))
            assert not (b.is_changeable(NOW) and b.can_mark_attendance(NOW))


def test_is_changeable_is_also_a_query_condition():
    sql = str(select(Booking.id).where(Booking.is_changeable(NOW)))
    assert "booking.status = :status_1" in sql
    assert "booking.start_at > :start_at_1" in sql


def test_is_cancelled():
    assert booking("cancelled", timedelta(0)).is_cancelled
    assert not booking("confirmed", timedelta(0)).is_cancelled
