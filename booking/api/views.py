"""API views: read centres, services and free slots; book, read, cancel and move a booking
by its token; serve the OpenAPI description."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
from flask import Response, abort, current_app, jsonify, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.exceptions import BadRequest

from booking import availability, availability_cache, bookings
from booking.api.blueprint import bp
from booking.clock import request_now
from booking.extensions import limiter, new_booking_limit
from booking.i18n import current_language, error_title
from booking.json_provider import problem_response
from booking.lookups import centre_or_404, kept_centre_and_service_or_404
from booking.models import Booking, Centre, Service
from booking.needs import Need
from booking.validation import (
    FieldError,
    ValidationFailed,
    clean_consent,
    clean_day,
    clean_details,
    clean_start,
    parse_language,
)

MAX_RANGE_DAYS = 92


@bp.errorhandler(ValidationFailed)
def handle_validation_failed(error: ValidationFailed):
    return problem_response(
        status=422,
        title=error_title(422),
        detail=_("The request has invalid or missing fields."),
        type_="validation-error",
        errors=error.errors,
    )


def current_hours(centre: Centre, today: date) -> list[dict]:
    """The weekly opening intervals that apply on ``today`` (validity periods respected)."""
    return [
        {
            "weekday": h.weekday,
            "opens": h.opens.strftime("%H:%M"),
            "closes": h.closes.strftime("%H:%M"),
        }
        for h in centre.hours_on(today)
    ]


@bp.get("/centres")
def list_centres():
    centres = availability.all_centres()
    return jsonify(
        [
            {
                "slug": c.slug,
                "name": c.name,
                "timezone": c.timezone,
                "address": c.address,
                "visiting_address": c.visiting_address or c.address,
                "phone": c.phone,
                "email": c.email,
                "opening_hours": current_hours(c, c.today(request_now())),
            }
            for c in centres
        ]
    )


@bp.get("/centres/<centre_slug>/services")
def list_services(centre_slug: str):
    centre = centre_or_404(centre_slug)
    language = current_language()
    services = availability.active_services(centre)
    return jsonify(
        [
            {
                "slug": s.slug,
                "name": s.name_in(language),
                "duration_minutes": s.duration_minutes,
                # By invitation (and by staff) only: not bookable from the public list.
                "online_bookable": s.online_bookable and not s.is_by_invitation,
            }
            for s in services
        ]
    )


def _parse_date(name: str, errors: dict[str, list[str]]) -> date | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        errors.setdefault(name, []).append(_("This field is required."))
        return None
    try:
        return clean_day(raw)
    except FieldError as error:
        errors.setdefault(name, []).append(str(error))
        return None


def _answered_days(centre: Centre, date_from: date, date_to: date, now: datetime) -> tuple:
    """The days of ``date_from..date_to`` that can have a free slot at ``now``: from the
    centre's today to today + its horizon (booking/slots.py, rule 4); (None, None) when none
    can. Asked for wider, the answer is the same."""
    today = centre.today(now)
    first = max(date_from, today)
    last = min(date_to, today + timedelta(days=centre.horizon_days))
    return (first, last) if first <= last else (None, None)


# In a slots answer's key: a language that none of the service's counsellors speaks (the
# answer is the same for every such language). No language code has this form.
UNSPOKEN = "-"


@bp.get("/centres/<centre_slug>/slots")
def list_slots(centre_slug: str):
    service_slug = request.args.get("service", "").strip()
    now = request_now()
    # Everything is checked before anything is looked up or kept: only answers of 200 are
    # kept, under the resolved values (centre and service by id, the days that can have
    # slots, the language as one of those spoken or none), so that made-up or differently
    # written values add no entries. The centre, service and counsellors are read through
    # availability_cache.remembered, which pins the version before reading (pin_version);
    # the key is made from the kept copies, and the request's own instances are made only
    # for an answer not kept.
    centre, service = kept_centre_and_service_or_404(centre_slug, service_slug)
    errors: dict[str, list[str]] = {}
    if not service_slug:
        errors["service"] = [_("This field is required.")]
    date_from = _parse_date("from", errors)
    date_to = _parse_date("to", errors)
    if date_from and date_to:
        if date_from > date_to:
            errors.setdefault("to", []).append(_("The end date lies before the start date."))
        elif (date_to - date_from) > timedelta(days=MAX_RANGE_DAYS):
            errors.setdefault("to", []).append(
                ngettext(
                    "At most %(num)d day can be asked for at once.",
                    "At most %(num)d days can be asked for at once.",
                    MAX_RANGE_DAYS,
                )
            )
    language = parse_language(request.args.get("language"), "language", errors)
    if errors:
        raise ValidationFailed(errors)

    if service is None:
        abort(404, description=_("This centre offers no service of this name."))
    need = Need(language)
    spoken = language is None or any(
        need.is_met_by(c.languages) for c in availability.holders(centre, service)
    )
    key = (
        "slots-json",
        centre.id,
        service.id,
        *_answered_days(centre, date_from, date_to, now),
        language if spoken else UNSPOKEN,
    )
    data = availability_cache.lookup(key, now, centre_slug)
    if data is None:
        centre, service = availability.attached(centre), availability.attached(service)
        data, until = _slots_json(centre, service, date_from, date_to, need)
        # Until the clock changes the answer: a notice passing, midnight, or a hold running out.
        availability_cache.keep(key, now, until, data, centre_slug)
    return Response(data, mimetype="application/json")


def _slots_json(
    centre: Centre, service: Service, date_from: date, date_to: date, need: Need
) -> tuple[bytes, datetime]:
    """The slots answer as sent, and until when it holds by the clock."""
    now = request_now()
    search = availability.SlotSearch(centre, service)
    zone = ZoneInfo(centre.timezone)
    found = search.find(date_from, date_to, now, need)
    # orjson writes the datetimes itself (as isoformat() would), many times faster than
    # isoformat() and json per slot; keys sorted and a final newline, as jsonify gives them.
    body = {
        "timezone": centre.timezone,
        "slots": [
            {"start": s.start_at.astimezone(zone), "end": s.end_at.astimezone(zone)} for s in found
        ],
    }
    data = orjson.dumps(body, option=orjson.OPT_SORT_KEYS) + b"\n"
    return data, search.valid_until(now)


def _iso(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).isoformat()


# --- Bookings -------------------------------------------------------------------------


def _booking_limit() -> str:
    return current_app.config["API_BOOKING_RATELIMIT"]


MAX_IDEMPOTENCY_KEY = 200


@bp.errorhandler(bookings.BookingError)
def handle_booking_error(error: bookings.BookingError):
    titles = {
        bookings.SlotUnavailable: _("This time is not free"),
        bookings.TooManyActiveBookings: _("Too many upcoming appointments"),
        bookings.NotOnlineBookable: _("This consultation is booked by phone only"),
        bookings.BookingNotChangeable: _("This appointment can no longer be changed"),
        bookings.IdempotencyMismatch: _("Idempotency key used for another request"),
        bookings.HoldExpired: _("This reservation has expired"),
    }
    details = {
        bookings.SlotUnavailable: _("Choose another time from the list of free slots."),
        bookings.TooManyActiveBookings: _(
            "This e-mail address already holds the most upcoming appointments allowed."
        ),
        bookings.NotOnlineBookable: _("Please call the centre to book this consultation."),
        bookings.BookingNotChangeable: _("It is cancelled or already past."),
        bookings.IdempotencyMismatch: _("Send a new Idempotency-Key with a new request."),
    }
    return problem_response(
        status=error.status,
        title=titles.get(type(error), _("The booking is not possible")),
        detail=details.get(type(error), ""),
        type_=error.problem,
    )


def _json_object() -> dict:
    """The request's JSON object; 415 for another media type, 400 for broken JSON."""
    if not request.is_json:
        abort(415, description=_("Send the request body as application/json."))
    try:
        data = request.get_json()
    except BadRequest:
        abort(
            400,
            description=_(
                "The request body is not valid JSON: numbers must be finite, strings must not "
                "hold lone surrogates, and nesting must not be deep."
            ),
        )
    if not isinstance(data, dict):
        abort(400, description=_("The request body must be a JSON object."))
    return data


