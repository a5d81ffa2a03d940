"""The availability cache knows what it depends on: every table the slot search reads is
one whose changes raise the availability version (availability_cache.AVAILABILITY_TABLES).

The tables read are not listed by hand here: they are taken from the statements the search
itself executes (every statement the engine is given while it runs), so a table a later
reader joins (events, invitations, ...) fails this test until the bump covers it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.sql.util import find_tables

from booking import availability, bookings
from booking.availability_cache import AVAILABILITY_TABLES
from booking.extensions import db
from booking.models import Absence, Booking, Centre, Closure, Service, User, utcnow
from booking.needs import Need
from tests.helpers import at, local, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

# What the cache reads itself, not the search.
CACHE_OWN = {"availability_version"}


def tables_read(app, action: Callable[[], object]) -> set[str]:
    """The names of the tables in every statement executed while ``action`` runs."""
    seen: set[str] = set()

    def record(conn, clauseelement, multiparams, params, execution_options):
        seen.update(
            table.name
            for table in find_tables(
                clauseelement,
                check_columns=True,
                include_aliases=True,
                include_joins=True,
                include_selects=True,
                include_crud=True,
            )
            if hasattr(table, "name")
        )

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_execute", record)
    try:
        action()
    finally:
        event.remove(engine, "before_execute", record)
    return seen


@pytest.fixture
def lived_in(seeded, make_booking):
    """Herne with a booking, an absence and a closure in the week searched."""
    app = seeded
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    app.config["AVAILABILITY_CACHE"] = False  # every search computes, reading everything
    monday = next_working_day(0)
    make_booking(at(monday, 10), language="tr")
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == "herne"))
        olena = db.session.scalar(select(User).where(User.name == "Olena Koval"))
        start = local(at(monday, 12))
        db.session.add(Absence(user=olena, start_at=start, end_at=start + timedelta(hours=1)))
        db.session.add(
            Closure(centre=centre, start_at=start, end_at=start + timedelta(hours=1), reason="x")
        )
        db.session.commit()
    return app, monday


def searches(app, monday) -> Callable[[], None]:
    """Every way the slot search is asked: the slots API (the cached answer), and the
    reader's functions as the pages and writers call them."""

    def run() -> None:
        client = app.test_client()
        for language in ("", "tr"):
            response = client.get(
                "/api/v1/centres/herne/slots",
                query_string={
                    "service": "beratung-1",
                    "from": monday.isoformat(),
                    "to": (monday + timedelta(days=6)).isoformat(),
                    "language": language,
                },
            )
            assert response.status_code == 200
            assert response.get_json()["slots"]
        with app.test_request_context():
            centre = availability.get_centre("herne")
            service = availability.get_service(centre, "beratung-1")
            now = utcnow()
            need = Need("ru")
            assert availability.find_slots(centre, service, monday, monday, now, need)
            assert availability.next_free_slots(centre, service, monday, now, need=need)
            availability.nearest_free_slots(centre, service, local(at(monday, 10)), now)
            bookings.free_slot_at(centre, service, local(at(monday, 9)), now, need=need)

    return run


def test_the_version_bump_covers_every_table_the_slot_search_reads(lived_in):
    app, monday = lived_in
    read = tables_read(app, searches(app, monday)) - CACHE_OWN
    # The recorder sees the search's statements (not an empty set passing by default).
    assert {"occupancy", "absence", "closure", "staff_user", "counsellor_service"} <= read
    assert read <= AVAILABILITY_TABLES, f"not covered by the bump: {read - AVAILABILITY_TABLES}"


def test_a_reader_of_another_table_would_be_caught(lived_in):
    """The check fails for a search that reads a table the bump does not cover."""
    app, monday = lived_in

    def reading_bookings_too() -> None:
        searches(app, monday)()
        with app.app_context():
            db.session.scalars(select(Booking.id).join(Service)).all()

    read = tables_read(app, reading_bookings_too) - CACHE_OWN
    assert read - AVAILABILITY_TABLES == {"booking"}
