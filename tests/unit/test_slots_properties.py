"""Properties of the slot engine over random centres, bookings and dates (DST days included).

The checks below convert wall times with their own brute-force oracle rather than the
engine's helpers: a wall time names the first instant whose local clock reads it, and one
in a spring-forward gap names the first instant whose clock reads later than it. Durations
(notice, slot length, buffer) are absolute time: the oracle adds them to instants in UTC,
never to an aware datetime of another zone (Python adds those on the wall clock).

`make test` runs each property with a seed of its own (the "ci" profile of
tests/conftest.py); `make property` runs them with 5,000 examples and a random seed.
"""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given
from hypothesis import strategies as st

from booking.slots import CentreRules, Counsellor, Interval, WeeklyHours, available_slots

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC")
DST_DAYS = (
    date(2026, 3, 29),  # Berlin spring forward
    date(2026, 10, 25),  # Berlin fall back
    date(2027, 3, 28),
    date(2027, 10, 31),
    date(2026, 3, 8),  # New York
    date(2026, 11, 1),
    date(2026, 4, 5),  # Lord Howe: half an hour back
    date(2026, 10, 4),  # Lord Howe: half an hour forward
)
SERVICE = "beratung-2"

pytestmark = pytest.mark.property


# The oracle: wall time <-> UTC by brute force.


def local_wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


@lru_cache(maxsize=1024)
def offsets_near(day: date, zone: str) -> frozenset[timedelta]:
    """Every UTC offset the zone uses within a day of ``day``, sampled every 15 minutes."""
    tz = ZoneInfo(zone)
    first = datetime.combine(day - timedelta(days=1), time(), tzinfo=UTC)
    return frozenset(
        (first + n * timedelta(minutes=15)).astimezone(tz).utcoffset() for n in range(3 * 96)
    )


def instants_of(wall: datetime, zone: str) -> list[datetime]:
    """All instants whose local clock reads ``wall``, earliest first (none in a gap)."""
    tz = ZoneInfo(zone)
    candidates = {(wall - offset).replace(tzinfo=UTC) for offset in offsets_near(wall.date(), zone)}
    return sorted(c for c in candidates if local_wall(c, tz) == wall)


def instant_at_or_after(wall: datetime, zone: str) -> datetime:
    """The first instant whose local clock reads ``wall`` or, in a gap, later."""
    found = instants_of(wall, zone)
    if found:
        return found[0]
    tz = ZoneInfo(zone)
    offsets = offsets_near(wall.date(), zone)
    instant = (wall - max(offsets)).replace(tzinfo=UTC)
    while local_wall(instant, tz) < wall:
        instant += timedelta(minutes=1)
    return instant


def intervals_on(hours, day: date) -> list[WeeklyHours]:
    return [
        h
        for h in hours
        if h.weekday == day.weekday()
        and (h.valid_from is None or h.valid_from <= day)
        and (h.valid_until is None or day <= h.valid_until)
        and h.opens < h.closes
    ]


def spans_on(hours, day: date, zone: str) -> list[tuple[WeeklyHours, datetime, datetime]]:
    return [
        (
            h,
            instant_at_or_after(datetime.combine(day, h.opens), zone),
            instant_at_or_after(datetime.combine(day, h.closes), zone),
        )
        for h in intervals_on(hours, day)
    ]


def overlaps(start_at, end_at, other_start_at, other_end_at) -> bool:
    return start_at < other_end_at and other_start_at < end_at


# Strategies.

minutes_of_day = st.one_of(st.integers(0, 24 * 60 - 1), st.integers(0, 5 * 60))  # bias: DST
step_minutes = st.sampled_from([5, 10, 15, 20, 25, 30, 40, 45, 60, 90])
offers_service = st.sampled_from([True, True, True, False])


@st.composite
def weekly_hours(draw, weekdays: list[int], day: date) -> WeeklyHours:
    opens, closes = sorted(draw(st.lists(minutes_of_day, min_size=2, max_size=2, unique=True)))
    bound = st.sampled_from([None, None, None, -1, 0, 1, 2]).map(
        lambda n: None if n is None else day + timedelta(days=n)
    )
    return WeeklyHours(
        weekday=draw(st.sampled_from(weekdays)),
        opens=time(*divmod(opens, 60)),
        closes=time(*divmod(closes, 60)),
        valid_from=draw(bound),
        valid_until=draw(bound),
    )


