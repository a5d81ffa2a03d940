"""Admin pages: the yearly report: page with table and chart, and CSV."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from babel.dates import get_month_names
from flask import Response, abort, g, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select

from booking import reports
from booking.admin import queries
from booking.admin.blueprint import bp
from booking.clock import request_now
from booking.extensions import db
from booking.i18n import (
    current_language,
    language_name,
    status_label,
)
from booking.models import (
    Service,
)

FIRST_REPORT_YEAR, LAST_REPORT_YEAR = 2000, 2100


# Reports.


def _report_year(centre) -> int:
    raw = request.args.get("year")
    if not raw:
        return request_now().astimezone(ZoneInfo(centre.timezone)).year
    if not raw.isdigit() or not FIRST_REPORT_YEAR <= int(raw) <= LAST_REPORT_YEAR:
        abort(400, description=_("Give the year as a number, e.g. 2026."))
    return int(raw)


def _report(centre):
    """The report of the year asked for, with every label in the page's language."""
    year = _report_year(centre)
    language = current_language()
    centre_services = db.session.scalars(
        select(Service).where(Service.centre_id == centre.id).order_by(Service.position)
    ).all()
    report = reports.yearly_report(
        queries.report_facts(centre, year),
        year,
        centre.timezone,
        service_order=[s.id for s in centre_services],
    )
    dimension_labels = {
        "service": _("Service"),
        "counsellor": _("Counsellor"),
        "language": _("Language"),
        "channel": _("Channel"),
        "interpreter": _("Interpreter"),
        "interpreter_language": _("Interpreter language"),
        "status": _("Status"),
    }
    key_labels = {
        "service": {s.id: s.name_in(language) for s in centre_services},
        "language": {
            code: language_name(code) if code else _("not given")
            for code in report.breakdowns["language"].keys
        },
        "channel": {"online": _("online"), "phone": _("by phone"), "walk_in": _("walk-in")},
        "interpreter": {"yes": _("interpreter needed"), "no": _("no interpreter")},
        "interpreter_language": {
            code: language_name(code) if code else _("no interpreter")
            for code in report.breakdowns["interpreter_language"].keys
        },
        "counsellor": queries.staff_names(report.breakdowns["counsellor"].keys),
        "status": {status: status_label(status) for status in reports.STATUS_KEYS},
    }
    return report, dimension_labels, key_labels


def _month_labels() -> list[str]:
    names = get_month_names("abbreviated", context="stand-alone", locale=get_locale())
    return [names[month] for month in reports.MONTHS]


@bp.get("/centres/<centre_slug>/reports")
def report_page(centre_slug: str):
    centre = g.centre
    report, dimension_labels, key_labels = _report(centre)
    months = _month_labels()
    by_service = report.breakdowns["service"]
    chart = reports.stacked_bar_chart_svg(
        months,
        [
            (key_labels["service"].get(key, str(key)), by_service.row(key))
            for key in by_service.keys
            if by_service.key_total(key)
        ],
        title=_("Bookings per month by service, %(year)d", year=report.year),
        description=_("Stacked bars, one per month. The tables below give the numbers."),
    )
    return render_template(
        "admin/reports.html",
        centre=centre,
        report=report,
        months=months,
        dimensions=reports.DIMENSIONS,
        dimension_labels=dimension_labels,
        key_labels=key_labels,
        chart=Markup(chart),  # noqa: S704 - built by reports.py, every text in it escaped
        invitations=reports.invitation_summary(
            queries.invitation_facts(centre, report.year), request_now()
        ),
    )


@bp.get("/centres/<centre_slug>/reports.csv")
def report_csv(centre_slug: str):
    centre = g.centre
    separator = request.args.get("sep", "semicolon")
    if separator not in reports.CSV_DELIMITERS:
        abort(400, description=_("Choose semicolon or comma as the separator."))
    report, dimension_labels, key_labels = _report(centre)
    body = reports.report_csv(
        report,
        dimension_labels,
        key_labels,
        header=(_("Breakdown"), _("Value"), _("Total")),
        persons_label=_("Persons (without cancelled bookings)"),
        delimiter=reports.CSV_DELIMITERS[separator],
    )
    filename = f"report-{centre.slug}-{report.year}.csv"
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/centres/<centre_slug>/events/report.csv")
def event_report_csv(centre_slug: str):
    """The events report as CSV: one line per month and audience, then the totals."""
    from booking.admin.event_pages import _audience_label

    centre = g.centre
    year = _report_year(centre)
    rows = reports.event_report(queries.event_facts(centre, year))
    header = [
        _("Month"),
        _("For whom"),
        _("Events"),
        _("Cancelled events"),
        _("Registrations"),
        _("Persons"),
        _("Persons attended"),
        _("Waiting list"),
    ]
    counts = [
        [r.events, r.cancelled_events, r.registrations, r.persons, r.attended_persons, r.waiting]
        for r in rows
    ]
    totals = [sum(column) for column in zip(*counts, strict=True)] if counts else [0] * 6
    lines = [[r.month, _audience_label(r.audience), *c] for r, c in zip(rows, counts, strict=True)]
    body = reports.table_csv(header, [*lines, [_("Total"), "", *totals]])
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="events-{centre.slug}-{year}.csv"'},
    )
