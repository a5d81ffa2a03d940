"""Bookings as iCalendar data (SPEC "Confirmations"): REQUEST, CANCEL and PUBLISH feeds.

Pure: no Flask, no database, no clock. The caller passes every value, ``dtstamp``
("now") included, and gets back the bytes of one VCALENDAR object.

Everything is built with the ``icalendar`` package, which escapes text (``,`` ``;``
``\\`` and line breaks), quotes parameters (RFC 6868 for ``"`` in a CN) and folds
lines at 75 octets; nothing here formats iCalendar text by hand.

One quirk of icalendar's escaping is kept, not worked around: a literal backslash
followed by a capital N (``\\N``) in a text is written as a line break.

Confidentiality: SUMMARY and DESCRIPTION are taken as given; the caller names the
centre in them, never the person or the topic of the consultation.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar, Event, Timezone, TimezoneDaylight, TimezoneStandard, vCalAddress

from booking.text import has_control_characters

PRODID = "-//ki-booking//ki-booking//EN"
FULLWIDTH_BACKSLASH = "\uff3c"
ZERO_WIDTH_NO_BREAK_SPACE = "\ufeff"
WORD_JOINER = "\u2060"

# Everything str.splitlines() breaks on; icalendar escapes only CR and LF, and a bare
# U+2028 or NEL splits a line in some readers (icalendar's own parser among them).
_LINE_BREAKS = re.compile("\r\n|[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


@dataclass(frozen=True)
class CalendarEvent:
    """One booking as a calendar event; validated on construction."""

    uid: str
    sequence: int
    start_at: datetime
    end_at: datetime
    timezone: str
    summary: str
    location: str
    organizer_name: str
    organizer_email: str
    attendee_name: str | None = None
    attendee_email: str | None = None
    description: str = ""
    url: str | None = None
    dtstamp: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start_at", "end_at", "dtstamp"):
            value = getattr(self, name)
            if value is None:
                raise ValueError(f"{name} is required")
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got {value!r}")
        if self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        if not self.uid.strip() or _LINE_BREAKS.search(self.uid):
            raise ValueError(f"uid must be one non-empty line: {self.uid!r}")
        for name in ("uid", "summary", "location", "description", "organizer_name"):
            _text(getattr(self, name), name)
        if self.attendee_name is not None:
            _text(self.attendee_name, "attendee_name")
        # bool is an int; a SEQUENCE of True is a bug in the caller.
        if isinstance(self.sequence, bool) or not isinstance(self.sequence, int):
            raise ValueError("sequence must be an int")
        if self.sequence < 0:
            raise ValueError("sequence must not be negative")
        _zone(self.timezone)
        _check_email(self.organizer_email, "organizer_email")
        if self.attendee_email is not None:
            _check_email(self.attendee_email, "attendee_email")
        if self.url is not None and (
            not self.url or any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in self.url)
        ):
            raise ValueError("url is not a usable URI")


def build_request(event: CalendarEvent) -> bytes:
    """Return a METHOD:REQUEST calendar inviting the attendee (booking or move)."""
    _require_attendee(event)
    return _build([event], method="REQUEST", status="CONFIRMED", with_people=True)


def build_cancel(event: CalendarEvent) -> bytes:
    """Return a METHOD:CANCEL calendar withdrawing the event (same UID, higher SEQUENCE)."""
    _require_attendee(event)
    return _build([event], method="CANCEL", status="CANCELLED", with_people=True)


def build_feed(events: Iterable[CalendarEvent], name: str) -> bytes:
    """Return a METHOD:PUBLISH calendar of several events, for a subscription feed."""
    return _build(list(events), method="PUBLISH", status="CONFIRMED", with_people=False, name=name)


def _build(
    events: list[CalendarEvent],
    *,
    method: str,
    status: str,
    with_people: bool,
    name: str | None = None,
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    if name is not None:
        name = _text(name, "name")
        calendar.add("name", name)
        # Apple Calendar and Outlook read only the older X-WR-CALNAME.
        calendar.add("x-wr-calname", name)
    # VTIMEZONEs come first so a reader knows each TZID before an event uses it.
    for timezone_component in _timezones_for(events):
        calendar.add_component(timezone_component)
    for event in events:
        # In a feed, ORGANIZER/ATTENDEE would make clients treat entries as invitations;
        # they are kept only for an event that names its attendee.
        people = with_people or event.attendee_email is not None
        calendar.add_component(_vevent(event, status=status, with_people=people))
    return calendar.to_ical()


def _vevent(event: CalendarEvent, *, status: str, with_people: bool) -> Event:
    zone = _zone(event.timezone)
    vevent = Event()
    vevent.add("uid", _text(event.uid, "uid"))
    vevent.add("sequence", event.sequence)
    vevent.add("dtstamp", event.dtstamp.astimezone(UTC))
    vevent.add("dtstart", _wall_time(event.start_at, zone))
    vevent.add("dtend", _wall_time(event.end_at, zone))
    vevent.add("summary", _text(event.summary, "summary"))
    vevent.add("location", _text(event.location, "location"))
    if event.description:
        vevent.add("description", _text(event.description, "description"))
    if event.url is not None:
        vevent.add("url", event.url)
    vevent.add("status", status)
    vevent.add("transp", "OPAQUE")
    if with_people:
        organizer = vCalAddress(f"mailto:{event.organizer_email}")
        if organizer_cn := _cn(event.organizer_name, "organizer_name"):
            organizer.params["CN"] = organizer_cn
        vevent.add("organizer", organizer)
        if event.attendee_email is not None:
            attendee = vCalAddress(f"mailto:{event.attendee_email}")
            if attendee_cn := _cn(event.attendee_name or "", "attendee_name"):
                attendee.params["CN"] = attendee_cn
            attendee.params["ROLE"] = "REQ-PARTICIPANT"
            attendee.params["PARTSTAT"] = "ACCEPTED"
            attendee.params["RSVP"] = "FALSE"
            vevent.add("attendee", attendee)
    return vevent


def _wall_time(instant: datetime, zone: ZoneInfo) -> datetime:
    """The instant as the centre's wall time (written with its TZID), or in UTC if ambiguous."""
    local = instant.astimezone(zone)
    # A TZID wall time that occurs twice (autumn) means its first occurrence
    # (RFC 5545 §3.3.5); the second one can only be written in UTC.
    if local.fold and local.replace(fold=0).utcoffset() != local.utcoffset():
        return instant.astimezone(UTC)
    return local


