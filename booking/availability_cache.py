"""A cache of computed free slots that stays correct across workers and hosts.

Invalidation is by a number in the database, not by messages between processes: the one
row of ``availability_version`` is raised by every transaction that changes what the slot
engine sees (busy times, absences, closures, opening and working hours, services, which
counsellors offer them and speak which languages, whether they are active, the centre's
rules), as its last statement before COMMIT, so the new number becomes visible together
with the change and no lock is held while waiting for anything else. A search reads the
number first and then looks in this process's cache under it; an answer cached under an
older number is never found again.

A centre has a number of its own too (``centre_availability_version``): a change that
touches one centre only (a busy time, an absence, a closure, a service, a counsellor and
their hours) raises that centre's number instead, so that a booking in Heinsberg keeps Herne's
answers. A change of a centre's own row or opening hours (which `/` shows for every centre),
and a bulk statement whose rows are not known, raise the common number. An answer about a
centre is kept under both numbers; `/` under the common one.

The clock invalidates too. The engine (booking/slots.py) uses ``now`` in rule 4 only:
a slot is offered when ``start >= now + min_notice`` and its local date is
``<= today + horizon``. Neither the grid (laid from each opening interval's start), nor
holidays, closures or busy times depend on ``now``. So while ``now`` grows, the answer only
loses slots starting before ``now + min_notice`` (the first day asked for narrows the same
way), and it gains days only when the centre's local date changes. An answer computed at
``computed_at`` is therefore exactly the answer for any ``now`` with
``computed_at <= now < valid_until``, where ``valid_until`` is the earlier of the first
offered slot's start minus the notice and the centre's next local midnight.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g, has_app_context
from sqlalchemy import bindparam, event, inspect, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from booking.extensions import db
from booking.models import availability_version

# The tables whose rows the slot search reads; tests/web/test_cache_coverage.py checks this
# against the tables of every statement the search executes.
AVAILABILITY_TABLES = frozenset(
    {
        "occupancy",
        "absence",
        "closure",
        "centre",
        "opening_hours",
        "service",
        "staff_user",
        "working_hours",
        "counsellor_service",
    }
)
# Of these tables' rows, only these attributes matter (a sign-in does not change any free
# time); a change of any attribute of the other tables' rows does.
RELEVANT_ATTRIBUTES = {
    "staff_user": frozenset(
        {"centre_id", "centre", "is_active", "role", "languages", "services", "working_hours"}
    ),
}
# Where a change of a row belongs: the attributes naming its centre, or its counsellor
# (whose centre is read when the change commits). A change of any other table of
# AVAILABILITY_TABLES, or of a row whose centre cannot be told, raises the common number.
CENTRE_ATTRIBUTES = {
    "closure": ("centre_id",),
    "service": ("centre_id",),
    "staff_user": ("centre_id",),
}
COUNSELLOR_ATTRIBUTES = {
    "occupancy": ("user_id",),
    "absence": ("user_id",),
    "working_hours": ("user_id",),
}
_CHANGED = "availability_changed"  # the common number
_CENTRES = "availability_centres"
_COUNSELLORS = "availability_counsellors"
_RAISED = "availability_raised"  # a number was raised by this commit
# How many answers a process keeps (an 8-week answer of 1,000 slots is ~200 KB).
DEFAULT_SIZE = 256
# How many reads of centres, services and counsellors (availability.py) a process keeps:
# a few per service of every centre of a state (54 centres, ~10 services each).
DEFAULT_READS_SIZE = 2048


def init_app(app: Flask) -> None:
    """Give the app its own cache, and hook the version bump into every session once."""
    size = int(app.config.get("AVAILABILITY_CACHE_SIZE") or DEFAULT_SIZE)
    app.extensions["availability_cache"] = SlotCache(size)
    reads = int(app.config.get("AVAILABILITY_READS_CACHE_SIZE") or DEFAULT_READS_SIZE)
    app.extensions["availability_reads"] = SlotCache(reads)
    if not event.contains(Session, "before_commit", _bump_before_commit):
        event.listen(Session, "after_flush", _note_flushed)
        event.listen(Session, "do_orm_execute", _note_statement)
        event.listen(Session, "before_commit", _bump_before_commit)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _forget)


def _is_relevant(obj, *, dirty: bool) -> bool:
    table = getattr(inspect(obj).mapper.local_table, "name", None)
    if table not in AVAILABILITY_TABLES:
        return False
    if not dirty:
        return True
    state = inspect(obj)
    # A row whose collections alone changed (a closure added to a centre) is not changed
    # itself: the rows added or removed are noted on their own. A collection through an
    # association table (a service's counsellors) has no rows of its own: it counts.
    wanted = RELEVANT_ATTRIBUTES.get(table) or [
        *(a.key for a in state.mapper.column_attrs),
        *(r.key for r in state.mapper.relationships if r.secondary is not None),
    ]
    return any(state.attrs[name].history.has_changes() for name in wanted)


def _values(obj, names: tuple[str, ...]) -> set | None:
    """The values of the attributes as flushed and before (no SQL is sent to learn them);
    None if one is unknown."""
    state = inspect(obj)
    found = set()
    for name in names:
        values = {state.dict.get(name), *state.attrs[name].history.deleted}
        if None in values:
            return None
        found |= values
    return found


def _note_change(session: Session, obj) -> None:
    """Note which number the change of ``obj`` raises: its centre's, or the common one."""
    table = inspect(obj).mapper.local_table.name
    centres = _values(obj, CENTRE_ATTRIBUTES.get(table, ()))
    counsellors = _values(obj, COUNSELLOR_ATTRIBUTES.get(table, ()))
    per_centre = table in CENTRE_ATTRIBUTES or table in COUNSELLOR_ATTRIBUTES
    if not per_centre or centres is None or counsellors is None:
        session.info[_CHANGED] = True
    else:
        session.info.setdefault(_CENTRES, set()).update(centres)
        session.info.setdefault(_COUNSELLORS, set()).update(counsellors)


