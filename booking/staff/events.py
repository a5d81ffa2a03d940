"""Staff pages of events: the registration list (print, CSV, attendance), registering a
caller, a message to all registrants, moving or cancelling an event with a preview of who
will be told. booking/events.py decides and writes."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from booking import events, reports
from booking.clock import request_now
from booking.extensions import db
from booking.forms import EmptyForm
from booking.i18n import language_name
from booking.models import Event, Registration
from booking.staff.blueprint import bp
from booking.staff.context import acting_user, staff_centres
from booking.validation import (
    FieldError,
    check_year,
    clean_day,
    clean_registration,
    clean_text,
)

MAX_MESSAGE = 2000


def _event_or_404(event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None or event.centre_id not in acting_user().centre_ids:
        abort(404)
    return event


@bp.get("/events")
def events_list():
    user = acting_user()
    centres = staff_centres(user)
    now = request_now()
    found = events.upcoming_events(
        [c.id for c in centres], now, start_from=now - timedelta(days=30), include_cancelled=True
    )
    return render_template(
        "staff/events.html",
        page_title=_("Events"),
        events=found,
        waiting=events.waiting_persons([e.id for e in found]),
    )


@bp.get("/events/<int:event_id>")
def event_registrations(event_id: int):
    event = _event_or_404(event_id)
    rows = events.registrations_of(event)
    waiting = [r.id for r in rows if r.status == "waiting"]
    return render_template(
        "staff/event.html",
        page_title=event.title_in("de"),
        event=event,
        centre=event.centre,
        rows=rows,
        positions={rid: i + 1 for i, rid in enumerate(waiting)},
        form=EmptyForm(),
        now=request_now(),
    )


@bp.get("/events/<int:event_id>/registrations.csv")
def event_registrations_csv(event_id: int):
    event = _event_or_404(event_id)
    rows = events.registrations_of(event)
    zone = ZoneInfo(event.centre.timezone)
    labels = {
        "confirmed": _("confirmed"),
        "waiting": _("waiting list"),
        "cancelled": _("cancelled"),
        "attended": _("Attended"),
        "no_show": _("Did not come"),
    }
    header = [
        _("Registration number"),
        _("Name"),
        _("Persons"),
        _("Status"),
        _("E-mail"),
        _("Phone"),
        _("Organisation"),
        _("Language"),
        _("Attendance"),
        _("Registered at"),
    ]
    body = reports.table_csv(
        header,
        [
            [
                r.reference,
                r.name,
                r.persons,
                labels[r.status],
                r.email,
                r.phone,
                r.organisation,
                language_name(r.language) if r.language else "",
                labels.get(r.attendance or "", ""),
                r.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            ]
            for r in rows
        ],
    )
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="event-{event.id}-registrations.csv"'
        },
    )


@bp.post("/events/<int:event_id>/attendance")
def event_attendance(event_id: int):
    event = _event_or_404(event_id)
    if not EmptyForm().validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return redirect(url_for("staff.event_registrations", event_id=event.id), code=303)
    registration = db.session.get(Registration, request.form.get("registration", type=int) or 0)
    value = request.form.get("attendance") or None
    if (
        registration is None
        or registration.event_id != event.id
        or value
        not in (
            None,
            "attended",
            "no_show",
        )
    ):
        abort(404)
    try:
        events.mark_attendance(registration, value, acting_user(), now=request_now())
    except events.RegistrationNotChangeable:
        flash(_("Attendance is marked for confirmed registrations only."), "error")
    else:
        flash(_("Attendance saved."), "success")
    return redirect(url_for("staff.event_registrations", event_id=event.id), code=303)


@bp.route("/events/<int:event_id>/register", methods=["GET", "POST"])
def event_register(event_id: int):
    """Register a caller (also without an e-mail address), also after registration closed."""
    event = _event_or_404(event_id)
    errors: dict[str, list[str]] = {}
    values = request.form if request.method == "POST" else {}
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            flash(_("The form has expired. Please try again."), "error")
            return redirect(url_for("staff.event_register", event_id=event.id), code=303)
        details, errors = clean_registration(request.form, email_required=False, from_form=True)
        channel = request.form.get("channel")
        if channel not in ("phone", "walk_in"):
            errors["channel"] = [_("Please choose phone or walk-in.")]
        if not errors:
            try:
                result = events.register(
                    event,
                    details,
                    now=request_now(),
                    locale=details.language if details.language in _locales() else "de",
                    channel=channel,
                    created_by=acting_user(),
                )
            except events.EventError as error:
                flash(_event_error_text(error), "error")
            else:
                registration = result.registration
                if registration.status == "confirmed":
                    flash(
                        _("Registered: %(reference)s.", reference=registration.reference),
                        "success",
                    )
                else:
                    flash(
                        _(
                            "On the waiting list at position %(position)d: %(reference)s.",
                            position=result.waiting_position,
                            reference=registration.reference,
                        ),
                        "success",
                    )
                return redirect(url_for("staff.event_registrations", event_id=event.id), code=303)
    return render_template(
        "staff/event_register.html",
        page_title=_("Register a caller"),
        event=event,
        centre=event.centre,
        values=values,
        errors=errors,
        form=EmptyForm(),
    ), (422 if errors else 200)


def _locales() -> tuple[str, ...]:
    from flask import current_app

    return tuple(current_app.config["LANGUAGES"])


def _event_error_text(error: events.EventError) -> str:
    texts = {
        events.EventFull: _("The event is full and keeps no waiting list."),
        events.RegistrationClosed: _("The event is cancelled or has begun."),
        events.AlreadyRegistered: _("This e-mail address is registered for this event already."),
        events.EventNotChangeable: _("The event is cancelled or over."),
        events.SeatsBelowConfirmed: _("More persons are confirmed than this number of seats."),
    }
    if isinstance(error, events.LeaderBusy):
        return _(
            "Not free at that time (an appointment or another event): %(names)s",
            names=", ".join(error.names),
        )
    return texts.get(type(error), _("This is not possible."))


@bp.route("/events/<int:event_id>/message", methods=["GET", "POST"])
def event_message(event_id: int):
    event = _event_or_404(event_id)
    audience = events.who_is_told(event)
    error = None
    text = ""
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            flash(_("The form has expired. Please try again."), "error")
            return redirect(url_for("staff.event_message", event_id=event.id), code=303)
        try:
            text = clean_text(
                request.form.get("message"),
                max_length=MAX_MESSAGE,
                required=True,
                multiline=True,
            )
        except FieldError as problem:
            error = str(problem)
            text = request.form.get("message", "")[:MAX_MESSAGE]
        else:
            count = events.message_registrants(event, text, acting_user(), now=request_now())
            flash(_("The message goes to %(count)d registrants.", count=count), "success")
            return redirect(url_for("staff.event_registrations", event_id=event.id), code=303)
    return render_template(
        "staff/event_message.html",
        page_title=_("Message to all registrants"),
        event=event,
        centre=event.centre,
        audience=audience,
        error=error,
        text=text,
        form=EmptyForm(),
    ), (422 if error else 200)


def parse_times(form, zone: ZoneInfo, errors: dict) -> tuple[datetime, datetime] | None:
    """The date and the start and end times of a form, as aware datetimes of the centre."""
    try:
        day = clean_day(form.get("date"))
    except FieldError as error:
        errors["date"] = [str(error)]
        day = None
    parsed = {}
    for name in ("starts", "ends"):
        raw = (form.get(name) or "").strip()
        try:
            parsed[name] = time.fromisoformat(raw) if len(raw) == 5 else None
        except ValueError:
            parsed[name] = None
        if parsed[name] is None:
            errors[name] = [_("Enter a time of the form HH:MM.")]
    if day is None or None in parsed.values():
        return None
    if parsed["ends"] <= parsed["starts"]:
        errors["ends"] = [_("The end must be after the start.")]
        return None
    check_year(day)
    return (
        datetime.combine(day, parsed["starts"], zone),
        datetime.combine(day, parsed["ends"], zone),
    )


def details_of(event: Event) -> events.EventDetails:
    """An event's details as they are, to change one part of them."""
    return events.EventDetails(
        titles=dict(event.titles),
        descriptions=dict(event.descriptions),
        audience=event.audience,
        place=event.place,
        seats=event.seats,
        has_waiting_list=event.has_waiting_list,
        closes_before=event.start_at - event.registration_closes_at,
        languages=tuple(event.languages or ()),
    )


