"""Admin pages: the centre's staff accounts (list, new, edit), their working hours,
deactivation and a password set by the admin."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from booking import access, accounts, settings_checks
from booking.admin import queries
from booking.admin.blueprint import bp
from booking.admin.forms import (
    StaffCreateForm,
    StaffEditForm,
    StaffPasswordForm,
    WeeklyHoursForm,
)
from booking.admin.views import (
    _actor,
    _after_change,
    _button_pressed,
    _changeable_staff,
    _interval,
    _language_choices,
    _owned,
    _submit,
    _weekday_choices,
)
from booking.clock import request_now
from booking.forms import EmptyForm
from booking.i18n import (
    current_language,
)
from booking.models import (
    User,
    WorkingHours,
)

# Staff.


def _service_choices(centre) -> list[tuple[int, str]]:
    language = current_language()
    return [(s.id, s.name_in(language)) for s in queries.services_of(centre)]


@bp.get("/centres/<centre_slug>/staff")
def staff_list(centre_slug: str):
    return render_template(
        "admin/staff.html",
        centre=g.centre,
        staff=queries.staff_of(g.centre),
        language=current_language(),
    )


@bp.route("/centres/<centre_slug>/staff/new", methods=["GET", "POST"])
def staff_new(centre_slug: str):
    centre = g.centre
    form = StaffCreateForm(data={"role": "counsellor", "languages": ["de"]})
    form.languages.choices = _language_choices([])
    form.role.choices = _role_choices()
    form.services.choices = _service_choices(centre)
    status = 200
    if request.method == "POST":
        created: list[User] = []
        status = _submit(
            form,
            lambda: created.append(
                accounts.create_staff(
                    centre,
                    _actor(),
                    email=form.email.data,
                    name=form.name.data,
                    role=form.role.data,
                    languages=form.language_codes(),
                    service_ids=form.services.data or [],
                    password=form.password.data,
                    now=request_now(),
                )
            ),
        )
        if status is None:
            flash(_("The account is created."), "success")
            return redirect(
                url_for("admin.staff_edit", centre_slug=centre.slug, user_id=created[0].id),
                code=303,
            )
    return render_template("admin/staff_new.html", centre=centre, form=form), status


def _role_choices() -> list[tuple[str, str]]:
    return [
        ("counsellor", _("Counsellor")),
        ("reception", _("Reception")),
        ("admin", _("Administrator")),
        # Holds the Seiteneinsteigerberatung with a counsellor; sees nothing else.
        ("school_supervision", _("School supervision")),
    ]


def _render_staff_edit(centre, user, form, hours_form, status, password_form=None):
    return render_template(
        "admin/staff_edit.html",
        centre=centre,
        user=user,
        can_change=access.can_manage_account(_actor(), user),
        form=form,
        hours_form=hours_form,
        password_form=password_form or StaffPasswordForm(),
        working_hours=sorted(user.working_hours, key=lambda h: (h.weekday, h.opens)),
        roles=dict(_role_choices()),
        actions=EmptyForm(),
    ), status


def _staff_forms(centre, user):
    form = StaffEditForm(
        data={
            "name": user.name,
            "languages": list(user.languages or []),
            "services": [s.id for s in user.services],
        }
    )
    form.languages.choices = _language_choices(list(user.languages or []))
    form.services.choices = _service_choices(centre)
    hours_form = WeeklyHoursForm()
    hours_form.weekday.choices = _weekday_choices()
    return form, hours_form


@bp.route("/centres/<centre_slug>/staff/<int:user_id>", methods=["GET", "POST"])
def staff_edit(centre_slug: str, user_id: int):
    centre = g.centre
    user = _owned(User, user_id, centre.id)
    form, hours_form = _staff_forms(centre, user)
    status = 200
    if request.method == "POST":
        access.require_account_change(_actor(), user)
        status = _submit(
            form,
            lambda: accounts.update_staff(
                user,
                _actor(),
                name=form.name.data,
                languages=form.language_codes(),
                service_ids=form.services.data or [],
                now=request_now(),
            ),
        )
        if status is None:
            flash(_("Saved."), "success")
            return redirect(
                url_for("admin.staff_edit", centre_slug=centre.slug, user_id=user.id), code=303
            )
    return _render_staff_edit(centre, user, form, hours_form, status)


@bp.post("/centres/<centre_slug>/staff/<int:user_id>/hours")
def staff_hours_add(centre_slug: str, user_id: int):
    centre = g.centre
    user = _changeable_staff(user_id, centre.id)
    form, hours_form = _staff_forms(centre, user)
    status = _submit(
        hours_form,
        lambda: accounts.add_working_hours(
            user, _actor(), _interval(hours_form), now=request_now()
        ),
    )
    if status is None:
        return _after_change(
            centre, url_for("admin.staff_edit", centre_slug=centre.slug, user_id=user.id)
        )
    return _render_staff_edit(centre, user, form, hours_form, status)


@bp.post("/centres/<centre_slug>/staff/<int:user_id>/hours/<int:hours_id>/delete")
def staff_hours_delete(centre_slug: str, user_id: int, hours_id: int):
    centre = g.centre
    user = _changeable_staff(user_id, centre.id)
    row = _owned(WorkingHours, hours_id, user.id, attribute="user_id")
    back = url_for("admin.staff_edit", centre_slug=centre.slug, user_id=user.id)
    if not _button_pressed():
        return redirect(back, code=303)
    accounts.delete_working_hours(row, _actor(), now=request_now())
    return _after_change(centre, back)


@bp.post("/centres/<centre_slug>/staff/<int:user_id>/deactivate")
def staff_deactivate(centre_slug: str, user_id: int):
    centre = g.centre
    user = _changeable_staff(user_id, centre.id)
    back = url_for("admin.staff_edit", centre_slug=centre.slug, user_id=user.id)
    if not _button_pressed():
        return redirect(back, code=303)
    try:
        accounts.deactivate_staff(user, _actor(), now=request_now())
    except settings_checks.SettingsRefused as error:
        flash(str(error), "error")
        return redirect(back, code=303)
    return _after_change(centre, back)


@bp.post("/centres/<centre_slug>/staff/<int:user_id>/reactivate")
def staff_reactivate(centre_slug: str, user_id: int):
    centre = g.centre
    user = _changeable_staff(user_id, centre.id)
    if _button_pressed():
        accounts.reactivate_staff(user, _actor(), now=request_now())
        flash(_("The account is active again."), "success")
    return redirect(url_for("admin.staff_edit", centre_slug=centre.slug, user_id=user.id), code=303)


@bp.post("/centres/<centre_slug>/staff/<int:user_id>/password")
def staff_password(centre_slug: str, user_id: int):
    centre = g.centre
    user = _changeable_staff(user_id, centre.id)
    password_form = StaffPasswordForm()
    status = _submit(
        password_form,
        lambda: accounts.set_staff_password(
            user, _actor(), now=request_now(), **password_form.values()
        ),
    )
    if status is None:
        flash(
            _(
                "The password is set. The person is signed out and must choose a new "
                "password at the next sign-in."
            ),
            "success",
        )
        return redirect(
            url_for("admin.staff_edit", centre_slug=centre.slug, user_id=user.id), code=303
        )
    form, hours_form = _staff_forms(centre, user)
    return _render_staff_edit(centre, user, form, hours_form, status, password_form)