def _note_flushed(session: Session, flush_context) -> None:
    # Here session.new, .dirty and .deleted still hold what this flush wrote.
    if session.info.get(_CHANGED):
        return
    for obj in (*session.new, *session.deleted):
        if _is_relevant(obj, dirty=False):
            _note_change(session, obj)
    for obj in session.dirty:
        if _is_relevant(obj, dirty=True):
            _note_change(session, obj)


def _note_statement(state) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in AVAILABILITY_TABLES:
        state.session.info[_CHANGED] = True


# The centres of the changed rows and of the changed counsellors, each number raised (its
# row made at 1 if it has none); centres in order, so two commits never wait for each other.
_RAISE_CENTRES = text(
    "INSERT INTO centre_availability_version (centre_id, version) "
    "SELECT id, 1 FROM centre WHERE id IN :centres "
    "OR id IN (SELECT centre_id FROM staff_user WHERE id IN :counsellors) "
    "ORDER BY id "
    "ON CONFLICT (centre_id) DO UPDATE "
    "SET version = centre_availability_version.version + 1"
).bindparams(bindparam("centres", expanding=True), bindparam("counsellors", expanding=True))


def _bump_before_commit(session: Session) -> None:
    # Flush first, so that the bump is the transaction's last statement before COMMIT.
    session.flush()
    centres = session.info.pop(_CENTRES, set())
    counsellors = session.info.pop(_COUNSELLORS, set())
    if session.info.pop(_CHANGED, False):
        session.execute(
            update(availability_version).values(version=availability_version.c.version + 1)
        )
        session.info[_RAISED] = True
    elif centres or counsellors:
        session.execute(
            _RAISE_CENTRES, {"centres": sorted(centres), "counsellors": sorted(counsellors)}
        )
        session.info[_RAISED] = True


def _after_commit(session: Session) -> None:
    # A request that has committed a change of availability reads the version anew: what it
    # reads from now on is newer than the version it pinned before.
    if session.info.pop(_RAISED, False) and has_app_context():
        g.pop("availability_version", None)
        g.pop("availability_slug", None)
    _forget(session)


def _forget(session: Session) -> None:
    for name in (_CHANGED, _CENTRES, _COUNSELLORS, _RAISED):
        session.info.pop(name, None)


def has_uncommitted_changes(session: Session) -> bool:
    """Whether this transaction has written availability it has not committed yet: its own
    reads then differ from what every other transaction sees, and must not be cached."""
    return any(session.info.get(name) for name in (_CHANGED, _CENTRES, _COUNSELLORS))


def read_version(session: Session, centre_slug: str | None = None) -> Version | None:
    """The committed availability version: the common number, and the number of the centre
    of this slug (0 before its first change; None when no centre is asked for or none has
    the slug). None without the common row: then nothing is cached. One statement."""
    if centre_slug is None:
        common = session.scalar(_READ_COMMON)
        return None if common is None else (common, None)
    row = session.execute(_READ_WITH_CENTRE, {"slug": centre_slug}).first()
    return None if row is None else (row[0], row[1])


