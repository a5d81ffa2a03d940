"""Admin pages: a centre's events: list, new (one or a weekly or fortnightly series), change.

Moving and cancelling an event, with the preview of who will be told, are staff pages
(booking/staff/events.py) that admins reach from here. booking/events.py writes.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from booking import event_rules, events
from booking.admin import queries
from booking.admin.blueprint import bp
from booking.admin.forms import EventForm
from booking.admin.views import _actor
from booking.clock import request_now
from booking.extensions import db
from booking.i18n import (
    COMMON_LANGUAGES,
    PUBLIC_LANGUAGES,
    current_language,
    language_label,
    language_name,
)
from booking.models import AUDIENCES, Event
from booking.settings_checks import text_field
from booking.staff.events import _event_error_text
from booking.validation import FieldError, check_year, clean_text


@bp.get("/centres/<centre_slug>/events")
def events_admin(centre_slug: str):
    now = request_now()
    return render_template(
        "admin/events.html",
        centre=g.centre,
        events=events.upcoming_events(
            [g.centre.id], now, start_from=now - timedelta(days=60), include_cancelled=True
        ),
    )


def _audience_label(code: str) -> str:
    return {
        "families": _("Families"),
        "professionals": _("Professionals (schools, nurseries, agencies)"),
        "everyone": _("Everyone"),
    }[code]


def _form(centre, event: Event | None) -> EventForm:
    zone = ZoneInfo(centre.timezone)
    if event is None:
        data = {
            "seats": 20,
            "has_waiting_list": True,
            "closes_hours": 24,
            "languages": ["de"],
            "audience": "everyone",
            "count": 1,
        }
    else:
        start = event.start_at.astimezone(zone)
        data = {
            "audience": event.audience,
            "date": start.date(),
            "starts": start.time(),
            "ends": event.end_at.astimezone(zone).time(),
            "place": event.place or "",
            "leaders": [u.id for u in event.leaders],
            "seats": event.seats,
            "has_waiting_list": event.has_waiting_list,
            "closes_hours": int(
                (event.start_at - event.registration_closes_at).total_seconds() // 3600
            ),
            "languages": list(event.languages or []),
        }
        for code in PUBLIC_LANGUAGES:
            data[text_field("title", code)] = (event.titles or {}).get(code, "")
            data[text_field("description", code)] = (event.descriptions or {}).get(code, "")
    form = EventForm(data=data)
    form.audience.choices = [(a, _audience_label(a)) for a in AUDIENCES]
    form.leaders.choices = [
        (u.id, u.name) for u in queries.staff_of(centre) if u.is_active and u.role != "reception"
    ]
    form.languages.choices = [(c, language_name(c)) for c in COMMON_LANGUAGES]
    form.repeat.choices = [
        ("", _("No, one event")),
        ("weekly", _("Every week")),
        ("fortnightly", _("Every second week")),
    ]
    return form


def event_languages(form: EventForm) -> list[tuple[str, str]]:
    """Each public language and its name in the page's language, for the fieldsets; each
    text field labelled with its language (also in the list of errors above the form)."""
    languages = [(code, language_label(code, current_language())) for code in PUBLIC_LANGUAGES]
    for code, label in languages:
        form[text_field("title", code)].label.text = _("Title (%(language)s)", language=label)
        form[text_field("description", code)].label.text = _(
            "Description (%(language)s)", language=label
        )
    return languages


def _read(form: EventForm, centre) -> tuple[events.EventDetails | None, list, list]:
    """The details, the (start, end) of each event and the leaders; errors go to the form."""
    errors: dict[str, list[str]] = {}

    def text(name, required=False, multiline=False, max_length=200):
        try:
            return clean_text(
                form[name].data, max_length=max_length, required=required, multiline=multiline
            )
        except FieldError as error:
            errors[name] = [str(error)]
            return None

    titles, descriptions = {}, {}
    for code in PUBLIC_LANGUAGES:
        if title := text(text_field("title", code), required=code == "de"):
            titles[code] = title
        description = text(text_field("description", code), multiline=True, max_length=2000)
        if description:
            descriptions[code] = description
    if descriptions and "de" not in descriptions and "description_de" not in errors:
        errors["description_de"] = [
            _("Give the German text too: it is shown in every language without its own.")
        ]
    place = text("place", max_length=300)
    if form.audience.data not in AUDIENCES:
        errors["audience"] = [_("Choose one of the list.")]
    seats = form.seats.data
    if not form.seats.errors and (seats is None or not 1 <= seats <= event_rules.MAX_SEATS):
        errors["seats"] = [_("Enter a number from %(low)d to %(high)d.", low=1, high=500)]
    hours = form.closes_hours.data if form.closes_hours.data is not None else 24
    if not 0 <= hours <= 24 * 60:
        errors["closes_hours"] = [_("Enter a number from %(low)d to %(high)d.", low=0, high=1440)]
    languages = list(dict.fromkeys(form.languages.data or []))
    if any(code not in COMMON_LANGUAGES for code in languages):
        errors["languages"] = [_("Choose one of the list.")]
    repeat = form.repeat.data or None
    count = form.count.data or 1
    if repeat not in (None, *event_rules.SERIES_INTERVALS):
        errors["repeat"] = [_("Choose one of the list.")]
    if repeat and not form.count.errors and not 2 <= count <= event_rules.MAX_SERIES:
        errors["count"] = [
            _("Enter a number from %(low)d to %(high)d.", low=2, high=event_rules.MAX_SERIES)
        ]
    times = []
    if form.date.data is not None:
        try:
            check_year(form.date.data)
        except FieldError as error:
            errors["date"] = [str(error)]
    if form.starts.data and form.ends.data and form.ends.data <= form.starts.data:
        errors["ends"] = [_("The end must be after the start.")]
    # The fields' own checks (a date, a time, a number) have put their messages already.
    parsed = not any(f.errors for f in form)
    if not errors and parsed:
        times = event_rules.series_times(
            form.date.data,
            form.starts.data,
            form.ends.data,
            centre.timezone,
            repeat=repeat,
            count=count if repeat else 1,
        )
    ids = set(form.leaders.data or [])
    leaders = [u for u in queries.staff_of(centre) if u.id in ids]
    for name, messages in errors.items():
        form[name].errors = [*form[name].errors, *messages]
    if errors or not parsed:
        return None, [], []
    details = events.EventDetails(
        titles=titles,
        descriptions=descriptions,
        audience=form.audience.data,
        place=place,
        seats=seats,
        has_waiting_list=bool(form.has_waiting_list.data),
        closes_before=timedelta(hours=hours),
        languages=tuple(languages),
    )
    return details, times, leaders


@bp.route("/centres/<centre_slug>/events/new", methods=["GET", "POST"])
def event_new(centre_slug: str):
    centre = g.centre
    form = _form(centre, None)
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit() and form.csrf_token.errors:
            status = 400
            flash(_("The form has expired. Please try again."), "error")
        else:
            # Every field's message at once: the texts are read although a date failed.
            details, times, leaders = _read(form, centre)
            if details is None:
                status = 422
            else:
                try:
                    made = events.create_events(
                        centre, details, times, leaders, _actor(), now=request_now()
                    )
                except events.EventError as error:
                    form.leaders.errors = [_event_error_text(error)]
                    status = 409
                else:
                    flash(_("%(count)d events are saved.", count=len(made)), "success")
                    return redirect(
                        url_for("admin.events_admin", centre_slug=centre.slug), code=303
                    )
    return render_template(
        "admin/event_form.html",
        centre=centre,
        form=form,
        event=None,
        languages=event_languages(form),
    ), status


@bp.route("/centres/<centre_slug>/events/<int:event_id>", methods=["GET", "POST"])
def event_edit(centre_slug: str, event_id: int):
    """Change an event. A new time or place sends the confirmed registrants the changed
    invitation; the staff page "Move" shows who that is beforehand."""
    centre = g.centre
    event = db.session.get(Event, event_id)
    if event is None or event.centre_id != centre.id:
        abort(404)
    form = _form(centre, event)
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit() and form.csrf_token.errors:
            status = 400
            flash(_("The form has expired. Please try again."), "error")
        else:
            form.repeat.data = ""
            details, times, leaders = _read(form, centre)
            if details is None:
                status = 422
            else:
                try:
                    told = events.change_event(
                        event,
                        details,
                        times[0][0],
                        times[0][1],
                        leaders,
                        _actor(),
                        now=request_now(),
                    )
                except events.EventError as error:
                    flash(_event_error_text(error), "error")
                    status = 409
                else:
                    flash(
                        _("Saved. %(count)d registrants are told of the change.", count=len(told)),
                        "success",
                    )
                    return redirect(
                        url_for("admin.events_admin", centre_slug=centre.slug), code=303
                    )
    return render_template(
        "admin/event_form.html",
        centre=centre,
        form=form,
        event=event,
        languages=event_languages(form),
    ), status


@bp.get("/centres/<centre_slug>/events/report")
def event_report(centre_slug: str):
    """Events, registrations, persons, attendance and waiting lists per audience and month."""
    from babel.dates import get_month_names
    from flask_babel import get_locale

    from booking import reports
    from booking.admin.report_pages import _report_year

    centre = g.centre
    year = _report_year(centre)
    names = get_month_names("abbreviated", context="stand-alone", locale=get_locale())
    return render_template(
        "admin/event_report.html",
        centre=centre,
        year=year,
        months=[names[m] for m in reports.MONTHS],
        event_rows=reports.event_report(queries.event_facts(centre, year)),
        audience_labels={a: _audience_label(a) for a in AUDIENCES},
    )
