"""The cache of computed free slots answers as a fresh computation would: after every kind
of write that changes availability (through the real booking and settings writers),
across two app instances with separate caches on one database, and as the clock moves.

Each write test warms the cache, checks that the warm answer comes from the cache (no query
after the version's), writes, and then checks that the next answer equals a fresh, uncached
computation and differs from the answer before the write (so the write mattered).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta

import pytest
from flask import template_rendered
from sqlalchemy import select, update

from booking import (
    absences,
    accounts,
    availability,
    availability_cache,
    bookings,
    centre_settings,
    create_app,
    settings_checks,
)
from booking.config import TestConfig
from booking.extensions import db
from booking.models import Booking, Centre, Service, User, utcnow
from tests.helpers import BERLIN, at, book_through_writer, local, next_working_day
from tests.web.test_query_count import counted_statements

pytestmark = pytest.mark.backends("sqlite", "pg")

SLUG = "cache"


@pytest.fixture
def centre(app, make_centre):
    """A centre with two counsellors and an admin; returns the working day looked at."""
    make_centre(SLUG, counsellors=2)
    with app.app_context():
        centre = db.session.scalar(select(Centre).where(Centre.slug == SLUG))
        db.session.add(User(email="admin@cache.example", name="Admin", role="admin", centre=centre))
        db.session.commit()
    return next_working_day(2, min_days_ahead=4)


def _objects():
    centre = db.session.scalar(select(Centre).where(Centre.slug == SLUG))
    service = db.session.scalar(
        select(Service).where(Service.centre_id == centre.id, Service.slug == "short")
    )
    return centre, service


def _actor() -> User:
    return db.session.scalar(select(User).where(User.role == "admin"))


def _counsellors() -> list[User]:
    return list(db.session.scalars(select(User).where(User.role == "counsellor").order_by(User.id)))


def cached_find_slots(centre, service, date_from, date_to, now):
    """find_slots through the cache, as the slots API uses it (there for the JSON bytes)."""
    key = ("test-slots", centre.id, service.id, date_from, date_to)
    kept = availability_cache.lookup(key, now, centre.slug)
    if kept is not None:
        return list(kept)
    found = availability.find_slots(centre, service, date_from, date_to, now)
    until = availability.slots_valid_until(centre, found, now)
    availability_cache.keep(key, now, until, tuple(found), centre.slug)
    return found


@pytest.fixture
def other_app(app, database_url, tmp_path):
    """A second app on the same database, with its own cache."""
    other = create_app(
        TestConfig, instance_path=str(tmp_path / "other"), SQLALCHEMY_DATABASE_URI=database_url
    )
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def answers(app, day, now):
    """(cached answer, fresh answer) for the day and the week after, in one request."""
    with app.test_request_context():
        availability_cache.pin_version(SLUG)
        centre, service = _objects()
        window = (day, day + timedelta(days=7))
        cached = cached_find_slots(centre, service, *window, now)
        fresh = availability.find_slots(centre, service, *window, now)
        return cached, fresh


def warm(app, day, now):
    """Fill the cache and check that the next search is answered from it."""
    cached, fresh = answers(app, day, now)
    assert cached == fresh
    assert cached, "the window should offer free times"
    with app.test_request_context(), counted_statements(app) as statements:
        availability_cache.pin_version(SLUG)
        centre, service = _objects()
        statements.clear()
        again = cached_find_slots(centre, service, day, day + timedelta(days=7), now)
    assert again == cached
    assert statements == []
    return cached


def _book(app, day):
    return book_through_writer(app, SLUG, "short", at(day, 10))


def write_book(app, day, prepared):
    _book(app, day)


def write_cancel(app, day, prepared):
    with app.test_request_context():
        bookings.cancel_booking(db.session.get(Booking, prepared.id), now=utcnow())


def write_move(app, day, prepared):
    with app.test_request_context():
        booking = db.session.get(Booking, prepared.id)
        bookings.reschedule_booking(booking, local(at(day, 13)), now=utcnow())


def write_hand_over(app, day, prepared):
    with app.test_request_context():
        booking = db.session.get(Booking, prepared.id)
        other = next(c for c in _counsellors() if c.id != booking.counsellor_id)
        bookings.hand_over(booking, other.id, _actor(), now=utcnow())


def write_hours(app, day, prepared):
    with app.test_request_context():
        centre, _ = _objects()
        hours = next(h for h in centre.opening_hours if h.weekday == day.weekday())
        centre_settings.update_opening_hours(
            hours,
            _actor(),
            settings_checks.WeeklyInterval(day.weekday(), time(9), time(12)),
            now=utcnow(),
        )


def write_closure(app, day, prepared):
    with app.test_request_context():
        centre, _ = _objects()
        centre_settings.add_closure(
            centre, _actor(), start_date=day, start_time=time(8), end_time=time(11), now=utcnow()
        )


def write_absence(app, day, prepared):
    with app.test_request_context():
        user = _counsellors()[0]
        start = datetime.combine(day, time(8), BERLIN)
        absences.add_absence(user, start, start + timedelta(hours=3), "", _actor(), now=utcnow())


def write_rules(app, day, prepared):
    with app.test_request_context():
        centre, _ = _objects()
        centre_settings.update_rules(
            centre,
            _actor(),
            min_notice_hours=centre.min_notice_minutes // 60,
            horizon_days=centre.horizon_days,
            slot_step_minutes=60,
            buffer_minutes=centre.buffer_minutes,
            max_active_bookings_per_email=centre.max_active_bookings_per_email,
            holiday_region=centre.holiday_region,
            now=utcnow(),
        )


def write_counsellor_services(app, day, prepared):
    with app.test_request_context():
        centre, short = _objects()
        user = _counsellors()[0]
        others = [s.id for s in user.services if s.id != short.id]
        accounts.update_staff(
            user,
            _actor(),
            name=user.name,
            languages=",".join(user.languages),
            service_ids=others,
            now=utcnow(),
        )


def write_counsellor_deactivated(app, day, prepared):
    with app.test_request_context():
        accounts.deactivate_staff(_counsellors()[1], _actor(), now=utcnow())


def write_working_hours(app, day, prepared):
    with app.test_request_context():
        accounts.add_working_hours(
            _counsellors()[0],
            _actor(),
            settings_checks.WeeklyInterval(day.weekday(), time(12), time(16)),
            now=utcnow(),
        )


def write_core_update(app, day, prepared):
    """A core UPDATE statement, not an ORM object: the statement itself is noted."""
    with app.test_request_context():
        first = _counsellors()[0]
        db.session.execute(update(User).where(User.id == first.id).values(is_active=False))
        db.session.commit()


WRITES = {
    "book": write_book,
    "cancel": write_cancel,
    "move": write_move,
    "hand_over": write_hand_over,
    "hours": write_hours,
    "closure": write_closure,
    "absence": write_absence,
    "rules": write_rules,
    "counsellor_services": write_counsellor_services,
    "counsellor_deactivated": write_counsellor_deactivated,
    "working_hours": write_working_hours,
    "core_update": write_core_update,
}
NEEDS_BOOKING = {"cancel", "move", "hand_over"}


@pytest.mark.parametrize("kind", list(WRITES))
def test_a_write_is_seen_by_the_next_search(app, centre, kind):
    day = centre
    prepared = _book(app, day) if kind in NEEDS_BOOKING else None
    now = utcnow()
    before = warm(app, day, now)
    WRITES[kind](app, day, prepared)
    cached, fresh = answers(app, day, now)
    assert cached == fresh
    assert cached != before


def test_a_write_through_another_app_is_seen(app, centre, other_app):
    day = centre
    now = utcnow()
    before = warm(app, day, now)
    assert other_app.extensions["availability_cache"] is not app.extensions["availability_cache"]
    warm(other_app, day, now)
    _book(other_app, day)
    cached, fresh = answers(app, day, now)
    assert cached == fresh
    assert cached != before
    cached, fresh = answers(other_app, day, now)
    assert cached == fresh


def test_an_answer_is_not_served_once_the_clock_passes_valid_until(app, centre):
    day = centre
    now = utcnow()
    before = warm(app, day, now)
    with app.app_context():
        centre_row, _ = _objects()
        until = availability_cache.valid_until(
            [before[0].start_at], centre_row.min_notice, centre_row.timezone, now
        )
    assert until <= before[0].start_at - timedelta(hours=24)
    # Just before valid_until the cached answer still holds, and is what a fresh one says.
    just_before = until - timedelta(microseconds=1)
    cached, fresh = answers(app, day, just_before)
    assert cached == fresh == before
    # From valid_until on the first slot is gone (or the day moved): computed anew.
    cached, fresh = answers(app, day, until)
    assert cached == fresh
    with app.app_context():
        assert app.extensions["availability_cache"].get(0, ("no such key",), until) is None


def test_valid_until_is_the_first_slot_less_notice_or_the_next_local_midnight():
    computed_at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # 11:00 in Berlin
    notice = timedelta(hours=24)
    far = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    near = datetime(2026, 3, 3, 10, 30, tzinfo=UTC)
    midnight = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # 00:00 on 3 March in Berlin
    assert availability_cache.valid_until([far], notice, "Europe/Berlin", computed_at) == midnight
    assert availability_cache.valid_until([], notice, "Europe/Berlin", computed_at) == midnight
    assert availability_cache.valid_until([near], notice, "Europe/Berlin", computed_at) == (
        near - notice
    )


def test_an_answer_is_not_served_for_an_earlier_now(app, centre):
    """Earlier, slots the notice has struck out could still be offered."""
    day = centre
    now = utcnow()
    warm(app, day, now)
    with app.app_context():
        cache = app.extensions["availability_cache"]
        version = availability_cache.read_version(db.session, SLUG)
        key = ("some", "key")
        cache.put(version, key, now, now + timedelta(hours=1), "kept")
        assert cache.get(version, key, now) == "kept"
        assert cache.get(version, key, now - timedelta(seconds=1)) is None
        assert cache.get((version[0], version[1] + 1), key, now) is None
        assert cache.get((version[0] + 1, version[1]), key, now) is None


def test_uncommitted_writes_are_neither_served_nor_cached(app, centre):
    day = centre
    now = utcnow()
    before = warm(app, day, now)
    with app.test_request_context():
        availability_cache.pin_version(SLUG)
        centre_row, service = _objects()
        first = _counsellors()[0]
        first.is_active = False
        db.session.flush()
        inside = cached_find_slots(centre_row, service, day, day + timedelta(days=7), now)
        assert inside != before
        db.session.rollback()
    cached, fresh = answers(app, day, now)
    assert cached == fresh == before


def test_the_cache_can_be_switched_off(app, centre):
    day = centre
    app.config["AVAILABILITY_CACHE"] = False
    now = utcnow()
    cached, fresh = answers(app, day, now)
    assert cached == fresh
    assert len(app.extensions["availability_cache"]) == 0


def test_the_cache_is_bounded():
    cache = availability_cache.SlotCache(size=3)
    now = datetime(2026, 3, 2, tzinfo=UTC)
    hour = now + timedelta(hours=1)
    for i in range(5):
        cache.put((1, 1), i, now, hour, i)
    assert len(cache) == 3
    assert cache.get((1, 1), 0, now) is None
    assert cache.get((1, 1), 4, now) == 4
    # Asked for at a newer version, an answer goes: it is never asked for again.
    assert cache.get((1, 2), 4, now) is None
    assert len(cache) == 2
    # An answer of an older version, come late, does not replace a newer one.
    cache.put((2, 1), "x", now, hour, "newer")
    cache.put((1, 7), "x", now, hour, "older")
    assert cache.get((2, 1), "x", now) == "newer"


def test_the_api_answers_from_the_cache_in_one_query(app, client, centre):
    day = centre
    path = f"/api/v1/centres/{SLUG}/slots?service=short&from={day}&to={day + timedelta(days=7)}"
    with counted_statements(app) as statements:
        first = client.get(path)
    assert first.status_code == 200
    assert len(statements) <= 4, statements
    with counted_statements(app) as statements:
        second = client.get(path)
    assert second.data == first.data
    assert len(statements) == 1, statements  # the version
    _book(app, day)
    _book(app, day)  # both counsellors: 10:00 is no longer offered
    third = client.get(path)
    assert third.data != first.data
    app.config["AVAILABILITY_CACHE"] = False
    assert client.get(path).data == third.data


@pytest.mark.backends("pg")
def test_a_change_committed_between_the_version_and_the_data_is_not_kept_stale(
    app, centre, other_app
):
    """PostgreSQL reads each statement at its own snapshot: the version is pinned before
    the centre is read, so an answer computed from hours read before a change committed
    is kept under the older version, and the next request (at the newer one) computes
    afresh."""
    day = centre
    now = utcnow()
    warm(app, day, now)
    with app.test_request_context():
        availability_cache.pin_version(SLUG)
        centre_row, service = _objects()  # the hours as they were
        write_hours(other_app, day, None)  # commits in its own connection, raises the version
        cached_find_slots(centre_row, service, day, day + timedelta(days=7), now)
    cached, fresh = answers(app, day, now)
    assert cached == fresh


# --- The week page and `/`, kept under the same discipline -------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The requests' clock (booking/clock.py), set by the test: ``clock.now`` (None is the
    real one)."""
    from booking import clock as request_clock

    class Clock:
        now: datetime | None = None

    clock = Clock()
    monkeypatch.setattr(request_clock, "utcnow", lambda: clock.now or utcnow())
    return clock