# A version: the common number, and the centre's (None for answers about no one centre).
Version = tuple[int, int | None]

_READ_COMMON = select(availability_version.c.version)
_READ_WITH_CENTRE = text(
    "SELECT v.version, (SELECT COALESCE(MAX(c.version), 0) FROM centre "
    "LEFT JOIN centre_availability_version c ON c.centre_id = centre.id "
    "WHERE centre.slug = :slug) FROM availability_version v"
)


class VersionReader:
    """Connections of one engine kept for reading the version, each in autocommit.

    A warm answer costs the version read alone; through the request's session that read is
    a session, a pool checkout (with its ping), a transaction (BEGIN, on SQLite BEGIN
    IMMEDIATE, which waits for writers), the statement and a ROLLBACK. Here it is the
    statement on a connection kept open (on PostgreSQL prepared by psycopg after a few
    runs). Each read sees what is committed when it runs, in every process alike: nothing
    is shared between processes but the database.

    Used only while the request's session has no transaction under way (pin_version): then
    whatever the session reads afterwards is read after the number, as pin_version wants.
    A transaction's reads could be older than the number read here (its snapshot taken
    before), so within one the session reads the number as before.

    A connection that broke (the database restarted) is dropped and the read tried once more
    on a new one. Connections are shared by the threads of the process (each takes an idle
    one or opens one; at most IDLE are kept), closed when the engine is disposed, and not
    used after a fork (the child opens its own)."""

    IDLE = 4

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._idle: list[Connection] = []
        self._generation = 0
        self._inherited: list[Connection] = []
        event.listen(engine, "engine_disposed", self._close_idle)
        _READERS.add(self)

    def read(self, centre_slug: str | None = None) -> Version | None:
        """As read_version, on a kept connection."""
        try:
            return self._read_once(centre_slug)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
        return self._read_once(centre_slug)

    def _read_once(self, centre_slug: str | None) -> Version | None:
        generation = self._generation
        try:
            connection = self._idle.pop()
        except IndexError:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            if centre_slug is None:
                common = connection.execute(_READ_COMMON).scalar()
                version = None if common is None else (common, None)
            else:
                row = connection.execute(_READ_WITH_CENTRE, {"slug": centre_slug}).first()
                version = None if row is None else (row[0], row[1])
        except BaseException:
            connection.invalidate()
            connection.close()
            raise
        if generation == self._generation and len(self._idle) < self.IDLE:
            self._idle.append(connection)
        else:
            if generation != self._generation:
                connection.invalidate()
            connection.close()
        return version

    def _close_idle(self, engine: Engine) -> None:
        # Closed outright, not given back: the pool they came from is the one disposed.
        self._generation += 1
        while self._idle:
            connection = self._idle.pop()
            connection.invalidate()
            connection.close()

    def _forget_after_fork(self) -> None:
        # The parent's connections are the parent's: kept from the garbage collector (which
        # would end them for the parent too), never used here.
        self._inherited += self._idle
        self._idle = []
        self._generation += 1


_READERS: weakref.WeakSet[VersionReader] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for reader in list(_READERS):
        reader._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def version_reader() -> VersionReader:
    """The app's reader of the version, for its engine (made on first use)."""
    reader = current_app.extensions.get("availability_version_reader")
    engine = db.engine
    if reader is None or reader.engine is not engine:
        reader = current_app.extensions["availability_version_reader"] = VersionReader(engine)
    return reader


def valid_until(
    slot_starts: list[datetime], min_notice: timedelta, timezone: str, computed_at: datetime
) -> datetime:
    """The instant an answer computed at ``computed_at`` may change by the clock alone."""
    zone = ZoneInfo(timezone)
    today: date = computed_at.astimezone(zone).date()
    next_midnight = datetime.combine(today + timedelta(days=1), time(), zone)
    if not slot_starts:
        return next_midnight
    return min(slot_starts[0] - min_notice, next_midnight)


@dataclass(frozen=True)
class _Entry:
    version: Version
    computed_at: datetime
    valid_until: datetime
    value: object