@st.composite
def intervals(draw, window_start: datetime, window_minutes: int, max_size: int) -> tuple:
    spans = draw(
        st.lists(
            st.tuples(st.integers(-240, window_minutes + 240), st.integers(1, 300)),
            max_size=max_size,
        )
    )
    return tuple(
        Interval(
            window_start + timedelta(minutes=offset),
            window_start + timedelta(minutes=offset + length),
        )
        for offset, length in spans
    )


@st.composite
def scenarios(draw) -> dict:
    zone = draw(st.sampled_from(ZONES))
    date_from = draw(
        st.one_of(st.sampled_from(DST_DAYS), st.dates(date(2026, 1, 1), date(2027, 12, 31)))
    )
    date_to = date_from + timedelta(days=draw(st.integers(0, 2)))
    days = [date_from + timedelta(days=n) for n in range((date_to - date_from).days + 1)]
    weekdays = sorted({day.weekday() for day in days})
    window_start = datetime.combine(date_from, time(), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    window_minutes = len(days) * 24 * 60

    rules = CentreRules(
        timezone=zone,
        opening_hours=tuple(
            draw(st.lists(weekly_hours(weekdays, date_from), min_size=1, max_size=4))
        ),
        holiday_region=draw(st.sampled_from(["DE-NW", "DE"])),
        closures=draw(intervals(window_start, window_minutes, max_size=2)),
        min_notice=timedelta(minutes=draw(st.one_of(st.just(0), st.integers(0, 48 * 60)))),
        horizon_days=draw(st.one_of(st.just(56), st.integers(0, 4))),
        slot_step_minutes=draw(step_minutes),
        buffer=timedelta(minutes=draw(st.sampled_from([0, 5, 15, 30]))),
    )
    counsellors = tuple(
        Counsellor(
            id=identifier,
            service_slugs=frozenset({SERVICE} if draw(offers_service) else {"beratung-1"}),
            working_hours=draw(
                st.one_of(
                    st.none(),
                    st.lists(weekly_hours(weekdays, date_from), min_size=1, max_size=3).map(tuple),
                )
            ),
            absences=draw(intervals(window_start, window_minutes, max_size=2)),
            busy=draw(intervals(window_start, window_minutes, max_size=6)),
        )
        for identifier in draw(st.lists(st.integers(1, 50), min_size=1, max_size=3, unique=True))
    )
    now = window_start + timedelta(minutes=draw(st.integers(-4 * 24 * 60, 24 * 60)))
    return {
        "rules": rules,
        "service_slug": SERVICE,
        "duration": timedelta(minutes=draw(st.integers(5, 180))),
        "counsellors": counsellors,
        "date_from": date_from,
        "date_to": date_to,
        "now": now,
    }


def local_date(instant: datetime, zone: str) -> date:
    return instant.astimezone(ZoneInfo(zone)).date()


# Properties.


@given(scenarios())
def test_property_no_slot_outside_opening_hours(scenario):
    rules = scenario["rules"]
    for slot in available_slots(**scenario):
        day = local_date(slot.start_at, rules.timezone)
        assert scenario["date_from"] <= day <= scenario["date_to"]
        assert any(
            opens_at <= slot.start_at and slot.end_at <= closes_at
            for _, opens_at, closes_at in spans_on(rules.opening_hours, day, rules.timezone)
        )


@given(scenarios())
def test_property_no_slot_overlaps_a_listed_counsellors_booking(scenario):
    buffer = scenario["rules"].buffer
    by_id = {c.id: c for c in scenario["counsellors"]}
    for slot in available_slots(**scenario):
        assert slot.counsellor_ids
        assert list(slot.counsellor_ids) == sorted(set(slot.counsellor_ids))
        for identifier in slot.counsellor_ids:
            counsellor = by_id[identifier]
            assert SERVICE in counsellor.service_slugs
            for booking in counsellor.busy:
                assert not overlaps(
                    slot.start_at - buffer, slot.end_at + buffer, booking.start_at, booking.end_at
                )
            for absence in counsellor.absences:
                assert not overlaps(slot.start_at, slot.end_at, absence.start_at, absence.end_at)


@given(scenarios())
def test_property_slot_starts_are_on_the_wall_time_grid(scenario):
    rules = scenario["rules"]
    tz = ZoneInfo(rules.timezone)
    for slot in available_slots(**scenario):
        wall = slot.start_at.astimezone(tz)
        first_occurrence = instants_of(wall.replace(tzinfo=None), rules.timezone)[0]
        assert slot.start_at == first_occurrence  # a repeated wall time is offered once
        minutes_from_open = [
            (wall.replace(tzinfo=None) - datetime.combine(wall.date(), h.opens))
            // timedelta(minutes=1)
            for h in intervals_on(rules.opening_hours, wall.date())
        ]
        assert any(m >= 0 and m % rules.slot_step_minutes == 0 for m in minutes_from_open)


@given(scenarios())
def test_property_durations_notice_order_and_utc(scenario):
    slots = available_slots(**scenario)
    earliest_start_at = scenario["now"].astimezone(UTC) + scenario["rules"].min_notice
    for slot in slots:
        assert slot.end_at - slot.start_at == scenario["duration"]
        assert slot.start_at >= earliest_start_at
        assert slot.start_at.tzinfo is UTC and slot.end_at.tzinfo is UTC
    starts = [slot.start_at for slot in slots]
    assert starts == sorted(set(starts))


def expected_slots(scenario) -> list[tuple[datetime, datetime, tuple[int, ...]]]:
    """Every slot the rules allow, found by walking each interval's grid minute by minute."""
    rules, zone = scenario["rules"], scenario["rules"].timezone
    duration, buffer = scenario["duration"], rules.buffer
    now = scenario["now"]
    earliest_start_at = now.astimezone(UTC) + rules.min_notice  # absolute, not wall time
    last_day = local_date(now, zone) + timedelta(days=rules.horizon_days)
    country, _, subdivision = rules.holiday_region.partition("-")
    found = {}
    day = scenario["date_from"]
    while day <= scenario["date_to"]:
        public_holidays = holidays.country_holidays(country, subdiv=subdivision or None)
        if day in public_holidays or day > last_day:
            day += timedelta(days=1)
            continue
        for h, opens_at, closes_at in spans_on(rules.opening_hours, day, zone):
            wall = datetime.combine(day, h.opens)
            while wall < datetime.combine(day, h.closes):
                occurrences = instants_of(wall, zone)
                wall += timedelta(minutes=rules.slot_step_minutes)
                if not occurrences:
                    continue
                start_at = occurrences[0]
                end_at = start_at + duration
                if not (opens_at <= start_at and end_at <= closes_at):
                    continue
                if start_at < earliest_start_at:
                    continue
                if any(overlaps(start_at, end_at, c.start_at, c.end_at) for c in rules.closures):
                    continue
                free = tuple(
                    sorted(
                        c.id
                        for c in scenario["counsellors"]
                        if SERVICE in c.service_slugs
                        and (
                            c.working_hours is None
                            or any(
                                o <= start_at and end_at <= e
                                for _, o, e in spans_on(c.working_hours, day, zone)
                            )
                        )
                        and not any(
                            overlaps(start_at, end_at, a.start_at, a.end_at) for a in c.absences
                        )
                        and not any(
                            overlaps(start_at - buffer, end_at + buffer, b.start_at, b.end_at)
                            for b in c.busy
                        )
                    )
                )
                if free:
                    found[start_at] = (start_at, end_at, free)
        day += timedelta(days=1)
    return sorted(found.values())


@given(scenarios())
def test_property_offers_exactly_what_a_brute_force_reading_of_the_rules_offers(scenario):
    offered = [(s.start_at, s.end_at, s.counsellor_ids) for s in available_slots(**scenario)]

    assert offered == expected_slots(scenario)


ODD_ZONES = (UTC, ZoneInfo("Europe/Berlin"), timezone(timedelta(hours=-5, minutes=-30)))


@st.composite
def scenarios_with_odd_instants(draw) -> dict:
    """The scenarios above with closures, absences, bookings and ``now`` moved by up to a
    minute to the microsecond, and given in other zones than UTC: the engine counts in
    whole microseconds, and its half-open overlaps must stay exact."""
    scenario = draw(scenarios())

    def odd(instant: datetime) -> datetime:
        shift = timedelta(microseconds=draw(st.integers(-60_000_000, 60_000_000)))
        return (instant + shift).astimezone(draw(st.sampled_from(ODD_ZONES)))

    def odd_interval(interval: Interval) -> Interval:
        # The strategy's intervals last a minute or more: they stay non-empty.
        stretch = timedelta(microseconds=draw(st.integers(-59_999_999, 60_000_000)))
        start_at = odd(interval.start_at)
        end_at = start_at + (interval.end_at - interval.start_at) + stretch
        return Interval(start_at, end_at.astimezone(draw(st.sampled_from(ODD_ZONES))))

    def odd_intervals(spans: tuple[Interval, ...]) -> tuple[Interval, ...]:
        return tuple(odd_interval(i) for i in spans)

    rules = scenario["rules"]
    return {
        **scenario,
        "rules": replace(rules, closures=odd_intervals(rules.closures)),
        "counsellors": tuple(
            replace(c, absences=odd_intervals(c.absences), busy=odd_intervals(c.busy))
            for c in scenario["counsellors"]
        ),
        "now": odd(scenario["now"]),
    }


@given(scenarios_with_odd_instants())
def test_property_microseconds_and_other_zones_are_read_exactly(scenario):
    offered = [(s.start_at, s.end_at, s.counsellor_ids) for s in available_slots(**scenario)]

    assert offered == expected_slots(scenario)


def test_regression_notice_is_absolute_time_when_now_is_given_across_a_dst_switch():
    """Found by the property above: a Lord Howe centre asked with ``now`` in Berlin the
    evening before Berlin springs forward. 23:00 CET plus 4 hours of notice is 02:00 UTC
    (04:00 CEST); Python's wall-clock sum says 03:00 CEST (01:00 UTC), and the reference
    once expected a slot at 01:00 UTC that the engine, rightly, does not offer."""
    now = datetime(2026, 3, 28, 23, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    scenario = {
        "rules": CentreRules(
            timezone="Australia/Lord_Howe",  # UTC+11 all of 2026-03-29
            opening_hours=(WeeklyHours(weekday=6, opens=time(12), closes=time(13, 10)),),
            min_notice=timedelta(hours=4),
            slot_step_minutes=5,
        ),
        "service_slug": SERVICE,
        "duration": timedelta(minutes=5),
        "counsellors": (Counsellor(id=1, service_slugs=frozenset({SERVICE})),),
        "date_from": date(2026, 3, 29),
        "date_to": date(2026, 3, 29),
        "now": now,
    }
    offered = [(s.start_at, s.end_at, s.counsellor_ids) for s in available_slots(**scenario)]

    first = datetime(2026, 3, 29, 2, 0, tzinfo=UTC)  # 13:00 in Lord Howe
    assert offered == [
        (first, first + timedelta(minutes=5), (1,)),
        (first + timedelta(minutes=5), first + timedelta(minutes=10), (1,)),
    ]
    assert offered == expected_slots(scenario)


def test_regression_notice_counts_from_the_second_occurrence_of_a_repeated_now():
    """``now`` at 02:00 the second time (fold=1) in Berlin is 01:00 UTC; Python's sum
    ``now + notice`` drops the fold and would read 00:00 UTC."""
    now = datetime(2026, 10, 25, 2, 0, fold=1, tzinfo=ZoneInfo("Europe/Berlin"))
    scenario = {
        "rules": CentreRules(
            timezone="UTC",
            opening_hours=(WeeklyHours(weekday=6, opens=time(0), closes=time(1, 10)),),
            min_notice=timedelta(0),
            slot_step_minutes=5,
        ),
        "service_slug": SERVICE,
        "duration": timedelta(minutes=5),
        "counsellors": (Counsellor(id=1, service_slugs=frozenset({SERVICE})),),
        "date_from": date(2026, 10, 25),
        "date_to": date(2026, 10, 25),
        "now": now,
    }
    offered = [s.start_at for s in available_slots(**scenario)]

    assert offered == [datetime(2026, 10, 25, 1, m, tzinfo=UTC) for m in (0, 5)]
    assert [start for start, _, _ in expected_slots(scenario)] == offered