def week_url(day, language: str = "de") -> str:
    monday = day - timedelta(days=day.weekday())
    return f"/centres/{SLUG}/short?language={language}&week={monday.isoformat()}"


def page(app, url: str, *, cached: bool = True, lang: str = "de"):
    """The page's HTML and the statements that made it, with the cache on or off."""
    app.config["AVAILABILITY_CACHE"] = cached
    try:
        with counted_statements(app) as statements:
            response = app.test_client().get(url, headers={"Accept-Language": lang})
    finally:
        app.config["AVAILABILITY_CACHE"] = True
    assert response.status_code == 200, url
    return response.get_data(as_text=True), list(statements)


@contextmanager
def rendered(app):
    """The names of the templates rendered while the block runs."""
    names: list[str] = []

    def record(sender, template, context, **extra):
        names.append(template.name)

    template_rendered.connect(record, app)
    try:
        yield names
    finally:
        template_rendered.disconnect(record, app)


def warm_page(app, url: str) -> str:
    """Keep the page, and check that the next request is answered from the cache: the
    version read and nothing else."""
    first, _ = page(app, url)
    again, statements = page(app, url)
    assert again == first
    assert len(statements) == 1 and "availability_version" in statements[0], statements
    return first


def assert_as_fresh(app, url: str) -> str:
    served, _ = page(app, url)
    fresh, _ = page(app, url, cached=False)
    assert served == fresh
    return served


