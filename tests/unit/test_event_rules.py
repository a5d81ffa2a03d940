"""The pure rules of SPEC "Events": a party whole or waiting, the waiting list, series."""

from __future__ import annotations

from datetime import UTC, date, time
from zoneinfo import ZoneInfo

import pytest

from booking.event_rules import (
    Waiting,
    decide,
    default_closing,
    promote,
    series_times,
    waiting_position,
)

BERLIN = ZoneInfo("Europe/Berlin")


def test_a_party_is_confirmed_whole_or_waits():
    assert decide(2, seats=10, confirmed_persons=8, has_waiting_list=True) == "confirmed"
    assert decide(3, seats=10, confirmed_persons=8, has_waiting_list=True) == "waiting"
    assert decide(3, seats=10, confirmed_persons=8, has_waiting_list=False) == "full"


def test_promote_confirms_the_earliest_that_fit_in_order():
    line = [Waiting(7, 3), Waiting(3, 1), Waiting(9, 1), Waiting(12, 2)]
    assert promote(2, line) == [3, 9]
    assert promote(3, line) == [3, 9]  # 7 (three persons) no longer fits after 3
    assert promote(4, line) == [3, 7]
    assert promote(0, line) == []


def test_waiting_position_counts_those_ahead():
    assert waiting_position(9, [3, 7, 9, 12]) == 3


def test_closing_defaults_to_a_day_before():
    start = series_times(date(2026, 6, 2), time(15), time(16), "Europe/Berlin")[0][0]
    assert (start - default_closing(start)).total_seconds() == 24 * 3600


@pytest.mark.parametrize(
    "repeat,count,first", [("weekly", 6, date(2026, 3, 17)), ("fortnightly", 4, date(2026, 10, 13))]
)
def test_a_series_stays_at_15_local_across_the_last_sundays_of_march_and_october(
    repeat, count, first
):
    times = series_times(first, time(15), time(16, 30), "Europe/Berlin", repeat=repeat, count=count)
    assert len(times) == count
    offsets = set()
    for start_at, end_at in times:
        local = start_at.astimezone(BERLIN)
        assert (local.hour, local.minute) == (15, 0)
        assert end_at.astimezone(BERLIN).time() == time(16, 30)
        assert (end_at - start_at).total_seconds() == 90 * 60
        offsets.add(start_at.astimezone(UTC).hour)
    # Both sides of the change: 14:00 UTC in winter, 13:00 UTC in summer.
    assert offsets == {13, 14}


def test_a_series_of_one_year_spans_both_changes():
    times = series_times(
        date(2026, 1, 6), time(15), time(16), "Europe/Berlin", repeat="weekly", count=52
    )
    assert {s.astimezone(BERLIN).time() for s, _e in times} == {time(15)}
    assert {s.astimezone(UTC).hour for s, _e in times} == {13, 14}


def test_a_wall_time_in_the_skipped_hour_moves_forward():
    (start_at, _end) = series_times(date(2026, 3, 29), time(2, 30), time(4), "Europe/Berlin")[0]
    assert start_at.astimezone(BERLIN).time() == time(3, 30)


def test_bad_series_are_refused():
    with pytest.raises(ValueError):
        series_times(date(2026, 3, 3), time(16), time(15), "Europe/Berlin")
    with pytest.raises(ValueError):
        series_times(date(2026, 3, 3), time(15), time(16), "Europe/Berlin", repeat="daily", count=3)
    with pytest.raises(ValueError):
        series_times(
            date(2026, 3, 3), time(15), time(16), "Europe/Berlin", repeat="weekly", count=60
        )


def test_event_report_counts_per_audience_and_month():
    from booking.reports import EventFact, EventRow, RegistrationFact, event_report

    facts = [
        EventFact(
            "families",
            3,
            False,
            (
                RegistrationFact("confirmed", 2, "attended"),
                RegistrationFact("confirmed", 3, "no_show"),
                RegistrationFact("waiting", 1, None),
                RegistrationFact("cancelled", 4, None),
            ),
        ),
        EventFact("families", 3, True, (RegistrationFact("cancelled", 2, None),)),
        EventFact("professionals", 2, False, (RegistrationFact("confirmed", 1, None),)),
    ]
    assert event_report(facts) == [
        EventRow("professionals", 2, events=1, registrations=1, persons=1),
        EventRow(
            "families",
            3,
            events=1,
            cancelled_events=1,
            registrations=2,
            persons=5,
            attended_persons=2,
            waiting=1,
        ),
    ]
