"""Phone and walk-in intake: during a call, choose a service, see the next free times, book.

The list of times is a GET with centre, service and language only; the booking, with the
caller's details, is a POST. Works without JavaScript and by keyboard alone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from booking import access, availability, bookings
from booking.clock import request_now
from booking.extensions import db
from booking.i18n import COMMON_LANGUAGES, language_name
from booking.models import OFFICER, Booking, Centre, Service, User
from booking.needs import Need
from booking.staff.blueprint import bp
from booking.staff.context import (
    acting_user,
    centre_counsellors,
    group_by_day,
    pick_centre,
    staff_centres,
)
from booking.staff.forms import IntakeForm
from booking.validation import FieldError, clean_details, clean_phone, clean_start

CHANNELS = ("phone", "walk_in")


@dataclass
class SlotFilter:
    """What the caller can do: from a date, on a weekday, with a counsellor; ``after`` is
    set by "later times". ``errors`` say which value was not understood."""

    first_day: date | None = None
    weekday: int | None = None
    counsellor: User | None = None
    part_of_day: str | None = None
    after: datetime | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def args(self) -> dict[str, str]:
        """The filter as query arguments (for "later times" and the POSTed hidden fields)."""
        found = {}
        if self.first_day is not None:
            found["from"] = self.first_day.isoformat()
        if self.weekday is not None:
            found["weekday"] = str(self.weekday)
        if self.counsellor is not None:
            found["counsellor"] = str(self.counsellor.id)
        if self.part_of_day is not None:
            found["part"] = self.part_of_day
        return found


def _read_filter(centre: Centre, service: Service | None, values, today: date) -> SlotFilter:
    chosen = SlotFilter()
    raw_day = (values.get("from") or "").strip()
    if raw_day:
        try:
            chosen.first_day = max(date.fromisoformat(raw_day), today)
        except ValueError:
            chosen.errors["from"] = _("Please enter a date such as 2026-03-02.")
    raw_weekday = (values.get("weekday") or "").strip()
    if raw_weekday:
        if raw_weekday in {str(d) for d in range(7)}:
            chosen.weekday = int(raw_weekday)
        else:
            chosen.errors["weekday"] = _("Please choose a weekday from the list.")
    raw_counsellor = (values.get("counsellor") or "").strip()
    if raw_counsellor:
        chosen.counsellor = next(
            (c for c in _counsellors_for(centre, service) if str(c.id) == raw_counsellor), None
        )
        if chosen.counsellor is None:
            chosen.errors["counsellor"] = _("Please choose a counsellor from the list.")
    raw_part = (values.get("part") or "").strip()
    if raw_part:
        if raw_part in availability.PARTS_OF_DAY:
            chosen.part_of_day = raw_part
        else:
            chosen.errors["part"] = _("Please choose morning or afternoon from the list.")
    raw_after = (values.get("after") or "").strip()
    if raw_after:
        try:
            chosen.after = clean_start(raw_after)
        except FieldError:
            chosen.after = None
    return chosen


def _counsellors_for(centre: Centre, service: Service | None) -> list[User]:
    """The centre's active counsellors, those who can hold the service when one is chosen."""
    counsellors = centre_counsellors(centre)
    if service is None:
        return counsellors
    return [c for c in counsellors if c.can_hold(service)]


# The session key under which the last booking's id waits for the page after the redirect.
BOOKED_KEY = "intake_booked"


def _spoken_languages(centre: Centre) -> list[str]:
    rows = db.session.scalars(
        select(User.languages).where(
            User.centre_id == centre.id,
            User.holds_appointments,
            User.role != OFFICER,  # the family's language is the counsellor's to speak
            User.is_active.is_(True),
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
    chosen: SlotFilter | None = None,
):
    now = request_now()
    today = centre.today(now)
    chosen = chosen or SlotFilter()
    slots = []
    if service is not None:
        # Staff book at any notice: a walk-in can have a time today.
        slots = availability.next_free_slots(
            centre,
            service,
            chosen.first_day or today,
            now,
            need=Need(language),
            counsellor_id=chosen.counsellor.id if chosen.counsellor else None,
            weekday=chosen.weekday,
            part_of_day=chosen.part_of_day,
            after=chosen.after,
            min_notice=availability.STAFF_MIN_NOTICE,
        )
    later_url = None
    if len(slots) == availability.NEXT_SLOTS:
        last = slots[-1].start_at
        later_url = url_for(
            "staff.intake",
            centre=centre.slug,
            service=service.slug,
            language=language or "",
            **{**chosen.args(), "from": centre.today(last).isoformat()},
            after=last.isoformat(),
        )
    starts = [s.start_at.isoformat() for s in slots]
    if chosen_start not in starts:
        # Nothing preselected: "Book" without choosing a time must not book the first one.
        chosen_start = None
    form.interpreter_language.choices = _interpreter_choices()
    return (
        render_template(
            "staff/intake.html",
            centre=centre,
            centres=centres,
            services=availability.active_services(centre),
            service=service,
            languages=_spoken_languages(centre),
            language=language,
            form=form,
            days=group_by_day(centre, slots),
            chosen=chosen,
            filter_args=chosen.args(),
            counsellors=_counsellors_for(centre, service),
            weekdays=sorted({h.weekday for h in centre.opening_hours}),
            today=today,
            later_url=later_url,
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
    service = next(
        (s for s in availability.active_services(centre) if s.slug == service_slug), None
    )
    language = (values.get("language") or "").strip().lower() or None
    if language is not None and language not in _spoken_languages(centre):
        language = None
    return centre, service, language


@bp.get("/intake")
def intake():
    user = acting_user()
    centres = staff_centres(user)
    centre, service, language = _selection(centres, request.args)
    chosen = _read_filter(centre, service, request.args, centre.today(request_now()))
    form = IntakeForm()
    form.nonce.data = secrets.token_urlsafe(24)
    booked = _last_booking(user)
    return _page(
        centre,
        centres,
        form,
        service=service,
        language=language,
        booked=booked,
        chosen=chosen,
        status=422 if chosen.errors else 200,
    )


@bp.post("/intake")
def intake_book():
    user = acting_user()
    centres = staff_centres(user)
    centre, service, language = _selection(centres, request.form)
    form = IntakeForm()
    channel = request.form.get("channel", "phone")
    raw_start = request.form.get("start")
    chosen = _read_filter(centre, service, request.form, centre.today(request_now()))
    render = {
        "service": service,
        "language": language,
        "chosen_start": raw_start,
        "chosen": chosen,
    }

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

    idempotency = bookings.Idempotency.of_form(
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
        asked = bookings.BookingRequest(
            centre,
            service,
            start_at,
            details,
            channel=channel,
            locale=locale,
            idempotency=idempotency,
            created_by=user,
            counsellor_id=chosen.counsellor.id if chosen.counsellor else None,
        )
        result = bookings.book_slot(asked, now=request_now())
    except bookings.SlotUnavailable:
        return _page(
            centre,
            centres,
            form,
            status=409,
            channel=channel,
            problem=_("This time was just taken. Please choose another one from the list."),
            service=service,
            language=language,
            chosen=chosen,
        )
    except bookings.IdempotencyMismatch:
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
