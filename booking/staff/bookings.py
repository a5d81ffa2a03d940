"""Calendars (day and week, per counsellor and for the centre) and a booking's own page:
details, move, cancel, attendance. booking/access.py decides who sees what."""

from __future__ import annotations

from datetime import date, timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from booking import access, availability, bookings, events
from booking.clock import request_now
from booking.extensions import db
from booking.forms import EmptyForm
from booking.models import OFFICER, Absence, Booking, Centre, Invitation, User
from booking.needs import Need
from booking.staff.blueprint import bp
from booking.staff.context import (
    acting_user,
    centre_counsellors,
    group_by_day,
    parse_day,
    pick_centre,
    staff_centres,
)
from booking.validation import FieldError, clean_start

VIEWS = ("day", "week")


def _absences_on(centre: Centre, absences: list[Absence], day: date) -> list[dict]:
    """The absences reaching into ``day``: who, and from when to when that day (None for
    the whole day)."""
    day_start = centre.local_midnight(day)
    day_end = centre.local_midnight(day + timedelta(days=1))
    found = []
    for absence in absences:
        if absence.start_at >= day_end or absence.end_at <= day_start:
            continue
        found.append(
            {
                "absence": absence,
                "start": absence.start_at if absence.start_at > day_start else None,
                "end": absence.end_at if absence.end_at < day_end else None,
            }
        )
    return found


@bp.get("/calendar")
def calendar():
    user = acting_user()
    centres = staff_centres(user)
    centre = pick_centre(centres, request.args.get("centre"))
    view = request.args.get("view") if request.args.get("view") in VIEWS else "day"
    day = parse_day(request.args.get("date"), centre.today(request_now()))
    first = day - timedelta(days=day.weekday()) if view == "week" else day
    length = 7 if view == "week" else 1
    with_cancelled = request.args.get("cancelled") == "1"
    now = request_now()

    # An officer sees their own joint appointments and no list of the centre's staff.
    counsellors = centre_counsellors(centre) if user.role != OFFICER else []
    raw = request.args.get("counsellor")
    if raw is None and user.holds_appointments:
        raw = str(user.id)
    chosen = next((c for c in counsellors if str(c.id) == raw), None)

    start_at = centre.local_midnight(first)
    end_at = centre.local_midnight(first + timedelta(days=length))
    query = (
        select(Booking)
        .where(
            Booking.centre_id == centre.id,
            Booking.start_at < end_at,
            Booking.end_at > start_at,
        )
        .options(selectinload(Booking.service), selectinload(Booking.counsellor))
        .order_by(Booking.start_at, Booking.id)
    )
    query = query.where(access.visible_bookings(user))
    if not with_cancelled:
        # Held bookings (awaiting the family's confirmation) are shown, marked; holds that
        # ran out are not.
        query = query.where(Booking.takes_time(now))
    if chosen is not None:
        query = query.where(Booking.counsellor_id == chosen.id)
    found = db.session.scalars(query).all()
    rows = [
        {
            "booking": b,
            "person": access.can_see_person(user, b),
            "contacts": access.can_see_contacts(user, b),
            "message": access.can_see_message(user, b),
        }
        for b in found
    ]
    by_day = dict(group_by_day(centre, rows, key=lambda r: r["booking"].start_at))
    dates = [first + timedelta(days=i) for i in range(length)]
    days = [(d, by_day.get(d, [])) for d in dates]
    # Absences of the counsellors shown, so a sick day does not read "No appointments".
    absent_ids = [chosen.id] if chosen is not None else [c.id for c in counsellors]
    away = db.session.scalars(
        select(Absence)
        .where(
            Absence.user_id.in_(absent_ids),
            Absence.start_at < end_at,
            Absence.end_at > start_at,
        )
        .options(selectinload(Absence.user))
        .order_by(Absence.start_at, Absence.id)
    ).all()
    absences_by_day = {d: _absences_on(centre, away, d) for d in dates}
    # The events the counsellor shown leads (an officer: their own), or all of the centre.
    leader = user if user.role == OFFICER else chosen
    led = events.events_between(
        [centre.id],
        start_at,
        end_at,
        leader_id=leader.id if leader is not None else None,
        include_cancelled=with_cancelled,
    )
    events_by_day = dict(group_by_day(centre, led))

    def link(**over):
        args = {
            "view": view,
            "date": day.isoformat(),
            "counsellor": str(chosen.id) if chosen else "all",
        }
        if len(centres) > 1:
            args["centre"] = centre.slug
        if with_cancelled:
            args["cancelled"] = "1"
        args.update(over)
        return url_for("staff.calendar", **args)

    step = timedelta(days=length)
    return render_template(
        "staff/calendar.html",
        centre=centre,
        centres=centres,
        view=view,
        day=day,
        days=days,
        absences_by_day=absences_by_day,
        events_by_day=events_by_day,
        counsellors=counsellors,
        chosen=chosen,
        with_cancelled=with_cancelled,
        booking_count=len(rows),
        previous_url=link(date=(day - step).isoformat()),
        next_url=link(date=(day + step).isoformat()),
        today_url=link(date=centre.today(request_now()).isoformat()),
        other_view_url=link(view="day" if view == "week" else "week"),
    )


