"""Invitations on the staff side: the list (open, used, expired, withdrawn), inviting one
family or the school authority's CSV list, withdrawing, renewing, and the printed letter.

A link's token is shown only in the answer that made it (invite, renew): only its hash is
kept. The letter is therefore printed from that answer; "new link and letter" makes one.
"""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from booking import access, availability, invitations
from booking.clock import request_now
from booking.extensions import db
from booking.forms import EmptyForm
from booking.i18n import LANGUAGE_NAMES, current_language
from booking.models import Booking, Centre, Invitation, Service
from booking.staff.blueprint import bp
from booking.staff.context import acting_user, pick_centre, staff_centres
from booking.staff.forms import InvitationForm, InvitationListForm

STATUS_FILTERS = ("open", "used", "expired", "withdrawn")
MAX_UPLOAD = 256 * 1024
# The list form's fields are named "list-service", ...: the page holds both forms.
LIST_PREFIX = "list"


def _services(centre: Centre) -> list[Service]:
    """Services to invite to: those booked by invitation first."""
    return sorted(availability.active_services(centre), key=lambda s: not s.is_by_invitation)


def _prepare(form, centre: Centre, services: list[Service]) -> None:
    form.centre.data = centre.slug
    form.service.choices = [(s.slug, s.name_in(current_language())) for s in services]
    if hasattr(form, "language"):
        form.language.choices = [(code, name) for code, name in LANGUAGE_NAMES.items()]


def _invitations_of(centre: Centre, status: str | None) -> list[Invitation]:
    rows = db.session.scalars(
        select(Invitation)
        .where(Invitation.centre_id == centre.id, Invitation.erased_at.is_(None))
        .options(selectinload(Invitation.service), selectinload(Invitation.booking))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        .limit(500)
    ).all()
    now = request_now()
    return [i for i in rows if status is None or i.status(now) == status]


