"""Fixtures: an app on a real database (SQLite file or PostgreSQL), a client, a runner.

The schema is made by the migrations, once per run and database: SQLite copies a migrated
template file for each test; PostgreSQL truncates every table between tests.
Set TEST_DATABASE_URL to run the PostgreSQL cases. KI_REQUIRED_SUITES=pg,redis,browser,deploy
turns the skip of a missing suite into a failure (CI sets it).

In parallel (pytest-xdist, `make test` runs `-n 2 --dist loadgroup`) each worker has its own
PostgreSQL database beside TEST_DATABASE_URL's (``<name>_gw0``, ``<name>_gw1``, made through
the same server), its own temporary folders and free ports. A test that empties the Redis
database holds a lock while it uses it (`redis_to_ourselves`), and a file whose fixtures are
module-scoped runs whole on one worker (group: the module), so that such a fixture is made
once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from flask import Flask
from hypothesis import settings as hypothesis_settings
from jinja2 import BytecodeCache
from sqlalchemy import bindparam, create_engine, make_url, text

from booking import create_app
from booking.config import TestConfig
from booking.extensions import db
from tests.helpers import Inbox, free_port

# Property tests (marked "property"). `make test` uses "ci": each test draws from a seed of
# its own, so a run never fails by chance, and no example database carries a failure over
# from an earlier run. `make property` uses "property" (--hypothesis-profile) with a random
# seed it prints (--hypothesis-seed): rerun a failure with that seed.
hypothesis_settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True, database=None
)
hypothesis_settings.register_profile("property", max_examples=5000, deadline=None, database=None)
hypothesis_settings.load_profile("ci")


class CompiledTemplates(BytecodeCache):
    """The templates compiled once per test process, not once per app: each test makes an app
    of its own, and compiling the pages it shows cost more than showing them. An entry is the
    code of one template file, kept with the checksum of the source it was compiled from (a
    changed file is compiled anew); every app of the tests builds its Jinja environment alike
    (create_app), so the code is the same whichever app compiled it first."""

    def __init__(self) -> None:
        self.code: dict[str, tuple[str, object]] = {}

    def load_bytecode(self, bucket) -> None:
        checksum, code = self.code.get(bucket.key, (None, None))
        if checksum == bucket.checksum:
            bucket.code = code

    def dump_bytecode(self, bucket) -> None:
        self.code[bucket.key] = (bucket.checksum, bucket.code)


Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": CompiledTemplates()}

REQUIRED_SUITES = {s for s in os.environ.get("KI_REQUIRED_SUITES", "").split(",") if s}
# "gw0", "gw1", ... in a pytest-xdist worker; None in a run without workers.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def skip_or_fail(suite: str, reason: str) -> None:
    """Skip with a reason, or fail when CI says the suite is required."""
    if suite in REQUIRED_SUITES:
        pytest.fail(f"required suite '{suite}' cannot run: {reason}")
    pytest.skip(reason)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "backends(*names): run the test on each database named (sqlite, pg)"
    )


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Groups for `--dist loadgroup`: what must not run on two workers at once. Then the
    files with a test marked slow first: a long test started last keeps one worker busy
    while the other has nothing left to do (xdist hands out the groups of several tests
    first, the largest first, then the others in this order). Whole files move, so that
    a module's fixtures are still made once in a run without workers."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info and any(
            d.scope == "module" for defs in info.name2fixturedefs.values() for d in defs
        ):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    slow_files = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in slow_files)


# The clock of a test. Slot starts, the edge of the minimum notice (a slot start less the
# notice), opening and closing times and the ends of days and weeks all fall on whole
# multiples of five minutes. A test that shows a page and sends its form a second later
# failed when such an edge passed in between (a slot offered at 06:59:59 was inside the
# 24-hour notice at 07:00:00). So each test runs on the process clock moved forward, by at
# most a quarter of an hour, to 7½ minutes past a quarter hour, and ticking from there: no
# edge passes for the next 2½ minutes, none of a 15- or 30-minute grid for 7½. The app and
# the test read the same clock (one process, its threads included).
# KI_TEST_NOW=<ISO 8601 instant> runs every test from that instant instead, to replay a run
# at the hour it failed (e.g. KI_TEST_NOW=2026-12-06T06:59:59Z) or to try a suite on a
# weekend, a holiday or a night the clocks change. The deployment suite keeps the real clock:
# its servers are other processes.
TEST_NOW = os.environ.get("KI_TEST_NOW")
# The instant a test's clock started at (none in the deployment suite).
CLOCK_START = pytest.StashKey[datetime]()
QUARTER = timedelta(minutes=15)


def clock_start(now: datetime) -> datetime:
    """The next instant at 7½ minutes past a quarter hour, from ``now`` (aware, UTC) on."""
    quarter = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    start = quarter + QUARTER / 2
    return start if start >= now else start + QUARTER


@pytest.fixture(autouse=True)
def _test_clock(request):
    if request.node.get_closest_marker("deploy"):
        yield
        return
    if TEST_NOW:
        start = datetime.fromisoformat(TEST_NOW.replace("Z", "+00:00")).astimezone(UTC)
    else:
        start = clock_start(datetime.now(UTC))
    request.node.stash[CLOCK_START] = start
    with time_machine.travel(start, tick=True):
        yield


def worker_database_url(url: str) -> str:
    """TEST_DATABASE_URL itself, or in a pytest-xdist worker a database of the worker's own
    on the same server (created when missing)."""
    if not XDIST_WORKER:
        return url
    base = make_url(url)
    name = f"{base.database}_{XDIST_WORKER}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def pytest_generate_tests(metafunc):
    if "db_backend" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        names = marker.args if marker else ("sqlite",)
        metafunc.parametrize(
            "db_backend",
            [pytest.param(n, marks=[pytest.mark.pg] if n == "pg" else []) for n in names],
            indirect=True,
        )


def _migrate(app) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file, copied for each test."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.sqlite"
    app = create_app(
        TestConfig, instance_path=str(folder), SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}"
    )
    _migrate(app)
    with app.app_context():
        db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory):
    """A migrated PostgreSQL database (the schema is dropped and made anew per run)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        skip_or_fail("pg", "TEST_DATABASE_URL is not set (PostgreSQL suite)")
    try:
        url = worker_database_url(url)
        engine = create_engine(url)
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
    except Exception as error:  # noqa: BLE001 - any connection failure means "no PostgreSQL"
        skip_or_fail("pg", f"PostgreSQL at TEST_DATABASE_URL is not reachable: {error}")
    app = create_app(
        TestConfig, instance_path=str(tmp_path_factory.mktemp("pg")), SQLALCHEMY_DATABASE_URI=url
    )
    _migrate(app)
    with app.app_context():
        db.engine.dispose()
    return url