def load_booking(booking_id: int, *, change: bool = False) -> Booking:
    """The booking, or 404 (another centre) / 403 (not allowed) via booking/access.py."""
    booking = db.session.get(
        Booking,
        booking_id,
        options=[
            selectinload(Booking.service),
            selectinload(Booking.counsellor),
            selectinload(Booking.centre),
        ],
    )
    return access.require_booking(acting_user(), booking, change=change)


@bp.get("/bookings/<int:booking_id>")
def booking_detail(booking_id: int):
    user = acting_user()
    booking = load_booking(booking_id)
    now = request_now()
    created_by = db.session.get(User, booking.created_by_id) if booking.created_by_id else None
    invitation = db.session.scalar(select(Invitation).where(Invitation.booking_id == booking.id))
    page = render_template(
        "staff/booking.html",
        booking=booking,
        invitation=invitation,
        see_case_note=invitation is not None and access.can_see_case_note(user, booking),
        see_contacts=access.can_see_contacts(user, booking),
        centre=booking.centre,
        created_by=created_by,
        see_message=access.can_see_message(user, booking),
        can_change=access.can_change(user, booking),
        is_upcoming=booking.is_changeable(now),
        is_held=booking.is_held and not booking.is_hold_over(now),
        can_mark=booking.can_mark_attendance(now),
        form=EmptyForm(),
        calendar_url=url_for(
            "staff.calendar",
            date=booking.centre.today(booking.start_at).isoformat(),
            centre=booking.centre.slug,
        ),
    )
    # Recorded once the page is made: the commit would expire what the page reads.
    bookings.record_view(user, booking, now=now)
    return page


def _give_back_hold(booking: Booking, user):
    """A held time the family has not confirmed: staff free it; the family gets no mail
    (none of its invitation went out), its confirmation link then says it is cancelled."""
    if request.form.get("confirm") != "yes":
        flash(_("Please tick the box to confirm that the time is given back."), "error")
        return _back(booking)
    bookings.staff_cancel(booking, user, now=request_now())
    flash(_("The time is free again. No e-mail was sent."), "success")
    return _back(booking)


def _back(booking: Booking):
    return redirect(url_for("staff.booking_detail", booking_id=booking.id), code=303)


