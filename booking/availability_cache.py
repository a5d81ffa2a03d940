"""A cache of computed free slots that stays correct across workers and hosts.

Invalidation is by a number in the database, not by messages between processes: the one
row of ``availability_version`` is raised by every transaction that changes what the slot
engine sees (busy times, absences, closures, opening and working hours, services, which
counsellors offer them and speak which languages, whether they are active, the centre's
rules), as its last statement before COMMIT, so the new number becomes visible together
with the change and no lock is held while waiting for anything else. A search reads the
number first and then looks in this process's cache under it; an answer cached under an
older number is never found again.

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

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g
from sqlalchemy import event, inspect, select, update
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
_CHANGED = "availability_changed"
# How many answers a process keeps (an 8-week answer of 1,000 slots is ~200 KB).
DEFAULT_SIZE = 256


def init_app(app: Flask) -> None:
    """Give the app its own cache, and hook the version bump into every session once."""
    size = int(app.config.get("AVAILABILITY_CACHE_SIZE") or DEFAULT_SIZE)
    app.extensions["availability_cache"] = SlotCache(size)
    if not event.contains(Session, "before_commit", _bump_before_commit):
        event.listen(Session, "after_flush", _note_flushed)
        event.listen(Session, "do_orm_execute", _note_statement)
        event.listen(Session, "before_commit", _bump_before_commit)
        event.listen(Session, "after_commit", _forget)
        event.listen(Session, "after_rollback", _forget)


def _is_relevant(obj, *, dirty: bool) -> bool:
    table = getattr(inspect(obj).mapper.local_table, "name", None)
    if table not in AVAILABILITY_TABLES:
        return False
    wanted = RELEVANT_ATTRIBUTES.get(table)
    if not dirty or wanted is None:
        return True
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in wanted)


def _note_flushed(session: Session, flush_context) -> None:
    # Here session.new, .dirty and .deleted still hold what this flush wrote.
    if session.info.get(_CHANGED):
        return
    if any(_is_relevant(o, dirty=False) for o in (*session.new, *session.deleted)) or any(
        _is_relevant(o, dirty=True) for o in session.dirty
    ):
        session.info[_CHANGED] = True


def _note_statement(state) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in AVAILABILITY_TABLES:
        state.session.info[_CHANGED] = True


def _bump_before_commit(session: Session) -> None:
    # Flush first, so that the bump is the transaction's last statement before COMMIT.
    session.flush()
    if session.info.pop(_CHANGED, False):
        session.execute(
            update(availability_version).values(version=availability_version.c.version + 1)
        )


def _forget(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def has_uncommitted_changes(session: Session) -> bool:
    """Whether this transaction has written availability it has not committed yet: its own
    reads then differ from what every other transaction sees, and must not be cached."""
    return bool(session.info.get(_CHANGED))


def read_version(session: Session) -> int | None:
    """The committed availability version (None without the row: then nothing is cached)."""
    return session.scalar(select(availability_version.c.version))


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
    version: int
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
        self._version = -1

    def get(self, version: int, key: Hashable, now: datetime):
        """The value stored under ``key`` at ``version`` that holds at ``now``, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.version != version or not (entry.computed_at <= now < entry.valid_until):
                if entry.version <= version and now >= entry.valid_until:
                    del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.value

    def put(
        self, version: int, key: Hashable, now: datetime, until: datetime, value: object
    ) -> None:
        """Keep ``value`` for ``key`` at ``version``, for ``now <= t < until``."""
        with self._lock:
            if version > self._version:
                # Answers of older versions are never asked for again.
                self._entries.clear()
                self._version = version
            elif version < self._version:
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


def pin_version() -> None:
    """Read the availability version for this request, before anything a cached answer is
    computed from is read. PostgreSQL's READ COMMITTED gives each statement its own
    snapshot: a centre loaded before the version could be older than the version, and an
    answer computed from it must not be kept under that version. Read first, the version is
    never newer than the data (newer data under an older version is harmless: it is found
    only by requests that began before that change committed)."""
    if "availability_version" not in g:
        g.availability_version = read_version(db.session)


def _pinned(cache: SlotCache | None) -> int | None:
    """The version to keep answers under in this request, or None for "do not cache"."""
    if cache is None:
        return None
    pin_version()
    if has_uncommitted_changes(db.session):
        return None
    return g.availability_version


def lookup(key: Hashable, now: datetime):
    """The answer kept for ``key`` that holds at ``now`` and at this request's version (read
    here if not yet pinned), else None."""
    cache = current_cache()
    version = _pinned(cache)
    return None if version is None else cache.get(version, key, now)


def keep(key: Hashable, now: datetime, until: datetime, value: object) -> None:
    """Keep ``value``, computed at ``now`` and holding until ``until``, for ``key``."""
    cache = current_cache()
    version = _pinned(cache)
    if version is not None:
        cache.put(version, key, now, until, value)
