"""API views of an invitation by its token: read it, its free times, and book through it
(SPEC "JSON API"). A used, expired or withdrawn invitation is 410 with the centre's phone."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import abort, jsonify, url_for
from flask_babel import gettext as _

from booking import availability, bookings, invitations
from booking.api.blueprint import bp
from booking.api.views import (
    MAX_RANGE_DAYS,
    _booking_limit,
    _json_object,
    _parse_date,
    booking_body,
)
from booking.clock import request_now
from booking.extensions import limiter
from booking.json_provider import problem_response
from booking.models import OFFICER, Invitation
from booking.needs import Need
from booking.validation import FieldError, ValidationFailed, clean_consent, clean_start


@bp.errorhandler(invitations.InvitationGone)
def handle_invitation_gone(error: invitations.InvitationGone):
    return _gone(error.invitation, error.invitation_status)


def _gone(invitation: Invitation, status: str):
    centre = invitation.centre
    return problem_response(
        status=410,
        title=_("This invitation can no longer be used"),
        detail=_("Please call us, we will find a time with you: %(phone)s", phone=centre.phone),
        type_="invitation-gone",
        invitation_status=status,
        phone=centre.phone,
    )


def _invitation(token: str, *, open_only: bool) -> Invitation:
    invitation = invitations.find_by_token(token)
    if invitation is None:
        abort(404, description=_("No invitation belongs to this token."))
    status = invitation.status(request_now())
    if open_only and status != "open":
        raise invitations.InvitationGone(invitation, status)
    return invitation


def _details(invitation: Invitation, search: availability.SlotSearch):
    spoken = {
        code for user in search.counsellors if user.role != OFFICER for code in user.languages or ()
    }
    return invitations.booking_details(invitation, spoken)


@bp.get("/invitations/<token>")
def get_invitation(token: str):
    invitation = _invitation(token, open_only=False)
    zone = ZoneInfo(invitation.centre.timezone)
    return jsonify(
        {
            "centre": invitation.centre.slug,
            "service": invitation.service.slug,
            "language": invitation.language,
            "expires_at": invitation.expires_at.astimezone(zone).isoformat(),
            "status": invitation.status(request_now()),
        }
    )


@bp.get("/invitations/<token>/slots")
def invitation_slots(token: str):
    invitation = _invitation(token, open_only=True)
    errors: dict[str, list[str]] = {}
    date_from = _parse_date("from", errors)
    date_to = _parse_date("to", errors)
    if date_from and date_to:
        if date_from > date_to:
            errors.setdefault("to", []).append(_("The end date lies before the start date."))
        elif (date_to - date_from) > timedelta(days=MAX_RANGE_DAYS):
            errors.setdefault("to", []).append(
                _("At most %(days)d days can be asked for at once.", days=MAX_RANGE_DAYS)
            )
    if errors:
        raise ValidationFailed(errors)
    centre, service = invitation.centre, invitation.service
    search = availability.SlotSearch(centre, service)
    details = _details(invitation, search)
    need = Need(details.language, details.interpreter_language)
    found = search.find(date_from, date_to, request_now(), need)
    zone = ZoneInfo(centre.timezone)
    return jsonify(
        {
            "timezone": centre.timezone,
            "slots": [
                {
                    "start": s.start_at.astimezone(zone).isoformat(),
                    "end": s.end_at.astimezone(zone).isoformat(),
                }
                for s in found
            ],
        }
    )


@bp.post("/invitations/<token>/booking")
@limiter.limit(_booking_limit)
def invitation_booking(token: str):
    invitation = _invitation(token, open_only=True)
    data = _json_object()
    errors: dict[str, list[str]] = {}
    start_at = None
    try:
        start_at = clean_start(data.get("start"))
    except FieldError as error:
        errors["start"] = [str(error)]
    try:
        clean_consent(data.get("consent") if isinstance(data.get("consent"), bool) else None)
    except FieldError as error:
        errors["consent"] = [str(error)]
    if errors:
        raise ValidationFailed(errors)
    centre, service = invitation.centre, invitation.service
    details = _details(invitation, availability.SlotSearch(centre, service))
    asked = bookings.BookingRequest(
        centre,
        service,
        start_at,
        details,
        locale=invitation.language,
        invitation=invitation,
    )
    result = bookings.book_slot(asked, now=request_now())
    location = url_for("api.get_booking", token=result.manage_token, _external=True)
    return jsonify(booking_body(result.booking, result.manage_token)), 201, {"Location": location}
