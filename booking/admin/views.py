"""Admin views, per centre under /admin/centres/<slug>/: opening hours, closures, rules,
services, staff, bookings needing attention, reports and dead mails.

Views parse forms and show results; booking/administration.py checks the rules and
writes. A centre that is not the admin's is a 404, checked once in before_request.
"""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from babel.dates import get_month_names
from flask import Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from booking import access, administration, availability, reports, services
from booking.admin import queries
from booking.admin.blueprint import bp
from booking.admin.forms import (
    ClosureForm,
    LegalForm,
    OpeningHoursEditForm,
    RulesForm,
    ServiceForm,
    StaffCreateForm,
    StaffEditForm,
    StaffPasswordForm,
    WeeklyHoursForm,
)
from booking.extensions import db
from booking.forms import EmptyForm
from booking.i18n import (
    current_language,
    language_name,
    service_format_label,
    status_label,
    weekday_name,
)
from booking.models import (
    SERVICE_FORMATS,
    Booking,
    Closure,
    OpeningHours,
    Service,
    User,
    WorkingHours,
    utcnow,
)
from booking.public.forms import COMMON_LANGUAGES
from booking.slots import (
    CLOSURE,
    COUNSELLOR_ABSENT,
    COUNSELLOR_NOT_WORKING,
    OUTSIDE_OPENING_HOURS,
    PUBLIC_HOLIDAY,
)
from booking.staff.context import posted_bulk_action, posted_colleagues, settle_flash

FIRST_REPORT_YEAR, LAST_REPORT_YEAR = 2000, 2100


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
    except administration.SettingsInvalid as error:
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
    if queries.needing_attention(centre, utcnow()):
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


def _interval(form: WeeklyHoursForm) -> administration.WeeklyInterval:
    return administration.WeeklyInterval(
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
        attention_count=len(queries.needing_attention(g.centre, utcnow())),
        dead_count=queries.dead_mail_counts([g.centre]).get(g.centre.id, 0),
    )


# Opening hours.


@bp.route("/centres/<centre_slug>/hours", methods=["GET", "POST"])
def hours(centre_slug: str):
    centre = g.centre
    form = WeeklyHoursForm()
    form.weekday.choices = _weekday_choices()
    status = 200
    if request.method == "POST":
        status = _submit(
            form, lambda: administration.add_opening_hours(centre, _actor(), _interval(form))
        )
        if status is None:
            return _after_change(centre, url_for("admin.hours", centre_slug=centre.slug))
    return render_template(
        "admin/hours.html", centre=centre, form=form, hours=centre.opening_hours
    ), status


def _save_hours(row: OpeningHours, form: OpeningHoursEditForm) -> None:
    if form.change_from.data is not None:
        administration.change_opening_hours_from(
            row, _actor(), _interval(form), form.change_from.data
        )
    else:
        administration.update_opening_hours(row, _actor(), _interval(form))


def _preview_hours(centre, row: OpeningHours, form: OpeningHoursEditForm) -> list[Booking]:
    """The upcoming bookings the change would newly leave outside the opening hours."""
    interval = _interval(form)
    others = [h for h in centre.opening_hours if h.id != row.id]
    if form.change_from.data is not None:
        parts = administration.split_opening_hours(row, form.change_from.data)
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
    now = utcnow()
    already = {b.id for b, _why in availability.bookings_needing_attention(centre, now)}
    hit = availability.bookings_needing_attention(
        centre, now, opening_hours=availability.weekly_hours(proposed)
    )
    return [b for b, _why in hit if b.id not in already]


