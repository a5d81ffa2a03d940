"""The availability cache knows what it depends on: every table the slot search reads is
one whose changes raise the availability version (availability_cache.AVAILABILITY_TABLES).

The tables read are not listed by hand here: they are taken from the statements the search
itself executes (every statement the engine is given while it runs), so a table a later
reader joins (events, invitations, ...) fails this test until the bump covers it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.sql.util import find_tables

from booking import availability, availability_cache, bookings
from booking.availability_cache import (
    AVAILABILITY_TABLES,
    CENTRE_ATTRIBUTES,
    COUNSELLOR_ATTRIBUTES,
)
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


# --- The reads kept per process (availability_cache.remembered) ------------------------

# Tables whose changes raise a centre's number alone (availability_cache): a read kept under
# the common number alone must not depend on them.
PER_CENTRE = set(CENTRE_ATTRIBUTES) | set(COUNSELLOR_ATTRIBUTES)


@pytest.fixture
def kept_reads(monkeypatch):
    """Per kind of read kept (the key's first part): whether it was kept under a centre's
    number, and the tables its computation read."""
    found: dict[str, tuple[bool, set[str]]] = {}
    remembered = availability_cache.remembered

    def recording(key, compute, centre_slug=None, **options):
        def computing():
            tables = found.setdefault(key[0], (centre_slug is not None, set()))[1]
            with recorded_tables(db.engine, tables):
                return compute()

        return remembered(key, computing, centre_slug, **options)

    monkeypatch.setattr(availability_cache, "remembered", recording)
    return found


@contextmanager
def recorded_tables(engine, seen: set[str]):
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

    event.listen(engine, "before_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_execute", record)


def every_kept_read(app, monday) -> None:
    """The pages and API calls that read centres, services and counsellors through the
    cache, each kind at least once (asserted by the test)."""
    app.config["AVAILABILITY_CACHE"] = True
    client = app.test_client()
    for url in (
        "/",
        "/centres/herne",
        f"/centres/herne/beratung-1?language=tr&week={monday.isoformat()}",
        f"/api/v1/centres/herne/slots?service=beratung-1&from={monday}&to={monday}",
        "/api/v1/centres",
        "/api/v1/centres/herne/services",
    ):
        assert client.get(url).status_code == 200, url


KEPT_KINDS = {"centre", "centre+services", "centres", "services", "holders"}


def test_the_version_bump_covers_every_table_a_kept_read_reads(lived_in, kept_reads):
    app, monday = lived_in
    every_kept_read(app, monday)
    assert set(kept_reads) == KEPT_KINDS
    for kind, (per_centre, tables) in kept_reads.items():
        assert tables, kind  # the recorder saw its statements
        assert tables <= AVAILABILITY_TABLES, f"{kind}: not covered {tables - AVAILABILITY_TABLES}"
        if not per_centre:
            # Kept under the common number: none of its tables raises a centre's alone.
            assert not tables & PER_CENTRE, f"{kind}: {tables & PER_CENTRE}"


def test_a_kept_read_of_another_table_would_be_caught(lived_in, kept_reads):
    """The check fails for a kept read of a table the bump does not cover, and for a read
    kept under the common number of a table that raises a centre's number alone."""
    app, monday = lived_in
    with app.test_request_context():
        availability_cache.remembered(
            ("bookings",), lambda: db.session.scalars(select(Booking.id)).all() or ["none"], "herne"
        )
        availability_cache.remembered(
            ("services-everywhere",), lambda: db.session.scalars(select(Service.id)).all()
        )
    assert kept_reads["bookings"][1] - AVAILABILITY_TABLES == {"booking"}
    assert kept_reads["services-everywhere"] == (False, {"service"})
    assert {"service"} & PER_CENTRE