def _timezones_for(events: list[CalendarEvent]) -> list[Timezone]:
    """One VTIMEZONE per zone used, covering every year in which one of its events lies."""
    years: dict[str, tuple[int, int]] = {}
    for event in events:
        zone = _zone(event.timezone)
        first = event.start_at.astimezone(zone).year
        last = event.end_at.astimezone(zone).year
        if event.timezone in years:
            known_first, known_last = years[event.timezone]
            first, last = min(first, known_first), max(last, known_last)
        years[event.timezone] = (first, last)
    return [
        _vtimezone(tzid, date(first, 1, 1), date(last + 1, 1, 1))
        for tzid, (first, last) in sorted(years.items())
    ]


def _vtimezone(tzid: str, first_date: date, last_date: date) -> Timezone:
    """Return a VTIMEZONE for ``tzid`` valid from ``first_date`` to ``last_date``.

    Written here rather than taken from ``icalendar.Timezone.from_tzinfo``: that one
    gives a DAYLIGHT onset as the wall time *after* the change (Europe/Berlin:
    ``DTSTART:20260329T030000`` with ``TZOFFSETFROM:+0100``), which RFC 5545 §3.6.5
    reads in the offset *before* it, an hour late. Here each onset is the UTC
    instant of the change plus TZOFFSETFROM (``20260329T020000``), as in the RFC's
    own examples and the IANA-derived VTIMEZONEs clients ship.
    """
    zone = _zone(tzid)
    start_at = datetime(first_date.year, first_date.month, first_date.day, tzinfo=zone)
    changes = _changes_between(tzid, first_date, last_date)
    in_range = [change for change in changes if change >= start_at]
    before = [change for change in changes if change < start_at]
    onsets = before[-1:] + in_range

    component = Timezone()
    component.add("tzid", tzid)
    if not onsets:
        # A zone without changes (e.g. Asia/Kolkata) is one STANDARD observance.
        component.add_component(_observance(zone, None, start_at.astimezone(UTC)))
    for onset in onsets:
        component.add_component(_observance(zone, onset - timedelta(seconds=1), onset))
    return component