@bp.route("/centres/<centre_slug>/hours/<int:hours_id>", methods=["GET", "POST"])
def hours_edit(centre_slug: str, hours_id: int):
    centre = g.centre
    row = _owned(OpeningHours, hours_id, centre.id)
    form = OpeningHoursEditForm(obj=row)
    form.weekday.choices = _weekday_choices()
    status = 200
    preview = None
    if request.method == "POST" and "preview" in request.form:
        # Nothing is saved: the page shows what saving would do.
        if form.validate_on_submit():
            try:
                preview = _preview_hours(centre, row, form)
            except administration.SettingsInvalid as error:
                for name, messages in error.errors.items():
                    form[name].errors = [*form[name].errors, *messages]
                status = 422
        else:
            status = 422
    elif request.method == "POST":
        status = _submit(form, lambda: _save_hours(row, form))
        if status is None:
            return _after_change(centre, url_for("admin.hours", centre_slug=centre.slug))
    return render_template(
        "admin/hours_edit.html", centre=centre, form=form, row=row, preview=preview
    ), status


@bp.post("/centres/<centre_slug>/hours/<int:hours_id>/delete")
def hours_delete(centre_slug: str, hours_id: int):
    centre = g.centre
    row = _owned(OpeningHours, hours_id, centre.id)
    back = url_for("admin.hours", centre_slug=centre.slug)
    if not _button_pressed():
        return redirect(back, code=303)
    administration.delete_opening_hours(row, _actor())
    return _after_change(centre, back)


# Closures.


@bp.route("/centres/<centre_slug>/closures", methods=["GET", "POST"])
def closures(centre_slug: str):
    centre = g.centre
    form = ClosureForm()
    status = 200
    if request.method == "POST":
        status = _submit(
            form,
            lambda: administration.add_closure(
                centre,
                _actor(),
                start_date=form.start_date.data,
                start_time=form.start_time.data,
                end_date=form.end_date.data,
                end_time=form.end_time.data,
                reason=form.reason.data,
            ),
        )
        if status is None:
            return _after_change(centre, url_for("admin.closures", centre_slug=centre.slug))
    now = utcnow()
    upcoming = db.session.scalars(
        select(Closure)
        .where(Closure.centre_id == centre.id, Closure.end_at > now)
        .order_by(Closure.start_at)
    ).all()
    return render_template(
        "admin/closures.html", centre=centre, form=form, closures=upcoming
    ), status


@bp.post("/centres/<centre_slug>/closures/<int:closure_id>/delete")
def closure_delete(centre_slug: str, closure_id: int):
    centre = g.centre
    closure = _owned(Closure, closure_id, centre.id)
    if _button_pressed():
        administration.delete_closure(closure, _actor())
        flash(_("The closure is deleted."), "success")
    return redirect(url_for("admin.closures", centre_slug=centre.slug), code=303)


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
            ),
        )
        if status is None:
            flash(_("Saved."), "success")
            return redirect(url_for("admin.legal", centre_slug=centre.slug), code=303)
    return render_template("admin/legal.html", centre=centre, form=form), status


# Services.


def _staff_choices(centre, service: Service | None) -> list[tuple[int, str]]:
    """Counsellors (and whoever offers the service already, so nothing is lost on save)."""
    current = {u.id for u in service.counsellors} if service is not None else set()
    return [
        (
            u.id,
            u.name if u.is_active else _("%(name)s (deactivated)", name=u.name),
        )
        for u in queries.staff_of(centre)
        if u.role == "counsellor" or u.id in current
    ]


def _language_choices(codes: list[str]) -> list[tuple[str, str]]:
    """The usual languages and those already chosen, by their names in the page's language."""
    wanted = dict.fromkeys([*COMMON_LANGUAGES, *codes])
    return sorted(((code, language_name(code)) for code in wanted), key=lambda c: c[1].lower())


@bp.get("/centres/<centre_slug>/services")
def services_list(centre_slug: str):
    return render_template(
        "admin/services.html",
        centre=g.centre,
        services=queries.services_of(g.centre),
        language=current_language(),
    )


