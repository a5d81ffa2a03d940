"""The public booking flow: details form, confirmation and manage page, cancel and move.

Views check input and show results; booking/bookings.py decides and writes.
A GET never changes anything (mail scanners follow links).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.exceptions import NotFound

from booking import availability, bookings, find_requests, ical, notifications, retention
from booking.clock import request_now
from booking.extensions import limiter, new_booking_limit
from booking.forms import EmptyForm
from booking.i18n import current_language, language_name
from booking.lookups import centre_and_service_or_404
from booking.models import Booking, Centre, Service
from booking.needs import Need
from booking.public.blueprint import bp
from booking.public.forms import BookingForm, FindBookingForm, MoveForm
from booking.public.views import (
    BOOK_ARGUMENTS,
    build_week,
    interpreter_languages,
    spoken_languages,
    url_keeping_query,
    url_with_start,
    week_slots,
)
from booking.validation import (
    FieldError,
    clean_consent,
    clean_details,
    clean_email,
    clean_start,
    parse_language,
)

BOOKING_LIMIT = "10 per minute;60 per hour"
# "K7PQ-2QXM", also typed without the hyphen.
REFERENCE_PATTERN = re.compile(r"[A-Z2-9]{4}-?[A-Z2-9]{4}")


def _centre_and_service(centre_slug: str, service_slug: str) -> tuple[Centre, Service]:
    centre, service = centre_and_service_or_404(centre_slug, service_slug)
    if service is None or not service.online_bookable or service.is_by_invitation:
        abort(404, description=_("This centre offers no service of this name."))
    return centre, service


def _language_choices(codes) -> list[tuple[str, str]]:
    return [("", _("No preference"))] + [(code, language_name(code)) for code in codes]


def _choice_args(language: str | None, interpreter: str | None) -> dict[str, str]:
    """The family's language choice as query arguments of the week and form pages."""
    if interpreter:
        return {"interpreter": interpreter}
    return {"language": language} if language else {}


def _parse_start(raw: str | None) -> datetime | None:
    try:
        return clean_start(raw)
    except FieldError:
        return None


def _taken_page(
    centre: Centre,
    service: Service,
    start_at: datetime,
    language: str | None = None,
    interpreter: str | None = None,
):
    nearest = availability.nearest_free_slots(
        centre,
        service,
        start_at,
        request_now(),
        need=Need(language, interpreter),
    )
    return (
        _service_page(
            "public/taken.html",
            centre,
            service,
            nearest=nearest,
            choice=_choice_args(language, interpreter),
        ),
        409,
    )


