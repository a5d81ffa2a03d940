"""Who may see and change what. Views ask here; they never decide access themselves.

- admin: every booking of their centres, with all details.
- counsellor: their own bookings with all details; other bookings of their centre only as
  busy times (service and time, no person).
- reception: every booking of their centre with name and phone, never the message.
- school supervision officer: their own joint appointments only (day list, calendar,
  feed, the appointment with the case note of its invitation); no other page and nothing
  else of the centre.

Pages: the admin blueprint is for admins; a few staff pages are for some roles only
(``PAGE_ROLES``); the blueprints' before_request ask ``may_open`` once per request.

Staff accounts: an admin changes (details, hours, password, deactivation) only accounts
whose centres are all among the admin's own; others are shown read-only.
"""

from __future__ import annotations

from flask import abort
from sqlalchemy import ColumnElement, and_, false, true

from booking.models import OFFICER, Absence, Booking, Centre, User

# Who runs absences and the bookings they conflict with: counsellors their own; admins and
# reception every counsellor's of their centres (an ill counsellor phones reception at 7:45).
ABSENCE_ROLES = frozenset({"admin", "counsellor", "reception"})
# Who enters and deletes absences of any counsellor of their centres, not only their own.
CENTRE_ABSENCE_ROLES = frozenset({"admin", "reception"})

# Pages open to some roles only, by endpoint; a whole blueprint by its name.
PAGE_ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset({"admin"}),
    "staff.audit_log": frozenset({"admin"}),
    "staff.feed": frozenset({"counsellor", OFFICER}),
    "staff.absences": ABSENCE_ROLES,
    "staff.absence_delete": ABSENCE_ROLES,
    "staff.conflict_action": ABSENCE_ROLES,
    "staff.conflicts_bulk": ABSENCE_ROLES,
}

# The only pages a school supervision officer may open: an allow-list, so that a page
# added later stays closed to them until it is meant for them.
OFFICER_PAGES = frozenset(
    {
        "staff.login",
        "staff.logout",
        "staff.change_password",
        "staff.home",
        "staff.calendar",
        "staff.feed",
        "staff.booking_detail",
    }
)

# What each role may search bookings by (the family's message never).
SEARCH_FIELDS = {
    "admin": ("reference", "name", "phone", "email"),
    "counsellor": ("reference", "name", "phone", "email"),
    "reception": ("reference", "name", "phone"),
}


def can_use_centre(user: User, centre: Centre | int) -> bool:
    centre_id = centre if isinstance(centre, int) else centre.id
    return centre_id in user.centre_ids


def may_open(user: User, endpoint: str | None) -> bool:
    """Whether the user's role may open the page at all (what it shows is decided below)."""
    if user.role == OFFICER:
        return endpoint in OFFICER_PAGES
    if endpoint is None:
        return True
    roles = PAGE_ROLES.get(endpoint) or PAGE_ROLES.get(endpoint.split(".")[0])
    return roles is None or user.role in roles


def is_admin(user: User) -> bool:
    """Admins see and run everything of their centres (every counsellor's absences, ...)."""
    return user.role == "admin"


def runs_centre_absences(user: User) -> bool:
    """Admins and reception enter and delete any counsellor's absences of their centres and
    decide every conflicting booking there; counsellors only their own."""
    return user.role in CENTRE_ABSENCE_ROLES


def can_delete_absence(user: User, absence: Absence) -> bool:
    """Counsellors their own absences, admins and reception those of their centres."""
    if absence.user.centre_id not in user.centre_ids:
        return False
    return absence.user_id == user.id or runs_centre_absences(user)


def require_absence(user: User, absence: Absence | None) -> Absence:
    """404 for an absence outside the user's centres, 403 for another's within."""
    if absence is None or absence.user.centre_id not in user.centre_ids:
        abort(404)
    if not can_delete_absence(user, absence):
        abort(403)
    return absence


def can_manage_account(admin: User, account: User) -> bool:
    """An admin changes an account only when every centre of it is one of the admin's:
    an admin of Herne alone must not lock out an admin of Herne and Heinsberg."""
    if not is_admin(admin):
        return False
    centres = account.centre_ids
    return bool(centres) and centres <= admin.centre_ids


def require_account_change(admin: User, account: User) -> User:
    """403 unless the admin may change the account."""
    if not can_manage_account(admin, account):
        abort(403)
    return account


def can_see_person(user: User, booking: Booking) -> bool:
    """Name, phone, e-mail, language and interpreter need of the family."""
    if not can_use_centre(user, booking.centre_id):
        return False
    if user.role == "counsellor":
        return booking.counsellor_id == user.id
    if user.role == OFFICER:
        return booking.officer_id == user.id
    return True


def can_see_contacts(user: User, booking: Booking) -> bool:
    """The family's phone and e-mail: for the centre's staff who see the person, never the
    officer (the centre keeps in touch with the family)."""
    return user.role != OFFICER and can_see_person(user, booking)


def is_own_joint(user: User, booking: Booking) -> bool:
    """The officer's own joint appointment."""
    return user.role == OFFICER and booking.officer_id == user.id


def can_see_case_note(user: User, booking: Booking) -> bool:
    """The invitation's case note: for the appointment's counsellor and officer, admins."""
    if not can_use_centre(user, booking.centre_id):
        return False
    return is_admin(user) or user.id in booking.holder_ids()


def can_see_message(user: User, booking: Booking) -> bool:
    """The family's message: for their counsellor and admins only."""
    if not can_use_centre(user, booking.centre_id):
        return False
    return is_admin(user) or booking.counsellor_id == user.id


def can_change(user: User, booking: Booking) -> bool:
    """Move, cancel, mark attendance (never the officer: the centre runs the calendar)."""
    return user.role != OFFICER and can_see_person(user, booking)


def require_booking(user: User, booking: Booking | None, *, change: bool = False) -> Booking:
    """404 for a booking outside the user's centres (its existence is not told), 403 within."""
    if booking is None or not can_use_centre(user, booking.centre_id):
        abort(404)
    if user.role == OFFICER and not is_own_joint(user, booking):
        abort(404)  # an officer is not told of the centre's other appointments
    allowed = can_change(user, booking) if change else can_see_person(user, booking)
    if not allowed:
        abort(403)
    return booking


def searchable_bookings(user: User) -> ColumnElement[bool]:
    """The bookings ``user`` may find by the family's details or list by day: admins and
    reception those of their centres, counsellors their own."""
    if user.role == OFFICER and user.centre_ids:
        return and_(Booking.centre_id.in_(user.centre_ids), Booking.officer_id == user.id)
    if not user.centre_ids or user.role not in SEARCH_FIELDS:
        return false()
    condition = Booking.centre_id.in_(user.centre_ids)
    if user.role == "counsellor":
        condition = and_(condition, Booking.counsellor_id == user.id)
    return condition


def search_fields(user: User) -> tuple[str, ...]:
    """The booking fields ``user`` may search by."""
    return SEARCH_FIELDS.get(user.role, ())


def visible_bookings(user: User) -> ColumnElement[bool]:
    """The bookings ``user`` sees in calendars at all (as busy times at least): an officer
    their own joint appointments, everyone else all of their centres'."""
    if user.role == OFFICER:
        return Booking.officer_id == user.id
    return true()
