"""Database models (SQLAlchemy 2.0). The schema itself is made only by migrations."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    and_,
    or_,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship, validates
from sqlalchemy.types import TypeDecorator

from booking.extensions import db
from booking.phones import normalised as normalised_phone


def hash_token(token: str) -> str:
    """The stored form of a manage token (the token itself is never stored)."""
    return hashlib.sha256(token.encode()).hexdigest()


ROLES = ("admin", "counsellor", "reception", "school_supervision")
# The roles an appointment can be held in (booking/slots.py names them too): a service
# needs a counsellor, and the Seiteneinsteigerberatung also a school supervision officer.
COUNSELLOR = "counsellor"
OFFICER = "school_supervision"
# The roles that hold appointments (and occupancy rows): only they may offer services and
# are booked (User.holds_appointments, can_hold); intake, hand-over and calendars list the
# counsellors among them.
HOLDING_ROLES = (COUNSELLOR, OFFICER)
INVITATION_STATUSES = ("open", "used", "expired", "withdrawn")
# "held": an online booking waiting for the family to confirm it from the mail, until
# ``hold_expires_at`` (a centre setting, off by default); "expired": not confirmed in time.
STATUSES = ("confirmed", "cancelled", "attended", "no_show", "held", "expired")
ACTIVE_STATUSES = ("confirmed", "attended", "no_show")
# Not (or not yet) an appointment: left out of reports and calendar feeds.
UNCONFIRMED_STATUSES = ("held", "expired")
CHANNELS = ("online", "phone", "walk_in")
SERVICE_FORMATS = ("in_person", "phone", "video")
OUTBOX_STATES = ("pending", "sent", "dead")
AUDIENCES = ("families", "professionals", "everyone")
EVENT_STATUSES = ("scheduled", "cancelled")
REGISTRATION_STATUSES = ("confirmed", "waiting", "cancelled")
ATTENDANCE = ("attended", "no_show")


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """An aware datetime stored in UTC; SQLite keeps it naive, PostgreSQL as timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite compares the stored text, so every value is naive UTC of one format.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class WeeklyHoursMixin:
    """A weekly interval in local wall time (0 = Monday), valid between two optional dates:
    the columns and checks opening hours and working hours share."""

    weekday: Mapped[int] = mapped_column(Integer)
    opens: Mapped[time] = mapped_column(Time)
    closes: Mapped[time] = mapped_column(Time)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return (
            CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
            CheckConstraint("opens < closes", name="opens_before_closes"),
            CheckConstraint(
                "valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until",
                name="validity",
            ),
        )

    def is_valid_on(self, day: date) -> bool:
        """Whether the interval applies on ``day`` (its validity period holds the date)."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until
        )


class Centre(db.Model):
    __tablename__ = "centre"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Where letters go (postal address) and where families go (visiting address; empty: the
    # postal one). Kreis Heinsberg: Valkenburger Str. 45 by post, Oberbrucher Str. 1 to visit.
    address: Mapped[str] = mapped_column(String(300))
    visiting_address: Mapped[str] = mapped_column(String(300), default="", server_default="")
    phone: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    holiday_region: Mapped[str] = mapped_column(String(16), default="DE-NW")
    min_notice_minutes: Mapped[int] = mapped_column(Integer, default=24 * 60)
    horizon_days: Mapped[int] = mapped_column(Integer, default=56)
    slot_step_minutes: Mapped[int] = mapped_column(Integer, default=30)
    buffer_minutes: Mapped[int] = mapped_column(Integer, default=0)
    max_active_bookings_per_email: Mapped[int] = mapped_column(Integer, default=3)
    # The legal pages (Impressum, privacy notice, accessibility statement) are filled from
    # these; empty ones are left out of the pages.
    legal_operator: Mapped[str] = mapped_column(Text, default="", server_default="")
    responsible_person: Mapped[str] = mapped_column(String(200), default="", server_default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="", server_default="")
    accessibility_contact: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # The data-protection officer's contact (Art. 13(1)(b) GDPR), named in the privacy notice.
    privacy_officer_contact: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # Off: counsellors' calendar feeds say "Beratung" and the reference, never the topic.
    feed_shows_service: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    # On: an online booking (form, API) holds its time only until the family confirms it
    # from the mail, within ``hold_minutes``; off (default): it is confirmed at once.
    hold_online_bookings: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    hold_minutes: Mapped[int] = mapped_column(Integer, default=30, server_default="30")

    opening_hours: Mapped[list[OpeningHours]] = relationship(
        back_populates="centre",
        cascade="all, delete-orphan",
        order_by="(OpeningHours.weekday, OpeningHours.opens)",
    )
    closures: Mapped[list[Closure]] = relationship(
        back_populates="centre", cascade="all, delete-orphan", order_by="Closure.start_at"
    )
    services: Mapped[list[Service]] = relationship(
        back_populates="centre", cascade="all, delete-orphan", order_by="Service.position"
    )
    staff: Mapped[list[User]] = relationship(back_populates="centre", order_by="User.name")

    __table_args__ = (
        CheckConstraint("min_notice_minutes >= 0", name="min_notice"),
        CheckConstraint("horizon_days >= 1", name="horizon"),
        CheckConstraint("slot_step_minutes BETWEEN 5 AND 240", name="slot_step"),
        CheckConstraint("buffer_minutes >= 0", name="buffer"),
        CheckConstraint("max_active_bookings_per_email >= 1", name="max_active"),
        CheckConstraint("hold_minutes BETWEEN 5 AND 1440", name="hold_minutes"),
    )

    def today(self, now: datetime) -> date:
        """The date at the centre when it is ``now``."""
        return now.astimezone(ZoneInfo(self.timezone)).date()

    def local_midnight(self, day: date) -> datetime:
        """The start of ``day`` in the centre's wall time."""
        return datetime.combine(day, datetime.min.time(), ZoneInfo(self.timezone))

    def hours_on(self, day: date) -> list[OpeningHours]:
        """The weekly opening intervals whose validity period holds ``day``."""
        return [h for h in self.opening_hours if h.is_valid_on(day)]

    @property
    def place(self) -> str:
        """Where families go: the visiting address, else the postal one."""
        return self.visiting_address or self.address

    @property
    def min_notice(self) -> timedelta:
        return timedelta(minutes=self.min_notice_minutes)

    @property
    def buffer(self) -> timedelta:
        return timedelta(minutes=self.buffer_minutes)

    @property
    def hold_for(self) -> timedelta:
        """How long an online booking waits for the family's confirmation (when held)."""
        return timedelta(minutes=self.hold_minutes)