def emptied_redis_url(suite: str = "redis") -> str:
    """TEST_REDIS_URL, emptied first: counters of an earlier test must not count."""
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).flushdb()
    except redis.RedisError as error:
        skip_or_fail(suite, f"Redis at {url} is not reachable: {error}")
    return url


@contextmanager
def redis_to_ourselves(tmp_path_factory):
    """While it is held, no other worker of this run uses TEST_REDIS_URL (one database, that
    each user empties first): an exclusive lock on a file of the run's own temporary root."""
    if not XDIST_WORKER:
        yield
        return
    with (tmp_path_factory.getbasetemp().parent / "redis.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def redis_url(tmp_path_factory):
    with redis_to_ourselves(tmp_path_factory):
        yield emptied_redis_url()


def empty_pg_tables(url: str) -> None:
    """Make every table of the migrated PostgreSQL database but alembic_version and
    availability_version (its one row only counts up; the migration wrote it) as TRUNCATE
    ... RESTART IDENTITY leaves it: no rows, no pages, its sequence not drawn from.

    Only the tables that have pages (a row was written since they were last emptied, even
    one rolled back) are truncated, and only the sequences drawn from are restarted:
    truncating all 24 tables cost more time than most tests (each gets new files), while a
    test writes to a few. A table without pages is what TRUNCATE would make of it."""
    kept = ("alembic_version", "availability_version")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        written = conn.execute(
            text(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                "AND relkind = 'r' AND relname NOT IN :kept AND pg_relation_size(oid) > 0"
            ).bindparams(bindparam("kept", expanding=True)),
            {"kept": kept},
        ).scalars()
        if names := ", ".join(f'"{t}"' for t in written):
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        drawn = conn.execute(
            text(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' "
                "AND last_value IS NOT NULL AND sequencename NOT IN :kept"
            ).bindparams(bindparam("kept", expanding=True)),
            {"kept": tuple(f"{t}_id_seq" for t in kept)},
        ).scalars()
        for sequence in drawn:
            conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    engine.dispose()


@pytest.fixture(scope="session")
def seeded_sqlite_templates(sqlite_template, tmp_path_factory):
    """The migrated SQLite file with the demo data, made once per clock start and copied
    for each test that asks for ``seeded``: ``template(start)``.

    The demo data depends on the clock only (events are dated from today, rows carry the
    time they were made). Every test of a quarter hour starts its clock at the same instant
    (_test_clock); the file is seeded with the clock held at that instant, so its rows are
    never later than what the test itself writes (an audit log read newest first, say)."""
    folder = tmp_path_factory.mktemp("sqlite-seeded")
    made: dict[datetime, object] = {}

    def template(start: datetime):
        if start not in made:
            from booking.demo import seed_demo

            path = folder / f"seeded-{start:%Y%m%dT%H%M%S}.sqlite"
            shutil.copyfile(sqlite_template, path)
            app = create_app(
                TestConfig,
                instance_path=str(folder / "instance"),
                SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}",
            )
            with time_machine.travel(start, tick=False), app.app_context():
                seed_demo()
                db.session.remove()
                db.engine.dispose()
            made[start] = path
        return made[start]

    return template


