"""booking.ical: REQUEST / CANCEL / PUBLISH calendars, read back with icalendar."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar

from booking.ical import (
    FULLWIDTH_BACKSLASH,
    PRODID,
    CalendarEvent,
    build_cancel,
    build_feed,
    build_request,
)

NASTY_NAME = 'Ayşe "Ada" Öztürk, <test> & Co; x:y'


def make_event(**over) -> CalendarEvent:
    """A valid booking event; keyword arguments replace fields."""
    values = {
        "uid": "K7M2QX@ki-booking",
        "sequence": 0,
        "start_at": datetime(2026, 5, 12, 8, 0, tzinfo=UTC),
        "end_at": datetime(2026, 5, 12, 8, 45, tzinfo=UTC),
        "timezone": "Europe/Berlin",
        "summary": "Termin im Integrationszentrum Nord",
        "location": "Hauptstraße 1, 12345 Musterstadt",
        "organizer_name": "Integrationszentrum Nord",
        "organizer_email": "nord@ki.example.org",
        "attendee_name": "Ayşe Öztürk",
        "attendee_email": "ayse@example.org",
        "description": "Buchungsnummer K7M2QX\nVerwalten: https://ki.example.org/b/tok",
        "url": "https://ki.example.org/b/tok",
        "dtstamp": datetime(2026, 5, 1, 9, 30, tzinfo=UTC),
    }
    values.update(over)
    return CalendarEvent(**values)


def parse(data: bytes) -> Calendar:
    return Calendar.from_ical(data)


def only_event(data: bytes):
    events = parse(data).walk("VEVENT")
    assert len(events) == 1
    return events[0]


def as_utc(value) -> datetime:
    return value.dt.astimezone(UTC)


# --- REQUEST ---------------------------------------------------------------------------


def test_request_calendar_properties():
    calendar = parse(build_request(make_event()))
    assert str(calendar["PRODID"]) == PRODID
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["CALSCALE"]) == "GREGORIAN"
    assert str(calendar["METHOD"]) == "REQUEST"


def test_request_event_identity_and_status():
    event = only_event(build_request(make_event()))
    assert str(event["UID"]) == "K7M2QX@ki-booking"
    assert event["SEQUENCE"] == 0
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["TRANSP"]) == "OPAQUE"


def test_request_times_are_the_given_instants_in_centre_time():
    booking = make_event()
    event = only_event(build_request(booking))
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event["DTEND"].params["TZID"] == "Europe/Berlin"
    assert event["DTSTART"].dt.replace(tzinfo=None) == datetime(2026, 5, 12, 10, 0)
    assert as_utc(event["DTSTART"]) == booking.start_at
    assert as_utc(event["DTEND"]) == booking.end_at


def test_request_dtstamp_is_utc():
    stamp = datetime(2026, 5, 1, 11, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    data = build_request(make_event(dtstamp=stamp))
    assert b"DTSTAMP:20260501T093000Z\r\n" in data


def test_request_organizer_and_attendee():
    event = only_event(build_request(make_event()))
    organizer = event["ORGANIZER"]
    assert str(organizer) == "mailto:nord@ki.example.org"
    assert organizer.params["CN"] == "Integrationszentrum Nord"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:ayse@example.org"
    assert attendee.params["CN"] == "Ayşe Öztürk"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["PARTSTAT"] == "ACCEPTED"
    assert attendee.params["RSVP"] == "FALSE"


def test_request_text_properties():
    booking = make_event()
    event = only_event(build_request(booking))
    assert str(event["SUMMARY"]) == booking.summary
    assert str(event["LOCATION"]) == "Hauptstraße 1, 12345 Musterstadt"
    assert str(event["DESCRIPTION"]) == booking.description
    assert str(event["URL"]) == "https://ki.example.org/b/tok"


def test_request_without_url_or_description_omits_them():
    event = only_event(build_request(make_event(url=None, description="")))
    assert "URL" not in event
    assert "DESCRIPTION" not in event


def test_request_attendee_without_name_has_no_cn():
    event = only_event(build_request(make_event(attendee_name=None)))
    assert "CN" not in event["ATTENDEE"].params


def test_request_is_deterministic():
    assert build_request(make_event()) == build_request(make_event())


def test_request_lines_end_with_crlf():
    data = build_request(make_event())
    assert data.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")


# --- VTIMEZONE -------------------------------------------------------------------------


def test_vtimezone_matches_dtstart_tzid():
    calendar = parse(build_request(make_event()))
    timezones = calendar.walk("VTIMEZONE")
    assert [str(tz["TZID"]) for tz in timezones] == ["Europe/Berlin"]
    event = calendar.walk("VEVENT")[0]
    assert event["DTSTART"].params["TZID"] == str(timezones[0]["TZID"])


def test_vtimezone_comes_before_the_event():
    data = build_request(make_event())
    assert data.index(b"BEGIN:VTIMEZONE") < data.index(b"BEGIN:VEVENT")


def test_vtimezone_has_standard_and_daylight_in_the_event_year():
    timezone_ = parse(build_request(make_event())).walk("VTIMEZONE")[0]
    onsets = {
        (sub.name, sub["DTSTART"].dt.year)
        for sub in timezone_.subcomponents
        if sub.name in ("STANDARD", "DAYLIGHT")
    }
    assert ("STANDARD", 2026) in onsets
    assert ("DAYLIGHT", 2026) in onsets


def _rfc_onsets(vtimezone) -> list[tuple[datetime, timedelta]]:
    """Read a VTIMEZONE as RFC 5545 §3.6.5 says: each onset is DTSTART in TZOFFSETFROM."""
    onsets = []
    for sub in vtimezone.subcomponents:
        assert "RDATE" not in sub and "RRULE" not in sub
        onset = sub["DTSTART"].dt.replace(tzinfo=UTC) - sub["TZOFFSETFROM"].td
        onsets.append((onset, sub["TZOFFSETTO"].td))
    return sorted(onsets)


def _offset_at(onsets: list[tuple[datetime, timedelta]], instant: datetime) -> timedelta:
    in_force = [offset for onset, offset in onsets if onset <= instant]
    assert in_force, "instant before the first onset"
    return in_force[-1]


@pytest.mark.parametrize(
    "zone",
    [
        "Europe/Berlin",
        "Europe/London",
        "America/New_York",
        "Australia/Sydney",
        "Asia/Kolkata",
        "Europe/Istanbul",
    ],
)
def test_vtimezone_offsets_agree_with_zoneinfo_all_year(zone):
    # Every hour and half hour of 2026, read back from the VTIMEZONE alone.
    calendar = parse(build_request(make_event(timezone=zone)))
    onsets = _rfc_onsets(calendar.walk("VTIMEZONE")[0])
    instant = datetime(2026, 1, 1, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    end = datetime(2027, 1, 1, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    while instant < end:
        expected = instant.astimezone(ZoneInfo(zone)).utcoffset()
        assert _offset_at(onsets, instant) == expected, instant
        instant += timedelta(minutes=30)


def test_regression_daylight_onset_is_written_in_the_offset_before_it():
    # icalendar's Timezone.from_tzinfo writes DTSTART:20260329T030000 here, an hour late.
    data = build_request(make_event())
    assert b"BEGIN:DAYLIGHT\r\nDTSTART:20260329T020000\r\n" in data
    assert b"BEGIN:STANDARD\r\nDTSTART:20261025T030000\r\n" in data


@pytest.mark.parametrize(
    ("start_at", "end_at"),
    [
        # Spring forward: 01:30 CET -> 03:30 CEST, one real hour.
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
        # Fall back: 02:30 CEST -> 02:30 CET, the same wall time twice.
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
        # An ordinary morning on each change day.
        (datetime(2026, 3, 29, 7, 0, tzinfo=UTC), datetime(2026, 3, 29, 8, 0, tzinfo=UTC)),
        (datetime(2026, 10, 25, 8, 0, tzinfo=UTC), datetime(2026, 10, 25, 9, 0, tzinfo=UTC)),
        # Across New Year, so the VTIMEZONE covers two years.
        (datetime(2026, 12, 31, 22, 0, tzinfo=UTC), datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_dst_change_days_keep_the_exact_instants(start_at, end_at):
    event = only_event(build_request(make_event(start_at=start_at, end_at=end_at)))
    assert as_utc(event["DTSTART"]) == start_at
    assert as_utc(event["DTEND"]) == end_at


def test_regression_second_occurrence_of_repeated_wall_time_is_written_in_utc():
    # 02:30 CET on 2026-10-25 has the same wall time as 02:30 CEST an hour earlier.
    start_at = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    data = build_request(make_event(start_at=start_at, end_at=start_at + timedelta(hours=1)))
    assert b"DTSTART:20261025T013000Z\r\n" in data


def test_vtimezone_covers_every_year_of_a_new_year_event():
    start_at = datetime(2026, 12, 31, 22, 0, tzinfo=UTC)
    data = build_request(make_event(start_at=start_at, end_at=start_at + timedelta(hours=2)))
    assert b"DTSTART:20270328T020000" in data


def test_non_utc_aware_input_is_accepted():
    start_at = datetime(2026, 5, 12, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    event = only_event(
        build_request(make_event(start_at=start_at, end_at=start_at + timedelta(hours=1)))
    )
    assert as_utc(event["DTSTART"]) == datetime(2026, 5, 12, 8, 0, tzinfo=UTC)


# --- CANCEL ----------------------------------------------------------------------------


def test_cancel_method_status_and_sequence():
    data = build_cancel(make_event(sequence=2))
    assert str(parse(data)["METHOD"]) == "CANCEL"
    event = only_event(data)
    assert str(event["STATUS"]) == "CANCELLED"
    assert event["SEQUENCE"] == 2


def test_cancel_keeps_uid_times_and_people():
    booking = make_event(sequence=1)
    event = only_event(build_cancel(booking))
    assert str(event["UID"]) == booking.uid
    assert as_utc(event["DTSTART"]) == booking.start_at
    assert str(event["ORGANIZER"]) == "mailto:nord@ki.example.org"
    assert str(event["ATTENDEE"]) == "mailto:ayse@example.org"
    assert event["ATTENDEE"].params["CN"] == "Ayşe Öztürk"


def test_request_and_cancel_need_an_attendee():
    booking = make_event(attendee_name=None, attendee_email=None)
    with pytest.raises(ValueError, match="attendee"):
        build_request(booking)
    with pytest.raises(ValueError, match="attendee"):
        build_cancel(booking)


# --- escaping and folding --------------------------------------------------------------


def test_cn_with_quotes_commas_colons_and_non_ascii_round_trips():
    event = only_event(
        build_request(make_event(attendee_name=NASTY_NAME, organizer_name=NASTY_NAME))
    )
    assert event["ATTENDEE"].params["CN"] == NASTY_NAME
    assert event["ORGANIZER"].params["CN"] == NASTY_NAME
    assert str(event["ATTENDEE"]) == "mailto:ayse@example.org"
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"


def test_text_with_special_characters_round_trips():
    text = 'A; B, C\\ D: "E" <f> & g'
    event = only_event(build_request(make_event(summary=text, location=text, description=text)))
    assert str(event["SUMMARY"]) == text
    assert str(event["LOCATION"]) == text
    assert str(event["DESCRIPTION"]) == text


def test_lines_are_folded_at_75_octets():
    description = "Beratung für Öğrenci – 日本語のテキスト 🙂 " * 40
    data = build_request(make_event(description=description, attendee_name="Ö" * 80))
    lines = data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)
    # Folding never splits a UTF-8 sequence.
    for line in lines:
        line.decode("utf-8")
    event = only_event(data)
    assert str(event["DESCRIPTION"]) == description
    assert event["ATTENDEE"].params["CN"] == "Ö" * 80


@pytest.mark.parametrize("field", ["summary", "location", "description", "organizer_name"])
def test_crlf_in_text_cannot_inject_properties(field):
    injected = "Zentrum\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nX-EVIL:1\r\nATTENDEE:mailto:x@evil"
    data = build_request(make_event(**{field: injected}))
    assert not any(line.startswith((b"X-EVIL", b"END:VEVENT\\")) for line in data.split(b"\r\n"))
    event = only_event(data)
    assert "X-EVIL" not in event
    assert str(event["ATTENDEE"]) == "mailto:ayse@example.org"
    expected = injected.replace("\r\n", "\n")
    if field == "organizer_name":
        assert event["ORGANIZER"].params["CN"] == expected
    else:
        assert str(event[field.upper()]) == expected


@pytest.mark.parametrize("separator", ["\r", "\n", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"])
def test_unicode_line_separators_become_escaped_newlines(separator):
    event = only_event(build_request(make_event(summary=f"a{separator}X-EVIL:1")))
    assert str(event["SUMMARY"]) == "a\nX-EVIL:1"


@pytest.mark.parametrize("field", ["summary", "attendee_name", "uid"])
def test_other_control_characters_are_refused(field):
    with pytest.raises(ValueError, match=field):
        make_event(**{field: "a\x00b"})


@pytest.mark.parametrize("url", ["https://x/b/t\r\nX-EVIL:1", "https://x/b/ t", ""])
def test_unusable_url_is_refused(url):
    with pytest.raises(ValueError, match="url"):
        make_event(url=url)


def test_uid_must_be_one_line():
    with pytest.raises(ValueError, match="uid"):
        make_event(uid="a\r\nX-EVIL:1")


@pytest.mark.parametrize(
    "email", ["x@example.org\r\nX-EVIL:1", "x @example.org", "", "no-at-sign", "a@b\x00"]
)
@pytest.mark.parametrize("field", ["organizer_email", "attendee_email"])
def test_unusable_email_addresses_are_refused(field, email):
    with pytest.raises(ValueError, match=field):
        make_event(**{field: email})


# Printable text plus the characters iCalendar escapes. A backslash before a capital N
# is left out: icalendar writes it as a line break (see booking/ical.py).
text_values = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"))
    | st.sampled_from('\n\t;,:\\"<>&^'),
    max_size=200,
).filter(lambda text: "\\N" not in text)


@pytest.mark.property
@given(summary=text_values, name=text_values.filter(str.strip), description=text_values)
def test_any_printable_text_round_trips(summary, name, description):
    data = build_request(
        make_event(summary=summary, attendee_name=name, description=description or "x")
    )
    assert max(len(line) for line in data.split(b"\r\n")) <= 75
    event = only_event(data)
    assert str(event["SUMMARY"]) == shown(summary)
    assert event["ATTENDEE"].params["CN"] == shown(name).strip().replace("\t", " ").replace(
        "\\", FULLWIDTH_BACKSLASH
    )
    assert str(event["DESCRIPTION"]) == shown(description or "x")


def shown(text: str) -> str:
    """``text`` as the invitation shows it: U+FEFF as U+2060 (see booking/ical.py)."""
    return text.replace("\ufeff", "\u2060")


@pytest.mark.parametrize("text", ["\ufeff", "\ufeffBeratung", "a\ufeffb"])
def test_regression_a_leading_zero_width_no_break_space_is_not_lost(text):
    """Found by `make property`: icalendar read a SUMMARY of only U+FEFF back as ''."""
    event = only_event(build_request(make_event(summary=text, description=text)))
    assert str(event["SUMMARY"]) == text.replace("\ufeff", "\u2060")
    assert str(event["DESCRIPTION"]) == text.replace("\ufeff", "\u2060")


def test_regression_a_tab_before_an_equals_sign_in_cn_is_kept_as_a_space():
    """Found by `make property`: icalendar read the CN "0<TAB>=" back as "0="."""
    event = only_event(build_request(make_event(attendee_name="0\t=")))
    assert event["ATTENDEE"].params["CN"] == "0 ="


@pytest.mark.parametrize("name", ["a\\", "\\", 'x\\"y', "x\\;y"])
def test_regression_backslash_in_cn_does_not_swallow_the_next_parameter(name):
    event = only_event(build_request(make_event(attendee_name=name)))
    assert event["ATTENDEE"].params["CN"] == name.replace("\\", FULLWIDTH_BACKSLASH)
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert event["ATTENDEE"].params["ROLE"] == "REQ-PARTICIPANT"


def test_cn_is_trimmed():
    event = only_event(build_request(make_event(attendee_name=" Ayşe\t")))
    assert event["ATTENDEE"].params["CN"] == "Ayşe"


# --- validation ------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["start_at", "end_at", "dtstamp"])
def test_naive_datetimes_are_refused(field):
    naive = make_event().__getattribute__(field).replace(tzinfo=None)
    with pytest.raises(ValueError, match=field):
        make_event(**{field: naive})


def test_dtstamp_is_required():
    with pytest.raises(ValueError, match="dtstamp"):
        make_event(dtstamp=None)


@pytest.mark.parametrize("length", [timedelta(0), timedelta(minutes=-30)])
def test_end_must_be_after_start(length):
    start_at = datetime(2026, 5, 12, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="end_at"):
        make_event(start_at=start_at, end_at=start_at + length)


def test_unknown_timezone_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        make_event(timezone="Europe/Atlantis")


@pytest.mark.parametrize("sequence", [-1, True, "1"])
def test_sequence_must_be_a_non_negative_int(sequence):
    with pytest.raises(ValueError, match="sequence"):
        make_event(sequence=sequence)


def test_event_is_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_event().sequence = 3


# --- feed ------------------------------------------------------------------------------


def test_feed_has_every_event_and_no_people_when_no_attendee():
    events = [
        make_event(
            uid=f"B{index}@ki-booking",
            start_at=datetime(2026, 5, 12 + index, 8, 0, tzinfo=UTC),
            end_at=datetime(2026, 5, 12 + index, 9, 0, tzinfo=UTC),
            attendee_name=None,
            attendee_email=None,
        )
        for index in range(3)
    ]
    data = build_feed(events, "Beratung – Frau Weber")
    calendar = parse(data)
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(calendar["X-WR-CALNAME"]) == "Beratung – Frau Weber"
    vevents = calendar.walk("VEVENT")
    assert [str(event["UID"]) for event in vevents] == [event.uid for event in events]
    assert b"ATTENDEE" not in data
    assert b"ORGANIZER" not in data
    for built, given_event in zip(vevents, events, strict=True):
        assert as_utc(built["DTSTART"]) == given_event.start_at


def test_feed_event_with_attendee_keeps_people():
    data = build_feed([make_event()], "Feed")
    event = only_event(data)
    assert str(event["ATTENDEE"]) == "mailto:ayse@example.org"
    assert str(event["ORGANIZER"]) == "mailto:nord@ki.example.org"


def test_feed_has_one_vtimezone_per_zone_covering_all_years():
    events = [
        make_event(uid="a@k"),
        make_event(
            uid="b@k",
            start_at=datetime(2027, 6, 1, 8, 0, tzinfo=UTC),
            end_at=datetime(2027, 6, 1, 9, 0, tzinfo=UTC),
        ),
        make_event(uid="c@k", timezone="America/New_York"),
    ]
    calendar = parse(build_feed(events, "Feed"))
    tzids = sorted(str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE"))
    assert tzids == ["America/New_York", "Europe/Berlin"]
    berlin = next(tz for tz in calendar.walk("VTIMEZONE") if tz["TZID"] == "Europe/Berlin")
    daylight_years = {sub["DTSTART"].dt.year for sub in berlin.walk("DAYLIGHT")}
    assert {2026, 2027} <= daylight_years


def test_empty_feed_is_a_valid_calendar():
    calendar = parse(build_feed([], "Leer"))
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert calendar.walk("VEVENT") == []
