"""The yearly report: pure aggregation, CSV and SVG (booking/reports.py), without an app."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from booking import reports
from booking.reports import BookingFact

SVG = "{http://www.w3.org/2000/svg}"


def fact(start: str, service: int = 1, **over) -> BookingFact:
    values = {
        "start_at": datetime.fromisoformat(start),
        "service_id": service,
        "language": None,
        "has_interpreter": False,
        "channel": "online",
        "status": "confirmed",
    }
    values.update(over)
    return BookingFact(**values)


def test_counts_per_month_by_every_dimension():
    facts = [
        fact("2026-03-02T09:00+01:00", 1, language="tr", channel="online"),
        fact("2026-03-09T09:00+01:00", 2, language="tr-TR", has_interpreter=True, channel="phone"),
        fact("2026-03-16T09:00+01:00", 1, language="ar", status="cancelled"),
        fact("2026-07-01T10:00+02:00", 2, channel="walk_in", status="attended"),
        fact("2026-07-02T10:00+02:00", 1, language="de", status="no_show"),
    ]
    report = reports.yearly_report(facts, 2026, "Europe/Berlin", service_order=[1, 2, 3])

    assert report.total == 5
    assert report.month_totals[2] == 3 and report.month_totals[6] == 2
    service = report.breakdowns["service"]
    assert service.keys == (1, 2, 3)  # every service of the centre, even without bookings
    assert service.count(1, 3) == 2 and service.count(2, 3) == 1 and service.count(1, 7) == 1
    assert service.row(3) == [0] * 12
    language = report.breakdowns["language"]
    assert language.keys == ("tr", "ar", "de", "")  # most booked first, "not given" last
    assert language.count("tr", 3) == 2  # "tr-TR" counts as "tr"
    assert language.key_total("") == 1
    assert report.breakdowns["channel"].keys == ("online", "phone", "walk_in")
    assert report.breakdowns["channel"].row("walk_in")[6] == 1
    assert report.breakdowns["interpreter"].key_total("yes") == 1
    assert report.breakdowns["interpreter"].key_total("no") == 4
    status = report.breakdowns["status"]
    assert status.keys == ("attended", "no_show", "cancelled", "confirmed")
    assert [status.key_total(k) for k in status.keys] == [1, 1, 1, 2]
    for breakdown in report.breakdowns.values():
        assert sum(breakdown.key_total(k) for k in breakdown.keys) == report.total


def test_months_are_the_centres_local_months():
    # 23:30 UTC on 31 January is 00:30 on 1 February in Berlin.
    new_year_eve = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)  # 2026-01-01 00:30 local
    late_january = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    report = reports.yearly_report(
        [
            BookingFact(new_year_eve, 1, None, False, "online", "confirmed"),
            BookingFact(late_january, 1, None, False, "online", "confirmed"),
        ],
        2026,
        "Europe/Berlin",
    )
    assert report.month_totals[0] == 1 and report.month_totals[1] == 1
    assert (
        reports.yearly_report(
            [BookingFact(new_year_eve, 1, None, False, "online", "confirmed")],
            2025,
            "Europe/Berlin",
        ).total
        == 0
    )


def test_unknown_values_get_their_own_rows():
    report = reports.yearly_report(
        [fact("2026-05-05T10:00+02:00", 9, channel="carrier pigeon", status="weird")],
        2026,
        "Europe/Berlin",
        service_order=[1],
    )
    assert report.breakdowns["service"].keys == (1, 9)
    assert report.breakdowns["channel"].keys[-1] == "carrier pigeon"
    assert report.breakdowns["status"].keys[-1] == "weird"


def test_empty_year():
    report = reports.yearly_report([], 2026, "Europe/Berlin", service_order=[1])
    assert report.total == 0
    assert report.month_totals == (0,) * 12
    assert report.breakdowns["language"].keys == ()


def labels():
    return (
        {d: d.title() for d in reports.DIMENSIONS},
        {"service": {1: "Bildung", 2: '=HYPERLINK("x")'}, "language": {"tr": "Türkisch"}},
    )


def test_csv_has_the_same_numbers_and_defuses_formulas():
    facts = [
        fact("2026-03-02T09:00+01:00", 1, language="tr"),
        fact("2026-03-03T09:00+01:00", 2, language="tr"),
        fact("2026-04-03T09:00+02:00", 2, status="attended"),
    ]
    report = reports.yearly_report(facts, 2026, "Europe/Berlin", service_order=[1, 2])
    dimension_labels, key_labels = labels()
    text = reports.report_csv(report, dimension_labels, key_labels, ("dim", "value", "total"))
    assert text.startswith("\ufeff")
    # Semicolons, as German spreadsheet programs expect.
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["dim", "value", *map(str, range(1, 13)), "total"]
    by_label = {(r[0], r[1]): r[2:] for r in rows[1:]}
    assert by_label[("Service", "Bildung")][2] == "1"
    assert by_label[("Service", '\'=HYPERLINK("x")')][2:4] == ["1", "1"]
    assert by_label[("Language", "Türkisch")][-1] == "2"
    assert by_label[("Status", "attended")][3] == "1"
    assert rows[-2][0] == "total" and rows[-2][-1] == "3"
    assert rows[-2][2:14] == ["0", "0", "2", "1"] + ["0"] * 8
    assert rows[-1][0] == "persons" and rows[-1][-1] == "3"
    comma = reports.report_csv(
        report, dimension_labels, key_labels, ("dim", "value", "total"), delimiter=","
    )
    assert list(csv.reader(io.StringIO(comma.lstrip("\ufeff"))))[1:] == rows[1:]


def test_cancelled_bookings_are_told_apart_and_persons_counted_without_them():
    facts = [
        reports.BookingFact(
            datetime.fromisoformat("2026-03-02T09:00+01:00"),
            1,
            "ar",
            True,
            "online",
            "attended",
            persons=3,
            counsellor_id=7,
            interpreter_language="ar",
        ),
        reports.BookingFact(
            datetime.fromisoformat("2026-03-03T09:00+01:00"),
            1,
            "tr",
            False,
            "phone",
            "cancelled",
            persons=4,
            counsellor_id=8,
        ),
        reports.BookingFact(
            datetime.fromisoformat("2026-04-03T09:00+02:00"),
            1,
            None,
            False,
            "phone",
            "confirmed",
            persons=2,
            counsellor_id=7,
        ),
    ]
    report = reports.yearly_report(facts, 2026, "Europe/Berlin", service_order=[1])
    assert report.total == 3 and report.cancelled == 1 and report.not_cancelled == 2
    assert report.status_total("attended") == 1 and report.status_total("confirmed") == 1
    assert report.persons == 5
    assert report.month_persons[2:4] == (3, 2)
    counsellor = report.breakdowns["counsellor"]
    assert counsellor.keys == (7, 8) and counsellor.key_total(7) == 2
    interpreter = report.breakdowns["interpreter_language"]
    assert interpreter.key_total("ar") == 1 and interpreter.key_total("") == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, (1, 1)),
        (1, (1, 1)),
        (4, (4, 1)),
        (5, (5, 1)),
        (6, (6, 2)),
        (17, (20, 5)),
        (101, (150, 50)),
    ],
)
def test_nice_ceiling(value, expected):
    top, step = reports.nice_ceiling(value)
    assert (top, step) == expected
    assert top >= value and top % step == 0 and top // step <= 5


def parse_svg(svg: str) -> ET.Element:
    # Our own output, parsed to prove it is well-formed: no untrusted XML here.
    return ET.fromstring(svg)  # noqa: S314


def months():
    return ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def test_svg_is_accessible_and_escapes_text():
    series = [("Kita & <Schule>", [1, 2] + [0] * 10), ("Ankommen", [0, 3] + [0] * 10)]
    svg = reports.stacked_bar_chart_svg(months(), series, "Bookings <2026>", "Table below.")
    root = parse_svg(svg)  # well-formed XML: every text is escaped
    assert root.tag == SVG + "svg"
    assert root.get("role") == "img"
    title = root.find(SVG + "title")
    assert title is not None and title.text == "Bookings <2026>"
    assert root.get("aria-labelledby").split()[0] == title.get("id")
    assert root.find(SVG + "desc").text == "Table below."
    bars = [r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]
    assert len(bars) == 3  # January: 1; February: 2 + 3; zero segments are not drawn
    assert {b.find(SVG + "title").text for b in bars} >= {"Feb · Ankommen: 3"}
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "Kita & <Schule>" in texts and "Jan" in texts and "Dec" in texts
    assert "<script" not in svg


def test_svg_bar_heights_are_proportional():
    series = [("A", [2, 4] + [0] * 10)]
    root = parse_svg(reports.stacked_bar_chart_svg(months(), series, "t", "d"))
    bars = [r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]
    heights = [float(b.get("height")) for b in bars]
    assert heights[1] == pytest.approx(2 * heights[0])


def test_svg_of_an_empty_year_draws_no_bars():
    root = parse_svg(reports.stacked_bar_chart_svg(months(), [], "t", "d"))
    assert not [r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]


def test_svg_needs_twelve_months():
    with pytest.raises(ValueError):
        reports.stacked_bar_chart_svg(months()[:11], [], "t", "d")


def test_invitations_are_counted_by_outcome_with_the_days_to_the_appointment():
    from booking.reports import InvitationFact, invitation_summary

    day = datetime(2026, 3, 2, 9, tzinfo=UTC)
    facts = [
        InvitationFact(
            day, day + timedelta(days=14), day + timedelta(days=1), None, day + timedelta(days=4)
        ),
        InvitationFact(
            day, day + timedelta(days=14), day + timedelta(days=2), None, day + timedelta(days=10)
        ),
        InvitationFact(day, day + timedelta(days=14), None, None, None),  # expired by now
        InvitationFact(day, day + timedelta(days=14), None, day + timedelta(days=3), None),
        InvitationFact(day + timedelta(days=20), day + timedelta(days=34), None, None, None),
    ]

    summary = invitation_summary(facts, now=day + timedelta(days=21))

    assert (summary.invited, summary.booked, summary.expired) == (5, 2, 1)
    assert (summary.withdrawn, summary.open) == (1, 1)
    assert (summary.median_days, summary.mean_days) == (7.0, 7.0)
    assert invitation_summary([], now=day).median_days is None