def _observance(
    zone: ZoneInfo, before: datetime | None, onset: datetime
) -> TimezoneStandard | TimezoneDaylight:
    after_local = onset.astimezone(zone)
    offset_to = after_local.utcoffset()
    offset_from = before.astimezone(zone).utcoffset() if before is not None else offset_to
    observance = TimezoneDaylight() if after_local.dst() else TimezoneStandard()
    # RFC 5545 §3.6.5: the onset is a local time in the offset in force before it.
    observance.add("dtstart", (onset.astimezone(UTC) + offset_from).replace(tzinfo=None))
    observance.add("tzoffsetfrom", offset_from)
    observance.add("tzoffsetto", offset_to)
    tzname = after_local.tzname()
    if tzname:
        observance.add("tzname", tzname)
    return observance


@functools.lru_cache(maxsize=64)
def _changes_between(tzid: str, first_date: date, last_date: date) -> tuple[datetime, ...]:
    """The zone's changes from a year before ``first_date`` to ``last_date`` (local dates).

    Kept per zone and years: every mail of a centre asks for the same ones."""
    zone = _zone(tzid)
    start_at = datetime(first_date.year, first_date.month, first_date.day, tzinfo=zone)
    end_at = datetime(last_date.year, last_date.month, last_date.day, tzinfo=zone)
    # Look back a year so the observance in force on first_date has its onset too.
    return tuple(
        _changes(zone, start_at.astimezone(UTC) - timedelta(days=370), end_at.astimezone(UTC))
    )


def _changes(zone: ZoneInfo, start_at: datetime, end_at: datetime) -> list[datetime]:
    """UTC instants in ``[start_at, end_at)`` at which the zone's offset, DST or name change."""
    # zoneinfo does not expose its transitions; step a day at a time (no zone changes
    # twice within a day) and bisect each change to the second.
    step = 86_400
    changes = []
    low = int(start_at.timestamp())
    end = int(end_at.timestamp())
    state = _state(zone, low)
    while low < end:
        high = min(low + step, end)
        high_state = _state(zone, high)
        if high_state != state:
            lo, hi = low, high
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _state(zone, mid) == state:
                    lo = mid
                else:
                    hi = mid
            if hi < end:
                changes.append(datetime.fromtimestamp(hi, UTC))
            state = high_state
        low = high
    return changes


def _state(zone: ZoneInfo, timestamp: int) -> tuple[timedelta | None, timedelta | None, str | None]:
    local = datetime.fromtimestamp(timestamp, zone)
    return local.utcoffset(), local.dst(), local.tzname()


def _text(value: str, field: str) -> str:
    """``value`` with every kind of line break as LF, which icalendar escapes; no other controls."""
    value = _LINE_BREAKS.sub("\n", value)
    # icalendar drops a leading U+FEFF as if it were a byte order mark; U+2060 (word joiner)
    # is what Unicode asks for in its place as the invisible no-break character.
    value = value.replace(ZERO_WIDTH_NO_BREAK_SPACE, WORD_JOINER)
    if has_control_characters(value, allow_line_breaks=True):
        # Only the field's name: the value is a person's data and ends up in logs.
        raise ValueError(f"{field} contains a control character")
    return value


def _cn(value: str, field: str) -> str:
    """``value`` fit for a CN parameter, which readers display but never match on."""
    # Readers trim an unquoted parameter value; trimming here makes the CN read back as sent.
    # RFC 5545 has no backslash escapes in parameters, yet icalendar's own parser (and
    # other lenient readers) take ``a\;ROLE=...`` as an escaped ';' and lose the next
    # parameter, so a backslash is shown as its full-width look-alike. icalendar's parser
    # also drops a tab before "=" ("0<TAB>=" reads "0="): a tab is shown as a space.
    return _text(value, field).strip().replace("\t", " ").replace("\\", FULLWIDTH_BACKSLASH)


def _zone(tzid: str) -> ZoneInfo:
    try:
        return ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown timezone {tzid!r}") from error


def _check_email(value: str, field: str) -> None:
    # A mailto: URI cannot escape these; refusing them keeps the property intact.
    if not value or "@" not in value or any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValueError(f"{field} is not a usable e-mail address")


def _require_attendee(event: CalendarEvent) -> None:
    # iTIP (RFC 5546) REQUEST and CANCEL are addressed to an ATTENDEE.
    if event.attendee_email is None:
        raise ValueError("attendee_email is required for an invitation or a cancellation")
