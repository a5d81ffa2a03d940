"""Read what the slot engine needs from the database, in a fixed number of queries."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Integer,
    Row,
    and_,
    bindparam,
    cast,
    inspect,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, joinedload, selectinload

from booking import availability_cache, slots
from booking.extensions import db
from booking.models import (
    Absence,
    Booking,
    Centre,
    Closure,
    Occupancy,
    Service,
    User,
    WorkingHours,
)
from booking.needs import Need


def weekly_hours(rows) -> tuple[slots.WeeklyHours, ...]:
    """Opening or working hours rows as the engine sees them."""
    return tuple(
        slots.WeeklyHours(h.weekday, h.opens, h.closes, h.valid_from, h.valid_until) for h in rows
    )


def centre_rules(
    centre: Centre,
    closures: list[Closure],
    buffer: timedelta,
    opening_hours: tuple[slots.WeeklyHours, ...] | None = None,
) -> slots.CentreRules:
    """The engine's view of a centre; ``opening_hours`` replaces its hours (for a preview)."""
    return slots.CentreRules(
        timezone=centre.timezone,
        opening_hours=weekly_hours(centre.opening_hours)
        if opening_hours is None
        else opening_hours,
        holiday_region=centre.holiday_region,
        closures=tuple(slots.Interval(c.start_at, c.end_at) for c in closures),
        min_notice=centre.min_notice,
        horizon_days=centre.horizon_days,
        slot_step_minutes=centre.slot_step_minutes,
        buffer=buffer,
    )


def _utc_window(
    centre: Centre, date_from: date, date_to: date, margin: timedelta
) -> slots.Interval:
    """The absolute span of the local dates, widened by ``margin`` on both sides."""
    zone = ZoneInfo(centre.timezone)
    start = datetime.combine(date_from, datetime.min.time(), zone) - margin
    end = datetime.combine(date_to + timedelta(days=1), datetime.min.time(), zone) + margin
    return slots.Interval(start, end)


def find_slots(
    centre: Centre,
    service: Service,
    date_from: date,
    date_to: date,
    now: datetime,
    need: Need | None = None,
    exclude_booking_id: int | None = None,
    *,
    counsellor_id: int | None = None,
    min_notice: timedelta | None = None,
) -> list[slots.Slot]:
    """Free slots of ``service`` at ``centre`` for the local dates ``date_from..date_to``
    (two queries; the arguments as for SlotSearch and its find)."""
    search = SlotSearch(
        centre,
        service,
        counsellor_id=counsellor_id,
        exclude_booking_id=exclude_booking_id,
        min_notice=min_notice,
    )
    return search.find(date_from, date_to, now, need)


def slots_valid_until(centre: Centre, found: list[slots.Slot], now: datetime) -> datetime:
    """Until when the answer ``found`` (computed at ``now``) holds by the clock, not counting
    holds that run out (SlotSearch.valid_until counts them)."""
    return availability_cache.valid_until(
        [s.start_at for s in found[:1]], centre.min_notice, centre.timezone, now
    )