SEEDED_COPY = pytest.StashKey[bool]()


@pytest.fixture
def db_backend(request):
    return request.param


@pytest.fixture
def database_url(request, tmp_path, db_backend):
    """The URL of a fresh, migrated, empty database for this test; on SQLite one with the
    demo data already when the test asks for ``seeded`` (which then has nothing to do)."""
    if db_backend == "pg":
        url = request.getfixturevalue("pg_url")
        empty_pg_tables(url)
        return url
    template = request.getfixturevalue("sqlite_template")
    start = request.node.stash.get(CLOCK_START, None)  # none in the deployment suite
    if "seeded" in request.fixturenames and start is not None:
        template = request.getfixturevalue("seeded_sqlite_templates")(start)
        request.node.stash[SEEDED_COPY] = True
    path = tmp_path / "test.sqlite"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app(
        TestConfig,
        instance_path=str(tmp_path / "instance"),
        SQLALCHEMY_DATABASE_URI=database_url,
    )
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def seeded(request, app):
    """The demo data of SPEC "Demo data" (on SQLite copied in with the database, see
    database_url)."""
    from booking.demo import seed_demo

    if not request.node.stash.get(SEEDED_COPY, False):
        with app.app_context():
            seed_demo()
    return app


@pytest.fixture
def make_booking(app):
    """The booking factory: ``make_booking(start, centre="herne", service="beratung-1",
    **over)`` books through the writer (bookings.book_slot) at ``start`` (ISO 8601 with
    offset, e.g. ``at(monday, 9)``); ``over`` are BookingDetails fields, a name and a fresh
    e-mail address filled in. Returns id, reference, counsellor_id and (manage) token."""
    from tests.helpers import book_through_writer

    def make(start: str, *, centre: str = "herne", service: str = "beratung-1", **over):
        return book_through_writer(app, centre, service, start, **over)

    return make