class OpeningHours(WeeklyHoursMixin, db.Model):
    """A weekly opening interval of a centre, in its local wall time."""

    __tablename__ = "opening_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id", ondelete="CASCADE"), index=True)

    centre: Mapped[Centre] = relationship(back_populates="opening_hours")


class Closure(db.Model):
    """A time the centre is closed (a day, a range, half a day), with a reason for families."""

    __tablename__ = "closure"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id", ondelete="CASCADE"), index=True)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(300), default="")
    # The reason in further languages (code -> text); ``reason`` is the German one.
    reasons: Mapped[dict] = mapped_column(JSON, default=dict)

    centre: Mapped[Centre] = relationship(back_populates="closures")

    __table_args__ = (CheckConstraint("start_at < end_at", name="start_before_end"),)

    def reason_in(self, language: str) -> tuple[str, str]:
        """The reason in ``language`` and the language it is in (German when none given)."""
        return closure_reason_in(self.reason, self.reasons, language)


def closure_reason_in(reason: str | None, reasons: dict | None, language: str) -> tuple[str, str]:
    """A closure's reason in ``language`` when an admin gave one, else the German one; and
    the language of the text returned."""
    own = (reasons or {}).get(language)
    if own:
        return own, language
    return reason or "", "de"


counsellor_service = Table(
    "counsellor_service",
    db.Model.metadata,
    Column("user_id", ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True),
    Column("service_id", ForeignKey("service.id", ondelete="CASCADE"), primary_key=True),
)


