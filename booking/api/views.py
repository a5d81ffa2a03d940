"""API views: read centres, services and free slots."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import abort, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from booking import availability
from booking.api import bp
from booking.api.schemas import ValidationFailed, parse_language
from booking.extensions import db
from booking.i18n import current_language
from booking.models import Centre, Service, utcnow
from booking.problems import problem_response

MAX_RANGE_DAYS = 92
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@bp.errorhandler(ValidationFailed)
def handle_validation_failed(error: ValidationFailed):
    return problem_response(
        status=422,
        title="Unprocessable Content",
        detail=_("The request has invalid or missing fields."),
        type_="validation-error",
        errors=error.errors,
    )


def _centre_or_404(slug: str) -> Centre:
    centre = availability.get_centre(slug)
    if centre is None:
        abort(404, description=_("No centre with this name."))
    return centre


def current_hours(centre: Centre, today: date) -> list[dict]:
    """The weekly opening intervals that apply on ``today`` (validity periods respected)."""
    return [
        {"weekday": h.weekday, "opens": h.opens.strftime("%H:%M"), "closes": h.closes.strftime("%H:%M")}
        for h in centre.opening_hours
        if (h.valid_from is None or h.valid_from <= today)
        and (h.valid_until is None or today <= h.valid_until)
    ]


def centre_today(centre: Centre) -> date:
    return utcnow().astimezone(ZoneInfo(centre.timezone)).date()


@bp.get("/centres")
def list_centres():
    centres = db.session.scalars(
        select(Centre).options(selectinload(Centre.opening_hours)).order_by(Centre.name)
    ).all()
    return jsonify(
        [
            {
                "slug": c.slug,
                "name": c.name,
                "timezone": c.timezone,
                "address": c.address,
                "phone": c.phone,
                "email": c.email,
                "opening_hours": current_hours(c, centre_today(c)),
            }
            for c in centres
        ]
    )


@bp.get("/centres/<centre_slug>/services")
def list_services(centre_slug: str):
    centre = _centre_or_404(centre_slug)
    language = current_language()
    services = db.session.scalars(
        select(Service)
        .where(Service.centre_id == centre.id, Service.is_active.is_(True))
        .order_by(Service.position, Service.slug)
    ).all()
    return jsonify(
        [
            {
                "slug": s.slug,
                "name": s.name_in(language),
                "duration_minutes": s.duration_minutes,
                "online_bookable": s.online_bookable,
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
        if not ISO_DATE.match(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        errors.setdefault(name, []).append(_("Use a date of the form YYYY-MM-DD."))
        return None


@bp.get("/centres/<centre_slug>/slots")
def list_slots(centre_slug: str):
    centre = _centre_or_404(centre_slug)
    errors: dict[str, list[str]] = {}
    service_slug = request.args.get("service", "").strip()
    if not service_slug:
        errors["service"] = [_("This field is required.")]
    date_from = _parse_date("from", errors)
    date_to = _parse_date("to", errors)
    if date_from and date_to:
        if date_from > date_to:
            errors.setdefault("to", []).append(_("The end date lies before the start date."))
        elif (date_to - date_from) > timedelta(days=MAX_RANGE_DAYS):
            errors.setdefault("to", []).append(
                _("At most %(days)d days can be asked for at once.", days=MAX_RANGE_DAYS)
            )
    language = parse_language(request.args.get("language"), "language", errors)
    if errors:
        raise ValidationFailed(errors)

    service = availability.get_service(centre, service_slug)
    if service is None:
        abort(404, description=_("This centre offers no service of this name."))
    zone = ZoneInfo(centre.timezone)
    found = availability.find_slots(centre, service, date_from, date_to, utcnow(), language)
    return jsonify(
        {
            "timezone": centre.timezone,
            "slots": [
                {"start": _iso(s.start_at, zone), "end": _iso(s.end_at, zone)} for s in found
            ],
        }
    )


def _iso(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).isoformat()