def _page(centre, centres, form=None, list_form=None, status=None, code=200, **context):
    services = _services(centre)
    form = form or InvitationForm()
    list_form = list_form or InvitationListForm(prefix=LIST_PREFIX)
    _prepare(form, centre, services)
    _prepare(list_form, centre, services)
    response = make_response(
        render_template(
            "staff/invitations.html",
            centre=centre,
            centres=centres,
            form=form,
            list_form=list_form,
            status=status,
            statuses=STATUS_FILTERS,
            invitations=_invitations_of(centre, status),
            action_form=EmptyForm(),
            now=request_now(),
            **context,
        ),
        code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _centre_from(values) -> tuple[Centre, list[Centre]]:
    centres = staff_centres(acting_user())
    return pick_centre(centres, values.get("centre")), centres


@bp.get("/invitations")
def invitations_page():
    centre, centres = _centre_from(request.args)
    status = request.args.get("status") if request.args.get("status") in STATUS_FILTERS else None
    return _page(centre, centres, status=status)


def _service_of(centre: Centre, slug: str | None) -> Service | None:
    return next((s for s in _services(centre) if s.slug == slug), None)


@bp.post("/invitations")
def invitation_create():
    centre, centres = _centre_from(request.form)
    form = InvitationForm()
    _prepare(form, centre, _services(centre))
    if not form.validate_on_submit():
        abort(400)
    service = _service_of(centre, form.service.data)
    details, errors = invitations.clean_invitation(request.form)
    if service is None:
        errors["service"] = [_("Please choose a consultation.")]
    if errors:
        for name, messages in errors.items():
            if name in form:
                form[name].errors = list(messages)
        return _page(centre, centres, form=form, code=422)
    invitation, token = invitations.invite(
        centre, service, details, actor=acting_user(), now=request_now()
    )
    return _made(invitation, token)


@bp.post("/invitations/list")
def invitation_upload():
    centre, centres = _centre_from({"centre": request.form.get(f"{LIST_PREFIX}-centre")})
    form = InvitationListForm(prefix=LIST_PREFIX)
    _prepare(form, centre, _services(centre))
    if not form.validate_on_submit():
        abort(400)
    service = _service_of(centre, form.service.data)
    upload = request.files.get(form.file.name)
    content = upload.read(MAX_UPLOAD + 1) if upload else b""
    if service is None:
        form.service.errors = [_("Please choose a consultation.")]
    if not content or len(content) > MAX_UPLOAD:
        form.file.errors = [_("Please choose a CSV file of at most 256 KB.")]
    text = None
    if content and not form.file.errors:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            form.file.errors = [_("Please save the file as CSV in UTF-8.")]
    if form.errors or form.service.errors or form.file.errors or text is None:
        return _page(centre, centres, list_form=form, code=422)
    result = invitations.invite_list(centre, service, text, actor=acting_user(), now=request_now())
    if result.invited:
        flash(
            _("%(count)d families invited.", count=len(result.invited)),
            "success",
        )
    return _page(
        centre,
        centres,
        code=200 if not result.refused else 422,
        imported=[(i, invitations.invitation_url(i, t)) for i, t in result.invited],
        refused=sorted(result.refused.items()),
    )


def _own_invitation(invitation_id: int) -> Invitation:
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.centre_id not in acting_user().centre_ids:
        abort(404)
    return invitation


@bp.post("/invitations/<int:invitation_id>/withdraw")
def invitation_withdraw(invitation_id: int):
    invitation = _own_invitation(invitation_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if invitations.withdraw(invitation, acting_user(), now=request_now()):
        flash(
            _("The invitation %(reference)s was withdrawn.", reference=invitation.reference),
            "success",
        )
    else:
        flash(_("Only an open invitation can be withdrawn."), "error")
    centre, centres = _centre_from({"centre": invitation.centre.slug})
    return _page(centre, centres)


@bp.post("/invitations/<int:invitation_id>/renew")
def invitation_renew(invitation_id: int):
    """A new link (and letter), valid anew; the old link stops working."""
    invitation = _own_invitation(invitation_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    token = invitations.renew(invitation, acting_user(), now=request_now())
    if token is None:
        flash(_("A used invitation cannot be renewed."), "error")
        centre, centres = _centre_from({"centre": invitation.centre.slug})
        return _page(centre, centres)
    return _made(invitation, token)


@bp.post("/bookings/<int:booking_id>/invite-again")
def invite_again(booking_id: int):
    """A joint appointment one of the two cannot hold: the family is invited to choose a new
    time; booking through the new link replaces this appointment (one change mail)."""
    booking = access.require_booking(
        acting_user(), db.session.get(Booking, booking_id), change=True
    )
    if not EmptyForm().validate_on_submit():
        abort(400)
    if not booking.is_changeable(request_now()):
        abort(409)
    first = db.session.scalar(select(Invitation).where(Invitation.booking_id == booking.id))
    language = booking.locale if booking.locale in invitations.public_languages() else "de"
    details, errors = invitations.clean_invitation(
        {
            "name": booking.name,
            "email": booking.email,
            "phone": booking.phone,
            "language": language,
            "case_note": first.case_note if first is not None else None,
        }
    )
    if errors:
        flash(
            _("The family's details are incomplete: please invite them on the invitations page."),
            "error",
        )
        return redirect(url_for("staff.invitations_page", centre=booking.centre.slug), code=303)
    invitation, token = invitations.invite(
        booking.centre,
        booking.service,
        details,
        actor=acting_user(),
        now=request_now(),
        replaces=booking,
    )
    return _made(invitation, token)


def _made(invitation: Invitation, token: str):
    """The link, shown this once, and the letter to print."""
    url = invitations.invitation_url(invitation, token)
    response = make_response(
        render_template(
            "staff/invitation_letter.html",
            invitation=invitation,
            centre=invitation.centre,
            url=url,
            letters=letters(invitation, url),
            qr_code=qr_svg(url),
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def letters(invitation: Invitation, url: str) -> list[tuple[str, Markup]]:
    """The letter's text in the family's language and in German, each rendered in its own."""
    found = []
    for language in dict.fromkeys([invitation.language, "de"]):
        with force_locale(language):
            found.append(
                (
                    language,
                    # The template's own output, escaped by Jinja as it rendered.
                    Markup(  # noqa: S704
                        render_template(
                            "public/_invitation_letter.html",
                            invitation=invitation,
                            centre=invitation.centre,
                            service_name=invitation.service.name_in(language),
                            url=url,
                        )
                    ),
                )
            )
    return found


def qr_svg(url: str) -> Markup:
    """The link as a QR code, inline SVG (no image service, no script)."""
    import segno

    code = segno.make(url, error="m")
    # segno writes the SVG from the modules of the code; the title is escaped by it.
    return Markup(code.svg_inline(scale=3, title=_("QR code of the link"), border=2))  # noqa: S704