admin_centre = Table(
    "admin_centre",
    db.Model.metadata,
    Column("user_id", ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True),
    Column("centre_id", ForeignKey("centre.id", ondelete="CASCADE"), primary_key=True),
)


# One row: a number every transaction that changes what the slot engine sees raises before
# it commits (booking/availability_cache.py), so a cached answer names the state it is from.
availability_version = Table(
    "availability_version",
    db.metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False, default=0),
)

# A number per centre, raised (or its row made) by every transaction that changes what the
# slot engine sees at that centre only: its bookings, absences, closures, services, working
# hours and counsellors. A centre's cached answers are kept under both numbers.
centre_availability_version = Table(
    "centre_availability_version",
    db.metadata,
    Column("centre_id", ForeignKey("centre.id", ondelete="CASCADE"), primary_key=True),
    Column("version", BigInteger, nullable=False, default=0),
)


def _text_in(texts: dict | None, language: str, fallback: str) -> tuple[str, str]:
    texts = texts or {}
    if texts.get(language):
        return texts[language], language
    return texts.get(fallback) or "", fallback


class Service(db.Model):
    """A kind of consultation a centre offers. ``names`` maps language code to name."""

    __tablename__ = "service"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id", ondelete="CASCADE"), index=True)
    # Part of public URLs and the API: neutral ("beratung-2"), never the topic, which is
    # confidential. The slug before the last change still finds the service (old links).
    slug: Mapped[str] = mapped_column(String(64))
    former_slug: Mapped[str | None] = mapped_column(String(64))
    names: Mapped[dict] = mapped_column(JSON, default=dict)
    duration_minutes: Mapped[int] = mapped_column(Integer)
    # None: the centre's buffer applies.
    buffer_minutes: Mapped[int | None] = mapped_column(Integer)
    online_bookable: Mapped[bool] = mapped_column(Boolean, default=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Language code -> text, like ``names``: what the consultation is about, what to bring.
    descriptions: Mapped[dict] = mapped_column(JSON, default=dict)
    what_to_bring: Mapped[dict] = mapped_column(JSON, default=dict)
    format: Mapped[str] = mapped_column(String(16), default="in_person", server_default="in_person")
    # The roles one appointment needs, one person of each at once, the counsellor first.
    roles: Mapped[list] = mapped_column(
        JSON, default=lambda: [COUNSELLOR], server_default=text("'[\"counsellor\"]'")
    )
    # Where this consultation takes place when not at the centre's visiting address.
    location: Mapped[str] = mapped_column(String(300), default="", server_default="")

    centre: Mapped[Centre] = relationship(back_populates="services")
    counsellors: Mapped[list[User]] = relationship(
        secondary=counsellor_service, back_populates="services"
    )

    __table_args__ = (
        UniqueConstraint("centre_id", "slug", name="uq_service_centre_slug"),
        CheckConstraint("duration_minutes BETWEEN 5 AND 480", name="duration"),
        CheckConstraint("buffer_minutes IS NULL OR buffer_minutes >= 0", name="buffer"),
        CheckConstraint(_in("format", SERVICE_FORMATS), name="format"),
    )

    def description_in(self, language: str, fallback: str = "de") -> str:
        """What the consultation is about, in ``language`` or ``fallback``; "" without one."""
        return self.description_with_language(language, fallback)[0]

    def what_to_bring_in(self, language: str, fallback: str = "de") -> str:
        """What to bring along, in ``language`` or ``fallback``; "" without one."""
        return self.what_to_bring_with_language(language, fallback)[0]

    def description_with_language(self, language: str, fallback: str = "de") -> tuple[str, str]:
        """The description and the language it is in (``fallback`` when none in
        ``language``), so a German text inside another language's page is marked."""
        return _text_in(self.descriptions, language, fallback)

    def what_to_bring_with_language(self, language: str, fallback: str = "de") -> tuple[str, str]:
        """What to bring, and the language it is in."""
        return _text_in(self.what_to_bring, language, fallback)

    def name_in(self, language: str, fallback: str = "de") -> str:
        """The service's name in ``language``, else in ``fallback``, else any."""
        return self.name_with_language(language, fallback)[0]

    def name_with_language(self, language: str, fallback: str = "de") -> tuple[str, str]:
        """The name and the language it is in, so that a German name inside another
        language's page is marked as German."""
        names = self.names or {}
        for code in (language, fallback, *names):
            if names.get(code):
                return names[code], code
        return self.slug, fallback

    @property
    def place(self) -> str:
        """Where families go for this consultation."""
        return self.location or self.centre.place

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def roles_needed(self) -> tuple[str, ...]:
        """The roles an appointment of this service needs, one person of each at once, the
        counsellor first (slot rule 3)."""
        return tuple(self.roles or (COUNSELLOR,))

    @property
    def is_joint(self) -> bool:
        """Held by a counsellor together with a school supervision officer."""
        return len(self.roles_needed) > 1

    @property
    def is_by_invitation(self) -> bool:
        """Booked by invitation and by staff, never from the public list (SPEC "Demo data")."""
        return OFFICER in self.roles_needed

    def buffer_for(self, centre: Centre) -> timedelta:
        minutes = centre.buffer_minutes if self.buffer_minutes is None else self.buffer_minutes
        return timedelta(minutes=minutes)


class User(db.Model):
    """A staff account: admin, counsellor or reception, bound to a centre."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    centre_id: Mapped[int | None] = mapped_column(
        ForeignKey("centre.id", ondelete="RESTRICT"), index=True
    )
    # Lower-case primary language subtags, e.g. ["de", "tr"].
    languages: Mapped[list] = mapped_column(JSON, default=list)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The hash of the secret in the counsellor's calendar subscription URL; renewable.
    feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Set when an admin chose the password: every staff page leads to the change page.
    must_change_password: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )

    centre: Mapped[Centre | None] = relationship(back_populates="staff")
    services: Mapped[list[Service]] = relationship(
        secondary=counsellor_service, back_populates="counsellors"
    )
    working_hours: Mapped[list[WorkingHours]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    absences: Mapped[list[Absence]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    # Further centres an admin manages besides ``centre``.
    extra_centres: Mapped[list[Centre]] = relationship(secondary=admin_centre)

    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    # Flask-Login asks these; the session's own token identifies it (booking/auth.py).
    session_token = None

    @property
    def is_authenticated(self) -> bool:
        return self.session_token is not None

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        return self.session_token

    @hybrid_property
    def holds_appointments(self) -> bool:
        """Whether the role holds appointments (a counsellor; never an admin or reception,
        whatever services the account was once given)."""
        return self.role in HOLDING_ROLES

    @holds_appointments.expression
    def holds_appointments(cls):
        return cls.role.in_(HOLDING_ROLES)

    @hybrid_method
    def can_hold(self, service: Service) -> bool:
        """Who can be booked for ``service``: a role it needs, and it offers the service.
        The one rule; the slot search, intake, hand-over and the service page all ask it."""
        return self.role in service.roles_needed and any(s.id == service.id for s in self.services)

    @can_hold.expression
    def can_hold(cls, service: Service):
        return and_(cls.role.in_(service.roles_needed), cls.services.any(Service.id == service.id))

    @property
    def centre_ids(self) -> set[int]:
        """The centres this account works for."""
        ids = {c.id for c in self.extra_centres} if self.role == "admin" else set()
        if self.centre_id is not None:
            ids.add(self.centre_id)
        return ids


class WorkingHours(WeeklyHoursMixin, db.Model):
    """A counsellor's own weekly working interval; without any, the centre's hours apply."""

    __tablename__ = "working_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )

    user: Mapped[User] = relationship(back_populates="working_hours")


class Absence(db.Model):
    """A time a counsellor is away (leave, training, illness)."""

    __tablename__ = "absence"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(300), default="")

    user: Mapped[User] = relationship(back_populates="absences")

    __table_args__ = (CheckConstraint("start_at < end_at", name="start_before_end"),)

    def whole_days(self, timezone: str) -> tuple[date, date] | None:
        """First and last day when the absence runs from midnight to midnight in
        ``timezone`` (entered as whole days), else None."""
        zone = ZoneInfo(timezone)
        start = self.start_at.astimezone(zone)
        end = self.end_at.astimezone(zone)
        if start.time() != time(0) or end.time() != time(0):
            return None
        return start.date(), end.date() - timedelta(days=1)


class Booking(db.Model):
    """An appointment. Times in UTC; personal fields are the minimum SPEC "Bookings" allows."""

    __tablename__ = "booking"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id", ondelete="RESTRICT"))
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="RESTRICT"))
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="RESTRICT"))
    # A joint appointment's school supervision officer (SPEC "Invitations and joint
    # appointments"); None for an appointment with a counsellor alone.
    officer_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="RESTRICT"), index=True
    )
    # The staff member who took a phone or walk-in booking; None when booked online.
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="confirmed")
    channel: Mapped[str] = mapped_column(String(16), default="online")

    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(64))
    # The phone in one form ("+492325883412", booking/phones.py) for search; set with phone.
    phone_normalised: Mapped[str | None] = mapped_column(String(32), index=True)
    language: Mapped[str | None] = mapped_column(String(35))
    interpreter_language: Mapped[str | None] = mapped_column(String(35))
    persons: Mapped[int] = mapped_column(Integer, default=1)
    message: Mapped[str | None] = mapped_column(Text)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The language of the site when booked: every mail about the booking speaks it.
    locale: Mapped[str] = mapped_column(String(16), default="de", server_default="de")
    manage_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The iCalendar SEQUENCE of the last invitation sent; raised on every move and cancel.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A held booking's time is released at this instant unless the family confirmed it.
    hold_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when staff decided to keep a booking that changed hours, closures or absences no
    # longer allow; it then leaves the list of bookings needing attention.
    kept_despite_conflict_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When name, contacts and message were erased (retention, or the family's own wish);
    # what the reports count stays.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    centre: Mapped[Centre] = relationship()
    service: Mapped[Service] = relationship()
    counsellor: Mapped[User] = relationship(foreign_keys=[counsellor_id])
    officer: Mapped[User | None] = relationship(foreign_keys=[officer_id])
    # Who the booking makes busy: kept in step by booking/occupancy.py at every flush.
    occupancies: Mapped[list[Occupancy]] = relationship(
        back_populates="booking", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        CheckConstraint("start_at < end_at", name="start_before_end"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint("persons BETWEEN 1 AND 10", name="persons"),
        Index("ix_booking_centre_start", "centre_id", "start_at"),
        Index("ix_booking_counsellor_start", "counsellor_id", "start_at"),
        Index("ix_booking_status_hold_expires", "status", "hold_expires_at"),
        # No overlap here: the booking's counsellor (and a joint appointment's officer) is busy
        # through its Occupancy row, and
        # the occupancy table carries the guarantee for every kind of commitment.
    )

    @validates("phone")
    def _keep_phone_normalised(self, _key: str, phone: str | None) -> str | None:
        self.phone_normalised = normalised_phone(phone)
        return phone

    @property
    def is_joint(self) -> bool:
        """Held by a counsellor together with a school supervision officer."""
        return self.officer_id is not None

    def holder_ids(self) -> tuple[int, ...]:
        """Everyone the appointment makes busy."""
        return (self.counsellor_id,) + ((self.officer_id,) if self.officer_id else ())

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def is_held(self) -> bool:
        """Waiting for the family's confirmation (it may have run out: ``is_hold_over``)."""
        return self.status == "held"

    def is_hold_over(self, now: datetime) -> bool:
        """Held, and not confirmed in time: its time is free for everyone."""
        return self.status == "held" and self.hold_expires_at <= now

    @hybrid_method
    def takes_time(self, now: datetime) -> bool:
        """Whether the booking holds its time at ``now``: not cancelled, not expired, and
        not a hold whose time ran out."""
        return self.status not in ("cancelled", "expired") and not self.is_hold_over(now)

    @takes_time.expression
    def takes_time(cls, now: datetime):
        return and_(
            cls.status.not_in(("cancelled", "expired")),
            or_(cls.status != "held", cls.hold_expires_at > now),
        )

    @hybrid_method
    def is_changeable(self, now: datetime) -> bool:
        """Still confirmed and not yet begun: the family or staff may move or cancel it."""
        return self.status == "confirmed" and self.start_at > now

    @is_changeable.expression
    def is_changeable(cls, now: datetime):
        """The same rule as a query condition."""
        return and_(cls.status == "confirmed", cls.start_at > now)

    def can_mark_attendance(self, now: datetime) -> bool:
        """Attendance is marked once the appointment has begun, unless it was cancelled (or
        was never confirmed)."""
        return self.status in ACTIVE_STATUSES and self.start_at <= now


class Occupancy(db.Model):
    """One staff member busy for one commitment, from ``start_at`` to ``end_at`` (UTC).

    Whatever makes a person busy has its rows here, and the slot search reads busy times
    from here only (booking/availability.py). Two active rows of one person never overlap:
    on PostgreSQL the exclusion constraint ex_occupancy_user_overlap (migration 0009) over
    (user_id, tstzrange(start_at, end_at)) of active rows; on SQLite every write transaction
    takes the write lock up front (BEGIN IMMEDIATE), booking/occupancy.py checks for an
    overlap before it writes, and uq_occupancy_user_start_active catches identical starts.

    The subject is what made the person busy: a booking today (one row per person it
    holds: its counsellor, later also a school supervision officer, in ``role``). A new
    subject joins with a nullable foreign key column of its own (e.g. ``event_id``, ON
    DELETE CASCADE), a term in ONE_SUBJECT so that exactly one subject is set, and the
    rows it makes busy in booking/occupancy.py (``SUBJECTS``); nothing else writes here.
    """

    __tablename__ = "occupancy"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="RESTRICT"))
    role: Mapped[str] = mapped_column(String(32))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean)
    # A held booking's row stops making anyone busy at this instant (the slot search reads
    # it so), before any sweep marks it inactive; None: until it is made inactive.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))

    user: Mapped[User] = relationship()
    booking: Mapped[Booking | None] = relationship(back_populates="occupancies")
    event: Mapped[Event | None] = relationship(back_populates="occupancies")

    # Exactly one subject is set: one term per subject column.
    ONE_SUBJECT = (
        "(CASE WHEN booking_id IS NULL THEN 0 ELSE 1 END)"
        " + (CASE WHEN event_id IS NULL THEN 0 ELSE 1 END) = 1"
    )

    __table_args__ = (
        CheckConstraint("start_at < end_at", name="start_before_end"),
        CheckConstraint(ONE_SUBJECT, name="one_subject"),
        # A subject holds a person once.
        UniqueConstraint("booking_id", "user_id", name="uq_occupancy_booking_user"),
        UniqueConstraint("event_id", "user_id", name="uq_occupancy_event_user"),
        Index("ix_occupancy_user_start", "user_id", "start_at"),
        Index(
            "uq_occupancy_user_start_active",
            "user_id",
            "start_at",
            unique=True,
            sqlite_where=text("is_active"),
            postgresql_where=text("is_active"),
        ),
    )


