"""Admin pages: mails that could not be sent, and "send again"."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from booking.admin import queries
from booking.admin.blueprint import bp
from booking.admin.views import (
    _actor,
    _button_pressed,
)
from booking.clock import request_now
from booking.forms import EmptyForm
from booking.outbox import requeue_mail

# Mails that could not be sent.


def mask_email(address: str | None) -> str:
    """ "ayse@example.org" -> "a***@example.org": enough to recognise, not to read."""
    local, at, domain = (address or "").rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


@bp.get("/centres/<centre_slug>/outbox")
def outbox(centre_slug: str):
    centre = g.centre
    return render_template(
        "admin/outbox.html",
        centre=centre,
        messages=[(m, mask_email(m.recipient)) for m in queries.dead_mails(centre)],
        actions=EmptyForm(),
    )


@bp.post("/centres/<centre_slug>/outbox/<int:message_id>/requeue")
def outbox_requeue(centre_slug: str, message_id: int):
    centre = g.centre
    found = queries.dead_mail_of(centre, message_id)
    if found is None:
        abort(404)
    message, booking = found
    if _button_pressed():
        if requeue_mail(message, booking, _actor(), now=request_now()):
            flash(_("The mail will be sent again shortly."), "success")
        else:
            flash(_("This mail is no longer waiting to be sent again."), "error")
    return redirect(url_for("admin.outbox", centre_slug=centre.slug), code=303)
