"""API views of SPEC "Events": a centre's events, registering, a registration by its token."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, jsonify, request, url_for
from flask_babel import gettext as _

from booking import event_rules, events
from booking.api.blueprint import bp
from booking.api.views import _booking_limit, _iso, _json_object, _parse_date
from booking.clock import request_now
from booking.extensions import db, limiter
from booking.i18n import current_language
from booking.json_provider import problem_response
from booking.lookups import centre_or_404
from booking.models import Event, Registration
from booking.validation import FieldError, ValidationFailed, clean_consent, clean_registration


@bp.errorhandler(events.EventError)
def handle_event_error(error: events.EventError):
    titles = {
        events.EventFull: _("The event is full"),
        events.RegistrationClosed: _("Registration has closed"),
        events.AlreadyRegistered: _("Already registered"),
        events.RegistrationNotChangeable: _("This registration can no longer be changed"),
    }
    details = {
        events.EventFull: _("No seat is free and the event keeps no waiting list."),
        events.RegistrationClosed: _("Please call the centre."),
        events.AlreadyRegistered: _(
            "This e-mail address is already registered for this event. The link in the "
            "confirmation mail shows the registration."
        ),
        events.RegistrationNotChangeable: _("It is cancelled, or the event has begun."),
    }
    return problem_response(
        status=error.status,
        title=titles.get(type(error), _("The registration is not possible")),
        detail=details.get(type(error), ""),
        type_=error.problem,
    )


# maxLength of the fields in booking/openapi.json whose check trims the text first.
RAW_MAX_LENGTHS = {"phone": 41, "organisation": 200}


def event_body(event: Event, language: str) -> dict:
    zone = ZoneInfo(event.centre.timezone)
    return {
        "id": event.id,
        "title": event.title_in(language),
        "start": _iso(event.start_at, zone),
        "end": _iso(event.end_at, zone),
        "audience": event.audience,
        "seats": event.seats,
        "seats_left": event.seats_left,
        "waiting_list": event.has_waiting_list,
        "registration_closes": _iso(event.registration_closes_at, zone),
        "languages": list(event.languages or []),
    }


@bp.get("/centres/<centre_slug>/events")
def list_events(centre_slug: str):
    centre = centre_or_404(centre_slug)
    zone = ZoneInfo(centre.timezone)
    errors: dict[str, list[str]] = {}
    first = _parse_date("from", errors) if "from" in request.args else None
    last = _parse_date("to", errors) if "to" in request.args else None
    start_from, start_to = event_rules.date_window(first, last, zone)
    if start_from and start_to and start_from >= start_to:
        errors.setdefault("to", []).append(_("The end date lies before the start date."))
    if errors:
        raise ValidationFailed(errors)
    language = current_language()
    # Not yet over, and starting on the days asked for (the public lists read it so too).
    window = (start_from, start_to)
    found = [
        event
        for event in events.upcoming_events([centre.id], request_now())
        if event_rules.starts_in_window(event.start_at, window)
    ]
    return jsonify([event_body(e, language) for e in found])


def _event_or_404(centre_slug: str, event_id: int) -> Event:
    centre = centre_or_404(centre_slug)
    event = db.session.get(Event, event_id)
    if event is None or event.centre_id != centre.id:
        abort(404, description=_("This centre has no event of this number."))
    return event


def registration_body(registration: Registration, token: str) -> dict:
    event = registration.event
    zone = ZoneInfo(event.centre.timezone)
    body = {
        "reference": registration.reference,
        "status": registration.status,
        "event": event.id,
        "start": _iso(event.start_at, zone),
        "end": _iso(event.end_at, zone),
        "persons": registration.persons,
        "manage_url": url_for("public.registration", token=token, _external=True),
    }
    position = events.waiting_position(registration)
    if position is not None:
        body["waiting_position"] = position
    return body


@bp.post("/centres/<centre_slug>/events/<int:event_id>/registrations")
@limiter.limit(_booking_limit)
def create_registration(centre_slug: str, event_id: int):
    event = _event_or_404(centre_slug, event_id)
    data = _json_object()
    details, errors = clean_registration(data)
    errors = dict(errors)
    # The document's maxLength counts the text as sent, spaces around it included.
    for name, longest in RAW_MAX_LENGTHS.items():
        raw = data.get(name)
        if isinstance(raw, str) and len(raw) > longest and name not in errors:
            errors[name] = [_("Please use at most %(max)d characters.", max=longest)]
    try:
        clean_consent(data.get("consent") if isinstance(data.get("consent"), bool) else None)
    except FieldError as error:
        errors["consent"] = [str(error)]
    if errors:
        raise ValidationFailed(errors)
    result = events.register(event, details, now=request_now(), locale=current_language())
    location = url_for("api.get_registration", token=result.manage_token, _external=True)
    return (
        jsonify(registration_body(result.registration, result.manage_token)),
        201,
        {"Location": location},
    )


def _registration_or_404(token: str) -> Registration:
    registration = events.find_by_token(token)
    if registration is None:
        abort(404, description=_("No registration belongs to this token."))
    return registration


@bp.get("/registrations/<token>")
def get_registration(token: str):
    return jsonify(registration_body(_registration_or_404(token), token))


@bp.post("/registrations/<token>/cancel")
@limiter.limit(_booking_limit)
def cancel_registration(token: str):
    registration = _registration_or_404(token)
    events.cancel_registration(registration, now=request_now())
    return jsonify(registration_body(registration, token))