class StaffSession(db.Model):
    """A signed-in staff session; deleting the row ends it on the server."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_user.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class SignInFailure(db.Model):
    """Failed sign-ins of one key (account and address, or address alone), for throttling.

    The key is a hash: neither the e-mail address typed nor the client address is stored.
    """

    __tablename__ = "sign_in_failure"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(db.Model):
    """Who viewed or changed which booking, when. Holds no personal data of the family."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL"), index=True
    )
    # Kept as text so the entry still reads right after the account or booking is gone.
    actor_label: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(32))
    centre_id: Mapped[int | None] = mapped_column(ForeignKey("centre.id", ondelete="SET NULL"))
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking.id", ondelete="SET NULL"), index=True
    )
    booking_reference: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(300), default="")

    actor: Mapped[User | None] = relationship()


class IdempotencyKey(db.Model):
    """A repeated submission (API header or form nonce) answers with the first answer."""

    __tablename__ = "idempotency_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("booking.id", ondelete="CASCADE"))
    # The event registration a repeated registration form answers with.
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registration.id", ondelete="CASCADE")
    )
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_key_scope_key"),)


class WorkerHeartbeat(db.Model):
    """When an ``outbox work`` process (host and process id) last went round its loop;
    ``flask check`` reads whether one runs."""

    __tablename__ = "worker_heartbeat"

    worker: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FindRequest(db.Model):
    """A family's "find my booking" request, waiting for the outbox worker (find_requests.py):
    keyed hashes of what was typed, never the address or the reference itself."""

    __tablename__ = "find_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    # None when the family gave the address alone (every upcoming booking of it).
    reference_hash: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class OutboxMessage(db.Model):
    """A mail recorded in the same transaction as its cause, composed and sent after it."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One row per event: a second attempt to enqueue the same event is refused.
    event_key: Mapped[str] = mapped_column(String(120), unique=True)
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking.id", ondelete="SET NULL"), index=True
    )
    # The registration a mail is about (events); retention finds its mails through it.
    registration_id: Mapped[int | None] = mapped_column(
        ForeignKey("registration.id", ondelete="SET NULL"), index=True
    )
    # A mail about an invitation (the invitation itself, its reminder) belongs to it.
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitation.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(254))
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    # What the mail says, as the transaction saw it (notifications.py); composed into
    # ``raw`` when it is sent, then cleared. Empty ``raw`` and no snapshot: erased.
    snapshot: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    raw: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    # A mail whose kind mints its own manage link (the reminder) keeps the hash of the token
    # it was sent with: the link works beside the booking's own (bookings.find_by_token).
    link_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(_in("state", OUTBOX_STATES), name="state"),
        Index("ix_outbox_message_state_due", "state", "due_at"),
    )


event_leader = Table(
    "event_leader",
    db.Model.metadata,
    Column("event_id", ForeignKey("event.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("staff_user.id", ondelete="RESTRICT"), primary_key=True),
)


class Event(db.Model):
    """A training or an event of a centre (SPEC "Events"): seats, a waiting list, leaders.

    ``titles`` and ``descriptions`` map language code to text, German always present.
    ``confirmed_persons`` is the persons of its confirmed registrations, kept by the writer
    (booking/events.py) under the event's lock; the database refuses it above ``seats``.
    """

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id", ondelete="RESTRICT"))
    titles: Mapped[dict] = mapped_column(JSON, default=dict)
    descriptions: Mapped[dict] = mapped_column(JSON, default=dict)
    audience: Mapped[str] = mapped_column(String(16), default="everyone")
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # None: at the centre's address.
    place: Mapped[str | None] = mapped_column(String(300))
    seats: Mapped[int] = mapped_column(Integer)
    confirmed_persons: Mapped[int] = mapped_column(Integer, default=0)
    has_waiting_list: Mapped[bool] = mapped_column(Boolean, default=True)
    registration_closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Lower-case language codes the event is held in, e.g. ["de", "ar"].
    languages: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    # Events made in one step as a series share it.
    series_key: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    centre: Mapped[Centre] = relationship()
    leaders: Mapped[list[User]] = relationship(secondary=event_leader, order_by="User.name")
    # Its leaders are busy then: kept in step by booking/occupancy.py at every flush.
    occupancies: Mapped[list[Occupancy]] = relationship(
        back_populates="event", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        CheckConstraint("start_at < end_at", name="start_before_end"),
        CheckConstraint("seats BETWEEN 1 AND 500", name="seats"),
        CheckConstraint("confirmed_persons BETWEEN 0 AND seats", name="not_oversold"),
        CheckConstraint(_in("audience", AUDIENCES), name="audience"),
        CheckConstraint(_in("status", EVENT_STATUSES), name="status"),
        Index("ix_event_centre_start", "centre_id", "start_at"),
    )

    def title_in(self, language: str, fallback: str = "de") -> str:
        texts = self.titles or {}
        return texts.get(language) or texts.get(fallback) or next(iter(texts.values()), "")

    def description_in(self, language: str, fallback: str = "de") -> str:
        texts = self.descriptions or {}
        return texts.get(language) or texts.get(fallback) or ""

    def title_with_language(self, language: str, fallback: str = "de") -> tuple[str, str]:
        """The title and the language it is in (``fallback`` when none in ``language``), so
        a German title on another language's page is marked as German."""
        return _text_in(self.titles, language, fallback)

    def description_with_language(self, language: str, fallback: str = "de") -> tuple[str, str]:
        """The description and the language it is in."""
        return _text_in(self.descriptions, language, fallback)

    @property
    def is_cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def seats_left(self) -> int:
        return max(self.seats - self.confirmed_persons, 0)

    def location(self) -> str:
        """Where it takes place: its own place, else the centre's address."""
        return self.place or self.centre.address

    def is_open_for_registration(self, now: datetime) -> bool:
        """Families may still register online (staff may add people until the start)."""
        return not self.is_cancelled and now < self.registration_closes_at and now < self.start_at