def booking_body(booking: Booking, token: str) -> dict:
    zone = ZoneInfo(booking.centre.timezone)
    body = {
        "reference": booking.reference,
        # A hold that ran out reads as expired before the sweep marks it.
        "status": "expired" if booking.is_hold_over(request_now()) else booking.status,
        "start": _iso(booking.start_at, zone),
        "end": _iso(booking.end_at, zone),
        "service": booking.service.slug,
        "centre": booking.centre.slug,
        "manage_url": url_for("public.manage", token=token, _external=True),
    }
    if booking.is_held:
        # Confirmed only from the link in the mail sent to the booking's address.
        body["hold_expires_at"] = _iso(booking.hold_expires_at, zone)
    return body


def _idempotency(centre: Centre, data: dict) -> bookings.Idempotency | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not (key.isascii() and key.isprintable()):
        raise ValidationFailed({"Idempotency-Key": [_("Use 1 to 200 printable ASCII characters.")]})
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return bookings.Idempotency(
        scope=f"api:{centre.slug}",
        key=key,
        fingerprint=hashlib.sha256(canonical.encode()).hexdigest(),
    )


@bp.post("/centres/<centre_slug>/bookings")
@limiter.limit(_booking_limit)
@new_booking_limit
def create_booking(centre_slug: str):
    centre = centre_or_404(centre_slug)
    data = _json_object()
    details, errors = clean_details(data)
    errors = dict(errors)
    start_at = service = None
    try:
        start_at = clean_start(data.get("start"))
    except FieldError as error:
        errors["start"] = [str(error)]
    try:
        # JSON says yes with true; the strings an HTML checkbox sends are for forms only.
        clean_consent(data.get("consent") if isinstance(data.get("consent"), bool) else None)
    except FieldError as error:
        errors["consent"] = [str(error)]
    service_slug = data.get("service")
    if not isinstance(service_slug, str) or not service_slug.strip():
        errors["service"] = [_("This field is required.")]
    else:
        service = availability.get_service(centre, service_slug.strip())
        if service is None:
            errors["service"] = [_("This centre offers no service of this name.")]
    if errors:
        raise ValidationFailed(errors)
    idempotency = _idempotency(centre, data)

    asked = bookings.BookingRequest(
        centre, service, start_at, details, locale=current_language(), idempotency=idempotency
    )
    result = bookings.book_slot(asked, now=request_now())
    if result.replayed and result.stored_response:
        # A repeat answers without the manage link and its Location: whoever else sends the
        # same key and body gets no working link; the first client has it, and the mail.
        status, body = result.stored_response
        return jsonify(body), status
    location = url_for("api.get_booking", token=result.manage_token, _external=True)
    body = booking_body(result.booking, result.manage_token)
    if idempotency is not None and not result.replayed:
        # The token is derivable from the key, so the stored answer leaves the link out.
        bookings.store_response(
            idempotency, 201, {k: v for k, v in body.items() if k != "manage_url"}
        )
    return jsonify(body), 201, {"Location": location}