# Of the centre's two counsellors the first speaks Turkish (and German), the second Arabic
# (and German): the week page in Turkish shows the first one's free times, in Arabic the
# second one's, so that every write changes one of them (in German, the other counsellor
# often still covers a time one of them lost).
PAGE_LANGUAGES = ("tr", "ar")


def warm_pages(app, day) -> dict[str, str]:
    return {language: warm_page(app, week_url(day, language)) for language in PAGE_LANGUAGES}


def assert_pages_as_fresh(app, day, before: dict[str, str]) -> None:
    """Each page is what a fresh computation gives, and some page shows the write."""
    after = {lang: assert_as_fresh(app, week_url(day, lang)) for lang in PAGE_LANGUAGES}
    assert after != before


@pytest.mark.parametrize("kind", list(WRITES))
def test_a_write_is_seen_by_the_next_week_page(app, centre, kind, clock):
    day = centre
    clock.now = utcnow()
    prepared = _book(app, day) if kind in NEEDS_BOOKING else None
    before = warm_pages(app, day)
    WRITES[kind](app, day, prepared)
    assert_pages_as_fresh(app, day, before)


@pytest.mark.parametrize("kind", ["hours", "rules", "book"])
def test_a_write_is_seen_by_the_next_index_page(app, centre, kind, clock):
    day = centre
    clock.now = utcnow()
    before = warm_page(app, "/")
    WRITES[kind](app, day, None)
    after = assert_as_fresh(app, "/")
    if kind == "hours":
        assert after != before