class Registration(db.Model):
    """A person's registration for an event, with the persons coming along (SPEC "Events")."""

    __tablename__ = "registration"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    attendance: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16), default="online")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    # The address in lower case: the unique index compares addresses case-insensitively.
    email_key: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(64))
    organisation: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(35))
    persons: Mapped[int] = mapped_column(Integer, default=1)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locale: Mapped[str] = mapped_column(String(16), default="de")
    manage_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The iCalendar SEQUENCE of this registration's own invitation.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[Event] = relationship()

    __table_args__ = (
        CheckConstraint(_in("status", REGISTRATION_STATUSES), name="status"),
        CheckConstraint(
            "attendance IS NULL OR " + _in("attendance", ATTENDANCE), name="attendance"
        ),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint("persons BETWEEN 1 AND 10", name="persons"),
        Index("ix_registration_event_status", "event_id", "status", "id"),
        # One active registration per address and event, whatever the letters' case.
        Index(
            "uq_registration_event_email_active",
            "event_id",
            "email_key",
            unique=True,
            sqlite_where=text("status != 'cancelled' AND email_key IS NOT NULL"),
            postgresql_where=text("status != 'cancelled' AND email_key IS NOT NULL"),
        ),
    )

    @property
    def is_active(self) -> bool:
        return self.status != "cancelled"