@bp.route("/centres/<centre_slug>/<service_slug>/book", methods=["GET", "POST"])
@limiter.limit(BOOKING_LIMIT, methods=["POST"])
@new_booking_limit
def book(centre_slug: str, service_slug: str):
    centre, service = _centre_and_service(centre_slug, service_slug)
    if service.slug != service_slug and request.method == "GET":  # an old link
        return redirect(
            url_keeping_query(
                "public.book", BOOK_ARGUMENTS, centre_slug=centre.slug, service_slug=service.slug
            ),
            code=301,
        )
    form = BookingForm()
    spoken = spoken_languages(c for c in service.counsellors if c.is_active)
    form.language.choices = _language_choices(spoken)
    # A language outside the common list, asked for on the week page, stays selectable.
    wanted = parse_language(
        request.values.get("interpreter_language") or request.args.get("interpreter"),
        "interpreter",
        {},
    )
    form.interpreter_language.choices = _language_choices(interpreter_languages(spoken, wanted))
    start_at = _parse_start(request.values.get("start"))
    if start_at is None:
        flash(_("Please choose a time first."), "error")
        return redirect(
            url_for("public.service_week", centre_slug=centre.slug, service_slug=service.slug)
        )

    if request.method == "GET":
        # The language chosen on the week page comes along and is kept.
        ignored: dict[str, list[str]] = {}
        language = parse_language(request.args.get("language"), "language", ignored)
        interpreter = parse_language(request.args.get("interpreter"), "interpreter", ignored)
        form.language.data = language if language in spoken else ""
        form.interpreter_language.data = interpreter or ""
        form.start.data = start_at.isoformat()
        form.nonce.data = secrets.token_urlsafe(24)
        need = Need(form.language.data, interpreter)
        if bookings.free_slot_at(centre, service, start_at, request_now(), need=need) is None:
            return _taken_page(centre, service, start_at, form.language.data, interpreter)
        return _render_form(centre, service, form, start_at)

    if not form.validate_on_submit():
        # Only the CSRF token can fail here: the fields are checked below.
        flash(_("The form has expired. Please try again."), "error")
        return _render_form(centre, service, form, start_at, status=400)
    details, errors = clean_details(request.form, from_form=True)
    try:
        clean_consent(request.form.get("consent"))
    except FieldError as error:
        errors["consent"] = [str(error)]
    if errors:
        for field, messages in errors.items():
            form[field].errors = list(messages)
        return _render_form(centre, service, form, start_at, status=422)

    idempotency = bookings.Idempotency.of_form(
        "form",
        form.nonce.data,
        centre.slug,
        service.slug,
        start_at.isoformat(),
        details.email or "",
    )
    try:
        asked = bookings.BookingRequest(
            centre, service, start_at, details, locale=current_language(), idempotency=idempotency
        )
        result = bookings.book_slot(asked, now=request_now())
    except bookings.SlotUnavailable:
        return _taken_page(
            centre, service, start_at, details.language, details.interpreter_language
        )
    except bookings.TooManyActiveBookings:
        form.email.errors = [
            ngettext(
                "This e-mail address already has %(num)d upcoming appointment, the most "
                "allowed. Please cancel it first, or call us.",
                "This e-mail address already has %(num)d upcoming appointments, the most "
                "allowed. Please cancel one first, or call us.",
                centre.max_active_bookings_per_email,
            )
        ]
        return _render_form(centre, service, form, start_at, status=409)
    except bookings.IdempotencyMismatch:
        flash(_("The form has expired. Please try again."), "error")
        return _render_form(centre, service, form, start_at, status=400)
    if result.booking is None:
        abort(409)
    if not result.booking.is_held:  # a held one: the manage page says what to do next
        flash(
            _("Your appointment is booked. We have sent you a confirmation by e-mail."), "success"
        )
    return redirect(url_for("public.manage", token=result.manage_token), code=303)


def _service_page(template: str, centre, service, **context) -> str:
    """A page about one service of the centre, its name in the page's language."""
    return render_template(
        template,
        centre=centre,
        service=service,
        service_name=service.name_in(current_language()),
        **context,
    )


def _render_form(centre, service, form, start_at, status=200):
    return (
        _service_page(
            "public/book.html",
            centre,
            service,
            form=form,
            start_at=start_at,
            end_at=start_at + service.duration,
            start_day=centre.today(start_at),
        ),
        status,
    )


class UnknownManageLink(NotFound):
    """A manage link that matches no booking: old, mistyped, or replaced by a newer one."""


def _booking_or_404(token: str) -> Booking:
    booking = bookings.find_by_token(token)
    if booking is None:
        raise UnknownManageLink()
    return booking


@bp.errorhandler(UnknownManageLink)
def unknown_manage_link(error):
    # The token names no centre, so every centre's phone is given, and "find my booking".
    return render_template("public/unknown_link.html", centres=availability.all_centres()), 404


@bp.get("/b/<token>")
def manage(token: str):
    booking = _booking_or_404(token)
    now = request_now()
    service = booking.service
    return _service_page(
        "public/manage.html",
        booking.centre,
        service,
        booking=booking,
        token=token,
        # A hold that ran out reads as expired before the sweep marks it.
        status="expired" if booking.is_hold_over(now) else booking.status,
        can_change=booking.is_changeable(now),
        is_past=booking.end_at <= now,
        book_again_url=url_for(
            "public.service_week",
            centre_slug=booking.centre.slug,
            service_slug=service.slug,
            **_choice_args(booking.language, booking.interpreter_language),
        )
        if service.online_bookable and service.is_active
        else None,
    )