def _service_form(centre, service: Service | None):
    if service is None:
        data = {"online_bookable": True, "is_active": True}
    else:
        data = {
            "slug": service.slug,
            "name_de": (service.names or {}).get("de", ""),
            "name_en": (service.names or {}).get("en", ""),
            "duration_minutes": service.duration_minutes,
            "buffer_minutes": service.buffer_minutes,
            "online_bookable": service.online_bookable,
            "is_active": service.is_active,
            "counsellors": [u.id for u in service.counsellors],
            "format": service.format,
            "description_de": (service.descriptions or {}).get("de", ""),
            "description_en": (service.descriptions or {}).get("en", ""),
            "what_to_bring_de": (service.what_to_bring or {}).get("de", ""),
            "what_to_bring_en": (service.what_to_bring or {}).get("en", ""),
        }
    form = ServiceForm(data=data)
    form.counsellors.choices = _staff_choices(centre, service)
    form.format.choices = [(code, service_format_label(code)) for code in SERVICE_FORMATS]
    status = 200
    if request.method == "POST":
        status = _submit(
            form,
            lambda: administration.save_service(
                centre,
                _actor(),
                service,
                slug=form.slug.data,
                name_de=form.name_de.data,
                name_en=form.name_en.data,
                duration_minutes=form.duration_minutes.data,
                buffer_minutes=form.buffer_minutes.data,
                online_bookable=form.online_bookable.data,
                is_active=form.is_active.data,
                counsellor_ids=form.counsellors.data or [],
                now=utcnow(),
                texts=administration.ServiceTexts(
                    format=form.format.data or "in_person",
                    description_de=form.description_de.data or "",
                    description_en=form.description_en.data or "",
                    what_to_bring_de=form.what_to_bring_de.data or "",
                    what_to_bring_en=form.what_to_bring_en.data or "",
                ),
            ),
        )
        if status is None:
            flash(_("Saved."), "success")
            saved = service or queries.service_by_slug(centre, form.slug.data)
            if saved is not None and saved.is_active and not queries.active_counsellors_of(saved):
                flash(
                    _(
                        "No active counsellor offers this service, so families see no free "
                        "times for it. Choose who offers it, or set it to not offered."
                    ),
                    "warning",
                )
            return redirect(url_for("admin.services_list", centre_slug=centre.slug), code=303)
    return render_template(
        "admin/service_form.html", centre=centre, form=form, service=service
    ), status


@bp.route("/centres/<centre_slug>/services/new", methods=["GET", "POST"])
def service_new(centre_slug: str):
    return _service_form(g.centre, None)