@bp.route("/events/<int:event_id>/move", methods=["GET", "POST"])
def event_move(event_id: int):
    """Move an event: a preview of who will be told, then the change (one transaction)."""
    event = _event_or_404(event_id)
    zone = ZoneInfo(event.centre.timezone)
    errors: dict[str, list[str]] = {}
    values = (
        request.form
        if request.method == "POST"
        else {
            "date": event.start_at.astimezone(zone).date().isoformat(),
            "starts": event.start_at.astimezone(zone).strftime("%H:%M"),
            "ends": event.end_at.astimezone(zone).strftime("%H:%M"),
            "place": event.place or "",
        }
    )
    preview = None
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            flash(_("The form has expired. Please try again."), "error")
            return redirect(url_for("staff.event_move", event_id=event.id), code=303)
        times = parse_times(request.form, zone, errors)
        try:
            place = clean_text(request.form.get("place"), max_length=300)
        except FieldError as error:
            errors["place"] = [str(error)]
        if not errors and times is not None:
            if request.form.get("confirm") != "yes":
                preview = events.who_is_told(event)
            else:
                details = details_of(event)
                details = events.EventDetails(**{**details.__dict__, "place": place})
                try:
                    told = events.change_event(
                        event,
                        details,
                        times[0],
                        times[1],
                        list(event.leaders),
                        acting_user(),
                        now=request_now(),
                    )
                except events.EventError as error:
                    flash(_event_error_text(error), "error")
                else:
                    flash(
                        _("The event is moved; %(count)d registrants are told.", count=len(told)),
                        "success",
                    )
                    return redirect(
                        url_for("staff.event_registrations", event_id=event.id), code=303
                    )
    return render_template(
        "staff/event_move.html",
        page_title=_("Move the event"),
        event=event,
        centre=event.centre,
        values=values,
        errors=errors,
        preview=preview,
        form=EmptyForm(),
    ), (422 if errors else 200)


@bp.route("/events/<int:event_id>/cancel", methods=["GET", "POST"])
def event_cancel(event_id: int):
    """Cancel an event, with the reason; the page lists who will be told."""
    event = _event_or_404(event_id)
    error = None
    reason = ""
    if request.method == "POST":
        if not EmptyForm().validate_on_submit():
            flash(_("The form has expired. Please try again."), "error")
            return redirect(url_for("staff.event_cancel", event_id=event.id), code=303)
        try:
            reason = clean_text(request.form.get("reason"), max_length=500, multiline=True) or ""
        except FieldError as problem:
            error = str(problem)
        else:
            try:
                told = events.cancel_event(event, reason, acting_user(), now=request_now())
            except events.EventError as problem:
                flash(_event_error_text(problem), "error")
            else:
                flash(
                    _("The event is cancelled; %(count)d registrants are told.", count=told),
                    "success",
                )
                return redirect(url_for("staff.event_registrations", event_id=event.id), code=303)
    return render_template(
        "staff/event_cancel.html",
        page_title=_("Cancel the event"),
        event=event,
        centre=event.centre,
        audience=events.who_is_told(event),
        error=error,
        reason=reason,
        form=EmptyForm(),
    ), (422 if error else 200)
