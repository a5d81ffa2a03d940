"""The slot engine, one rule at a time (SPEC "Slot rules"); no app needed."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from booking.slots import (
    CLOSURE,
    COUNSELLOR_ABSENT,
    COUNSELLOR_NOT_WORKING,
    OUTSIDE_OPENING_HOURS,
    PUBLIC_HOLIDAY,
    CentreRules,
    Counsellor,
    Interval,
    Slot,
    WeeklyHours,
    available_slots,
    reasons_unavailable,
)

BERLIN = ZoneInfo("Europe/Berlin")

HERNE_HOURS = (
    *(WeeklyHours(weekday, time(8), time(16)) for weekday in range(4)),
    WeeklyHours(4, time(8), time(13)),
)
HEINSBERG_HOURS = (
    *(WeeklyHours(weekday, time(8, 30), time(12)) for weekday in range(5)),
    WeeklyHours(1, time(14), time(17)),
    WeeklyHours(3, time(14), time(17)),
)

# A quiet week in November 2026 (All Saints' Day is the Sunday before).
MONDAY = date(2026, 11, 9)
TUESDAY = date(2026, 11, 10)
FRIDAY = date(2026, 11, 13)
SATURDAY = date(2026, 11, 14)
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=BERLIN)

BILDUNG = timedelta(minutes=45)
ERZIEHUNG = timedelta(minutes=60)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """Return the UTC instant of a Berlin wall time (never one in a DST gap or fold)."""
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN).astimezone(UTC)


def between(day: date, start: tuple[int, int], end: tuple[int, int]) -> Interval:
    """Return the interval between two Berlin wall times of ``day``."""
    return Interval(local(day, *start), local(day, *end))


def make_rules(**over) -> CentreRules:
    """Return Herne's rules, with ``over`` replacing fields."""
    values = {"timezone": "Europe/Berlin", "opening_hours": HERNE_HOURS}
    return CentreRules(**(values | over))


def make_counsellor(**over) -> Counsellor:
    """Return a German-speaking counsellor offering both services, with ``over`` replacing."""
    values = {
        "id": 1,
        "languages": frozenset({"de"}),
        "service_slugs": frozenset({"beratung-1", "beratung-2"}),
    }
    return Counsellor(**(values | over))


def slots_on(
    day: date,
    rules: CentreRules | None = None,
    counsellors: tuple[Counsellor, ...] | None = None,
    duration: timedelta = ERZIEHUNG,
    service: str = "beratung-2",
    now: datetime = NOW,
    language: str | None = None,
    date_to: date | None = None,
) -> list[Slot]:
    """Return the slots of one day (or up to ``date_to``) with defaults from Herne."""
    return available_slots(
        rules or make_rules(),
        service,
        duration,
        counsellors if counsellors is not None else (make_counsellor(),),
        day,
        date_to or day,
        now,
        language=language,
    )


def local_starts(slots: list[Slot]) -> list[str]:
    """Return the slots' start times as Berlin wall clock "HH:MM" strings."""
    return [slot.start_at.astimezone(BERLIN).strftime("%H:%M") for slot in slots]


def half_hours(first: str, last: str) -> list[str]:
    """Return "HH:MM" every 30 minutes from ``first`` to ``last``, both included."""
    start = datetime.strptime(first, "%H:%M")
    count = (datetime.strptime(last, "%H:%M") - start) // timedelta(minutes=30)
    return [(start + n * timedelta(minutes=30)).strftime("%H:%M") for n in range(count + 1)]


# Rule 1: wholly inside one opening interval.


def test_rule1_slot_must_end_by_closing_time():
    slots = slots_on(FRIDAY)

    assert local_starts(slots) == half_hours("08:00", "12:00")
    assert slots[-1].end_at == local(FRIDAY, 13)


def test_rule1_monday_to_thursday_until_four():
    assert local_starts(slots_on(MONDAY)) == half_hours("08:00", "15:00")


def test_rule1_no_slots_on_a_closed_weekday():
    assert slots_on(SATURDAY) == []