class Invitation(db.Model):
    """An invitation to book one appointment of a service (SPEC "Invitations and joint
    appointments"): the family's contacts, their language, the case note for the counsellor
    and the officer, and a link of single use. Only the link token's hash is stored."""

    __tablename__ = "invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    centre_id: Mapped[int] = mapped_column(ForeignKey("centre.id", ondelete="RESTRICT"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(64))
    # The family's language: the page, the mails and the letter speak it.
    language: Mapped[str] = mapped_column(String(16), default="de")
    # For the counsellor and the officer: the pupil's first name, age, school form asked.
    case_note: Mapped[str | None] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_user.id", ondelete="SET NULL")
    )
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The booking made through it.
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking.id", ondelete="SET NULL"), index=True
    )
    # "Invite again": the appointment the family's new choice replaces (cancelled then).
    replaces_booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking.id", ondelete="SET NULL")
    )
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    centre: Mapped[Centre] = relationship()
    service: Mapped[Service] = relationship()
    booking: Mapped[Booking | None] = relationship(foreign_keys=[booking_id])
    replaces_booking: Mapped[Booking | None] = relationship(foreign_keys=[replaces_booking_id])
    created_by: Mapped[User | None] = relationship()

    __table_args__ = (CheckConstraint("created_at < expires_at", name="created_before_expires"),)

    def status(self, now: datetime) -> str:
        """open, used, expired or withdrawn, at ``now``."""
        if self.used_at is not None:
            return "used"
        if self.withdrawn_at is not None:
            return "withdrawn"
        if self.expires_at <= now:
            return "expired"
        return "open"

    def is_open(self, now: datetime) -> bool:
        return self.status(now) == "open"
