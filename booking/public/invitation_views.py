"""The family's invitation page /i/<token>: the times at which everyone the service needs is
free, a time to confirm, and the booking that uses the invitation up.

A GET never changes anything (mail scanners follow links); a used, expired or withdrawn
invitation answers 410 with the centre's phone number.
"""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from booking import availability, bookings, invitations
from booking.clock import request_now
from booking.extensions import limiter
from booking.i18n import current_language, url_code
from booking.models import OFFICER, Invitation
from booking.needs import Need
from booking.public.blueprint import bp
from booking.public.forms import InvitationBookingForm
from booking.public.views import build_week, url_with_start
from booking.validation import FieldError, clean_consent, clean_start

INVITATION_LIMIT = "10 per minute;60 per hour"


def _open_invitation(token: str) -> tuple[Invitation, str] | tuple[Invitation, None]:
    """The invitation and its status; 404 for a link that names none."""
    invitation = invitations.find_by_token(token)
    if invitation is None:
        abort(404, description=_("This invitation link is not valid. Please call us."))
    return invitation, invitation.status(request_now())


def _gone(invitation: Invitation, status: str):
    return (
        render_template(
            "public/invitation_gone.html",
            invitation_status=status,
            centre=invitation.centre,
            booking=invitation.booking if status == "used" else None,
        ),
        410,
    )


def _spoken(search: availability.SlotSearch) -> set[str]:
    return {
        code for user in search.counsellors if user.role != OFFICER for code in user.languages or ()
    }


@bp.get("/i/<token>")
def invitation(token: str):
    invitation, status = _open_invitation(token)
    if status != "open":
        return _gone(invitation, status)
    if "lang" not in request.args and "lang" not in session:
        # A link typed from the letter without its ?lang=: the family's language.
        return redirect(
            url_for(
                "public.invitation",
                token=token,
                lang=url_code(invitation.language),
                **request.args.to_dict(),
            )
        )
    centre, service = invitation.centre, invitation.service
    search = availability.SlotSearch(centre, service)
    details = invitations.booking_details(invitation, _spoken(search))
    need = Need(details.language, details.interpreter_language)
    start_at = _start_or_none(request.args.get("start"))
    context = {
        "invitation": invitation,
        "token": token,
        "centre": centre,
        "service": service,
        "service_name": service.name_in(current_language()),
        "interpreter": details.interpreter_language,
    }
    if start_at is not None:
        slot = bookings.free_slot_at(centre, service, start_at, request_now(), need=need)
        if slot is None:
            flash(_("This time was just taken. Please choose another one."), "error")
        else:
            form = InvitationBookingForm(data={"start": start_at.isoformat()})
            return render_template(
                "public/invitation_book.html",
                form=form,
                start_at=slot.start_at,
                end_at=slot.end_at,
                **context,
            )
    week = build_week(
        search,
        request.args.get("week"),
        need=need,
        week_url=lambda monday: url_for("public.invitation", token=token, week=monday.isoformat()),
        slot_url=url_with_start("public.invitation", token=token),
        slot_label=_("Book %(day)s at %(time)s"),
    )
    context.update(week)
    return render_template("public/invitation.html", choose_language=False, **context)


def _start_or_none(raw: str | None) -> datetime | None:
    try:
        return clean_start(raw) if raw else None
    except FieldError:
        return None


@bp.post("/i/<token>")
@limiter.limit(INVITATION_LIMIT)
def invitation_book(token: str):
    invitation, status = _open_invitation(token)
    if status != "open":
        return _gone(invitation, status)
    form = InvitationBookingForm()
    start_at = _start_or_none(request.form.get("start"))
    if start_at is None:
        flash(_("Please choose a time first."), "error")
        return redirect(url_for("public.invitation", token=token), code=303)
    centre, service = invitation.centre, invitation.service
    context = {
        "invitation": invitation,
        "token": token,
        "centre": centre,
        "service": service,
        "service_name": service.name_in(current_language()),
        "start_at": start_at,
        "end_at": start_at + service.duration,
        "form": form,
    }
    if not form.validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return render_template("public/invitation_book.html", **context), 400
    try:
        clean_consent(request.form.get("consent"))
    except FieldError as error:
        form.consent.errors = [str(error)]
        return render_template("public/invitation_book.html", **context), 422
    search = availability.SlotSearch(centre, service)
    details = invitations.booking_details(invitation, _spoken(search))
    asked = bookings.BookingRequest(
        centre, service, start_at, details, locale=current_language(), invitation=invitation
    )
    try:
        result = bookings.book_slot(asked, now=request_now())
    except invitations.InvitationGone as gone:
        return _gone(gone.invitation, gone.invitation_status)
    except bookings.SlotUnavailable:
        flash(_("This time was just taken. Please choose another one."), "error")
        return redirect(url_for("public.invitation", token=token), code=303)
    except bookings.TooManyActiveBookings:
        flash(
            _("This e-mail address already has several upcoming appointments. Please call us."),
            "error",
        )
        return redirect(url_for("public.invitation", token=token), code=303)
    if invitation.email:
        flash(
            _("Your appointment is booked. We have sent you a confirmation by e-mail."), "success"
        )
    else:
        flash(_("Your appointment is booked. Please note the date, or print this page."), "success")
    return redirect(url_for("public.manage", token=result.manage_token), code=303)
