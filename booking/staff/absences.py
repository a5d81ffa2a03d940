"""Absences: counsellors record their own, admins and reception any counsellor's of their
centres (booking/access.py).

Slots disappear at once (the slot engine reads absences). Bookings that no longer fit are
listed for a person to handle: notify and cancel, or keep. Nothing is dropped silently.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from booking import absences as absence_writer
from booking import access, availability, bookings
from booking.clock import request_now
from booking.extensions import db
from booking.forms import EmptyForm
from booking.models import Absence, Centre, Service, User
from booking.staff.blueprint import bp
from booking.staff.bookings import load_booking
from booking.staff.context import (
    ROW_DECISIONS,
    acting_user,
    bulk_confirmation,
    centre_counsellors,
    centre_officers,
    pick_centre,
    posted_bulk_action,
    posted_colleagues,
    settle_flash,
    settle_one,
    staff_centres,
)
from booking.staff.forms import AbsenceForm
from booking.validation import FieldError, check_year


def _parse_local(raw: str | None, centre: Centre) -> datetime:
    """A datetime-local value ("2026-03-02T08:00") in the centre's wall time."""
    value = (raw or "").strip()
    if not value:
        raise ValueError(_("Please enter a date and time."))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise ValueError(_("Please enter a date and time such as 2026-03-02 08:00.")) from error
    if parsed.tzinfo is not None:
        raise ValueError(_("Please enter a date and time such as 2026-03-02 08:00."))
    try:
        check_year(parsed)
    except FieldError as error:
        raise ValueError(str(error)) from error
    return parsed.replace(tzinfo=ZoneInfo(centre.timezone))


def _parse_date(f, *, required: bool) -> date | None:
    """A date field's value, or None; a message next to the field when it is wrong."""
    value = (f.data or "").strip()
    if not value:
        if required:
            f.errors = [_("Please enter a date.")]
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        f.errors = [_("Please enter a date such as 2026-03-02.")]
        return None
    try:
        check_year(day)  # 9999-12-31 and a day after it would overflow
    except FieldError as error:
        f.errors = [str(error)]
        return None
    return day


def _absence_times(form: AbsenceForm, centre: Centre) -> dict[str, datetime]:
    """Whole days (first and last day) or a span of times (from, until), in wall time."""
    times: dict[str, datetime] = {}
    if (form.first_day.data or "").strip() or (form.last_day.data or "").strip():
        if (form.start.data or "").strip() or (form.end.data or "").strip():
            form.first_day.errors = [_("Please enter either whole days or times, not both.")]
            return times
        first = _parse_date(form.first_day, required=True)
        last = _parse_date(form.last_day, required=False) or first
        if first is None or form.last_day.errors:
            return times
        if last < first:
            form.last_day.errors = [_("The last day must not be before the first day.")]
            return times
        times["start"] = centre.local_midnight(first)
        times["end"] = centre.local_midnight(last + timedelta(days=1))
        return times
    for name in ("start", "end"):
        try:
            times[name] = _parse_local(form[name].data, centre)
        except ValueError as error:
            form[name].errors = [str(error)]
    return times


def _managed_counsellors(user: User, centre: Centre) -> list[User]:
    if access.runs_centre_absences(user):
        # Officers too: their absence puts their joint appointments on the list.
        return centre_counsellors(centre) + centre_officers(centre)
    return [user]


def _back(centre: Centre, centres: list[Centre]):
    args = {"centre": centre.slug} if len(centres) > 1 else {}
    return redirect(url_for("staff.absences", **args), code=303)