def _booking_by_token(token: str) -> Booking:
    booking = bookings.find_by_token(token)
    if booking is None:
        abort(404, description=_("No booking belongs to this token."))
    return booking


@bp.get("/bookings/<token>")
def get_booking(token: str):
    return jsonify(booking_body(_booking_by_token(token), token))


@bp.post("/bookings/<token>/cancel")
@limiter.limit(_booking_limit)
def cancel_booking(token: str):
    booking = _booking_by_token(token)
    bookings.cancel_booking(booking, now=request_now())
    return jsonify(booking_body(booking, token))


@bp.post("/bookings/<token>/reschedule")
@limiter.limit(_booking_limit)
def reschedule_booking(token: str):
    booking = _booking_by_token(token)
    data = _json_object()
    try:
        start_at = clean_start(data.get("start"))
    except FieldError as error:
        raise ValidationFailed({"start": [str(error)]}) from error
    bookings.reschedule_booking(booking, start_at, now=request_now(), manage_token=token)
    return jsonify(booking_body(booking, token))


# --- OpenAPI document -----------------------------------------------------------------

OPENAPI_FILE = Path(__file__).parent.parent / "openapi.json"


@cache
def _openapi_document() -> bytes:
    return OPENAPI_FILE.read_bytes()


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 description of this API (booking/openapi.json)."""
    return Response(_openapi_document(), mimetype="application/json")