def test_rule1_several_intervals_a_day():
    rules = make_rules(opening_hours=HEINSBERG_HOURS)

    tuesday = slots_on(TUESDAY, rules, duration=BILDUNG, service="beratung-1")
    monday = slots_on(MONDAY, rules, duration=BILDUNG, service="beratung-1")

    assert local_starts(tuesday) == half_hours("08:30", "11:00") + half_hours("14:00", "16:00")
    assert local_starts(monday) == half_hours("08:30", "11:00")


def test_rule1_slot_may_not_bridge_two_intervals():
    rules = make_rules(
        opening_hours=(WeeklyHours(0, time(8), time(10)), WeeklyHours(0, time(10), time(12)))
    )

    starts = local_starts(slots_on(MONDAY, rules, duration=timedelta(minutes=90)))

    assert starts == ["08:00", "08:30", "10:00", "10:30"]


def test_rule1_overlapping_intervals_give_each_slot_once():
    rules = make_rules(
        opening_hours=(WeeklyHours(0, time(8), time(11)), WeeklyHours(0, time(9), time(12)))
    )

    assert local_starts(slots_on(MONDAY, rules)) == half_hours("08:00", "11:00")


def test_rule1_validity_period_summer_hours():
    summer = (date(2026, 7, 1), date(2026, 8, 31))
    rules = make_rules(
        opening_hours=(
            WeeklyHours(4, time(8), time(13), valid_until=summer[0] - timedelta(days=1)),
            WeeklyHours(4, time(8), time(12), valid_from=summer[0], valid_until=summer[1]),
            WeeklyHours(4, time(8), time(13), valid_from=summer[1] + timedelta(days=1)),
        )
    )

    def starts(day: date) -> list[str]:
        week_before = datetime.combine(day - timedelta(days=7), time(8), tzinfo=BERLIN)
        return local_starts(slots_on(day, rules, now=week_before))

    assert starts(date(2026, 6, 26)) == half_hours("08:00", "12:00")
    assert starts(date(2026, 7, 3)) == half_hours("08:00", "11:00")  # first summer Friday
    assert starts(date(2026, 8, 28)) == half_hours("08:00", "11:00")  # last summer Friday
    assert starts(date(2026, 9, 4)) == half_hours("08:00", "12:00")


# Rule 2: public holidays and closures.


def test_rule2_no_slots_on_nrw_public_holiday():
    christmas = date(2026, 12, 25)  # a Friday
    corpus_christi = date(2027, 5, 27)  # Fronleichnam, a Thursday; a holiday in NRW only

    assert slots_on(christmas, now=datetime(2026, 12, 1, tzinfo=BERLIN)) == []
    assert slots_on(corpus_christi, now=datetime(2027, 5, 1, tzinfo=BERLIN)) == []
    assert slots_on(date(2027, 5, 26), now=datetime(2027, 5, 1, tzinfo=BERLIN)) != []


def test_rule2_country_region_ignores_state_holidays():
    rules = make_rules(holiday_region="DE")

    slots = slots_on(date(2027, 5, 27), rules, now=datetime(2027, 5, 1, tzinfo=BERLIN))

    assert local_starts(slots) == half_hours("08:00", "15:00")


def test_rule2_unknown_holiday_region_is_an_error():
    with pytest.raises(ValueError, match="holiday region"):
        slots_on(MONDAY, make_rules(holiday_region="XX-YY"))


def test_rule2_closure_removes_overlapping_slots():
    rules = make_rules(closures=(between(MONDAY, (10, 0), (11, 0)),))

    starts = local_starts(slots_on(MONDAY, rules))

    assert "09:00" in starts  # ends as the closure begins
    assert not {"09:30", "10:00", "10:30"} & set(starts)
    assert "11:00" in starts  # begins as the closure ends


def test_rule2_closure_over_several_days():
    closure = Interval(local(MONDAY, 12), local(TUESDAY, 12))
    rules = make_rules(closures=(closure,))

    starts = local_starts(slots_on(MONDAY, rules, date_to=TUESDAY))

    assert starts == half_hours("08:00", "11:00") + half_hours("12:00", "15:00")


# Rule 3: a counsellor who offers the service, speaks the language, and is free.