class SlotCache:
    """A bounded, thread-safe LRU of answers by (version, key), each valid for a span of
    ``now``."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: Version, key: Hashable, now: datetime):
        """The value stored under ``key`` at ``version`` that holds at ``now``, else None.

        Versions of one key only rise (a key names one centre, or none), so an entry of an
        older version is never asked for again and goes."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.version != version or not (entry.computed_at <= now < entry.valid_until):
                if entry.version < version or (
                    entry.version == version and now >= entry.valid_until
                ):
                    del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.value

    def put(
        self, version: Version, key: Hashable, now: datetime, until: datetime, value: object
    ) -> None:
        """Keep ``value`` for ``key`` at ``version``, for ``now <= t < until``; an answer of
        an older version than the one kept (a request that began earlier) is dropped."""
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and kept.version > version:
                return
            self._entries[key] = _Entry(version, now, until, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def current_cache() -> SlotCache | None:
    """The app's cache, or None when AVAILABILITY_CACHE is off."""
    if not current_app.config.get("AVAILABILITY_CACHE", True):
        return None
    return current_app.extensions.get("availability_cache")


def pin_version(centre_slug: str | None = None) -> None:
    """Read the availability version for this request (with the number of the centre of
    ``centre_slug``, for answers about that centre), before anything a cached answer is
    computed from is read. PostgreSQL's READ COMMITTED gives each statement its own
    snapshot: a centre loaded before the version could be older than the version, and an
    answer computed from it must not be kept under that version. Read first, the version is
    never newer than the data (newer data under an older version is harmless: it is found
    only by requests that began before that change committed)."""
    if "availability_version" not in g:
        session = _request_session()
        if session is not None and session.in_transaction():
            g.availability_version = read_version(session, centre_slug)
        else:
            g.availability_version = version_reader().read(centre_slug)
        g.availability_slug = centre_slug


def _request_session() -> Session | None:
    """This request's (app context's) session, None when none has been made yet: then it
    holds nothing, and none is made only to ask it."""
    registry = db.session.registry
    return registry() if registry.has() else None


def _pinned(cache: SlotCache | None, centre_slug: str | None) -> Version | None:
    """The version to keep answers under in this request, or None for "do not cache"."""
    if cache is None:
        return None
    pin_version(centre_slug)
    session = _request_session()
    if session is not None and has_uncommitted_changes(session):
        return None
    version = g.availability_version
    if version is None or (centre_slug is not None and version[1] is None):
        return None  # pinned without the centre's number: not an answer about it
    return version


def lookup(key: Hashable, now: datetime, centre_slug: str | None = None):
    """The answer kept for ``key`` that holds at ``now`` and at this request's version (read
    here if not yet pinned), else None. An answer about one centre names its slug."""
    cache = current_cache()
    version = _pinned(cache, centre_slug)
    return None if version is None else cache.get(version, key, now)


def keep(
    key: Hashable, now: datetime, until: datetime, value: object, centre_slug: str | None = None
) -> None:
    """Keep ``value``, computed at ``now`` and holding until ``until``, for ``key``."""
    cache = current_cache()
    version = _pinned(cache, centre_slug)
    if version is not None:
        cache.put(version, key, now, until, value)


# The span of ``now`` a read kept by ``remembered`` holds for: all of it (the clock changes
# none of them).
_ALWAYS = (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))


def remembered(
    key: Hashable,
    compute: Callable[[], object],
    centre_slug: str | None = None,
    copy: Callable[[object], object] | None = None,
):
    """``compute()``, kept in this process under the availability version pinned for this
    request: the common number, and the number of the centre of ``centre_slug`` for a read
    about that centre. For reads of the tables of AVAILABILITY_TABLES that do not depend on
    the clock (centres with their hours, services, counsellors); what ``compute`` returns
    must not be changed by its callers, and it is not kept when it is None. ``copy`` makes
    what is kept of what ``compute`` returned (instances of no session); the request that
    computed it goes on with what ``compute`` returned, and only a value kept is copied.

    Computed, and not kept, when the cache is off, when this transaction has written
    availability (or holds changes not yet flushed), and when the request's version was
    pinned for another centre."""
    if not current_app.config.get("AVAILABILITY_CACHE", True):
        return compute()
    cache: SlotCache = current_app.extensions["availability_reads"]
    pin_version(centre_slug)
    version = g.availability_version
    session = _request_session()
    if version is None or (
        session is not None
        and (has_uncommitted_changes(session) or session.new or session.dirty or session.deleted)
    ):
        return compute()
    if centre_slug is None:
        version = (version[0], None)
    elif g.get("availability_slug") != centre_slug or version[1] is None:
        return compute()
    value = cache.get(version, key, _ALWAYS[0])
    if value is None:
        value = compute()
        if value is not None:
            kept = value if copy is None else copy(value)
            cache.put(version, key, _ALWAYS[0], _ALWAYS[1], kept)
    return value