@pytest.fixture
def make_centre(app):
    """A centre open Mon–Fri 08:00–16:00 with services "short" (45) and "long" (60), and
    ``counsellors`` counsellors offering both; returns the centre's slug."""
    from datetime import time

    from booking.models import Centre, OpeningHours, Service, User

    def make(slug: str = "test", counsellors: int = 1, **rules) -> str:
        with app.app_context():
            centre = Centre(
                slug=slug,
                name=f"Testzentrum {slug}",
                address="Teststraße 1, 44649 Herne",
                phone="02325 000",
                email=f"{slug}@centre.example",
                timezone="Europe/Berlin",
                holiday_region="DE-NW",
                **rules,
            )
            centre.opening_hours = [
                OpeningHours(weekday=d, opens=time(8), closes=time(16)) for d in range(5)
            ]
            short = Service(slug="short", names={"de": "Kurz", "en": "Short"}, duration_minutes=45)
            long = Service(slug="long", names={"de": "Lang", "en": "Long"}, duration_minutes=60)
            centre.services = [short, long]
            db.session.add(centre)
            for i in range(counsellors):
                db.session.add(
                    User(
                        email=f"c{i}@{slug}.example",
                        name=f"Counsellor {i}",
                        role="counsellor",
                        centre=centre,
                        languages=["de", "tr"] if i == 0 else ["de", "ar"],
                        services=[short, long],
                    )
                )
            db.session.commit()
        return slug

    return make


@pytest.fixture
def joint(app, make_centre):
    """A centre whose service "joint" (60 min) needs a counsellor and an officer; the
    officer works Tuesdays 10:00–11:00, the counsellors 08:00–16:00."""
    from datetime import time

    from sqlalchemy import select

    from booking.models import Centre, Service, User, WorkingHours

    slug = make_centre("joint", counsellors=2)
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == slug))
        service = Service(
            slug="joint",
            names={"de": "Gemeinsam", "en": "Joint"},
            duration_minutes=60,
            roles=["counsellor", "school_supervision"],
        )
        centre.services.append(service)
        counsellor = db.session.scalar(select(User).where(User.email == "c0@joint.example"))
        counsellor.services.append(service)
        officer = User(
            email="officer@joint.example",
            name="Officer",
            role="school_supervision",
            centre=centre,
            languages=["de"],
            services=[service],
            working_hours=[WorkingHours(weekday=1, opens=time(10), closes=time(11))],
        )
        db.session.add(officer)
        db.session.commit()
    return slug


STAFF_PASSWORD = "Sichere-Beratung-2026"


@pytest.fixture
def make_staff(app):
    """Create a staff account; returns its e-mail. Password: STAFF_PASSWORD."""
    from booking.accounts import create_or_update_user
    from booking.models import utcnow

    def make(email: str, role: str, *centre_slugs: str, name: str | None = None) -> str:
        with app.test_request_context():
            create_or_update_user(
                email, role, list(centre_slugs), STAFF_PASSWORD, name, now=utcnow()
            )
        return email

    return make


def csrf_from(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def sign_in():
    """Sign a test client in; returns the response of the POST."""

    def do(client, email: str, password: str = STAFF_PASSWORD):
        token = csrf_from(client.get("/staff/login").get_data(as_text=True))
        response = client.post(
            "/staff/login", data={"csrf_token": token, "email": email, "password": password}
        )
        assert response.status_code == 303, response.get_data(as_text=True)[:300]
        return response

    return do


@pytest.fixture
def smtp(app):
    """A real SMTP server (aiosmtpd) on a free port; the app sends to it at each commit."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, OUTBOX_SEND_AFTER_COMMIT="inline")
    yield inbox
    controller.stop()