def test_rule3_counsellor_must_offer_service():
    counsellors = (
        make_counsellor(id=1, service_slugs=frozenset({"beratung-1"})),
        make_counsellor(id=2, service_slugs=frozenset({"beratung-1", "beratung-2"})),
    )

    slots = slots_on(MONDAY, counsellors=counsellors)

    assert slots
    assert {slot.counsellor_ids for slot in slots} == {(2,)}
    assert slots_on(MONDAY, counsellors=counsellors[:1]) == []


def test_rule3_language_filter():
    counsellors = (
        make_counsellor(id=1, languages=frozenset({"de"})),
        make_counsellor(id=2, languages=frozenset({"de", "tr"})),
    )

    turkish = slots_on(MONDAY, counsellors=counsellors, language="tr-TR")
    any_language = slots_on(MONDAY, counsellors=counsellors)

    assert {slot.counsellor_ids for slot in turkish} == {(2,)}
    assert {slot.counsellor_ids for slot in any_language} == {(1, 2)}
    assert slots_on(MONDAY, counsellors=counsellors, language="ar") == []


def test_rule3_lists_all_free_counsellors_sorted_by_id():
    counsellors = (
        make_counsellor(id=3),
        make_counsellor(id=1, busy=(between(MONDAY, (8, 0), (9, 0)),)),
        make_counsellor(id=2),
    )

    slots = slots_on(MONDAY, counsellors=counsellors)

    assert slots[0].counsellor_ids == (2, 3)
    assert slots[2].counsellor_ids == (1, 2, 3)


def test_rule3_absence():
    absent = make_counsellor(id=1, absences=(between(MONDAY, (10, 0), (12, 0)),))
    present = make_counsellor(id=2)

    alone = local_starts(slots_on(MONDAY, counsellors=(absent,)))
    together = slots_on(MONDAY, counsellors=(absent, present))

    assert alone == ["08:00", "08:30", "09:00", *half_hours("12:00", "15:00")]
    assert local_starts(together) == half_hours("08:00", "15:00")
    assert [s.counsellor_ids for s in together if s.start_at == local(MONDAY, 10)] == [(2,)]


def test_rule3_overlapping_absences_are_all_respected():
    # A short absence inside a long one must not hide the long one's end.
    absences = (between(MONDAY, (9, 0), (14, 0)), between(MONDAY, (9, 30), (10, 0)))

    starts = local_starts(slots_on(MONDAY, counsellors=(make_counsellor(absences=absences),)))

    assert starts == ["08:00", *half_hours("14:00", "15:00")]


def test_rule3_booking_blocks_overlapping_slots_of_other_length():
    bildung_booking = between(MONDAY, (10, 0), (10, 45))

    starts = local_starts(slots_on(MONDAY, counsellors=(make_counsellor(busy=(bildung_booking,)),)))

    assert "09:00" in starts
    assert not {"09:30", "10:00", "10:30"} & set(starts)
    assert "11:00" in starts


def test_rule3_adjacent_booking_does_not_block():
    booking = between(MONDAY, (10, 0), (11, 0))

    starts = local_starts(slots_on(MONDAY, counsellors=(make_counsellor(busy=(booking,)),)))

    assert {"09:00", "11:00"} <= set(starts)
    assert not {"09:30", "10:00", "10:30"} & set(starts)


def test_rule3_buffer():
    rules = make_rules(buffer=timedelta(minutes=15))
    booking = between(MONDAY, (10, 0), (11, 0))
    counsellors = (make_counsellor(busy=(booking,)),)

    starts = local_starts(slots_on(MONDAY, rules, counsellors, duration=timedelta(minutes=30)))

    assert {"09:00", "11:30"} <= set(starts)
    assert not {"09:30", "10:00", "10:30", "11:00"} & set(starts)


def test_rule3_own_working_hours():
    part_time = make_counsellor(working_hours=(WeeklyHours(0, time(12), time(16)),))

    monday = local_starts(slots_on(MONDAY, counsellors=(part_time,)))
    tuesday = slots_on(TUESDAY, counsellors=(part_time,))

    assert monday == half_hours("12:00", "15:00")
    assert tuesday == []


def test_rule3_own_working_hours_only_within_opening_hours():
    early_bird = make_counsellor(working_hours=(WeeklyHours(4, time(6), time(10)),))

    assert local_starts(slots_on(FRIDAY, counsellors=(early_bird,))) == half_hours("08:00", "09:00")


