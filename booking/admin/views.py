"""Admin pages shared by every topic: the centre loaded (and checked) once per request, the
admin's home and a centre's overview, and the helpers the topic modules use (hours.py,
rules.py, service_pages.py, staff_accounts.py, attention.py, report_pages.py,
outbox_pages.py).

Views parse forms and show results; the settings writers (centre_settings.py,
service_catalogue.py, accounts.py) check the rules and write. A centre that is not the
admin's is a 404, checked once in before_request.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from booking import access, availability, settings_checks
from booking.admin import queries
from booking.admin.blueprint import bp
from booking.admin.forms import (
    WeeklyHoursForm,
)
from booking.clock import request_now
from booking.extensions import db
from booking.forms import EmptyForm
from booking.i18n import (
    COMMON_LANGUAGES,
    language_name,
    weekday_name,
)
from booking.models import (
    User,
)


@bp.before_request
def load_centre():
    """Runs after require_admin: the centre of the URL, if it is one of the admin's."""
    slug = (request.view_args or {}).get("centre_slug")
    if slug is None:
        return None
    centre = queries.centre_of(current_user, slug)
    if centre is None:
        abort(404)
    g.centre = centre
    return None


def _actor() -> User:
    return current_user._get_current_object()


def _submit(form, action) -> int | None:
    """Validate the form and run ``action``; None when done, else the status to re-render."""
    if not form.validate_on_submit():
        if form.meta.csrf and form.csrf_token.errors:
            flash(_("The form has expired. Please try again."), "error")
            return 400
        return 422
    try:
        action()
    except settings_checks.SettingsInvalid as error:
        for name, messages in error.errors.items():
            if name in form:
                form[name].errors = [*form[name].errors, *messages]
            else:
                flash(" ".join(messages), "error")
        return 422
    return None


def _button_pressed() -> bool:
    """A POST of a one-button form with a valid CSRF token."""
    if EmptyForm().validate_on_submit():
        return True
    flash(_("The form has expired. Please try again."), "error")
    return False


def _after_change(centre, fallback: str):
    """After hours, closures or rules changed: settle the bookings that no longer fit."""
    if availability.bookings_needing_attention(centre, request_now()):
        flash(
            _(
                "Saved. Some upcoming bookings no longer fit. They are not cancelled: "
                "please decide for each one."
            ),
            "warning",
        )
        return redirect(url_for("admin.attention", centre_slug=centre.slug), code=303)
    flash(_("Saved."), "success")
    return redirect(fallback, code=303)


def _weekday_choices() -> list[tuple[int, str]]:
    return [(day, weekday_name(day)) for day in range(7)]


def _interval(form: WeeklyHoursForm) -> settings_checks.WeeklyInterval:
    return settings_checks.WeeklyInterval(
        form.weekday.data,
        form.opens.data,
        form.closes.data,
        form.valid_from.data,
        form.valid_until.data,
    )


def _owned(model, object_id: int, centre_id: int, attribute: str = "centre_id"):
    """A row of the centre, else 404 (rows of other centres are not told apart)."""
    row = db.session.get(model, object_id)
    if row is None or getattr(row, attribute) != centre_id:
        abort(404)
    return row


def _changeable_staff(user_id: int, centre_id: int) -> User:
    """A staff account of the centre the admin may change: 404 outside it, 403 within."""
    return access.require_account_change(_actor(), _owned(User, user_id, centre_id))


@bp.get("/")
def home():
    centres = queries.admin_centres(_actor())
    return render_template(
        "admin/home.html", centres=centres, dead_counts=queries.dead_mail_counts(centres)
    )


@bp.get("/centres/<centre_slug>/")
def centre(centre_slug: str):
    return render_template(
        "admin/centre.html",
        centre=g.centre,
        attention_count=len(availability.bookings_needing_attention(g.centre, request_now())),
        dead_count=queries.dead_mail_counts([g.centre]).get(g.centre.id, 0),
    )


def _language_choices(codes: list[str]) -> list[tuple[str, str]]:
    """The usual languages and those already chosen, by their names in the page's language."""
    wanted = dict.fromkeys([*COMMON_LANGUAGES, *codes])
    return sorted(((code, language_name(code)) for code in wanted), key=lambda c: c[1].lower())