def test_pages_are_kept_per_language_and_query(app, centre, clock):
    day = centre
    clock.now = utcnow()
    german = warm_page(app, week_url(day))
    turkish = warm_page(app, week_url(day) + "&lang=tr")
    assert german != turkish
    # Asked for in Turkish by the browser's language, the German page is not served.
    by_browser = page(app, week_url(day), lang="tr")[0]
    assert by_browser != german
    assert by_browser == page(app, week_url(day), cached=False, lang="tr")[0]
    later = warm_page(app, week_url(day + timedelta(days=7)))
    assert later != german
    assert warm_page(app, "/") != warm_page(app, "/?lang=ar")


def test_a_page_with_a_message_for_the_visitor_is_neither_served_nor_kept(app, centre, clock):
    day = centre
    clock.now = utcnow()
    kept = warm_page(app, week_url(day))
    client = app.test_client()
    with client.session_transaction() as session:
        session["_flashes"] = [("success", "Ihr Termin wurde abgesagt.")]
    shown = client.get(week_url(day)).get_data(as_text=True)
    assert "Ihr Termin wurde abgesagt." in shown
    # The message is shown once, and was not kept for anyone else.
    assert page(app, week_url(day))[0] == kept
    assert "Ihr Termin wurde abgesagt." not in client.get(week_url(day)).get_data(as_text=True)


