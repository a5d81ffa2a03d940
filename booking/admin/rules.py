"""Admin pages: the centre's rules and the texts of its legal pages."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from booking import administration
from booking.admin.blueprint import bp
from booking.admin.forms import (
    LegalForm,
    RulesForm,
)
from booking.admin.views import (
    _actor,
    _after_change,
    _submit,
)
from booking.models import utcnow

# Rules.


@bp.route("/centres/<centre_slug>/rules", methods=["GET", "POST"])
def rules(centre_slug: str):
    centre = g.centre
    form = RulesForm(
        data={
            "min_notice_hours": centre.min_notice_minutes // 60,
            "horizon_days": centre.horizon_days,
            "slot_step_minutes": centre.slot_step_minutes,
            "buffer_minutes": centre.buffer_minutes,
            "max_active_bookings_per_email": centre.max_active_bookings_per_email,
            "holiday_region": centre.holiday_region,
            "feed_shows_service": centre.feed_shows_service,
        }
    )
    status = 200
    if request.method == "POST":
        status = _submit(
            form,
            lambda: administration.update_rules(
                centre,
                _actor(),
                min_notice_hours=form.min_notice_hours.data,
                horizon_days=form.horizon_days.data,
                slot_step_minutes=form.slot_step_minutes.data,
                buffer_minutes=form.buffer_minutes.data,
                max_active_bookings_per_email=form.max_active_bookings_per_email.data,
                holiday_region=form.holiday_region.data,
                feed_shows_service=form.feed_shows_service.data,
                now=utcnow(),
            ),
        )
        if status is None:
            return _after_change(centre, url_for("admin.rules", centre_slug=centre.slug))
    return render_template("admin/rules.html", centre=centre, form=form), status


# Legal pages.


@bp.route("/centres/<centre_slug>/legal", methods=["GET", "POST"])
def legal(centre_slug: str):
    centre = g.centre
    form = LegalForm(
        data={
            "legal_operator": centre.legal_operator,
            "responsible_person": centre.responsible_person,
            "contact_email": centre.contact_email,
            "accessibility_contact": centre.accessibility_contact,
        }
    )
    status = 200
    if request.method == "POST":
        status = _submit(
            form,
            lambda: administration.update_legal_details(
                centre,
                _actor(),
                legal_operator=form.legal_operator.data,
                responsible_person=form.responsible_person.data,
                contact_email=form.contact_email.data,
                accessibility_contact=form.accessibility_contact.data,
                now=utcnow(),
            ),
        )
        if status is None:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.legal", centre_slug=centre.slug), code=303)
    return render_template("admin/legal.html", centre=centre, form=form), status
