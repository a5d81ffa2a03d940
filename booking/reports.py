"""The centre's yearly report: bookings per month by service, counsellor, language, channel,
interpreter need and language, and status, with the persons counted, as numbers, CSV and an
SVG chart.

Pure: no Flask, no database. The caller loads only the fields a booking keeps after its
personal data is purged (start, service, language, interpreter need yes/no, channel,
status), so the report reads the same before and after the purge. Labels come in already
translated; everything written into SVG or CSV is escaped here.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

MONTHS = tuple(range(1, 13))
DIMENSIONS = (
    "service",
    "counsellor",
    "language",
    "channel",
    "interpreter",
    "interpreter_language",
    "status",
)
# Cancelled bookings are counted in every table (by status too), but not as persons.
NOT_HELD = ("cancelled",)
CSV_DELIMITERS = {"semicolon": ";", "comma": ","}
CHANNEL_KEYS = ("online", "phone", "walk_in")
INTERPRETER_KEYS = ("yes", "no")
STATUS_KEYS = ("attended", "no_show", "cancelled", "confirmed")
NO_LANGUAGE = ""

# Okabe–Ito colours: told apart with the common colour vision deficiencies.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#D55E00",
    "#56B4E9",
    "#000000",
    "#999999",
)


@dataclass(frozen=True)
class BookingFact:
    """What a report may know of one booking; never who booked or why."""

    start_at: datetime
    service_id: int
    language: str | None
    has_interpreter: bool
    channel: str
    status: str
    persons: int = 1
    counsellor_id: int | None = None
    interpreter_language: str | None = None


@dataclass(frozen=True)
class Breakdown:
    """Bookings per month of one dimension: ``counts[(key, month)]``, keys in display order."""

    dimension: str
    keys: tuple
    counts: Mapping[tuple, int]

    def count(self, key, month: int) -> int:
        return self.counts.get((key, month), 0)

    def row(self, key) -> list[int]:
        """The twelve monthly counts of ``key``."""
        return [self.count(key, month) for month in MONTHS]

    def key_total(self, key) -> int:
        return sum(self.row(key))


@dataclass(frozen=True)
class YearReport:
    year: int
    month_totals: tuple[int, ...]
    breakdowns: Mapping[str, Breakdown]
    # Persons of the bookings not cancelled, per month.
    month_persons: tuple[int, ...] = (0,) * 12

    @property
    def total(self) -> int:
        """Every booking of the year, the cancelled ones included."""
        return sum(self.month_totals)

    def status_total(self, status: str) -> int:
        return self.breakdowns["status"].key_total(status)

    @property
    def cancelled(self) -> int:
        return sum(self.status_total(status) for status in NOT_HELD)

    @property
    def not_cancelled(self) -> int:
        return self.total - self.cancelled

    @property
    def persons(self) -> int:
        """The persons of the bookings not cancelled."""
        return sum(self.month_persons)


def language_key(language: str | None) -> str:
    """Group a BCP 47 tag by its primary subtag: "tr-TR" and "tr" count as "tr"."""
    if not language:
        return NO_LANGUAGE
    return language.replace("_", "-").split("-", 1)[0].strip().lower()


def _key_of(dimension: str, fact: BookingFact):
    if dimension == "service":
        return fact.service_id
    if dimension == "language":
        return language_key(fact.language)
    if dimension == "channel":
        return fact.channel
    if dimension == "interpreter":
        return "yes" if fact.has_interpreter else "no"
    if dimension == "counsellor":
        return fact.counsellor_id
    if dimension == "interpreter_language":
        return language_key(fact.interpreter_language) if fact.has_interpreter else NO_LANGUAGE
    return fact.status


def _ordered_keys(dimension: str, seen: Counter, service_order: Sequence[int]) -> tuple:
    """Fixed keys always (a zero row says something too), then the ones seen besides."""
    if dimension in ("language", "interpreter_language"):
        # Most booked first; "not given" last.
        return tuple(
            sorted(seen, key=lambda key: (key == NO_LANGUAGE, -seen[key], key))  # type: ignore[arg-type]
        )
    if dimension == "counsellor":
        # Most booked first.
        return tuple(sorted(seen, key=lambda key: (-seen[key], str(key))))
    fixed = {
        "service": tuple(service_order),
        "channel": CHANNEL_KEYS,
        "interpreter": INTERPRETER_KEYS,
        "status": STATUS_KEYS,
    }[dimension]
    extra = sorted((key for key in seen if key not in fixed), key=str)
    return tuple(fixed) + tuple(extra)


def yearly_report(
    facts: Iterable[BookingFact], year: int, timezone: str, service_order: Sequence[int] = ()
) -> YearReport:
    """Count the bookings starting in ``year`` (the centre's local time) per month.

    ``service_order`` lists the centre's services in display order; each gets a row even
    without bookings. Facts outside the year are ignored.
    """
    zone = ZoneInfo(timezone)
    counters = {dimension: Counter() for dimension in DIMENSIONS}
    seen = {dimension: Counter() for dimension in DIMENSIONS}
    month_totals = Counter()
    month_persons = Counter()
    for fact in facts:
        local_start = fact.start_at.astimezone(zone)
        if local_start.year != year:
            continue
        month = local_start.month
        month_totals[month] += 1
        if fact.status not in NOT_HELD:
            month_persons[month] += fact.persons
        for dimension in DIMENSIONS:
            key = _key_of(dimension, fact)
            counters[dimension][(key, month)] += 1
            seen[dimension][key] += 1
    breakdowns = {
        dimension: Breakdown(
            dimension,
            _ordered_keys(dimension, seen[dimension], service_order),
            dict(counters[dimension]),
        )
        for dimension in DIMENSIONS
    }
    return YearReport(
        year,
        tuple(month_totals[m] for m in MONTHS),
        breakdowns,
        tuple(month_persons[m] for m in MONTHS),
    )


def _safe_cell(text: str) -> str:
    """Keep a spreadsheet from reading a label as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def report_csv(
    report: YearReport,
    dimension_labels: Mapping[str, str],
    key_labels: Mapping[str, Mapping],
    header: Sequence[str],
    persons_label: str = "persons",
    delimiter: str = ";",
) -> str:
    """The report as CSV: one row per dimension and value, twelve months and a total; then
    the totals and the persons (of the bookings not cancelled).

    ``header`` names the first two columns and the total, e.g. ("dimension", "value",
    "total"); months are numbered 1–12 so any spreadsheet reads them. Starts with a BOM
    so that spreadsheet programs take it as UTF-8; ``;`` by default, as German spreadsheet
    programs expect.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    dimension_head, value_head, total_head = header
    writer.writerow([dimension_head, value_head, *(str(m) for m in MONTHS), total_head])
    for dimension in DIMENSIONS:
        breakdown = report.breakdowns[dimension]
        labels = key_labels.get(dimension, {})
        for key in breakdown.keys:
            label = str(labels.get(key, key))
            writer.writerow(
                [
                    _safe_cell(str(dimension_labels.get(dimension, dimension))),
                    _safe_cell(label),
                    *breakdown.row(key),
                    breakdown.key_total(key),
                ]
            )
    writer.writerow([_safe_cell(total_head), "", *report.month_totals, report.total])
    writer.writerow([_safe_cell(persons_label), "", *report.month_persons, report.persons])
    return "\ufeff" + buffer.getvalue()


def nice_ceiling(value: int) -> tuple[int, int]:
    """An axis maximum at or above ``value`` and a step dividing it into at most 5 parts."""
    if value <= 0:
        return 1, 1
    for magnitude in (10**e for e in range(0, 10)):
        for factor in (1, 2, 5):
            step = factor * magnitude
            if step * 5 >= value:
                top = -(-value // step) * step
                return top, step
    raise ValueError("value too large for a chart")


def stacked_bar_chart_svg(
    month_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
    title: str,
    description: str,
    chart_id: str = "report-chart",
) -> str:
    """A stacked bar chart, one bar per month and one colour per series, as inline SVG.

    Accessible: ``role="img"`` named by its ``<title>``, described by ``<desc>``; every
    segment carries its own ``<title>`` for pointer users. The numbers themselves are in
    the report's table, which is the chart's text alternative.
    """
    if len(month_labels) != 12:
        raise ValueError("twelve month labels expected")
    width, left, right, top = 720, 48, 12, 16
    plot_height = 220
    bottom_axis = top + plot_height
    legend_top = bottom_axis + 36
    height = legend_top + len(series) * 22 + 8
    plot_width = width - left - right
    slot = plot_width / 12
    bar_width = slot * 0.6
    totals = [sum(values[i] for _, values in series) for i in range(12)]
    axis_max, step = nice_ceiling(max(totals, default=0))

    def y(value: float) -> float:
        return bottom_axis - value / axis_max * plot_height

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for tick in range(0, axis_max + 1, step):
        ty = y(tick)
        parts.append(
            f'<line x1="{left}" y1="{ty:.1f}" x2="{width - right}" y2="{ty:.1f}" '
            f'stroke="#d0d4d9" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="#1a1a1a">{tick}</text>'
        )
    for index, label in enumerate(month_labels):
        x = left + index * slot + (slot - bar_width) / 2
        base = 0
        for number, (name, values) in enumerate(series):
            value = values[index]
            if value <= 0:
                continue
            y_top, y_bottom = y(base + value), y(base)
            parts.append(
                f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{bar_width:.1f}" '
                f'height="{y_bottom - y_top:.1f}" fill="{PALETTE[number % len(PALETTE)]}">'
                f"<title>{escape(label)} · {escape(name)}: {value}</title></rect>"
            )
            base += value
        parts.append(
            f'<text x="{x + bar_width / 2:.1f}" y="{bottom_axis + 18}" text-anchor="middle" '
            f'font-size="12" fill="#1a1a1a">{escape(label)}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{bottom_axis}" x2="{width - right}" y2="{bottom_axis}" '
        f'stroke="#1a1a1a" stroke-width="1"/>'
    )
    for number, (name, _values) in enumerate(series):
        # One entry per line: service names are long.
        lx = left
        ly = legend_top + number * 22
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly}" width="14" height="14" '
            f'fill="{PALETTE[number % len(PALETTE)]}"/>'
        )
        parts.append(
            f'<text x="{lx + 20:.1f}" y="{ly + 12}" font-size="13" fill="#1a1a1a">'
            f"{escape(name)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def table_csv(header: Sequence[str], rows: Sequence[Sequence], delimiter: str = ";") -> str:
    """Any table as CSV for spreadsheets: a BOM first (so they read UTF-8), ``;`` by
    default, CRLF line ends, and no cell a spreadsheet would take for a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([_safe_cell(str(h)) for h in header])
    for row in rows:
        writer.writerow(
            [cell if isinstance(cell, int) else _safe_cell(str(cell or "")) for cell in row]
        )
    return "\ufeff" + buffer.getvalue()


@dataclass(frozen=True)
class RegistrationFact:
    """What a report counts of one registration: kept after retention."""

    status: str  # confirmed, waiting, cancelled
    persons: int
    attendance: str | None  # attended, no_show or not marked


@dataclass(frozen=True)
class EventFact:
    """What a report counts of one event; ``month`` is 1–12 in the centre's time."""

    audience: str
    month: int
    is_cancelled: bool
    registrations: tuple[RegistrationFact, ...] = ()


@dataclass(frozen=True)
class EventRow:
    """One line of the events report: an audience in a month."""

    audience: str
    month: int
    events: int = 0
    cancelled_events: int = 0
    registrations: int = 0
    persons: int = 0
    attended_persons: int = 0
    waiting: int = 0


def event_report(facts: Sequence[EventFact]) -> list[EventRow]:
    """Events, registrations, persons, attendance and waiting lists per audience and month
    (SPEC "Events"). Registrations and persons count the confirmed ones of events held;
    ``waiting`` the registrations still waiting; cancelled events are counted apart."""
    rows: dict[tuple[str, int], dict[str, int]] = {}
    for fact in facts:
        counts = rows.setdefault(
            (fact.audience, fact.month),
            dict.fromkeys(
                ("events", "cancelled_events", "registrations", "persons", "attended", "waiting"),
                0,
            ),
        )
        if fact.is_cancelled:
            counts["cancelled_events"] += 1
            continue
        counts["events"] += 1
        for registration in fact.registrations:
            if registration.status == "confirmed":
                counts["registrations"] += 1
                counts["persons"] += registration.persons
                if registration.attendance == "attended":
                    counts["attended"] += registration.persons
            elif registration.status == "waiting":
                counts["waiting"] += 1
    return [
        EventRow(
            audience,
            month,
            events=c["events"],
            cancelled_events=c["cancelled_events"],
            registrations=c["registrations"],
            persons=c["persons"],
            attended_persons=c["attended"],
            waiting=c["waiting"],
        )
        for (audience, month), c in sorted(rows.items(), key=lambda item: (item[0][1], item[0][0]))
    ]


# Invitations (SPEC "Invitations and joint appointments"): how many, how they ended, and how
# long a family took from the invitation to the appointment.


@dataclass(frozen=True)
class InvitationFact:
    """What a report may know of one invitation: its dates, never whom it invited."""

    created_at: datetime
    expires_at: datetime
    used_at: datetime | None
    withdrawn_at: datetime | None
    appointment_at: datetime | None  # the start of the appointment booked through it


@dataclass(frozen=True)
class InvitationSummary:
    invited: int
    booked: int
    expired: int
    withdrawn: int
    open: int
    # Whole days from the invitation to the appointment, over the booked ones; None if none.
    median_days: float | None
    mean_days: float | None


def invitation_summary(facts: Iterable[InvitationFact], now: datetime) -> InvitationSummary:
    """Count the invitations by outcome at ``now`` and the days to the appointment."""
    counts = Counter()
    days = []
    for fact in facts:
        counts["invited"] += 1
        if fact.used_at is not None:
            counts["booked"] += 1
            if fact.appointment_at is not None:
                days.append((fact.appointment_at - fact.created_at).total_seconds() / 86400)
        elif fact.withdrawn_at is not None:
            counts["withdrawn"] += 1
        elif fact.expires_at <= now:
            counts["expired"] += 1
        else:
            counts["open"] += 1
    days.sort()
    median = None
    if days:
        middle = len(days) // 2
        median = days[middle] if len(days) % 2 else (days[middle - 1] + days[middle]) / 2
    return InvitationSummary(
        invited=counts["invited"],
        booked=counts["booked"],
        expired=counts["expired"],
        withdrawn=counts["withdrawn"],
        open=counts["open"],
        median_days=round(median, 1) if median is not None else None,
        mean_days=round(sum(days) / len(days), 1) if days else None,
    )