# Rule 4: notice and horizon.


def test_rule4_min_notice():
    now = datetime.combine(MONDAY, time(9, 10), tzinfo=BERLIN)

    slots = slots_on(MONDAY, now=now, date_to=TUESDAY)

    assert local_starts(slots) == half_hours("09:30", "15:00")
    assert {slot.start_at.astimezone(BERLIN).date() for slot in slots} == {TUESDAY}


def test_rule4_min_notice_zero_allows_a_slot_starting_now():
    now = datetime.combine(MONDAY, time(9), tzinfo=BERLIN)

    slots = slots_on(MONDAY, make_rules(min_notice=timedelta(0)), now=now)

    assert local_starts(slots) == half_hours("09:00", "15:00")


def test_rule4_horizon():
    last_day = NOW.date() + timedelta(days=56)  # Monday 2026-12-28

    slots = slots_on(NOW.date(), date_to=date(2027, 1, 31))

    assert max(slot.start_at.astimezone(BERLIN).date() for slot in slots) == last_day


def test_rule4_horizon_counts_from_the_centres_local_date():
    now = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)  # already Monday 00:30 in Berlin
    rules = make_rules(min_notice=timedelta(0), horizon_days=1)

    slots = slots_on(date(2026, 11, 1), rules, now=now, date_to=date(2026, 11, 6))

    assert {slot.start_at.astimezone(BERLIN).date() for slot in slots} == {
        date(2026, 11, 2),
        date(2026, 11, 3),
    }


def test_rule4_notice_in_a_centre_west_of_utc():
    new_york = ZoneInfo("America/New_York")
    rules = make_rules(
        timezone="America/New_York",
        opening_hours=(WeeklyHours(6, time(20), time(23)),),
        holiday_region="US",
    )
    sunday = date(2026, 11, 8)
    now = datetime(2026, 11, 7, 21, 0, tzinfo=new_york)  # Monday 02:00 UTC a day later

    slots = slots_on(sunday, rules, now=now)

    assert [s.start_at.astimezone(new_york).strftime("%H:%M") for s in slots] == [
        "21:00",
        "21:30",
        "22:00",
    ]


# Rule 5: the grid.


def test_rule5_grid():
    rules = make_rules(slot_step_minutes=45)

    starts = local_starts(slots_on(FRIDAY, rules))

    assert starts == ["08:00", "08:45", "09:30", "10:15", "11:00", "11:45"]


def test_rule5_grid_starts_at_each_interval():
    rules = make_rules(opening_hours=HEINSBERG_HOURS, slot_step_minutes=40)

    starts = local_starts(slots_on(TUESDAY, rules, duration=BILDUNG, service="beratung-1"))

    assert starts == ["08:30", "09:10", "09:50", "10:30", "11:10", "14:00", "14:40"] + [
        "15:20",
        "16:00",
    ]


# Daylight saving time: Sundays on which Europe/Berlin switches.

DST_SUNDAYS = {
    date(2026, 3, 29): "spring",
    date(2026, 10, 25): "fall",
    date(2027, 3, 28): "spring",
    date(2027, 10, 31): "fall",
}


def night_rules(**over) -> CentreRules:
    """Return rules with artificial Sunday night hours 01:00–04:00 and no notice."""
    values = {
        "opening_hours": (WeeklyHours(6, time(1), time(4)),),
        "min_notice": timedelta(0),
    }
    return make_rules(**(values | over))


def utc_starts(slots: list[Slot]) -> list[str]:
    return [slot.start_at.strftime("%H:%M") for slot in slots]


