"""The public booking flow: details form, confirmation and manage page, cancel and move.

Views check input and show results; booking/services.py decides and writes.
A GET never changes anything (mail scanners follow links).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from booking import availability, ical, notifications, retention, services
from booking.extensions import limiter
from booking.i18n import current_language, language_name
from booking.models import Booking, Centre, Service, utcnow
from booking.public import bp
from booking.public.forms import COMMON_LANGUAGES, BookingForm, EmptyForm, MoveForm
from booking.public.views import build_week
from booking.validation import FieldError, clean_consent, clean_details, clean_start

BOOKING_LIMIT = "10 per minute;60 per hour"


def _centre_and_service(centre_slug: str, service_slug: str) -> tuple[Centre, Service]:
    centre = availability.get_centre(centre_slug)
    if centre is None:
        abort(404, description=_("No centre with this name."))
    service = availability.get_service(centre, service_slug)
    if service is None or not service.online_bookable:
        abort(404, description=_("This centre offers no service of this name."))
    return centre, service


def _language_choices() -> list[tuple[str, str]]:
    named = sorted(((code, language_name(code)) for code in COMMON_LANGUAGES), key=lambda c: c[1])
    return [("", _("No preference"))] + named


def _parse_start(raw: str | None) -> datetime | None:
    try:
        return clean_start(raw)
    except FieldError:
        return None


def _taken_page(centre: Centre, service: Service, start_at: datetime):
    nearest = services.nearest_free_slots(centre, service, start_at, utcnow())
    return (
        render_template(
            "public/taken.html",
            centre=centre,
            service=service,
            service_name=service.name_in(current_language()),
            nearest=nearest,
        ),
        409,
    )


@bp.route("/centres/<centre_slug>/<service_slug>/book", methods=["GET", "POST"])
@limiter.limit(BOOKING_LIMIT, methods=["POST"])
def book(centre_slug: str, service_slug: str):
    centre, service = _centre_and_service(centre_slug, service_slug)
    if service.slug != service_slug and request.method == "GET":  # an old link
        return redirect(
            url_for(
                "public.book", centre_slug=centre.slug, service_slug=service.slug, **request.args
            ),
            code=301,
        )
    form = BookingForm()
    form.language.choices = _language_choices()
    form.interpreter_language.choices = _language_choices()
    start_at = _parse_start(request.values.get("start"))
    if start_at is None:
        flash(_("Please choose a time first."), "error")
        return redirect(
            url_for("public.service_week", centre_slug=centre.slug, service_slug=service.slug)
        )

    if request.method == "GET":
        form.start.data = start_at.isoformat()
        form.nonce.data = secrets.token_urlsafe(24)
        if services.free_slot_at(centre, service, start_at, utcnow()) is None:
            return _taken_page(centre, service, start_at)
        return _render_form(centre, service, form, start_at)

    if not form.validate_on_submit():
        # Only the CSRF token can fail here: the fields are checked below.
        flash(_("The form has expired. Please try again."), "error")
        return _render_form(centre, service, form, start_at, status=400)
    details, errors = clean_details(request.form)
    try:
        clean_consent(request.form.get("consent"))
    except FieldError as error:
        errors["consent"] = [str(error)]
    if errors:
        for field, messages in errors.items():
            form[field].errors = list(messages)
        return _render_form(centre, service, form, start_at, status=422)

    idempotency = services.Idempotency.of_form(
        "form",
        form.nonce.data,
        centre.slug,
        service.slug,
        start_at.isoformat(),
        details.email or "",
    )
    try:
        result = services.book_slot(
            centre,
            service,
            start_at,
            details,
            now=utcnow(),
            locale=current_language(),
            idempotency=idempotency,
        )
    except services.SlotUnavailable:
        return _taken_page(centre, service, start_at)
    except services.TooManyActiveBookings:
        form.email.errors = [
            _(
                "This e-mail address already has %(count)d upcoming appointments. "
                "Please cancel one first, or call us.",
                count=centre.max_active_bookings_per_email,
            )
        ]
        return _render_form(centre, service, form, start_at, status=409)
    except services.IdempotencyMismatch:
        flash(_("The form has expired. Please try again."), "error")
        return _render_form(centre, service, form, start_at, status=400)
    if result.booking is None:
        abort(409)
    flash(_("Your appointment is booked. We have sent you a confirmation by e-mail."), "success")
    return redirect(url_for("public.manage", token=result.manage_token), code=303)


def _render_form(centre, service, form, start_at, status=200):
    return (
        render_template(
            "public/book.html",
            centre=centre,
            service=service,
            service_name=service.name_in(current_language()),
            form=form,
            start_at=start_at,
            end_at=start_at + service.duration,
            start_day=start_at.astimezone(ZoneInfo(centre.timezone)).date(),
        ),
        status,
    )


def _booking_or_404(token: str) -> Booking:
    booking = services.find_by_token(token)
    if booking is None:
        abort(404, description=_("This link is not valid. Please check your e-mail, or call us."))
    return booking


@bp.get("/b/<token>")
def manage(token: str):
    booking = _booking_or_404(token)
    now = utcnow()
    return render_template(
        "public/manage.html",
        booking=booking,
        centre=booking.centre,
        service_name=booking.service.name_in(current_language()),
        token=token,
        can_change=booking.status == "confirmed" and booking.start_at > now,
    )


@bp.get("/b/<token>/invite.ics")
def invite(token: str):
    booking = _booking_or_404(token)
    if booking.status == "cancelled":
        body = (
            ical.build_cancel(notifications.calendar_event(booking, utcnow(), None))
            if booking.email
            else b""
        )
        if not body:
            abort(404)
    else:
        body = ical.build_feed(
            [notifications.calendar_event(booking, utcnow(), None)], booking.centre.name
        )
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": 'attachment; filename="appointment.ics"'},
    )


@bp.route("/b/<token>/cancel", methods=["GET", "POST"])
@limiter.limit(BOOKING_LIMIT, methods=["POST"])
def cancel(token: str):
    booking = _booking_or_404(token)
    form = EmptyForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            services.cancel_booking(booking, now=utcnow())
        except services.BookingNotChangeable:
            flash(_("This appointment can no longer be cancelled online. Please call us."), "error")
        else:
            flash(_("Your appointment is cancelled. Thank you for letting us know."), "success")
        return redirect(url_for("public.manage", token=token), code=303)
    return render_template(
        "public/cancel.html",
        booking=booking,
        centre=booking.centre,
        form=form,
        token=token,
    )


@bp.route("/b/<token>/erase", methods=["GET", "POST"])
@limiter.limit(BOOKING_LIMIT, methods=["POST"])
def erase(token: str):
    """After cancelling, the family erases its name, contacts and message (confirm step)."""
    booking = _booking_or_404(token)
    form = EmptyForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            retention.erase_booking(booking, utcnow())
        except retention.NotErasable:
            flash(_("Please cancel the appointment first."), "error")
        else:
            flash(_("Your personal data for this appointment is erased."), "success")
        return redirect(url_for("public.manage", token=token), code=303)
    return render_template(
        "public/erase.html", booking=booking, centre=booking.centre, form=form, token=token
    )


@bp.route("/b/<token>/move", methods=["GET", "POST"])
@limiter.limit(BOOKING_LIMIT, methods=["POST"])
def move(token: str):
    booking = _booking_or_404(token)
    centre, service = booking.centre, booking.service
    now = utcnow()
    if booking.status != "confirmed" or booking.start_at <= now:
        flash(_("This appointment can no longer be changed online. Please call us."), "error")
        return redirect(url_for("public.manage", token=token), code=303)
    form = MoveForm()
    if request.method == "POST":
        start_at = _parse_start(form.start.data)
        if form.validate_on_submit() and start_at is not None:
            try:
                services.reschedule_booking(booking, start_at, now=now, manage_token=token)
            except services.SlotUnavailable:
                flash(_("This time was just taken. Please choose another one."), "error")
            else:
                flash(
                    _("Your appointment has been moved. We have sent you the new time by e-mail."),
                    "success",
                )
                return redirect(url_for("public.manage", token=token), code=303)
        else:
            flash(_("Please choose a time."), "error")

    week = build_week(
        centre,
        service,
        request.args.get("week")
        or booking.start_at.astimezone(ZoneInfo(centre.timezone)).date().isoformat(),
        language=None,
        exclude_booking_id=booking.id,
        week_url=lambda monday: url_for("public.move", token=token, week=monday.isoformat()),
    )
    return render_template(
        "public/move.html",
        booking=booking,
        form=form,
        token=token,
        **week,
    )


@bp.get("/privacy")
def privacy():
    return render_template("public/privacy.html")
