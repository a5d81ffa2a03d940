"""Phone and walk-in intake: during a call, choose a service, see the next free times, book.

The list of times is a GET with centre, service and language only; the booking, with the
caller's details, is a POST. Works without JavaScript and by keyboard alone.
"""

from __future__ import annotations

import secrets

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from booking import access, services
from booking.extensions import db
from booking.i18n import language_name
from booking.models import Booking, Centre, Service, User, utcnow
from booking.public.forms import COMMON_LANGUAGES
from booking.staff import bp
from booking.staff.common import (
    acting_user,
    active_services,
    centre_today,
    group_by_day,
    next_free_slots,
    pick_centre,
    staff_centres,
)
from booking.staff.forms import IntakeForm
from booking.validation import FieldError, clean_details, clean_phone, clean_start

CHANNELS = ("phone", "walk_in")
# The session key under which the last booking's id waits for the page after the redirect.
BOOKED_KEY = "intake_booked"


def _spoken_languages(centre: Centre) -> list[str]:
    rows = db.session.scalars(
        select(User.languages).where(
            User.centre_id == centre.id, User.role == "counsellor", User.is_active.is_(True)
        )
    )
    return sorted({code for languages in rows for code in (languages or [])})


def _interpreter_choices() -> list[tuple[str, str]]:
    named = sorted(((code, language_name(code)) for code in COMMON_LANGUAGES), key=lambda c: c[1])
    return [("", _("No interpreter"))] + named


def _last_booking(user: User) -> Booking | None:
    """The booking just made in this session (shown once after the redirect)."""
    booking_id = session.pop(BOOKED_KEY, None)
    if not isinstance(booking_id, int):
        return None
    booking = db.session.get(
        Booking,
        booking_id,
        options=[selectinload(Booking.service), selectinload(Booking.counsellor)],
    )
    # Whoever took the booking reads its reference out, even when it went to a colleague.
    if booking is None or booking.created_by_id != user.id:
        return None
    if not access.can_use_centre(user, booking.centre_id):
        return None
    return booking


def _page(
    centre: Centre,
    centres: list[Centre],
    form: IntakeForm,
    *,
    service: Service | None,
    language: str | None,
    status: int = 200,
    chosen_start: str | None = None,
    channel: str = "phone",
    errors: dict | None = None,
    booked: Booking | None = None,
    problem: str | None = None,
):
    now = utcnow()
    slots = []
    if service is not None:
        slots = next_free_slots(centre, service, centre_today(centre, now), now, language=language)
    starts = [s.start_at.isoformat() for s in slots]
    if chosen_start not in starts:
        chosen_start = starts[0] if starts else None
    form.interpreter_language.choices = _interpreter_choices()
    return (
        render_template(
            "staff/intake.html",
            centre=centre,
            centres=centres,
            services=active_services(centre),
            service=service,
            languages=_spoken_languages(centre),
            language=language,
            form=form,
            days=group_by_day(centre, slots),
            chosen_start=chosen_start,
            channel=channel,
            errors=errors or {},
            booked=booked,
            booked_details=booked is not None and access.can_see_person(acting_user(), booked),
            problem=problem,
        ),
        status,
    )


def _selection(centres: list[Centre], values) -> tuple[Centre, Service | None, str | None]:
    """Centre, service and caller's language from the GET list or the POSTed hidden fields."""
    centre = pick_centre(centres, values.get("centre"))
    service_slug = values.get("service") or ""
    service = next((s for s in active_services(centre) if s.slug == service_slug), None)
    language = (values.get("language") or "").strip().lower() or None
    if language is not None and language not in _spoken_languages(centre):
        language = None
    return centre, service, language


@bp.get("/intake")
def intake():
    user = acting_user()
    centres = staff_centres(user)
    centre, service, language = _selection(centres, request.args)
    form = IntakeForm()
    form.nonce.data = secrets.token_urlsafe(24)
    booked = _last_booking(user)
    return _page(centre, centres, form, service=service, language=language, booked=booked)


@bp.post("/intake")
def intake_book():
    user = acting_user()
    centres = staff_centres(user)
    centre, service, language = _selection(centres, request.form)
    form = IntakeForm()
    channel = request.form.get("channel", "phone")
    raw_start = request.form.get("start")
    render = {"service": service, "language": language, "chosen_start": raw_start}

    if service is None:
        abort(400)
    if not form.validate_on_submit():
        # Only the CSRF token can fail here: the fields are checked below.
        return _page(
            centre,
            centres,
            form,
            status=400,
            problem=_("The form has expired. Please try again."),
            **render,
        )

    errors: dict[str, list[str]] = {}
    if channel not in CHANNELS:
        errors["channel"] = [_("Please choose phone or walk-in.")]
        channel = "phone"
    data = {
        "name": request.form.get("name"),
        "email": request.form.get("email"),
        "phone": request.form.get("phone"),
        "language": language,
        "interpreter_language": request.form.get("interpreter_language"),
        "persons": request.form.get("persons"),
        "message": request.form.get("message"),
    }
    details, field_errors = clean_details(data, email_required=False, from_form=True)
    errors.update(field_errors)
    if channel == "phone" and "phone" not in errors:
        try:
            clean_phone(data["phone"], required=True)
        except FieldError as error:
            errors["phone"] = [str(error)]
    try:
        start_at = clean_start(raw_start)
    except FieldError:
        errors["start"] = [_("Please choose a time.")]
    if errors:
        for name, messages in errors.items():
            if name in form:
                form[name].errors = list(messages)
        return _page(centre, centres, form, status=422, channel=channel, errors=errors, **render)

    idempotency = services.Idempotency.of_form(
        "staff-intake",
        form.nonce.data,
        centre.slug,
        service.slug,
        start_at.isoformat(),
        details.name,
        details.phone or "",
    )
    locale = language if language in current_app.config["LANGUAGES"] else "de"
    try:
        result = services.book_slot(
            centre,
            service,
            start_at,
            details,
            now=utcnow(),
            channel=channel,
            locale=locale,
            idempotency=idempotency,
            created_by=user,
        )
    except services.SlotUnavailable:
        return _page(
            centre,
            centres,
            form,
            status=409,
            channel=channel,
            problem=_("This time was just taken. Please choose another one from the list."),
            service=service,
            language=language,
        )
    except services.IdempotencyMismatch:
        form.nonce.data = secrets.token_urlsafe(24)
        return _page(
            centre,
            centres,
            form,
            status=400,
            channel=channel,
            problem=_("The form has expired. Please try again."),
            **render,
        )
    if result.booking is None:
        abort(409)
    session[BOOKED_KEY] = result.booking.id
    if result.booking.email:
        flash(_("The confirmation is on its way by e-mail."), "success")
    return redirect(url_for("staff.intake", centre=centre.slug), code=303)
