"""Admin pages: the centre's services: list, new, edit (who offers them, in which languages)."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from booking import service_catalogue
from booking.admin import queries
from booking.admin.blueprint import bp
from booking.admin.forms import (
    ServiceForm,
)
from booking.admin.views import (
    _actor,
    _owned,
    _submit,
)
from booking.clock import request_now
from booking.i18n import (
    PUBLIC_LANGUAGES,
    current_language,
    language_label,
    service_format_label,
)
from booking.models import (
    SERVICE_FORMATS,
    Service,
)
from booking.settings_checks import text_field

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
        if u.holds_appointments or u.id in current
    ]


@bp.get("/centres/<centre_slug>/services")
def services_list(centre_slug: str):
    return render_template(
        "admin/services.html",
        centre=g.centre,
        services=queries.services_of(g.centre),
        language=current_language(),
    )


def _texts(form: ServiceForm, prefix: str) -> dict[str, str]:
    """The form's text of each public language (``prefix``: "description", ...)."""
    return {code: form[text_field(prefix, code)].data or "" for code in PUBLIC_LANGUAGES}


def _languages(form: ServiceForm) -> list[tuple[str, str]]:
    """Each public language and its name in the page's language, for the fieldsets; each
    text field labelled with its language (also in the list of errors above the form)."""
    languages = [(code, language_label(code, current_language())) for code in PUBLIC_LANGUAGES]
    for code, label in languages:
        form[text_field("name", code)].label.text = _("Name (%(language)s)", language=label)
        form[text_field("description", code)].label.text = _(
            "Description (%(language)s)", language=label
        )
        form[text_field("what_to_bring", code)].label.text = _(
            "What to bring (%(language)s)", language=label
        )
    return languages


def _service_form(centre, service: Service | None):
    if service is None:
        data = {"online_bookable": True, "is_active": True}
    else:
        data = {
            "slug": service.slug,
            "duration_minutes": service.duration_minutes,
            "buffer_minutes": service.buffer_minutes,
            "online_bookable": service.online_bookable,
            "is_active": service.is_active,
            "counsellors": [u.id for u in service.counsellors],
            "format": service.format,
        }
        for code in PUBLIC_LANGUAGES:
            data[text_field("name", code)] = (service.names or {}).get(code, "")
            data[text_field("description", code)] = (service.descriptions or {}).get(code, "")
            data[text_field("what_to_bring", code)] = (service.what_to_bring or {}).get(code, "")
    form = ServiceForm(data=data)
    form.counsellors.choices = _staff_choices(centre, service)
    form.format.choices = [(code, service_format_label(code)) for code in SERVICE_FORMATS]
    status = 200
    if request.method == "POST":
        status = _submit(
            form,
            lambda: service_catalogue.save_service(
                centre,
                _actor(),
                service,
                slug=form.slug.data,
                name_de=form.name_de.data,
                name_en=form.name_en.data,
                further_names={
                    code: form[text_field("name", code)].data or ""
                    for code in PUBLIC_LANGUAGES
                    if code not in ("de", "en")
                },
                duration_minutes=form.duration_minutes.data,
                buffer_minutes=form.buffer_minutes.data,
                online_bookable=form.online_bookable.data,
                is_active=form.is_active.data,
                counsellor_ids=form.counsellors.data or [],
                now=request_now(),
                texts=service_catalogue.ServiceTexts(
                    format=form.format.data or "in_person",
                    descriptions=_texts(form, "description"),
                    what_to_bring=_texts(form, "what_to_bring"),
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
        "admin/service_form.html",
        centre=centre,
        form=form,
        service=service,
        languages=_languages(form),
    ), status


@bp.route("/centres/<centre_slug>/services/new", methods=["GET", "POST"])
def service_new(centre_slug: str):
    return _service_form(g.centre, None)


@bp.route("/centres/<centre_slug>/services/<int:service_id>", methods=["GET", "POST"])
def service_edit(centre_slug: str, service_id: int):
    return _service_form(g.centre, _owned(Service, service_id, g.centre.id))
