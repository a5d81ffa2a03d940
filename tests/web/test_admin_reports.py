"""The yearly report: totals match the bookings made, the CSV says the same, the chart is an
accessible inline SVG, the query count does not grow with the bookings, and purging personal
data changes nothing. On SQLite and PostgreSQL.

Rows are found by ids and data attributes, never by (translated) text.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select, update

from booking.bookings import BookingRequest, book_slot
from booking.extensions import db
from booking.models import Booking, Centre, Service, User, utcnow
from booking.validation import BookingDetails
from tests.helpers import BERLIN, at, booking_payload, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

ADMIN = "admin@herne.example"


class _Tables(HTMLParser):
    """table id -> row key (data-key) -> the numbers of its cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[int]]] = {}
        self._table = self._row = None
        self._in_cell = False
        self._svg = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table] = {}
        elif tag == "tr" and self._table and "data-key" in attrs:
            self._row = attrs["data-key"]
            self.tables[self._table][self._row] = []
        elif tag == "td" and self._row is not None:
            self._in_cell = True

    def handle_data(self, data):
        if self._in_cell and data.strip():
            self.tables[self._table][self._row].append(int(data))

    def handle_endtag(self, tag):
        if tag == "td":
            self._in_cell = False
        elif tag == "tr":
            self._row = None
        elif tag == "table":
            self._table = None