@bp.get("/b/<token>/invite.ics")
def invite(token: str):
    booking = _booking_or_404(token)
    if booking.is_cancelled:
        body = (
            ical.build_cancel(notifications.calendar_event(booking, request_now(), None))
            if booking.email
            else b""
        )
        if not body:
            abort(404)
    else:
        body = ical.build_feed(
            [notifications.calendar_event(booking, request_now(), None)], booking.centre.name
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
            bookings.cancel_booking(booking, now=request_now())
        except bookings.BookingNotChangeable:
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


def _book_again_url(booking: Booking) -> str | None:
    """The week of the booking's service in its language, while it is booked online."""
    service = booking.service
    if not (service.online_bookable and service.is_active):
        return None
    return url_for(
        "public.service_week",
        centre_slug=booking.centre.slug,
        service_slug=service.slug,
        **_choice_args(booking.language, booking.interpreter_language),
    )


@bp.route("/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(BOOKING_LIMIT, methods=["POST"])
def confirm_hold(token: str):
    """The link of a "please confirm" mail: a GET shows the held time and a button (mail
    scanners follow links), the POST confirms it. A hold that ran out says so, nothing is
    booked."""
    booking = bookings.find_by_confirm_token(token)
    if booking is None:
        raise UnknownManageLink()
    form = EmptyForm()
    status, code, limit_error = booking.status, 200, None
    if request.method == "POST" and form.validate_on_submit():
        try:
            if bookings.confirm_hold(booking, now=request_now()):
                flash(
                    _(
                        "Your appointment is confirmed. We have sent you the confirmation "
                        "with a calendar invitation by e-mail."
                    ),
                    "success",
                )
            return redirect(url_for("public.confirm_hold", token=token), code=303)
        except bookings.HoldExpired:
            status = "cancelled" if booking.status == "cancelled" else "expired"
        except bookings.TooManyActiveBookings:
            code = 409
            limit_error = ngettext(
                "This e-mail address already has %(num)d upcoming appointment, the most "
                "allowed. Please cancel it first, or call us.",
                "This e-mail address already has %(num)d upcoming appointments, the most "
                "allowed. Please cancel one first, or call us.",
                booking.centre.max_active_bookings_per_email,
            )
    elif booking.is_hold_over(request_now()):
        status = "expired"
    if status == "expired":
        code = 410
    return (
        _service_page(
            "public/confirm_hold.html",
            booking.centre,
            booking.service,
            booking=booking,
            token=token,
            form=form,
            status=status,
            limit_error=limit_error,
            book_again_url=_book_again_url(booking),
        ),
        code,
    )


@bp.route("/b/<token>/erase", methods=["GET", "POST"])
@limiter.limit(BOOKING_LIMIT, methods=["POST"])
def erase(token: str):
    """After cancelling, the family erases its name, contacts and message (confirm step)."""
    booking = _booking_or_404(token)
    form = EmptyForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            retention.erase_booking(booking, request_now())
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
    """Choose a new time (GET), see "move from X to Y?" (GET with ``start``), confirm (POST).

    Nothing changes and no mail goes before the family confirms.
    """
    booking = _booking_or_404(token)
    centre, service = booking.centre, booking.service
    now = request_now()
    if not booking.is_changeable(now):
        flash(_("This appointment can no longer be changed online. Please call us."), "error")
        return redirect(url_for("public.manage", token=token), code=303)
    form = MoveForm()
    need = Need.of_booking(booking)
    if request.method == "POST":
        start_at = _parse_start(form.start.data)
        if form.validate_on_submit() and start_at is not None:
            try:
                bookings.reschedule_booking(booking, start_at, now=now, manage_token=token)
            except bookings.SlotUnavailable:
                flash(_("This time was just taken. Please choose another one."), "error")
            except bookings.BookingNotChangeable:
                flash(
                    _("This appointment can no longer be changed online. Please call us."), "error"
                )
                return redirect(url_for("public.manage", token=token), code=303)
            else:
                flash(
                    _("Your appointment has been moved. We have sent you the new time by e-mail."),
                    "success",
                )
                return redirect(url_for("public.manage", token=token), code=303)
        else:
            flash(_("Please choose a time."), "error")
    elif request.args.get("start"):
        start_at = _parse_start(request.args.get("start"))
        slot = (
            bookings.free_slot_at(
                centre, service, start_at, now, exclude_booking_id=booking.id, need=need
            )
            if start_at is not None and start_at != booking.start_at
            else None
        )
        if slot is not None:
            form.start.data = slot.start_at.isoformat()
            return render_template(
                "public/move_confirm.html",
                booking=booking,
                centre=centre,
                service_name=service.name_in(current_language()),
                new_start_at=slot.start_at,
                new_end_at=slot.end_at,
                form=form,
                token=token,
                back_url=url_for(
                    "public.move",
                    token=token,
                    week=centre.today(slot.start_at).isoformat(),
                ),
            )
        flash(_("This time is no longer free. Please choose another one."), "error")

    week = build_week(
        availability.SlotSearch(centre, service, exclude_booking_id=booking.id),
        request.args.get("week") or centre.today(booking.start_at).isoformat(),
        need=need,
        current_start=booking.start_at,
        week_url=lambda monday: url_for("public.move", token=token, week=monday.isoformat()),
        slot_url=url_with_start("public.move", token=token),
        slot_label=_("Move to %(day)s at %(time)s"),
    )
    # The current time is marked on its day, whether or not it is free for others.
    zone = ZoneInfo(centre.timezone)
    current_day = booking.start_at.astimezone(zone).date()
    if current_day in week["days"]:
        day_slots = [s for s in week["days"][current_day] if s.start_at != booking.start_at]
        (current,) = week_slots(
            [booking], zone, week["day_labels"], url_of=lambda iso: "", label_pattern=""
        )
        day_slots.append(current._replace(is_current=True))
        week["days"][current_day] = sorted(day_slots, key=lambda s: s.start_at)
    return render_template(
        "public/move.html",
        booking=booking,
        form=form,
        token=token,
        choose_language=False,
        **week,
    )


FIND_LIMIT = "5 per minute;20 per hour"


# Per reference and per e-mail address typed, whichever client asks: guessing one family's
# reference from many addresses, or mailing one address again and again, stops here.
FIND_TARGET_LIMIT = "3 per hour;10 per day"


def _find_key(field: str) -> str:
    """A keyed hash of what was typed in ``field`` (normalised), for the limit's storage: the
    reference or the address itself is never a key in Redis."""
    value = "".join((request.form.get(field) or "").split()).upper().replace("-", "")
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return f"find-{field}:" + hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


@bp.route("/find", methods=["GET", "POST"])
@limiter.limit(FIND_LIMIT, methods=["POST"])
@limiter.limit(
    FIND_TARGET_LIMIT,
    methods=["POST"],
    key_func=lambda: _find_key("reference"),
    # The e-mail address alone finds a family's bookings: no reference, no shared key.
    exempt_when=lambda: not "".join((request.form.get("reference") or "").split()),
)
@limiter.limit(FIND_TARGET_LIMIT, methods=["POST"], key_func=lambda: _find_key("email"))
def find_booking():
    """A lost manage link: the family gives the e-mail address (the reference, if at hand,
    narrows it to one booking); the links of its upcoming bookings go by mail.

    The page answers the same whether a booking matched or not, so nobody can probe
    which references or addresses exist; the link is never shown here.
    """
    form = FindBookingForm()
    if request.method == "GET":
        return render_template("public/find.html", form=form, sent=False)
    if not form.validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return render_template("public/find.html", form=form, sent=False), 400
    reference = "".join((form.reference.data or "").split()).upper()
    if reference and not REFERENCE_PATTERN.fullmatch(reference):
        form.reference.errors = [_("Please enter the reference from your e-mail, e.g. K7PQ-2QXM.")]
    try:
        email = clean_email(form.email.data)
        if email is None:
            raise FieldError(_("Please enter your e-mail address."))
    except FieldError as error:
        form.email.errors = [str(error)]
    if form.reference.errors or form.email.errors:
        return render_template("public/find.html", form=form, sent=False), 422
    # Queued, not looked up: a match and a miss cost the same here (the outbox worker
    # answers the request, find_requests.py).
    find_requests.request_links(reference or None, email, now=request_now())
    return render_template("public/find.html", form=form, sent=True)


@bp.get("/privacy")
def privacy():
    return render_template(
        "public/privacy.html",
        centres=availability.all_centres(),
        retention_days=current_app.config["RETENTION_DAYS"],
    )


@bp.get("/impressum")
def impressum():
    return render_template("public/impressum.html", centres=availability.all_centres())


@bp.get("/accessibility")
def accessibility():
    return render_template("public/accessibility.html", centres=availability.all_centres())
