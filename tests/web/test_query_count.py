"""The slots API and the public week page read the database in at most four queries,
however many counsellors, bookings, absences and closures there are (SQLite and PostgreSQL),
besides the one read of the availability version that their cache is keyed by; asked again,
each is answered from the cache with that one read alone.

Statements are counted at the engine (``before_cursor_execute``); the BEGIN that SQLite
issues to open each transaction (booking/db_events.py) is transaction control, not a query,
and is left out, so that both databases count the same.
"""

import secrets
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import event, select

from booking.extensions import db
from booking.models import Absence, Booking, Centre, Closure, Service, User, WorkingHours
from tests.helpers import BERLIN, berlin_today

MAX_QUERIES = 4
# Counsellors, and bookings per counsellor and working day.
SIZES = ((1, 0), (4, 1), (12, 3))


@contextmanager
def counted_statements(app):
    """Collect the SQL statements sent while the block runs, transaction control left out."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def fill(app, slug: str, per_day: int) -> date:
    """Bookings, absences, working hours and closures for the centre's next eight weeks;
    returns the Monday of a week closed throughout."""
    today = berlin_today()
    closed_monday = monday_of(today) + timedelta(weeks=3)
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == slug))
        service = db.session.scalar(
            select(Service).where(Service.centre_id == centre.id, Service.slug == "short")
        )
        counsellors = db.session.scalars(
            select(User).where(User.centre_id == centre.id).order_by(User.id)
        ).all()
        booked_by_test = {"centre": centre, "service": service, "name": "Test"}
        for n, counsellor in enumerate(counsellors):
            if n % 2:  # every other counsellor works mornings only
                counsellor.working_hours = [
                    WorkingHours(weekday=d, opens=time(8), closes=time(12)) for d in range(5)
                ]
            for offset in range(1, 57):
                day = today + timedelta(days=offset)
                if day.weekday() >= 5:
                    continue
                if per_day and offset % 7 == n % 7:  # a day away now and then
                    start = datetime.combine(day, time(0), BERLIN)
                    db.session.add(
                        Absence(user=counsellor, start_at=start, end_at=start + timedelta(days=1))
                    )
                    continue
                starts = [
                    datetime.combine(day, time(8 + 2 * k), BERLIN).astimezone(UTC)
                    for k in range(per_day)
                ]
                db.session.add_all(
                    Booking(
                        **booked_by_test,
                        counsellor_id=counsellor.id,
                        start_at=start,
                        end_at=start + timedelta(minutes=45),
                        reference=f"Q{secrets.token_hex(5).upper()}",
                        manage_token_hash=secrets.token_hex(32),
                    )
                    for start in starts
                )
        closed = datetime.combine(closed_monday, time(0), BERLIN)
        db.session.add(Closure(centre=centre, start_at=closed, end_at=closed + timedelta(days=7)))
        for week in range(per_day):  # a few more closures as the data grows
            start = datetime.combine(closed_monday + timedelta(weeks=week + 1, days=2), time(12))
            start = start.replace(tzinfo=BERLIN)
            db.session.add(
                Closure(centre=centre, start_at=start, end_at=start + timedelta(hours=2))
            )
        db.session.commit()
    return closed_monday


@pytest.mark.backends("sqlite", "pg")
def test_slots_api_and_week_page_stay_at_four_queries_as_the_data_grows(
    app, client, db_backend, make_centre
):
    today = berlin_today()
    for counsellors, per_day in SIZES:
        slug = make_centre(slug=f"q{counsellors}", counsellors=counsellors)
        closed_monday = fill(app, slug, per_day)
        open_monday = monday_of(today) + timedelta(weeks=2)
        pages = {
            "slots API, 8 weeks": (
                f"/api/v1/centres/{slug}/slots?service=short"
                f"&from={today}&to={today + timedelta(days=55)}"
            ),
            "week asked for": f"/centres/{slug}/short?language=de&week={open_monday}",
            "no week asked for": f"/centres/{slug}/short?language=de",
            "closed week: next free time": f"/centres/{slug}/short?language=de&week={closed_monday}",
            "language step": f"/centres/{slug}/short",
        }
        for name, url in pages.items():
            with counted_statements(app) as statements:
                response = client.get(url)
            assert response.status_code == 200, (name, url)
            version_reads = [s for s in statements if "availability_version" in s]
            assert len(version_reads) == 1, (name, statements)
            assert len(statements) - 1 <= MAX_QUERIES, (counsellors, per_day, name, statements)
            with counted_statements(app) as statements:
                again = client.get(url)
            assert again.get_data() == response.get_data()
            assert statements == version_reads, (name, statements)
            if name == "slots API, 8 weeks":
                assert response.get_json()["slots"]
            elif name == "week asked for":
                assert 'class="slot"' in response.get_data(as_text=True)
            elif name == "closed week: next free time":
                assert 'id="next-free"' in response.get_data(as_text=True)
