"""Admin pages: opening hours (with validity periods, "from a date" and its preview)
and closures."""

from __future__ import annotations

import hashlib
from dataclasses import replace

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from booking import availability, centre_settings, settings_checks
from booking.admin.blueprint import bp
from booking.admin.forms import (
    ClosureForm,
    OpeningHoursEditForm,
    WeeklyHoursForm,
)
from booking.admin.views import (
    _actor,
    _after_change,
    _button_pressed,
    _interval,
    _owned,
    _submit,
    _weekday_choices,
)
from booking.clock import request_now
from booking.extensions import db
from booking.i18n import PUBLIC_LANGUAGES, current_language, language_label
from booking.models import (
    Booking,
    Closure,
    OpeningHours,
)
from booking.settings_checks import text_field

# Opening hours.


@bp.route("/centres/<centre_slug>/hours", methods=["GET", "POST"])
def hours(centre_slug: str):
    centre = g.centre
    form = WeeklyHoursForm()
    form.weekday.choices = _weekday_choices()
    status = 200
    if request.method == "POST":
        status = _submit(
            form,
            lambda: centre_settings.add_opening_hours(
                centre, _actor(), _interval(form), now=request_now()
            ),
        )
        if status is None:
            return _after_change(centre, url_for("admin.hours", centre_slug=centre.slug))
    return render_template(
        "admin/hours.html", centre=centre, form=form, hours=centre.opening_hours
    ), status


def _save_hours(row: OpeningHours, form: OpeningHoursEditForm) -> None:
    if form.change_from.data is not None:
        centre_settings.change_opening_hours_from(
            row, _actor(), _interval(form), form.change_from.data, now=request_now()
        )
    else:
        centre_settings.update_opening_hours(row, _actor(), _interval(form), now=request_now())


def _preview_hours(centre, row: OpeningHours, form: OpeningHoursEditForm) -> list[Booking]:
    """The upcoming bookings the change would newly leave outside the opening hours."""
    interval = _interval(form)
    others = [h for h in centre.opening_hours if h.id != row.id]
    if form.change_from.data is not None:
        parts = centre_settings.split_opening_hours(row, form.change_from.data)
        if parts is None:
            proposed = [
                *others,
                replace(interval, valid_from=row.valid_from, valid_until=row.valid_until),
            ]
        else:
            before, after = parts
            proposed = [
                *others,
                before,
                replace(interval, valid_from=after.valid_from, valid_until=after.valid_until),
            ]
    else:
        proposed = [*others, interval]
    now = request_now()
    already = {b.id for b, _why in availability.bookings_needing_attention(centre, now)}
    hit = availability.bookings_needing_attention(
        centre, now, opening_hours=availability.weekly_hours(proposed)
    )
    return [b for b, _why in hit if b.id not in already]


def _fingerprint(form: OpeningHoursEditForm) -> str:
    """The values a preview was shown for: Save applies exactly those, or previews again."""
    values = (
        form.weekday.data,
        form.opens.data,
        form.closes.data,
        form.valid_from.data,
        form.valid_until.data,
        form.change_from.data,
    )
    return hashlib.sha256(repr(values).encode()).hexdigest()[:24]


@bp.route("/centres/<centre_slug>/hours/<int:hours_id>", methods=["GET", "POST"])
def hours_edit(centre_slug: str, hours_id: int):
    """Changing hours goes through the preview of the bookings it would hit: "Save"
    appears with the preview and saves the values previewed; changed values preview
    again."""
    centre = g.centre
    row = _owned(OpeningHours, hours_id, centre.id)
    form = OpeningHoursEditForm(obj=row)
    form.weekday.choices = _weekday_choices()
    status = 200
    preview = None
    previewed = None
    if request.method == "POST":
        if not form.validate_on_submit():
            status = 422
        elif "save" in request.form and request.form.get("previewed") == _fingerprint(form):
            status = _submit(form, lambda: _save_hours(row, form))
            if status is None:
                return _after_change(centre, url_for("admin.hours", centre_slug=centre.slug))
        else:
            # Nothing is saved: the page shows what saving would do.
            try:
                preview = _preview_hours(centre, row, form)
                previewed = _fingerprint(form)
            except settings_checks.SettingsInvalid as error:
                for name, messages in error.errors.items():
                    form[name].errors = [*form[name].errors, *messages]
                status = 422
    return render_template(
        "admin/hours_edit.html",
        centre=centre,
        form=form,
        row=row,
        preview=preview,
        previewed=previewed,
    ), status


@bp.post("/centres/<centre_slug>/hours/<int:hours_id>/delete")
def hours_delete(centre_slug: str, hours_id: int):
    centre = g.centre
    row = _owned(OpeningHours, hours_id, centre.id)
    back = url_for("admin.hours", centre_slug=centre.slug)
    if not _button_pressed():
        return redirect(back, code=303)
    centre_settings.delete_opening_hours(row, _actor(), now=request_now())
    return _after_change(centre, back)


# Closures.


def _reason_languages(form: ClosureForm) -> list[tuple[str, str]]:
    """The further public languages and their names, each reason field labelled so."""
    page = current_language()
    languages = [(code, language_label(code, page)) for code in PUBLIC_LANGUAGES if code != "de"]
    for code, label in languages:
        form[text_field("reason", code)].label.text = _("Reason (%(language)s)", language=label)
    return languages


@bp.route("/centres/<centre_slug>/closures", methods=["GET", "POST"])
def closures(centre_slug: str):
    centre = g.centre
    form = ClosureForm()
    status = 200
    if request.method == "POST":
        status = _submit(
            form,
            lambda: centre_settings.add_closure(
                centre, _actor(), now=request_now(), **form.values()
            ),
        )
        if status is None:
            return _after_change(centre, url_for("admin.closures", centre_slug=centre.slug))
    now = request_now()
    upcoming = db.session.scalars(
        select(Closure)
        .where(Closure.centre_id == centre.id, Closure.end_at > now)
        .order_by(Closure.start_at)
    ).all()
    return render_template(
        "admin/closures.html",
        centre=centre,
        form=form,
        closures=upcoming,
        languages=_reason_languages(form),
    ), status


@bp.post("/centres/<centre_slug>/closures/<int:closure_id>/delete")
def closure_delete(centre_slug: str, closure_id: int):
    centre = g.centre
    closure = _owned(Closure, closure_id, centre.id)
    if _button_pressed():
        centre_settings.delete_closure(closure, _actor(), now=request_now())
        flash(_("The closure is deleted."), "success")
    return redirect(url_for("admin.closures", centre_slug=centre.slug), code=303)