def tables(html: str) -> dict[str, dict[str, list[int]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


@pytest.fixture
def admin(seeded, client, make_staff, sign_in):
    sign_in(client, make_staff(ADMIN, "admin", "herne"))
    return client


def book(client, start, service, email, **over):
    response = client.post(
        "/api/v1/centres/herne/bookings",
        json=booking_payload(start, service, email=email, **over),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def ids(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(
            select(Service.slug, Service.id).join(Centre).where(Centre.slug == "herne")
        )
        return dict(rows.all())


def set_status(app, reference: str, status: str) -> None:
    with app.app_context():
        db.session.execute(
            update(Booking).where(Booking.reference == reference).values(status=status)
        )
        db.session.commit()


@pytest.fixture
def bookings(app, admin):
    """Five bookings on one day: different services, languages and channels."""
    day = next_working_day(0)
    made = {
        "tr": book(admin, at(day, 9), "beratung-1", "a@example.org", language="tr"),
        "ar": book(
            admin,
            at(day, 10),
            "beratung-2",
            "b@example.org",
            language="ar",
            interpreter_language="ar",
        ),
        "uk": book(admin, at(day, 11), "beratung-3", "c@example.org", language="uk-UA"),
        "none": book(admin, at(day, 13), "beratung-1", "d@example.org"),
    }
    # Reception took one by phone.
    with app.test_request_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        service = db.session.scalar(
            select(Service).where(Service.centre_id == centre.id, Service.slug == "beratung-3")
        )
        clerk = db.session.scalar(select(User).where(User.email == ADMIN))
        result = book_slot(
            BookingRequest(
                centre,
                service,
                datetime.fromisoformat(at(day, 14)),
                BookingDetails(
                    name="Telefon", email=None, phone="0151 000", language="fa", persons=2
                ),
                channel="phone",
                created_by=clerk,
            ),
            now=utcnow(),
        )
        made["phone"] = {"reference": result.booking.reference}
    token = made["none"]["manage_url"].rsplit("/", 1)[1]
    assert admin.post(f"/api/v1/bookings/{token}/cancel").status_code == 200
    set_status(app, made["tr"]["reference"], "attended")
    return day, made


def report(client, year: int) -> tuple[str, dict]:
    response = client.get(f"/admin/centres/herne/reports?year={year}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return html, tables(html)


def test_report_totals_match_the_bookings(app, admin, bookings):
    day, _made = bookings
    month = day.month - 1
    html, found = report(admin, day.year)
    slugs = ids(app)

    service = found["report-service"]
    assert service[str(slugs["beratung-1"])][month] == 2
    assert service[str(slugs["beratung-2"])][month] == 1
    assert service[str(slugs["beratung-3"])][month] == 2
    assert service[str(slugs["beratung-4"])] == [0] * 13  # 12 months and the total
    assert service["total"][month] == 5 and service["total"][-1] == 5

    language = found["report-language"]
    assert language["tr"][month] == language["ar"][month] == language["fa"][month] == 1
    assert language["uk"][month] == 1  # "uk-UA" counts as Ukrainian
    assert language[""][month] == 1  # not given

    channel = found["report-channel"]
    assert channel["online"][-1] == 4 and channel["phone"][-1] == 1 and channel["walk_in"][-1] == 0

    interpreter = found["report-interpreter"]
    assert interpreter["yes"][-1] == 1 and interpreter["no"][-1] == 4

    status = found["report-status"]
    assert status["attended"][-1] == 1
    assert status["cancelled"][-1] == 1
    assert status["confirmed"][-1] == 3
    assert status["no_show"][-1] == 0

    for rows in found.values():
        assert rows["total"][-1] == 5
        for key, cells in rows.items():
            assert sum(cells[:12]) == cells[12], key

    # Another year is empty.
    _html, other = report(admin, day.year - 1)
    assert other["report-service"]["total"][-1] == 0


def test_the_chart_is_an_accessible_inline_svg(admin, bookings):
    day, _made = bookings
    html, _found = report(admin, day.year)
    svg = re.search(r"<svg\b[^>]*>.*?</svg>", html, re.S)
    assert svg, "no inline SVG"
    tag = re.match(r"<svg\b[^>]*>", svg.group(0)).group(0)
    assert 'role="img"' in tag
    title_id = re.search(r'<title id="([^"]+)">[^<]+</title>', svg.group(0)).group(1)
    assert f'aria-labelledby="{title_id}' in tag
    assert svg.group(0).count("<rect") >= 3  # three services have bookings
    assert "<script" not in html


def test_the_csv_has_the_same_numbers(admin, bookings):
    day, _made = bookings
    _html, found = report(admin, day.year)
    response = admin.get(f"/admin/centres/herne/reports.csv?year={day.year}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert f"report-herne-{day.year}.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig")), delimiter=";"))
    assert rows[0][2:14] == [str(m) for m in range(1, 13)]
    csv_numbers = [[int(v) for v in row[2:]] for row in rows[1:]]
    # The tables in page order, each row with its twelve months and total, then the totals.
    table_numbers = [
        cells
        for table_id in (
            "report-service",
            "report-counsellor",
            "report-language",
            "report-channel",
            "report-interpreter",
            "report-interpreter_language",
            "report-status",
        )
        for key, cells in found[table_id].items()
        if key not in ("total", "persons")
    ] + [found["report-service"]["total"], found["report-service"]["persons"]]
    assert csv_numbers == table_numbers
    assert rows[-2][-1] == "5"
    comma = admin.get(f"/admin/centres/herne/reports.csv?year={day.year}&sep=comma")
    assert list(csv.reader(io.StringIO(comma.get_data().decode("utf-8-sig"))))[1:] == rows[1:]
    assert admin.get("/admin/centres/herne/reports.csv?sep=tab").status_code == 400


def add_past_bookings(app, count: int, year: int) -> None:
    """Bookings straight in the database, spread over the year's months, at 07:00 when no
    API booking can be (the centre opens at 08:00)."""
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        service = db.session.scalar(
            select(Service).where(Service.centre_id == centre.id, Service.slug == "beratung-1")
        )
        counsellor = service.counsellors[0]
        for i in range(count):
            start = datetime(year, 1 + i % 12, 1 + i // 12, 7, tzinfo=BERLIN).astimezone(UTC)
            db.session.add(
                Booking(
                    reference=f"PAST-{i:04d}",
                    centre=centre,
                    service=service,
                    counsellor_id=counsellor.id,
                    start_at=start,
                    end_at=start + timedelta(minutes=45),
                    status="attended" if i % 3 else "no_show",
                    channel="walk_in" if i % 2 else "phone",
                    name="Alt",
                    language="ru",
                    manage_token_hash=secrets.token_hex(32),
                )
            )
        db.session.commit()


def test_the_report_query_count_does_not_grow_with_the_bookings(app, admin, bookings):
    day, _made = bookings
    url = f"/admin/centres/herne/reports?year={day.year}"
    few = int(admin.get(url).headers["X-Query-Count"])
    add_past_bookings(app, 48, day.year)
    response = admin.get(url)
    assert int(response.headers["X-Query-Count"]) == few
    assert few <= 12
    found = tables(response.get_data(as_text=True))
    assert found["report-service"]["total"][-1] == 5 + 48
    assert found["report-language"]["ru"][-1] == 48
    csv_response = admin.get(f"/admin/centres/herne/reports.csv?year={day.year}")
    # The page also counts the year's invitations, in one query of its own.
    assert int(csv_response.headers["X-Query-Count"]) == few - 1


def test_the_report_survives_the_purge_of_personal_data(app, admin, bookings):
    from booking.retention import purge

    day, made = bookings
    before = report(admin, day.year)[1]
    before_csv = admin.get(f"/admin/centres/herne/reports.csv?year={day.year}").get_data()
    assert before["report-service"]["total"][-1] == 5
    assert before["report-status"]["attended"][-1] == 1
    with app.app_context():
        counts = purge(datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=92), 90)
        assert counts.bookings == len(made)
        assert db.session.scalar(select(Booking.email).where(Booking.email.is_not(None))) is None
    assert report(admin, day.year)[1] == before
    after_csv = admin.get(f"/admin/centres/herne/reports.csv?year={day.year}").get_data()
    assert after_csv == before_csv


def test_report_year_must_be_a_year(admin):
    assert admin.get("/admin/centres/herne/reports?year=zwanzig").status_code == 400
    assert admin.get("/admin/centres/herne/reports.csv?year=99999").status_code == 400
    assert admin.get("/admin/centres/herne/reports").status_code == 200


def test_the_summary_tells_cancelled_bookings_apart_and_counts_persons(admin, bookings):
    day, _made = bookings
    html, found = report(admin, day.year)

    def summary(key: str) -> int:
        return int(re.search(rf'<dd id="sum-{key}">(\d+)</dd>', html).group(1))

    assert summary("total") == 5 and summary("cancelled") == 1 and summary("held") == 4
    assert summary("attended") == 1 and summary("confirmed") == 3 and summary("no_show") == 0
    # Three bookings of one person and the phone booking of two; the cancelled one not.
    assert summary("persons") == 5
    assert found["report-service"]["persons"][-1] == 5
    # Per counsellor and per interpreter language, each adding up to all bookings.
    assert (
        sum(cells[-1] for key, cells in found["report-counsellor"].items() if key != "total") == 5
    )
    assert "Aylin Demir" in html or "Olena Koval" in html or "Karim Haddad" in html
    interpreter = found["report-interpreter_language"]
    assert sum(cells[-1] for key, cells in interpreter.items() if key != "total") == 5
