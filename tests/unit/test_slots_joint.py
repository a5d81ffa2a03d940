"""Joint appointments in the slot engine: a time is offered only when one person of every
role the service needs is free (AND across roles, OR within a role); SPEC "Slot rules" 3."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking.slots import (
    COUNSELLOR,
    OFFICER,
    CentreRules,
    Counsellor,
    Interval,
    WeeklyHours,
    available_slots,
)

BERLIN = ZoneInfo("Europe/Berlin")
TUESDAY = date(2026, 11, 10)
NOW = datetime(2026, 11, 2, 8, 0, tzinfo=BERLIN)
SERVICE = "beratung-4"
HOUR = timedelta(minutes=60)
JOINT = (COUNSELLOR, OFFICER)
RULES = CentreRules(
    timezone="Europe/Berlin",
    opening_hours=tuple(WeeklyHours(weekday, time(8), time(16)) for weekday in range(5)),
)


def local(hour: int, minute: int = 0, day: date = TUESDAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=BERLIN).astimezone(UTC)


def person(identifier: int, role: str, opens: int, closes: int, **over) -> Counsellor:
    values = {
        "id": identifier,
        "role": role,
        "service_slugs": frozenset({SERVICE}),
        "languages": frozenset({"de", "ar"}) if role == COUNSELLOR else frozenset({"de"}),
        "working_hours": (WeeklyHours(TUESDAY.weekday(), time(opens), time(closes)),),
    }
    return Counsellor(**(values | over))


def starts(people, roles=JOINT, **over) -> list[datetime]:
    arguments = {"language": None} | over
    found = available_slots(
        RULES, SERVICE, HOUR, people, TUESDAY, TUESDAY, NOW, roles=roles, **arguments
    )
    return [slot.start_at for slot in found]


def test_only_the_hour_both_are_free_is_offered():
    counsellor = person(1, COUNSELLOR, 9, 12)
    officer = person(2, OFFICER, 10, 11)

    assert starts([counsellor, officer]) == [local(10)]
    # Alone, the counsellor would offer 09:00 to 11:00.
    assert starts([counsellor], roles=(COUNSELLOR,)) == [
        local(9),
        local(9, 30),
        local(10),
        local(10, 30),
        local(11),
    ]


def test_the_slot_names_the_free_people_of_each_role():
    found = available_slots(
        RULES,
        SERVICE,
        HOUR,
        [person(1, COUNSELLOR, 9, 12), person(2, OFFICER, 10, 11), person(3, OFFICER, 8, 16)],
        TUESDAY,
        TUESDAY,
        NOW,
        roles=JOINT,
    )
    at_ten = next(slot for slot in found if slot.start_at == local(10))
    assert at_ten.counsellor_ids == (1,)
    assert at_ten.ids_of(OFFICER) == (2, 3)
    assert at_ten.others == ((OFFICER, (2, 3)),)


@pytest.mark.parametrize("who", ["counsellor", "officer"])
@pytest.mark.parametrize("why", ["absent", "booked", "leading an event"])
def test_either_one_busy_or_absent_offers_nothing(who, why):
    blocked = Interval(local(9, 45), local(10, 15))
    change = {"absences": (blocked,)} if why == "absent" else {"busy": (blocked,)}
    counsellor = person(1, COUNSELLOR, 9, 12, **(change if who == "counsellor" else {}))
    officer = person(2, OFFICER, 10, 11, **(change if who == "officer" else {}))

    assert starts([counsellor, officer]) == []


@pytest.mark.parametrize("missing", [COUNSELLOR, OFFICER])
def test_nobody_of_a_needed_role_offers_nothing(missing):
    people = [
        p for p in (person(1, COUNSELLOR, 9, 12), person(2, OFFICER, 10, 11)) if p.role != missing
    ]

    assert starts(people) == []


def test_the_language_binds_the_counsellor_not_the_officer():
    counsellor = person(1, COUNSELLOR, 9, 12, languages=frozenset({"de", "ar"}))
    officer = person(2, OFFICER, 10, 11, languages=frozenset({"de"}))

    assert starts([counsellor, officer], language="ar") == [local(10)]
    assert starts([counsellor, officer], language="tr") == []


def test_an_officer_never_counsels_alone():
    officer = person(2, OFFICER, 8, 16)

    assert starts([officer], roles=(COUNSELLOR,)) == []


def test_roles_must_name_the_counsellor_first():
    with pytest.raises(ValueError):
        starts([person(1, COUNSELLOR, 9, 12)], roles=(OFFICER, COUNSELLOR))


# A property against a brute-force reading of the rules. Derandomized: the examples are
# the same on every run, so the suite never fails by chance; set JOINT_EXAMPLES to run
# longer (for example 5000) when changing the engine.

import os  # noqa: E402

EXAMPLES = int(os.environ.get("JOINT_EXAMPLES", "150"))
PROPERTY_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
# No DST switch in these weeks: the wall-time rules are the single-role property's subject.
FIRST_DAY = date(2026, 6, 1)


def wall_instant(day: date, wall: time) -> datetime:
    return datetime.combine(day, wall, tzinfo=BERLIN).astimezone(UTC)


def overlaps(a_start, a_end, b_start, b_end) -> bool:
    return a_start < b_end and b_start < a_end


@st.composite
def intervals(draw, origin: datetime, max_size: int) -> tuple[Interval, ...]:
    spans = draw(
        st.lists(st.tuples(st.integers(0, 3 * 24 * 60), st.integers(1, 240)), max_size=max_size)
    )
    return tuple(
        Interval(origin + timedelta(minutes=o), origin + timedelta(minutes=o + n)) for o, n in spans
    )


@st.composite
def hours(draw, weekdays: list[int]) -> WeeklyHours:
    opens, closes = sorted(
        draw(st.lists(st.integers(6 * 4, 19 * 4), min_size=2, max_size=2, unique=True))
    )
    return WeeklyHours(
        draw(st.sampled_from(weekdays)),
        time(*divmod(opens * 15, 60)),
        time(*divmod(closes * 15, 60)),
    )


@st.composite
def joint_scenarios(draw) -> dict:
    date_from = FIRST_DAY + timedelta(days=draw(st.integers(0, 20)))
    date_to = date_from + timedelta(days=draw(st.integers(0, 2)))
    weekdays = sorted(
        {(date_from + timedelta(days=n)).weekday() for n in range((date_to - date_from).days + 1)}
    )
    origin = wall_instant(date_from, time()) - timedelta(hours=4)
    rules = CentreRules(
        timezone="Europe/Berlin",
        opening_hours=tuple(draw(st.lists(hours(weekdays), min_size=1, max_size=3))),
        closures=draw(intervals(origin, 1)),
        min_notice=timedelta(minutes=draw(st.sampled_from([0, 60, 24 * 60]))),
        slot_step_minutes=draw(st.sampled_from([15, 30, 60])),
        buffer=timedelta(minutes=draw(st.sampled_from([0, 15]))),
    )
    people = tuple(
        Counsellor(
            id=identifier,
            role=draw(st.sampled_from([COUNSELLOR, OFFICER])),
            languages=frozenset(draw(st.sets(st.sampled_from(["de", "ar", "tr"]), max_size=2))),
            service_slugs=frozenset(
                {SERVICE} if draw(st.booleans()) or identifier < 3 else {"beratung-1"}
            ),
            working_hours=draw(
                st.one_of(st.none(), st.lists(hours(weekdays), min_size=1, max_size=2).map(tuple))
            ),
            absences=draw(intervals(origin, 2)),
            busy=draw(intervals(origin, 4)),
        )
        for identifier in range(1, draw(st.integers(1, 6)) + 1)
    )
    return {
        "rules": rules,
        "service_slug": SERVICE,
        "duration": timedelta(minutes=draw(st.sampled_from([30, 45, 60, 90]))),
        "counsellors": people,
        "date_from": date_from,
        "date_to": date_to,
        "now": origin + timedelta(hours=draw(st.integers(0, 30))),
        "language": draw(st.sampled_from([None, "ar", "tr"])),
        "roles": draw(st.sampled_from([JOINT, (COUNSELLOR,)])),
    }


def free_of(scenario, role: str, day: date, start_at: datetime, end_at: datetime) -> tuple:
    """The people of ``role`` free for the whole of ``[start_at, end_at)``, by id."""
    buffer, language = scenario["rules"].buffer, scenario["language"]
    return tuple(
        sorted(
            p.id
            for p in scenario["counsellors"]
            if p.role == role
            and SERVICE in p.service_slugs
            and (role != COUNSELLOR or language is None or language in p.languages)
            and (
                p.working_hours is None
                or any(
                    h.weekday == day.weekday()
                    and wall_instant(day, h.opens) <= start_at
                    and end_at <= wall_instant(day, h.closes)
                    for h in p.working_hours
                )
            )
            and not any(overlaps(start_at, end_at, a.start_at, a.end_at) for a in p.absences)
            and not any(
                overlaps(start_at - buffer, end_at + buffer, b.start_at, b.end_at) for b in p.busy
            )
        )
    )


def brute_force(scenario) -> list[tuple]:
    """Each grid start of each day walked one by one, every person checked for it."""
    rules, duration, now = scenario["rules"], scenario["duration"], scenario["now"]
    today = now.astimezone(BERLIN).date()
    public_holidays = holidays.country_holidays("DE", subdiv="NW")
    found = []
    day = scenario["date_from"]
    while day <= scenario["date_to"]:
        if day in public_holidays or day > today + timedelta(days=rules.horizon_days):
            day += timedelta(days=1)
            continue
        for opening in sorted(rules.opening_hours, key=lambda h: h.opens):
            if opening.weekday != day.weekday():
                continue
            wall = datetime.combine(day, opening.opens)
            while wall < datetime.combine(day, opening.closes):
                start_at = wall.replace(tzinfo=BERLIN).astimezone(UTC)
                end_at = start_at + duration
                wall += timedelta(minutes=rules.slot_step_minutes)
                if end_at > wall_instant(day, opening.closes) or start_at < now + rules.min_notice:
                    continue
                if any(overlaps(start_at, end_at, c.start_at, c.end_at) for c in rules.closures):
                    continue

                frees = [
                    free_of(scenario, role, day, start_at, end_at) for role in scenario["roles"]
                ]
                if all(frees):
                    others = tuple(zip(scenario["roles"][1:], frees[1:], strict=True))
                    found.append((start_at, end_at, frees[0], others))
        day += timedelta(days=1)
    return sorted(set(found))


@PROPERTY_SETTINGS
@given(joint_scenarios())
def test_property_joint_slots_are_exactly_what_a_brute_force_reading_offers(scenario):
    offered = [
        (s.start_at, s.end_at, s.counsellor_ids, s.others) for s in available_slots(**scenario)
    ]

    assert offered == brute_force(scenario)