@bp.route("/centres/<centre_slug>/services/<int:service_id>", methods=["GET", "POST"])
def service_edit(centre_slug: str, service_id: int):
    return _service_form(g.centre, _owned(Service, service_id, g.centre.id))


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
                administration.create_staff(
                    centre,
                    _actor(),
                    email=form.email.data,
                    name=form.name.data,
                    role=form.role.data,
                    languages=form.language_codes(),
                    service_ids=form.services.data or [],
                    password=form.password.data,
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
            lambda: administration.update_staff(
                user,
                _actor(),
                name=form.name.data,
                languages=form.language_codes(),
                service_ids=form.services.data or [],
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
        lambda: administration.add_working_hours(user, _actor(), _interval(hours_form)),
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
    administration.delete_working_hours(row, _actor())
    return _after_change(centre, back)


@bp.post("/centres/<centre_slug>/staff/<int:user_id>/deactivate")
def staff_deactivate(centre_slug: str, user_id: int):
    centre = g.centre
    user = _changeable_staff(user_id, centre.id)
    back = url_for("admin.staff_edit", centre_slug=centre.slug, user_id=user.id)
    if not _button_pressed():
        return redirect(back, code=303)
    try:
        administration.deactivate_staff(user, _actor())
    except administration.SettingsRefused as error:
        flash(str(error), "error")
        return redirect(back, code=303)
    return _after_change(centre, back)


@bp.post("/centres/<centre_slug>/staff/<int:user_id>/reactivate")
def staff_reactivate(centre_slug: str, user_id: int):
    centre = g.centre
    user = _changeable_staff(user_id, centre.id)
    if _button_pressed():
        administration.reactivate_staff(user, _actor())
        flash(_("The account is active again."), "success")
    return redirect(url_for("admin.staff_edit", centre_slug=centre.slug, user_id=user.id), code=303)


@bp.post("/centres/<centre_slug>/staff/<int:user_id>/password")
def staff_password(centre_slug: str, user_id: int):
    centre = g.centre
    user = _changeable_staff(user_id, centre.id)
    password_form = StaffPasswordForm()
    status = _submit(
        password_form,
        lambda: administration.set_staff_password(
            user,
            _actor(),
            password=password_form.password.data,
            confirm=password_form.confirm.data,
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


# Bookings that changed settings no longer allow.


def reason_labels() -> dict[str, str]:
    return {
        OUTSIDE_OPENING_HOURS: _("outside the opening hours"),
        PUBLIC_HOLIDAY: _("on a public holiday"),
        CLOSURE: _("the centre is closed then"),
        COUNSELLOR_NOT_WORKING: _("outside the counsellor's working hours"),
        COUNSELLOR_ABSENT: _("the counsellor is absent"),
        queries.COUNSELLOR_INACTIVE: _("the counsellor's account is deactivated"),
    }


@bp.get("/centres/<centre_slug>/attention")
def attention(centre_slug: str):
    centre = g.centre
    now = utcnow()
    entries = queries.needing_attention(centre, now)
    return render_template(
        "admin/attention.html",
        centre=centre,
        entries=entries,
        select_all=request.args.get("select") == "all",
        colleagues=availability.free_colleagues([b for b, _why in entries], now),
        reasons=reason_labels(),
        language=current_language(),
        actions=EmptyForm(),
    )


@bp.post("/centres/<centre_slug>/attention/<int:booking_id>/cancel")
def attention_cancel(centre_slug: str, booking_id: int):
    centre = g.centre
    booking = _owned(Booking, booking_id, centre.id)
    if _button_pressed():
        try:
            cancelled = services.staff_cancel(
                booking, _actor(), now=utcnow(), reason=services.CONFLICT_CANCEL_REASON
            )
        except services.BookingNotChangeable:
            cancelled = False
        if cancelled:
            flash(
                _(
                    "Booking %(reference)s is cancelled; the family is told.",
                    reference=booking.reference,
                ),
                "success",
            )
        else:
            flash(_("This booking was already cancelled or is past."), "error")
    return redirect(url_for("admin.attention", centre_slug=centre.slug), code=303)


@bp.post("/centres/<centre_slug>/attention/<int:booking_id>/hand_over")
def attention_hand_over(centre_slug: str, booking_id: int):
    centre = g.centre
    booking = _owned(Booking, booking_id, centre.id)
    if _button_pressed():
        chosen = posted_colleagues(request.form, [booking.id])
        if booking.id not in chosen:
            flash(_("Please choose a colleague."), "error")
        else:
            settle_flash(
                services.settle_conflicts(
                    [booking], "hand_over", _actor(), now=utcnow(), colleagues=chosen
                )
            )
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
            bookings = [_owned(Booking, i, centre.id) for i in dict.fromkeys(ids)]
            settle_flash(
                services.settle_conflicts(
                    bookings,
                    action,
                    _actor(),
                    now=utcnow(),
                    colleagues=posted_colleagues(request.form, ids),
                )
            )
    return redirect(url_for("admin.attention", centre_slug=centre.slug), code=303)


@bp.post("/centres/<centre_slug>/attention/<int:booking_id>/keep")
def attention_keep(centre_slug: str, booking_id: int):
    centre = g.centre
    booking = _owned(Booking, booking_id, centre.id)
    if _button_pressed():
        services.keep_despite_conflict(booking, _actor(), now=utcnow())
        flash(_("Booking %(reference)s is kept.", reference=booking.reference), "success")
    return redirect(url_for("admin.attention", centre_slug=centre.slug), code=303)


# Reports.


def _report_year(centre) -> int:
    raw = request.args.get("year")
    if not raw:
        return utcnow().astimezone(ZoneInfo(centre.timezone)).year
    if not raw.isdigit() or not FIRST_REPORT_YEAR <= int(raw) <= LAST_REPORT_YEAR:
        abort(400, description=_("Give the year as a number, e.g. 2026."))
    return int(raw)


def _report(centre):
    """The report of the year asked for, with every label in the page's language."""
    year = _report_year(centre)
    language = current_language()
    centre_services = db.session.scalars(
        select(Service).where(Service.centre_id == centre.id).order_by(Service.position)
    ).all()
    report = reports.yearly_report(
        queries.report_facts(centre, year),
        year,
        centre.timezone,
        service_order=[s.id for s in centre_services],
    )
    dimension_labels = {
        "service": _("Service"),
        "counsellor": _("Counsellor"),
        "language": _("Language"),
        "channel": _("Channel"),
        "interpreter": _("Interpreter"),
        "interpreter_language": _("Interpreter language"),
        "status": _("Status"),
    }
    key_labels = {
        "service": {s.id: s.name_in(language) for s in centre_services},
        "language": {
            code: language_name(code) if code else _("not given")
            for code in report.breakdowns["language"].keys
        },
        "channel": {"online": _("online"), "phone": _("by phone"), "walk_in": _("walk-in")},
        "interpreter": {"yes": _("interpreter needed"), "no": _("no interpreter")},
        "interpreter_language": {
            code: language_name(code) if code else _("no interpreter")
            for code in report.breakdowns["interpreter_language"].keys
        },
        "counsellor": queries.staff_names(report.breakdowns["counsellor"].keys),
        "status": {status: status_label(status) for status in reports.STATUS_KEYS},
    }
    return report, dimension_labels, key_labels


def _month_labels() -> list[str]:
    names = get_month_names("abbreviated", context="stand-alone", locale=get_locale())
    return [names[month] for month in reports.MONTHS]


@bp.get("/centres/<centre_slug>/reports")
def report_page(centre_slug: str):
    centre = g.centre
    report, dimension_labels, key_labels = _report(centre)
    months = _month_labels()
    by_service = report.breakdowns["service"]
    chart = reports.stacked_bar_chart_svg(
        months,
        [
            (key_labels["service"].get(key, str(key)), by_service.row(key))
            for key in by_service.keys
            if by_service.key_total(key)
        ],
        title=_("Bookings per month by service, %(year)d", year=report.year),
        description=_("Stacked bars, one per month. The tables below give the numbers."),
    )
    return render_template(
        "admin/reports.html",
        centre=centre,
        report=report,
        months=months,
        dimensions=reports.DIMENSIONS,
        dimension_labels=dimension_labels,
        key_labels=key_labels,
        chart=Markup(chart),  # noqa: S704 - built by reports.py, every text in it escaped
    )


@bp.get("/centres/<centre_slug>/reports.csv")
def report_csv(centre_slug: str):
    centre = g.centre
    separator = request.args.get("sep", "semicolon")
    if separator not in reports.CSV_DELIMITERS:
        abort(400, description=_("Choose semicolon or comma as the separator."))
    report, dimension_labels, key_labels = _report(centre)
    body = reports.report_csv(
        report,
        dimension_labels,
        key_labels,
        header=(_("Breakdown"), _("Value"), _("Total")),
        persons_label=_("Persons (without cancelled bookings)"),
        delimiter=reports.CSV_DELIMITERS[separator],
    )
    filename = f"report-{centre.slug}-{report.year}.csv"
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


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
        if administration.requeue_mail(message, booking, _actor(), now=utcnow()):
            flash(_("The mail will be sent again shortly."), "success")
        else:
            flash(_("This mail is no longer waiting to be sent again."), "error")
    return redirect(url_for("admin.outbox", centre_slug=centre.slug), code=303)