class SlotSearch:
    """The free slots of one service at one centre: its counsellors read once, then for each
    window asked for one query for the busy times, absences and closures, and the engine.

    ``counsellor_id`` asks for one counsellor's times only. ``exclude_booking_id`` leaves
    one booking out of the busy times, so that a booking can be moved to a time overlapping
    its own current one; ``min_notice`` replaces the centre's (staff book at short notice:
    the minimum notice is for families online).
    """

    def __init__(
        self,
        centre: Centre,
        service: Service,
        *,
        counsellor_id: int | None = None,
        exclude_booking_id: int | None = None,
        min_notice: timedelta | None = None,
    ) -> None:
        self.centre = centre
        self.service = service
        self.exclude_booking_id = exclude_booking_id
        self.min_notice = min_notice
        self.buffer = service.buffer_for(centre)
        # Who can hold the service, kept per process under the centre's availability
        # version (their rows, services and hours raise it).
        self.counsellors: tuple[Holder, ...] = holders(centre, service, counsellor_id)
        # The closures met so far, by id: the week page shows them as notices.
        self.closures: dict[int, Row] = {}
        # The earliest start offered by any find so far: the clock changes nothing of what
        # this search has said until that start's notice has passed (see valid_until).
        self.first_start: datetime | None = None
        # The earliest end of a hold (a booking waiting for confirmation) that made someone
        # busy in an answer: from then on the time is free again, by the clock alone.
        self.first_expiry: datetime | None = None

    def find(
        self, date_from: date, date_to: date, now: datetime, need: Need | None = None
    ) -> list[slots.Slot]:
        """Free slots for the local dates ``date_from..date_to`` with someone who meets
        ``need`` (booking/needs.py); one query."""
        if not self.counsellors:
            return []
        # Bookings reaching into the window matter up to buffer + the longest appointment.
        window = _utc_window(self.centre, date_from, date_to, self.buffer + timedelta(days=1))
        ids = [c.id for c in self.counsellors]
        busy: dict[int, list[slots.Interval]] = {i: [] for i in ids}
        away: dict[int, list[slots.Interval]] = {i: [] for i in ids}
        closures = []
        for row in db.session.execute(*self._busy_times(ids, window, now)):
            interval = slots.Interval(row.start_at, row.end_at)
            if row.kind == "busy":
                busy[row.owner_id].append(interval)
                if row.expires_at is not None and (
                    self.first_expiry is None or row.expires_at < self.first_expiry
                ):
                    self.first_expiry = row.expires_at
            elif row.kind == "absence":
                away[row.owner_id].append(interval)
            else:
                closures.append(interval)
                self.closures[row.owner_id] = row
        slugs = frozenset({self.service.slug})
        engine_counsellors = [
            replace(
                c.counsellor,
                service_slugs=slugs,
                absences=tuple(away[c.id]),
                busy=tuple(busy[c.id]),
            )
            for c in self.counsellors
        ]
        rules = replace(
            centre_rules(self.centre, [], self.buffer),
            closures=tuple(closures),
            **({} if self.min_notice is None else {"min_notice": self.min_notice}),
        )
        found = slots.available_slots(
            rules,
            self.service.slug,
            self.service.duration,
            engine_counsellors,
            date_from,
            date_to,
            now,
            language=need.spoken if need is not None else None,
            roles=self.service.roles_needed,
        )
        if found and (self.first_start is None or found[0].start_at < self.first_start):
            self.first_start = found[0].start_at
        return found

    def valid_until(self, now: datetime) -> datetime:
        """Until when everything this search has answered (computed at ``now``) holds by
        the clock."""
        notice = self.centre.min_notice if self.min_notice is None else self.min_notice
        starts = [] if self.first_start is None else [self.first_start]
        until = availability_cache.valid_until(starts, notice, self.centre.timezone, now)
        return until if self.first_expiry is None else min(until, self.first_expiry)

    def _busy_times(self, ids: list[int], window: slots.Interval, now: datetime):
        """The staff's busy times (active occupancy, whatever made them busy), absences and
        the centre's closures that reach into ``window``, in one query (``BUSY_TIMES``)."""
        statement = BUSY_TIMES if self.exclude_booking_id is None else BUSY_TIMES_EXCLUDING
        return statement, {
            "ids": ids,
            "window_start": window.start_at,
            "window_end": window.end_at,
            "centre_id": self.centre.id,
            "exclude_booking_id": self.exclude_booking_id,
            "now": now,
        }


class Holder(NamedTuple):
    """A staff member who can hold a service, as a search keeps them: their id, role and
    languages, and the engine's view of them without busy times and absences."""

    id: int
    role: str
    languages: tuple[str, ...]
    counsellor: slots.Counsellor


def holders(
    centre: Centre, service: Service, counsellor_id: int | None = None
) -> tuple[Holder, ...]:
    """Who can hold ``service`` at ``centre`` (only ``counsellor_id`` when given), kept per
    process under the centre's availability version (their rows, services and hours raise
    it); one query, or none when kept. ``centre`` and ``service`` may be kept copies."""
    return availability_cache.remembered(
        ("holders", centre.id, service.id, counsellor_id),
        lambda: _holders(centre, service, counsellor_id),
        centre.slug,
    )