def test_a_page_write_through_another_app_is_seen(app, centre, other_app, clock):
    day = centre
    clock.now = utcnow()
    before = warm_pages(app, day)
    warm_pages(other_app, day)
    _book(other_app, day)
    assert_pages_as_fresh(app, day, before)
    assert_pages_as_fresh(other_app, day, before)


def test_a_page_is_not_served_once_the_clock_passes_valid_until(app, centre, clock):
    day = centre
    clock.now = utcnow()
    before = warm_page(app, week_url(day))
    with app.app_context():
        centre_row, service = _objects()
        monday = day - timedelta(days=day.weekday())
        found = availability.find_slots(
            centre_row, service, monday, monday + timedelta(days=6), clock.now
        )
        until = availability_cache.valid_until(
            [found[0].start_at], centre_row.min_notice, centre_row.timezone, clock.now
        )
    clock.now = until - timedelta(microseconds=1)
    served, statements = page(app, week_url(day))
    assert served == before and len(statements) == 1
    assert served == page(app, week_url(day), cached=False)[0]
    clock.now = until
    served, statements = page(app, week_url(day))
    assert len(statements) > 1  # computed anew
    assert served == page(app, week_url(day), cached=False)[0]


def test_the_index_page_holds_until_the_next_local_midnight(app, centre, clock):
    clock.now = datetime(2030, 3, 4, 21, 0, tzinfo=UTC)  # 22:00 in Berlin
    before = warm_page(app, "/")
    clock.now = datetime(2030, 3, 4, 22, 59, 59, tzinfo=UTC)
    served, statements = page(app, "/")
    assert served == before and len(statements) == 1
    clock.now = datetime(2030, 3, 4, 23, 0, tzinfo=UTC)  # midnight in Berlin
    with rendered(app) as templates:
        served, statements = page(app, "/")
    assert templates == ["public/index.html"]  # computed anew (from the centres kept)
    assert served == page(app, "/", cached=False)[0]


# --- A number per centre ---------------------------------------------------------------

OTHER = "other"
# Writes that touch the centre's own row or opening hours, or a bulk statement: these raise
# the common number; every other write raises its centre's number alone.
COMMON = {"hours", "rules", "core_update"}


@pytest.mark.parametrize("kind", list(WRITES))
def test_a_write_at_one_centre_keeps_the_other_centres_answers(
    app, centre, make_centre, kind, clock
):
    day = centre
    make_centre(OTHER, counsellors=1)
    clock.now = utcnow()
    prepared = _book(app, day) if kind in NEEDS_BOOKING else None
    other_url = f"/centres/{OTHER}/short?language=de&week={day - timedelta(days=day.weekday())}"
    other_before = warm_page(app, other_url)
    before = warm_pages(app, day)
    WRITES[kind](app, day, prepared)
    assert_pages_as_fresh(app, day, before)
    served, statements = page(app, other_url)
    assert served == page(app, other_url, cached=False)[0]
    if kind in COMMON:
        assert len(statements) > 1  # computed anew
    else:
        assert served == other_before and len(statements) == 1  # still kept


def test_the_index_page_is_kept_when_a_booking_is_made(app, centre, clock):
    clock.now = utcnow()
    before = warm_page(app, "/")
    _book(app, centre)
    served, statements = page(app, "/")
    assert served == before and len(statements) == 1