@bp.route("/bookings/<int:booking_id>/move", methods=["GET", "POST"])
def booking_move(booking_id: int):
    user = acting_user()
    booking = load_booking(booking_id, change=True)
    centre = booking.centre
    now = request_now()
    if not booking.is_changeable(now):
        flash(_("This appointment can no longer be moved."), "error")
        return _back(booking)
    form = EmptyForm()
    status = 200
    error = None
    if request.method == "POST":
        if not form.validate_on_submit():
            error, status = _("The form has expired. Please try again."), 400
        else:
            try:
                start_at = clean_start(request.form.get("start"))
            except FieldError:
                error, status = _("Please choose a time."), 422
            else:
                try:
                    bookings.staff_move(booking, start_at, user, now=now)
                except bookings.SlotUnavailable:
                    error, status = _("This time was just taken. Please choose another one."), 409
                except bookings.BookingNotChangeable:
                    flash(_("This appointment can no longer be moved."), "error")
                    return _back(booking)
                else:
                    flash(_("The appointment has been moved; the family has been told."), "success")
                    return _back(booking)
        # A failed move rolled back, which expired the booking: its attributes reload.
        centre = booking.centre

    today = centre.today(now)
    first_day = max(parse_day(request.args.get("from"), today), today)
    # Offered are the times the writer accepts: staff move at any notice, and to someone
    # who meets the booking's need (its language, unless an interpreter comes).
    slots = availability.next_free_slots(
        centre,
        booking.service,
        first_day,
        now,
        need=Need.of_booking(booking),
        exclude_booking_id=booking.id,
        min_notice=availability.STAFF_MIN_NOTICE,
    )
    days = group_by_day(centre, [s for s in slots if s.start_at != booking.start_at])
    later = days[-1][0] + timedelta(days=1) if days else None
    later_url = (
        url_for("staff.booking_move", booking_id=booking.id, **{"from": later.isoformat()})
        if later
        else None
    )
    return (
        render_template(
            "staff/move.html",
            booking=booking,
            centre=centre,
            days=days,
            form=form,
            error=error,
            later_url=later_url,
        ),
        status,
    )


@bp.post("/bookings/<int:booking_id>/cancel")
def booking_cancel(booking_id: int):
    user = acting_user()
    booking = load_booking(booking_id, change=True)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if booking.is_held and not booking.is_hold_over(request_now()):
        return _give_back_hold(booking, user)
    if request.form.get("confirm") != "yes":
        # A cancellation mails the family at once: one stray click must not do it.
        flash(_("Please tick the box to confirm the cancellation."), "error")
        return _back(booking)
    asked_by = request.form.get("asked_by")
    if asked_by not in ("family", "centre"):
        # The mail says what happened: as the family asked, or the centre's apology.
        flash(_("Please say who wants the appointment cancelled."), "error")
        return _back(booking)
    try:
        cancelled = bookings.staff_cancel(
            booking, user, now=request_now(), at_family_request=asked_by == "family"
        )
    except bookings.BookingNotChangeable:
        flash(_("Only upcoming confirmed appointments can be cancelled."), "error")
        return _back(booking)
    if cancelled:
        flash(_("The appointment is cancelled; the family has been told."), "success")
    return _back(booking)


@bp.post("/bookings/<int:booking_id>/attendance")
def booking_attendance(booking_id: int):
    user = acting_user()
    booking = load_booking(booking_id, change=True)
    if not EmptyForm().validate_on_submit():
        abort(400)
    status = request.form.get("status")
    if status not in bookings.ATTENDANCE_STATUSES:
        abort(400)
    # From the day list, back to the day list (at the row); else to the booking.
    back = _back(booking)
    if request.form.get("back") == "day":
        day = booking.centre.today(booking.start_at).isoformat()
        back = redirect(
            url_for("staff.home", date=day, centre=booking.centre.slug) + f"#row-{booking.id}",
            code=303,
        )
    try:
        bookings.mark_attendance(booking, status, user, now=request_now())
    except bookings.AttendanceNotPossible:
        flash(_("Attendance can be marked only once the appointment has begun."), "error")
        return back
    flash(_("Attendance saved."), "success")
    return back