def _holders(centre: Centre, service: Service, counsellor_id: int | None) -> tuple[Holder, ...]:
    """The active staff of ``centre`` who can hold ``service`` (User.can_hold), by id; only
    ``counsellor_id`` when given. One query (``HOLDERS``), of rows, not instances."""
    statement = HOLDERS if counsellor_id is None else HOLDER
    rows = db.session.execute(
        statement,
        {
            "centre_id": centre.id,
            "service_id": service.id,
            "roles": list(service.roles_needed),
            "counsellor_id": counsellor_id,
        },
    )
    found: list[Holder] = []
    hours: list[slots.WeeklyHours] = []
    for row in rows:
        if not found or found[-1].id != row.id:
            if found:
                found[-1] = _with_hours(found[-1], hours)
            hours = []
            languages = tuple(row.languages or ())
            counsellor = slots.Counsellor(
                id=row.id,
                role=row.role,
                languages=frozenset(languages),
                working_hours=None,
                absences=(),
            )
            found.append(Holder(row.id, row.role, languages, counsellor))
        if row.weekday is not None:
            hours.append(
                slots.WeeklyHours(
                    row.weekday, row.opens, row.closes, row.valid_from, row.valid_until
                )
            )
    if found:
        found[-1] = _with_hours(found[-1], hours)
    return tuple(found)


def _with_hours(holder: Holder, hours: list[slots.WeeklyHours]) -> Holder:
    """``holder`` with their own working hours (none: the centre's hours apply), as
    engine_counsellor gives them."""
    if not hours:
        return holder
    return holder._replace(counsellor=replace(holder.counsellor, working_hours=tuple(hours)))


class _BoundService(NamedTuple):
    """What User.can_hold reads of a service, as parameters of a statement built once."""

    id: object
    roles_needed: object


def _holders_statement(one: bool):
    """Rows of id, role, languages and one working interval each (weekday, opens, closes,
    valid_from, valid_until; None for someone without hours of their own), by staff id, of
    the active staff of centre_id who can hold service_id (User.can_hold, with the service's
    roles); only counsellor_id's when ``one``."""
    service = _BoundService(
        bindparam("service_id", type_=Integer), bindparam("roles", expanding=True)
    )
    statement = (
        select(
            User.id,
            User.role,
            User.languages,
            WorkingHours.weekday,
            WorkingHours.opens,
            WorkingHours.closes,
            WorkingHours.valid_from,
            WorkingHours.valid_until,
        )
        .outerjoin(WorkingHours, WorkingHours.user_id == User.id)
        .where(
            User.centre_id == bindparam("centre_id", type_=Integer),
            User.is_active.is_(True),
            User.can_hold(service),
        )
        .order_by(User.id, WorkingHours.id)
    )
    if one:
        statement = statement.where(User.id == bindparam("counsellor_id", type_=Integer))
    return statement


# Built once per process, as BUSY_TIMES below.
HOLDERS = _holders_statement(one=False)
HOLDER = _holders_statement(one=True)