def test_a_counsellor_moved_to_another_centre_changes_both(app, centre, make_centre, clock):
    day = centre
    make_centre(OTHER, counsellors=1)
    clock.now = utcnow()
    other_url = f"/centres/{OTHER}/short?language=ar&week={day - timedelta(days=day.weekday())}"
    other_before = page(app, other_url)[0]  # the language step: no one there speaks Arabic
    before = warm_pages(app, day)
    with app.test_request_context():
        other = db.session.scalar(select(Centre).where(Centre.slug == OTHER))
        other_service = db.session.scalar(
            select(Service).where(Service.centre_id == other.id, Service.slug == "short")
        )
        moved = _counsellors()[1]  # the one who speaks Arabic
        moved.centre = other
        moved.services = [other_service]
        db.session.commit()
    assert_pages_as_fresh(app, day, before)
    assert assert_as_fresh(app, other_url) != other_before


# --- Reads kept per process: centres, services, who can hold them ----------------------

KEPT_TABLES = re.compile(r"\bFROM (centre|service|staff_user|opening_hours|working_hours)\b")


def reads_of_kept_tables(statements: list[str]) -> list[str]:
    """The statements reading what is kept (the version read aside)."""
    return [s for s in statements if KEPT_TABLES.search(s) and "availability_version" not in s]


def made_from_kept_reads(app, url: str) -> str:
    """A page not kept itself (rendered anew) but made from the centre, service and
    counsellors kept under the current version: no query of theirs; and it is what a fresh
    computation gives."""
    with rendered(app) as templates:
        served, statements = page(app, url)
    assert templates, "rendered anew"
    assert not reads_of_kept_tables(statements), statements
    assert served == page(app, url, cached=False)[0]
    return served


def centre_and_api_urls(day) -> list[str]:
    return [
        f"/centres/{SLUG}",
        f"/api/v1/centres/{SLUG}/slots?service=short&from={day}&to={day + timedelta(days=2)}",
    ]


@pytest.mark.parametrize("kind", list(WRITES))
def test_a_write_is_seen_by_pages_made_from_kept_reads(app, centre, kind, clock):
    day = centre
    clock.now = utcnow()
    prepared = _book(app, day) if kind in NEEDS_BOOKING else None
    before = warm_pages(app, day)  # the reads are kept too
    for url in centre_and_api_urls(day):
        page(app, url)
    WRITES[kind](app, day, prepared)
    assert_pages_as_fresh(app, day, before)  # reads again, and keeps them
    after = {lang: made_from_kept_reads(app, week_url(day, lang) + "&v=2") for lang in before}
    assert after != before
    for url in centre_and_api_urls(day):
        if not url.startswith("/api/"):
            # (The API's answer is kept by the range; a page it has not kept reads again.)
            assert_as_fresh(app, url)


@pytest.mark.parametrize("kind", ["counsellor_services", "hours", "working_hours"])
def test_reads_kept_by_one_app_follow_a_write_through_another(app, centre, other_app, kind, clock):
    day = centre
    clock.now = utcnow()
    before = warm_pages(app, day)
    WRITES[kind](other_app, day, None)
    after = {lang: assert_as_fresh(app, week_url(day, lang) + "&v=2") for lang in before}
    assert after != before
    for url in centre_and_api_urls(day):
        assert_as_fresh(app, url)


def test_kept_reads_stay_with_their_centre(app, centre, make_centre, clock):
    """A booking at another centre keeps this centre's reads; a new version of this
    centre reads them again."""
    day = centre
    make_centre(OTHER, counsellors=1)
    clock.now = utcnow()
    warm_pages(app, day)
    book_through_writer(app, OTHER, "short", at(day, 10))
    made_from_kept_reads(app, week_url(day, "tr") + "&v=2")
    _book(app, day)
    with counted_statements(app) as statements:
        app.test_client().get(week_url(day, "tr") + "&v=3")
    assert reads_of_kept_tables(statements)


def test_reads_are_not_kept_by_a_transaction_that_wrote(app, centre):
    with app.test_request_context():
        centre_row = availability.get_centre(SLUG)
        hours = centre_row.opening_hours[0]
        hours.closes = time(10, 30)
        # Not yet flushed: the read asks the database (whose autoflush sends the change).
        again = availability.get_centre(SLUG)
        assert again is centre_row
        assert availability.all_centres()  # read, not kept
        db.session.rollback()
    with app.test_request_context():
        fresh = availability.get_centre(SLUG)
        assert fresh.opening_hours[0].closes != time(10, 30)
    assert len(app.extensions["availability_reads"]) == 1  # the last read alone
