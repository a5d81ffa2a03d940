"""What every staff page reads from the request and the account: the acting user, their
centres and the one asked for, the day asked for, ids and colleagues posted, and the
decision on one booking needing attention and the flash message of settled conflicts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import abort, flash, render_template
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from booking import bookings
from booking.extensions import db
from booking.models import OFFICER, Booking, Centre, User
from booking.validation import FieldError, clean_day


def acting_user() -> User:
    """The signed-in account itself (not Flask-Login's proxy), for services and access."""
    return current_user._get_current_object()


def staff_centres(user: User) -> list[Centre]:
    """The centres the user works for: their own centre first, then the others by name."""
    ids = user.centre_ids
    if not ids:
        return []
    centres = db.session.scalars(
        select(Centre).where(Centre.id.in_(ids)).options(selectinload(Centre.opening_hours))
    ).all()
    return sorted(centres, key=lambda c: (c.id != user.centre_id, c.name))


def pick_centre(centres: list[Centre], slug: str | None) -> Centre:
    """The centre asked for by slug among the user's, else the first; 403 without any."""
    if not centres:
        abort(403)
    return next((c for c in centres if c.slug == slug), centres[0])


def parse_day(raw: str | None, default: date) -> date:
    """The day of a query string (YYYY-MM-DD); ``default`` when it is missing or unusable."""
    try:
        return clean_day(raw) if raw else default
    except FieldError:
        return default


def centre_officers(centre: Centre) -> list[User]:
    """The active school supervision officers of the centre, by name."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.centre_id == centre.id,
                User.role == OFFICER,
                User.is_active.is_(True),
            )
            .order_by(User.name, User.id)
        )
    )


def centre_counsellors(centre: Centre) -> list[User]:
    """The active counsellors of the centre (who hold appointments alone; the school
    supervision officers join some: centre_officers), by name."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.centre_id == centre.id,
                User.holds_appointments,
                User.role != OFFICER,
                User.is_active.is_(True),
            )
            .order_by(User.name, User.id)
        )
    )


def group_by_day(centre: Centre, items: list, key: Callable = lambda s: s.start_at) -> list:
    """``items`` (in time order) as [(local date, [items])]."""
    zone = ZoneInfo(centre.timezone)
    days: dict[date, list] = {}
    for item in items:
        days.setdefault(key(item).astimezone(zone).date(), []).append(item)
    return list(days.items())


def posted_ids(values: list[str]) -> list[int]:
    """Booking ids from a form's repeated field; anything else is left out."""
    return [int(v) for v in values if v.isdigit() and len(v) < 12]


def posted_bulk_action(form) -> tuple[str, list[int]]:
    """The action of a bulk conflict POST ("hand_over" or "cancel") and the booking ids it
    is for: the ticked rows, or every listed row for "hand_over_all"; 400 for another."""
    action = form.get("action", "")
    field = "listed" if action == "hand_over_all" else "booking"
    action = "hand_over" if action == "hand_over_all" else action
    if action not in bookings.CONFLICT_ACTIONS:
        abort(400)
    return action, posted_ids(form.getlist(field))


def bulk_confirmation(action: str, chosen: list[Booking], form, back_url: str):
    """The page that names how many appointments a bulk decision changes and how many
    families it mails, before anything happens; None once the person confirmed it."""
    if form.get("confirmed") == "yes":
        return None
    carried = [
        (name, value)
        for name, value in form.items(multi=True)
        if name not in ("csrf_token", "confirmed")
    ]
    return render_template(
        "staff/confirm_bulk.html",
        action=action,
        chosen=chosen,
        told=[b for b in chosen if b.email],
        unreachable=[b for b in chosen if not b.email],
        carried=carried,
        back_url=back_url,
    )


def posted_colleagues(form, booking_ids: list[int]) -> dict[int, int]:
    """The colleague chosen in each conflict row (field ``colleague-<booking id>``)."""
    chosen = {}
    for booking_id in booking_ids:
        raw = form.get(f"colleague-{booking_id}", "")
        if raw.isdigit() and len(raw) < 12:
            chosen[booking_id] = int(raw)
    return chosen


# What one row of the bookings needing attention can do (staff/_conflicts.html).
ROW_DECISIONS = ("hand_over", "cancel", "keep")


def settle_one(booking: Booking, action: str, actor: User, form, *, now: datetime) -> None:
    """One row's decision on a booking needing attention: hand it over to the colleague
    chosen in the row, cancel it with notice, or keep it; the outcome is flashed."""
    if action == "hand_over":
        chosen = posted_colleagues(form, [booking.id])
        if booking.id not in chosen:
            flash(_("Please choose a colleague."), "error")
        else:
            settle_flash(
                bookings.settle_conflicts([booking], action, actor, now=now, colleagues=chosen)
            )
    elif action == "keep":
        bookings.keep_despite_conflict(booking, actor, now=now)
        flash(_("Booking %(reference)s is kept.", reference=booking.reference), "success")
    else:
        try:
            cancelled = bookings.staff_cancel(
                booking, actor, now=now, reason=bookings.CONFLICT_CANCEL_REASON
            )
        except bookings.BookingNotChangeable:
            cancelled = False
        if cancelled:
            flash(
                _(
                    "Booking %(reference)s is cancelled; the family is told.",
                    reference=booking.reference,
                ),
                "success",
            )
        else:
            flash(_("This booking was already cancelled or is past."), "error")


def settle_flash(done) -> None:
    """Tell what a decision on conflicting bookings did."""
    if done.handed_over:
        flash(
            ngettext(
                "%(num)d appointment handed over to a colleague; the family has been told.",
                "%(num)d appointments handed over to colleagues; the families have been told.",
                len(done.handed_over),
            ),
            "success",
        )
    if done.cancelled:
        flash(
            ngettext(
                "%(num)d appointment cancelled; the family has been told.",
                "%(num)d appointments cancelled; the families have been told.",
                len(done.cancelled),
            ),
            "success",
        )
    if done.failed:
        flash(
            _(
                "Could not be settled (no free colleague, or already cancelled or past): "
                "%(references)s",
                references=", ".join(done.failed),
            ),
            "error",
        )