@bp.route("/absences", methods=["GET", "POST"])
def absences():
    user = acting_user()
    centres = staff_centres(user)
    centre = pick_centre(centres, request.values.get("centre"))
    counsellors = _managed_counsellors(user, centre)
    form = AbsenceForm()
    form.counsellor.choices = [(str(c.id), c.name) for c in counsellors]
    status = 200
    now = request_now()

    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        wanted = form.counsellor.data if access.runs_centre_absences(user) else str(user.id)
        target = next((c for c in counsellors if str(c.id) == wanted), None)
        if target is None:
            form.counsellor.errors = [_("Please choose a counsellor.")]
        times = _absence_times(form, centre)
        repeat_until = _parse_date(form.repeat_until, required=False)
        if target is not None and len(times) == 2 and not form.repeat_until.errors:
            try:
                absence_writer.add_absence(
                    target,
                    times["start"],
                    times["end"],
                    form.note.data or "",
                    user,
                    now=now,
                    repeat_until=repeat_until,
                )
            except absence_writer.AbsenceInvalid as error:
                form[error.field].errors = [str(error)]
            else:
                flash(_("The absence is saved; its times are no longer offered."), "success")
                if repeat_until is not None:
                    flash(_("It repeats every week until the date given."), "success")
                return _back(centre, centres)
        status = 422

    ids = [c.id for c in counsellors]
    upcoming = db.session.scalars(
        select(Absence)
        .where(Absence.user_id.in_(ids), Absence.end_at > now)
        .options(selectinload(Absence.user))
        .order_by(Absence.start_at, Absence.id)
    ).all()
    # Every service of the centre in the session at once: the list below reads them all.
    centre_services = db.session.scalars(select(Service).where(Service.centre_id == centre.id))
    conflicts = [
        (b, reasons)
        for b, reasons in availability.bookings_needing_attention(
            centre, now, counsellor_id=None if access.runs_centre_absences(user) else user.id
        )
        if access.can_change(user, b)
    ]
    return (
        render_template(
            "staff/absences.html",
            centre=centre,
            centres=centres,
            form=form,
            for_centre=access.runs_centre_absences(user),
            absences=upcoming,
            conflicts=conflicts,
            select_all=request.args.get("select") == "all",
            colleagues=availability.free_colleagues([b for b, _r in conflicts], now),
            services=list(centre_services),
            empty_form=EmptyForm(),
        ),
        status,
    )


@bp.post("/absences/<int:absence_id>/delete")
def absence_delete(absence_id: int):
    user = acting_user()
    absence = access.require_absence(
        user, db.session.get(Absence, absence_id, options=[selectinload(Absence.user)])
    )
    if not EmptyForm().validate_on_submit():
        abort(400)
    centres = staff_centres(user)
    centre = pick_centre(centres, request.form.get("centre"))
    absence_writer.delete_absence(absence, user, now=request_now())
    flash(_("The absence is deleted."), "success")
    return _back(centre, centres)


@bp.post("/absences/conflicts/<int:booking_id>/<action>")
def conflict_action(booking_id: int, action: str):
    user = acting_user()
    booking = load_booking(booking_id, change=True)
    if action not in ROW_DECISIONS:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    centres = staff_centres(user)
    centre = pick_centre(centres, booking.centre.slug)
    settle_one(booking, action, user, request.form, now=request_now())
    return _back(centre, centres)


@bp.post("/absences/conflicts")
def conflicts_bulk():
    """Hand over or cancel several conflicting bookings in one POST."""
    user = acting_user()
    if not EmptyForm().validate_on_submit():
        abort(400)
    centres = staff_centres(user)
    centre = pick_centre(centres, request.form.get("centre"))
    action, ids = posted_bulk_action(request.form)
    if not ids:
        flash(_("Please select at least one appointment."), "error")
        return _back(centre, centres)
    # Every booking is checked before any is changed: one not allowed, nothing done.
    chosen = [load_booking(booking_id, change=True) for booking_id in dict.fromkeys(ids)]
    args = {"centre": centre.slug} if len(centres) > 1 else {}
    confirm = bulk_confirmation(
        action, chosen, request.form, url_for("staff.absences", **args) + "#conflicts"
    )
    if confirm is not None:
        return confirm
    done = bookings.settle_conflicts(
        chosen, action, user, now=request_now(), colleagues=posted_colleagues(request.form, ids)
    )
    settle_flash(done)
    return _back(centre, centres)