def _busy_times_statement(excluding: bool):
    """Rows of kind, owner_id, start_at, end_at, reason, expires_at (owner_id is the staff
    member's, or the closure's own id; expires_at a hold's end) for the parameters ids,
    window_start, window_end, centre_id, now (a hold run out by then is free) (and
    exclude_booking_id: one booking left out of the busy times, when ``excluding``)."""
    ids = bindparam("ids", expanding=True)
    window_start = bindparam("window_start", type_=Occupancy.start_at.type)
    window_end = bindparam("window_end", type_=Occupancy.end_at.type)
    now = bindparam("now", type_=Occupancy.expires_at.type)
    no_reason = cast(null(), Closure.reason.type)
    no_expiry = cast(null(), Occupancy.expires_at.type)
    busy = select(
        literal("busy").label("kind"),
        Occupancy.user_id.label("owner_id"),
        Occupancy.start_at,
        Occupancy.end_at,
        no_reason.label("reason"),
        Occupancy.expires_at,
    ).where(
        Occupancy.user_id.in_(ids),
        Occupancy.is_active.is_(True),
        or_(Occupancy.expires_at.is_(None), Occupancy.expires_at > now),
        Occupancy.start_at < window_end,
        Occupancy.end_at > window_start,
    )
    if excluding:
        busy = busy.where(
            or_(
                Occupancy.booking_id.is_(None),
                Occupancy.booking_id != bindparam("exclude_booking_id", type_=Integer),
            )
        )
    absences = select(
        literal("absence"), Absence.user_id, Absence.start_at, Absence.end_at, no_reason, no_expiry
    ).where(
        Absence.user_id.in_(ids),
        Absence.start_at < window_end,
        Absence.end_at > window_start,
    )
    closures = select(
        literal("closure"), Closure.id, Closure.start_at, Closure.end_at, Closure.reason, no_expiry
    ).where(
        Closure.centre_id == bindparam("centre_id", type_=Integer),
        Closure.start_at < window_end,
        Closure.end_at > window_start,
    )
    return union_all(busy, absences, closures)


# Built once per process: a cold slot search (the first after a write) binds its values
# instead of building the statement and its cache key again.
BUSY_TIMES = _busy_times_statement(excluding=False)
BUSY_TIMES_EXCLUDING = _busy_times_statement(excluding=True)


def closure_reasons(closure_ids: list[int]) -> dict[int, dict]:
    """The reasons of these closures in further languages (id -> {code: text})."""
    rows = db.session.execute(
        select(Closure.id, Closure.reasons).where(Closure.id.in_(closure_ids))
    ).all()
    return {closure_id: reasons or {} for closure_id, reasons in rows}


# Centres and services are kept per process under the availability version as copies that
# belong to no session (see _kept_copies), and merged into each request's session without a
# query: the request gets instances of its own, to read, change and refer to as if loaded.


def _kept_copies(objects):
    """Copies of loaded instances with what is loaded of them (their loaded relationships
    too), belonging to no session; None for None. A tuple of them for a tuple."""
    if objects is None:
        return None
    holder = Session()
    if isinstance(objects, tuple):
        copies = tuple(None if o is None else holder.merge(o, load=False) for o in objects)
    else:
        copies = holder.merge(objects, load=False)
    holder.expunge_all()
    return copies


def attached(copy):
    """The request session's instance of a kept copy: the one it has already (as fresh as
    this transaction), else the copy merged in without a query."""
    if copy is None:
        return None
    session = db.session
    found = session.identity_map.get(inspect(copy).identity_key)
    return found if found is not None else session.merge(copy, load=False)


def get_centre(slug: str) -> Centre | None:
    """A centre with its opening hours, by slug; one query, or none when kept."""
    kept = availability_cache.remembered(
        ("centre", slug), lambda: _load_centre(slug), slug, copy=_kept_copies
    )
    return attached(kept)


def _load_centre(slug: str) -> Centre | None:
    return (
        db.session.scalars(
            select(Centre).where(Centre.slug == slug).options(joinedload(Centre.opening_hours))
        )
        .unique()
        .one_or_none()
    )


def get_centre_and_service(
    centre_slug: str, service_slug: str
) -> tuple[Centre | None, Service | None]:
    """A centre with its opening hours and one of its active services, by slugs (the
    service also by its former slug, for old links); one query, or none when kept."""
    centre, service = kept_centre_and_service(centre_slug, service_slug)
    return attached(centre), attached(service)


def kept_centre_and_service(
    centre_slug: str, service_slug: str
) -> tuple[Centre | None, Service | None]:
    """As get_centre_and_service, but the copies kept, belonging to no session (to read, never
    to change; ``attached`` gives the request's own): a warm answer needs their ids and a few
    values only, not instances merged into the session.

    Kept per centre with all its active services, never per slug asked for: a slug that
    names no service (or a centre that does not exist) keeps nothing, so that requests
    for made-up names cannot push useful reads out of the bounded cache."""

    def load():
        centre, services = _load_centre_and_services(centre_slug)
        return None if centre is None else (centre, *services)

    kept = availability_cache.remembered(
        ("centre+services", centre_slug), load, centre_slug, copy=_kept_copies
    )
    if kept is None:
        return None, None
    centre, *services = kept
    # The service of this slug comes before one that had it as its former slug.
    service = next((s for s in services if s.slug == service_slug), None) or next(
        (s for s in services if s.former_slug == service_slug), None
    )
    return centre, service


