"""Admin pages: bookings that changed hours, closures, absences or staff no longer allow:
hand over, cancel with notice, or keep; one or several at once."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from booking import availability, bookings
from booking.admin.blueprint import bp
from booking.admin.views import (
    _actor,
    _button_pressed,
    _owned,
)
from booking.clock import request_now
from booking.models import (
    Booking,
)
from booking.staff.context import (
    ROW_DECISIONS,
    bulk_confirmation,
    posted_bulk_action,
    posted_colleagues,
    settle_flash,
    settle_one,
)


@bp.get("/centres/<centre_slug>/attention")
def attention(centre_slug: str):
    centre = g.centre
    now = request_now()
    entries = availability.bookings_needing_attention(centre, now)
    return render_template(
        "admin/attention.html",
        centre=centre,
        entries=entries,
        select_all=request.args.get("select") == "all",
        colleagues=availability.free_colleagues([b for b, _why in entries], now),
    )


@bp.post("/centres/<centre_slug>/attention/<int:booking_id>/<action>")
def attention_action(centre_slug: str, booking_id: int, action: str):
    """One row's decision: hand over, cancel with notice, or keep."""
    centre = g.centre
    booking = _owned(Booking, booking_id, centre.id)
    if action not in ROW_DECISIONS:
        abort(404)
    if _button_pressed():
        settle_one(booking, action, _actor(), request.form, now=request_now())
    return redirect(url_for("admin.attention", centre_slug=centre.slug), code=303)


@bp.post("/centres/<centre_slug>/attention/bulk")
def attention_bulk(centre_slug: str):
    """Hand over or cancel several bookings to check in one POST."""
    centre = g.centre
    if _button_pressed():
        action, ids = posted_bulk_action(request.form)
        if not ids:
            flash(_("Please select at least one appointment."), "error")
        else:
            # Every booking is checked first: one of another centre, nothing done.
            chosen = [_owned(Booking, i, centre.id) for i in dict.fromkeys(ids)]
            confirm = bulk_confirmation(
                action,
                chosen,
                request.form,
                url_for("admin.attention", centre_slug=centre.slug),
            )
            if confirm is not None:
                return confirm
            settle_flash(
                bookings.settle_conflicts(
                    chosen,
                    action,
                    _actor(),
                    now=request_now(),
                    colleagues=posted_colleagues(request.form, ids),
                )
            )
    return redirect(url_for("admin.attention", centre_slug=centre.slug), code=303)