@pytest.mark.parametrize("sunday", DST_SUNDAYS)
@pytest.mark.parametrize("minutes", [30, 45, 60, 90])
def test_rule5_dst_slots_are_unique_ordered_and_exact(sunday, minutes):
    duration = timedelta(minutes=minutes)
    now = datetime.combine(sunday - timedelta(days=7), time(0), tzinfo=BERLIN)

    slots = slots_on(sunday, night_rules(), duration=duration, now=now)

    assert slots
    assert all(slot.end_at - slot.start_at == duration for slot in slots)
    assert [slot.start_at for slot in slots] == sorted({slot.start_at for slot in slots})
    assert all(slot.start_at.tzinfo is UTC and slot.end_at.tzinfo is UTC for slot in slots)
    walls = [slot.start_at.astimezone(BERLIN) for slot in slots]
    assert all(wall.fold == 0 for wall in walls)  # a repeated hour is offered once only
    if DST_SUNDAYS[sunday] == "spring":
        assert not [wall for wall in walls if wall.hour == 2]  # the missing hour


@pytest.mark.parametrize("sunday", [day for day, kind in DST_SUNDAYS.items() if kind == "spring"])
def test_rule5_dst_spring_forward_skips_missing_hour(sunday):
    now = datetime.combine(sunday - timedelta(days=7), time(0), tzinfo=BERLIN)

    slots = slots_on(sunday, night_rules(), now=now)

    # Local 01:00, 01:30 CET, then 03:00 CEST; the 60-minute slots end in real time.
    assert local_starts(slots) == ["01:00", "01:30", "03:00"]
    assert utc_starts(slots) == ["00:00", "00:30", "01:00"]
    assert [slot.end_at.astimezone(BERLIN).strftime("%H:%M") for slot in slots] == [
        "03:00",
        "03:30",
        "04:00",
    ]


@pytest.mark.parametrize("sunday", [day for day, kind in DST_SUNDAYS.items() if kind == "fall"])
def test_rule5_dst_fall_back_offers_repeated_hour_once(sunday):
    now = datetime.combine(sunday - timedelta(days=7), time(0), tzinfo=BERLIN)

    slots = slots_on(sunday, night_rules(), now=now)

    # 01:00, 01:30, 02:00, 02:30 CEST, then 03:00 CET; the window is 4 real hours.
    assert local_starts(slots) == ["01:00", "01:30", "02:00", "02:30", "03:00"]
    assert utc_starts(slots) == ["23:00", "23:30", "00:00", "00:30", "02:00"]
    assert slots[2].end_at.astimezone(BERLIN).strftime("%H:%M %Z") == "02:00 CET"


def test_rule5_dst_opening_time_in_gap_starts_at_end_of_gap():
    sunday = date(2026, 3, 29)
    rules = night_rules(opening_hours=(WeeklyHours(6, time(2, 30), time(5)),))
    now = datetime(2026, 3, 1, tzinfo=BERLIN)

    slots = slots_on(sunday, rules, now=now)

    # The grid 02:30, 03:00, ... keeps its wall times; 02:30 itself does not exist.
    assert local_starts(slots) == ["03:00", "03:30", "04:00"]


def test_rule5_dst_closing_time_in_gap_means_end_of_gap():
    sunday = date(2026, 3, 29)
    rules = night_rules(opening_hours=(WeeklyHours(6, time(1), time(2, 30)),))
    now = datetime(2026, 3, 1, tzinfo=BERLIN)

    slots = slots_on(sunday, rules, now=now)

    # Open from 01:00 CET until the clocks jump (03:00 CEST): one real hour.
    assert local_starts(slots) == ["01:00"]
    assert slots[0].end_at == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_rule5_grid_keeps_wall_times_after_switch():
    sunday = date(2026, 3, 29)
    rules = night_rules(opening_hours=(WeeklyHours(6, time(0), time(6)),), slot_step_minutes=45)
    now = datetime(2026, 3, 1, tzinfo=BERLIN)

    starts = local_starts(slots_on(sunday, rules, now=now, duration=timedelta(minutes=45)))

    assert starts == ["00:00", "00:45", "01:30", "03:00", "03:45", "04:30", "05:15"]


# The contract around the rules.


def test_naive_now_is_an_error():
    with pytest.raises(ValueError, match="aware"):
        slots_on(MONDAY, now=datetime(2026, 11, 2, 8, 0))


@pytest.mark.parametrize("minutes", [0, -30])
def test_duration_must_be_positive(minutes):
    with pytest.raises(ValueError, match="duration"):
        slots_on(MONDAY, duration=timedelta(minutes=minutes))