def _load_centre_and_services(centre_slug: str) -> tuple[Centre | None, list[Service]]:
    rows = (
        db.session.execute(
            select(Centre, Service)
            .outerjoin(Service, and_(Service.centre_id == Centre.id, Service.is_active.is_(True)))
            .where(Centre.slug == centre_slug)
            .options(joinedload(Centre.opening_hours))
            .order_by(Service.id)
        )
        .unique()
        .all()
    )
    if not rows:
        return None, []
    return rows[0][0], [s for _, s in rows if s is not None]


def all_centres() -> list[Centre]:
    """Every centre, by name, with its opening hours loaded; one query, or none when kept
    (under the common number: a centre's row and hours raise it)."""

    def load():
        return tuple(
            db.session.scalars(
                select(Centre).options(joinedload(Centre.opening_hours)).order_by(Centre.name)
            ).unique()
        )

    kept = availability_cache.remembered(("centres",), load, copy=_kept_copies)
    return [attached(c) for c in kept]


def active_services(centre: Centre) -> list[Service]:
    """The services of the centre families and staff may book, in the centre's order; one
    query, or none when kept."""

    def load():
        return tuple(
            db.session.scalars(
                select(Service)
                .where(Service.centre_id == centre.id, Service.is_active.is_(True))
                .order_by(Service.position, Service.slug)
            )
        )

    kept = availability_cache.remembered(
        ("services", centre.id), load, centre.slug, copy=_kept_copies
    )
    return [attached(s) for s in kept]


def get_service(centre: Centre, slug: str) -> Service | None:
    """An active service of the centre, by slug, else by its former slug (old links)."""
    return db.session.scalar(
        select(Service)
        .where(
            Service.centre_id == centre.id,
            or_(Service.slug == slug, Service.former_slug == slug),
            Service.is_active.is_(True),
        )
        .order_by((Service.slug == slug).desc())
        .limit(1)
    )


def engine_counsellor(user: User, absences: list[slots.Interval]) -> slots.Counsellor:
    """A staff account as the slot engine sees it (services and bookings left out)."""
    return slots.Counsellor(
        id=user.id,
        role=user.role,
        languages=frozenset(user.languages or ()),
        working_hours=weekly_hours(user.working_hours) or None,
        absences=tuple(absences),
    )


# Why a booking needs attention besides slots.reasons_unavailable: nobody would hold it.
COUNSELLOR_INACTIVE = "counsellor_inactive"


