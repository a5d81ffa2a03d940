"""Admin pages: the centre's rules and the texts of its legal pages."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from booking import centre_settings
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
from booking.clock import request_now

# Rules.


@bp.route("/centres/<centre_slug>/rules", methods=["GET", "POST"])
def rules(centre_slug: str):
    centre = g.centre
    form = RulesForm(obj=centre, min_notice_hours=centre.min_notice_minutes // 60)
    status = 200
    if request.method == "POST":
        status = _submit(
            form,
            lambda: centre_settings.update_rules(
                centre, _actor(), now=request_now(), **form.values()
            ),
        )
        if status is None:
            return _after_change(centre, url_for("admin.rules", centre_slug=centre.slug))
    return render_template("admin/rules.html", centre=centre, form=form), status


# Legal pages.


@bp.route("/centres/<centre_slug>/legal", methods=["GET", "POST"])
def legal(centre_slug: str):
    centre = g.centre
    form = LegalForm(obj=centre)
    status = 200
    if request.method == "POST":
        status = _submit(
            form,
            lambda: centre_settings.update_legal_details(
                centre, _actor(), now=request_now(), **form.values()
            ),
        )
        if status is None:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.legal", centre_slug=centre.slug), code=303)
    return render_template("admin/legal.html", centre=centre, form=form), status