def test_date_from_after_date_to_gives_no_slots():
    assert slots_on(TUESDAY, date_to=MONDAY) == []


def test_slots_are_in_utc_and_ordered_over_several_days():
    slots = slots_on(MONDAY, date_to=FRIDAY)

    assert len(slots) == 4 * 15 + 9
    assert all(slot.start_at.tzinfo is UTC for slot in slots)
    assert [slot.start_at for slot in slots] == sorted({slot.start_at for slot in slots})


def test_no_counsellors_no_slots():
    assert slots_on(MONDAY, counsellors=()) == []


# Existing appointments checked against changed rules.


def _rules_herne(**over):
    base = {
        "timezone": "Europe/Berlin",
        "opening_hours": tuple(WeeklyHours(d, time(8), time(16)) for d in range(4))
        + (WeeklyHours(4, time(8), time(13)),),
        "holiday_region": "DE-NW",
    }
    base.update(over)
    return CentreRules(**base)


def _appointment(day, hh, mm=0, minutes=60):
    start = datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZoneInfo("Europe/Berlin"))
    return start.astimezone(UTC), (start + timedelta(minutes=minutes)).astimezone(UTC)


def test_existing_appointment_that_still_fits_has_no_reasons():
    start, end = _appointment(date(2027, 3, 5), 12)  # Friday 12:00-13:00
    assert reasons_unavailable(_rules_herne(), Counsellor(id=1), start, end) == []


def test_existing_appointment_outside_new_hours_is_reported():
    start, end = _appointment(date(2027, 3, 5), 12)
    shorter = _rules_herne(opening_hours=(WeeklyHours(4, time(8), time(12)),))
    assert reasons_unavailable(shorter, Counsellor(id=1), start, end) == [OUTSIDE_OPENING_HOURS]


def test_existing_appointment_on_holiday_in_closure_and_absence_is_reported():
    start, end = _appointment(date(2027, 5, 27), 10)  # Fronleichnam, a Thursday
    rules = _rules_herne(
        closures=(Interval(start - timedelta(hours=1), start + timedelta(minutes=1)),)
    )
    away = Counsellor(
        id=1, absences=(Interval(end - timedelta(minutes=1), end + timedelta(days=1)),)
    )
    assert reasons_unavailable(rules, away, start, end) == [
        PUBLIC_HOLIDAY,
        CLOSURE,
        COUNSELLOR_ABSENT,
    ]


def test_existing_appointment_outside_the_counsellors_own_hours_is_reported():
    start, end = _appointment(date(2027, 3, 4), 14)  # Thursday 14:00-15:00
    part_time = Counsellor(id=1, working_hours=(WeeklyHours(3, time(8), time(12)),))
    assert reasons_unavailable(_rules_herne(), part_time, start, end) == [COUNSELLOR_NOT_WORKING]


def test_existing_appointment_ignores_notice_and_grid():
    start, end = _appointment(date(2027, 3, 4), 10, 10)  # off the grid, and "now" is after it
    assert (
        reasons_unavailable(
            _rules_herne(min_notice=timedelta(days=999)), Counsellor(id=1), start, end
        )
        == []
    )


def test_a_grid_laid_for_one_now_answers_for_another_as_laid_anew():
    """The grid of a week is kept per process whatever ``now``: the notice (rule 4) still
    cuts it at each ``now``, as a grid laid anew would."""
    from booking import slots as engine

    counsellors = [Counsellor(id=1, service_slugs=frozenset({"s"}))]
    rules = make_rules(min_notice=timedelta(hours=2))

    def search(now: datetime) -> list[Slot]:
        return available_slots(rules, "s", ERZIEHUNG, counsellors, MONDAY, FRIDAY, now)

    for now in (local(MONDAY, 9, 10), local(TUESDAY, 13, 59), local(FRIDAY, 9)):
        engine._laid_grid.cache_clear()
        earlier = search(now - timedelta(hours=1))  # lays the grid of these days
        kept = search(now)
        assert engine._laid_grid.cache_info().hits == 1  # the grid laid for the earlier now
        engine._laid_grid.cache_clear()
        assert kept == search(now)  # laid anew
        assert kept != earlier and kept[0].start_at >= now + timedelta(hours=2)