def bookings_needing_attention(
    centre: Centre,
    now: datetime,
    counsellor_id: int | None = None,
    opening_hours: tuple[slots.WeeklyHours, ...] | None = None,
) -> list[tuple[Booking, list[str]]]:
    """Upcoming confirmed bookings that today's hours, closures or absences no longer allow,
    and those of deactivated staff; the admin's "bookings to check" and the absence page
    both list these. A joint appointment is listed when either of its two cannot hold it.

    Nothing is cancelled here: the list is for a person to hand over, notify and cancel, or
    keep. Each entry has the reasons of slots.reasons_unavailable, then COUNSELLOR_INACTIVE,
    then the officer's (OFFICER_ABSENT, OFFICER_NOT_WORKING, OFFICER_INACTIVE).
    ``counsellor_id`` asks for the bookings one person holds (as counsellor or officer);
    ``opening_hours`` asks what proposed hours would leave out, before they are saved.
    """
    query = (
        select(Booking)
        .where(
            Booking.centre_id == centre.id,
            Booking.is_changeable(now),
            Booking.kept_despite_conflict_at.is_(None),
        )
        .options(
            selectinload(Booking.counsellor).selectinload(User.working_hours),
            selectinload(Booking.officer).selectinload(User.working_hours),
            selectinload(Booking.service),
        )
        .order_by(Booking.start_at)
    )
    if counsellor_id is not None:
        query = query.where(
            or_(Booking.counsellor_id == counsellor_id, Booking.officer_id == counsellor_id)
        )
    bookings = db.session.scalars(query).all()
    if not bookings:
        return []
    last_end = max(b.end_at for b in bookings)
    closures = db.session.scalars(
        select(Closure).where(
            Closure.centre_id == centre.id, Closure.end_at > now, Closure.start_at < last_end
        )
    ).all()
    holder_ids = {i for b in bookings for i in b.holder_ids()}
    away: dict[int, list[slots.Interval]] = {i: [] for i in holder_ids}
    for user_id, start_at, end_at in db.session.execute(
        select(Absence.user_id, Absence.start_at, Absence.end_at).where(
            Absence.user_id.in_(holder_ids), Absence.end_at > now, Absence.start_at < last_end
        )
    ):
        away[user_id].append(slots.Interval(start_at, end_at))
    rules = centre_rules(centre, list(closures), centre.buffer, opening_hours)
    found = []
    for booking in bookings:
        reasons = slots.reasons_unavailable(
            rules,
            engine_counsellor(booking.counsellor, away[booking.counsellor_id]),
            booking.start_at,
            booking.end_at,
        )
        if not booking.counsellor.is_active:
            reasons = [*reasons, COUNSELLOR_INACTIVE]
        if booking.officer is not None:
            reasons += _officer_reasons(rules, booking, away[booking.officer_id])
        if reasons:
            found.append((booking, reasons))
    return found


# Why a joint appointment's officer cannot hold it.
OFFICER_ABSENT = "officer_absent"
OFFICER_NOT_WORKING = "officer_not_working"
OFFICER_INACTIVE = "officer_inactive"
_OFFICER_REASONS = {
    slots.COUNSELLOR_ABSENT: OFFICER_ABSENT,
    slots.COUNSELLOR_NOT_WORKING: OFFICER_NOT_WORKING,
}


def _officer_reasons(rules, booking: Booking, absences: list[slots.Interval]) -> list[str]:
    """The officer's own reasons (the centre's are the counsellor's already)."""
    officer = booking.officer
    checked = slots.reasons_unavailable(
        rules, engine_counsellor(officer, absences), booking.start_at, booking.end_at
    )
    reasons = [_OFFICER_REASONS[r] for r in checked if r in _OFFICER_REASONS]
    if not officer.is_active:
        reasons.append(OFFICER_INACTIVE)
    return reasons


# Staff book at any notice: the centre's minimum notice is for families online. Never in
# the past, though: the slot engine still wants start >= now.
STAFF_MIN_NOTICE = timedelta(0)


def free_colleagues(bookings: list[Booking], now: datetime) -> dict[int, list[User]]:
    """Per booking id, who it can be handed over to: the other active staff who can hold
    its service (User.can_hold), are free at the booking's very time and meet its need
    (booking/needs.py). For a joint appointment whose officer cannot hold it, the other
    officers free then instead.

    One slot search per service over the days the bookings span, whatever their number;
    one more per joint appointment (its own holders set free for the search).
    """
    found: dict[int, list[User]] = {b.id: [] for b in bookings}
    upcoming = [b for b in bookings if b.is_changeable(now)]
    if not upcoming:
        return found
    by_service: dict[int, list[Booking]] = {}
    for booking in upcoming:
        if booking.officer_id is None:
            by_service.setdefault(booking.service_id, []).append(booking)
    free_ids: dict[int, set[int]] = {}
    for group in by_service.values():
        centre, service = group[0].centre, group[0].service
        zone = ZoneInfo(centre.timezone)
        days = [b.start_at.astimezone(zone).date() for b in group]
        slot_list = find_slots(
            centre, service, min(days), max(days), now, min_notice=STAFF_MIN_NOTICE
        )
        by_start = {s.start_at: set(s.counsellor_ids) for s in slot_list}
        for booking in group:
            free_ids[booking.id] = by_start.get(booking.start_at, set()) - {booking.counsellor_id}
    for booking in upcoming:
        if booking.officer_id is not None:
            free_ids[booking.id] = _joint_replacements(booking, now)
    wanted = set().union(*free_ids.values())
    if not wanted:
        return found
    users = db.session.scalars(
        select(User).where(User.id.in_(wanted)).order_by(User.name, User.id)
    ).all()
    for booking in upcoming:
        ids = free_ids.get(booking.id, set())
        need = Need.of_booking(booking)
        # The language is the counsellor's to speak; an officer joins whatever it is.
        found[booking.id] = [
            u
            for u in users
            if u.id in ids and (u.role == slots.OFFICER or need.is_met_by(u.languages))
        ]
    return found


def _joint_replacements(booking: Booking, now: datetime) -> set[int]:
    """Who can take a joint appointment's place: officers when its officer cannot hold it
    at that time, else counsellors (besides the one holding it)."""
    day = booking.start_at.astimezone(ZoneInfo(booking.centre.timezone)).date()
    slot = next(
        (
            s
            for s in find_slots(
                booking.centre,
                booking.service,
                day,
                day,
                now,
                exclude_booking_id=booking.id,
                min_notice=STAFF_MIN_NOTICE,
            )
            if s.start_at == booking.start_at
        ),
        None,
    )
    if slot is None:
        return set()
    officers = set(slot.ids_of(slots.OFFICER))
    if booking.officer_id not in officers or not booking.officer.is_active:
        return officers - {booking.officer_id}
    return set(slot.counsellor_ids) - {booking.counsellor_id}


# How many free times the intake and the move page offer at once.
NEXT_SLOTS = 12


PARTS_OF_DAY = ("morning", "afternoon")


def part_of(local_start: datetime) -> str:
    """ "morning" for a start before 12:00 wall time, else "afternoon"."""
    return "morning" if local_start.hour < 12 else "afternoon"


def next_free_slots(
    centre: Centre,
    service: Service,
    first_day: date,
    now: datetime,
    *,
    need: Need | None = None,
    exclude_booking_id: int | None = None,
    count: int = NEXT_SLOTS,
    counsellor_id: int | None = None,
    weekday: int | None = None,
    after: datetime | None = None,
    min_notice: timedelta | None = None,
    part_of_day: str | None = None,
) -> list:
    """The first ``count`` free slots from ``first_day`` on, up to the centre's horizon;
    only one counsellor's, only on one weekday, only after ``after``, only in the morning
    (starting before 12:00) or the afternoon (from 12:00) when asked.

    Looks a week ahead first, then further: a few queries per window, whatever the count.
    """
    last_day = centre.today(now) + timedelta(days=centre.horizon_days)
    zone = ZoneInfo(centre.timezone)
    # One read of the counsellors for all the windows below.
    search = SlotSearch(
        centre, service, counsellor_id=counsellor_id, exclude_booking_id=exclude_booking_id
    )
    search.min_notice = min_notice
    found: list = []
    start = first_day
    for span in (7, 21, centre.horizon_days):
        if start > last_day or len(found) >= count:
            break
        end = min(start + timedelta(days=span - 1), last_day)
        found += [
            slot
            for slot in search.find(start, end, now, need)
            if (after is None or slot.start_at > after)
            and (weekday is None or slot.start_at.astimezone(zone).weekday() == weekday)
            and (part_of_day is None or part_of(slot.start_at.astimezone(zone)) == part_of_day)
        ]
        start = end + timedelta(days=1)
    return found[:count]


def nearest_free_slots(
    centre: Centre,
    service: Service,
    around: datetime,
    now: datetime,
    n: int = 5,
    need: Need | None = None,
):
    """The ``n`` free slots nearest to ``around`` (for "this time was just taken")."""
    zone = ZoneInfo(centre.timezone)
    day = around.astimezone(zone).date()
    found = find_slots(centre, service, day - timedelta(days=3), day + timedelta(days=7), now, need)
    return sorted(found, key=lambda s: abs((s.start_at - around).total_seconds()))[:n]
