"""Families' and professionals' event pages: the lists, an event with its registration
form, and the manage page of a registration (cancel, add to calendar).

Views check input and show results; booking/events.py decides and writes. A GET never
changes anything.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound

from booking import availability, bookings, event_mail, event_rules, events, ical
from booking.clock import request_now
from booking.extensions import db, limiter
from booking.forms import EmptyForm
from booking.i18n import COMMON_LANGUAGES, current_language, language_name, url_code
from booking.lookups import centre_or_404
from booking.models import AUDIENCES, Event, Registration
from booking.public.blueprint import bp
from booking.public.booking_views import BOOKING_LIMIT
from booking.public.forms import RegistrationForm
from booking.validation import FieldError, clean_consent, clean_day, clean_registration


def _audience_filter() -> str | None:
    audience = request.args.get("audience")
    return audience if audience in ("families", "professionals") else None


@dataclass
class DateFilter:
    """The days asked for (``from`` and ``to``, both included, as the API names them), the
    text typed, and a message per field for what could not be read."""

    first: date | None = None
    last: date | None = None
    typed: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def query(self) -> dict[str, str]:
        """The readable bounds, for links that keep the filter."""
        return {
            name: day.isoformat()
            for name, day in (("from", self.first), ("to", self.last))
            if day is not None
        }


def _date_filter() -> DateFilter:
    """``from`` and ``to`` from the query; a bound that cannot be read is left out and gets
    its message, shown next to its field."""
    found = DateFilter()
    days = {}
    for name in ("from", "to"):
        raw = request.args.get(name, "")
        found.typed[name] = raw[:40]
        days[name] = None
        if raw.strip():
            try:
                days[name] = clean_day(raw)
            except FieldError as error:
                found.errors[name] = str(error)
    if days["from"] and days["to"] and days["to"] < days["from"]:
        found.errors["to"] = _("The end date lies before the start date.")
        days["to"] = None
    found.first, found.last = days["from"], days["to"]
    return found


# A weekly series alone may hold 52 events: the lists show this many a page.
EVENTS_PER_PAGE = 20


def _page_number() -> int:
    """``page`` from the query; anything but a small whole number is the first page."""
    raw = request.args.get("page", "")
    if raw.isascii() and raw.isdigit() and len(raw) <= 5:
        return max(int(raw), 1)
    return 1


def _list_page(centre=None):
    now = request_now()
    audience = _audience_filter()
    dates = _date_filter()
    centres = availability.all_centres()
    found = [
        event
        for event in events.upcoming_events(
            [centre.id] if centre is not None else None, now, audience=audience
        )
        # Each event's days are its own centre's.
        if event_rules.starts_in_window(
            event.start_at,
            event_rules.date_window(dates.first, dates.last, ZoneInfo(event.centre.timezone)),
        )
    ]
    kept = {**({"audience": audience} if audience else {}), **dates.query()}
    pages = max(1, -(-len(found) // EVENTS_PER_PAGE))
    page = min(_page_number(), pages)
    shown = found[(page - 1) * EVENTS_PER_PAGE : page * EVENTS_PER_PAGE]
    return render_template(
        "public/events.html",
        centre=centre,
        centres=centres,
        events=shown,
        page=page,
        pages=pages,
        # The other pages of this list: the same centre, filters and language.
        list_args={
            **({"centre_slug": centre.slug} if centre is not None else {}),
            **kept,
            "lang": url_code(current_language()),
        },
        waiting=events.waiting_persons([e.id for e in shown]),
        audience=audience,
        audiences=AUDIENCES,
        dates=dates,
        kept=kept,
        language=current_language(),
        now=now,
    )


@bp.get("/events")
def all_events():
    return _list_page()


@bp.get("/centres/<centre_slug>/events")
def centre_events(centre_slug: str):
    return _list_page(centre_or_404(centre_slug))


def _event_or_404(centre_slug: str, event_id: int) -> Event:
    centre = centre_or_404(centre_slug)
    event = db.session.get(Event, event_id)
    if event is None or event.centre_id != centre.id:
        abort(404)
    return event


def _language_choices(event: Event) -> list[tuple[str, str]]:
    codes = list(dict.fromkeys([*(event.languages or []), *COMMON_LANGUAGES]))
    return [("", _("No preference")), *((c, language_name(c)) for c in codes)]


def _event_page(event: Event, form: RegistrationForm, status: int = 200):
    return (
        render_template(
            "public/event.html",
            event=event,
            centre=event.centre,
            form=form,
            language=current_language(),
            is_open=event.is_open_for_registration(request_now()),
            asks_organisation=event.audience != "families",
        ),
        status,
    )


@bp.route("/centres/<centre_slug>/events/<int:event_id>", methods=["GET", "POST"])
@limiter.limit(BOOKING_LIMIT, methods=["POST"])
def event_page(centre_slug: str, event_id: int):
    event = _event_or_404(centre_slug, event_id)
    form = RegistrationForm()
    form.language.choices = _language_choices(event)
    if request.method == "GET":
        form.language.data = current_language().split("@")[0]
        form.nonce.data = secrets.token_urlsafe(24)
        return _event_page(event, form)
    if not form.validate_on_submit():
        flash(_("The form has expired. Please try again."), "error")
        return _event_page(event, form, 400)
    details, errors = clean_registration(request.form, from_form=True)
    try:
        clean_consent(request.form.get("consent"))
    except FieldError as error:
        errors["consent"] = [str(error)]
    if errors:
        for name, messages in errors.items():
            form[name].errors = list(messages)
        return _event_page(event, form, 422)
    # The same form sent twice (a double click, a reload) answers with the first result.
    idempotency = bookings.Idempotency.of_form(
        "event-form",
        form.nonce.data,
        str(event.id),
        details.email or "",
        details.name,
        str(details.persons),
    )
    try:
        result = events.register(
            event, details, now=request_now(), locale=current_language(), idempotency=idempotency
        )
    except bookings.IdempotencyMismatch:
        flash(_("The form has expired. Please try again."), "error")
        form.nonce.data = secrets.token_urlsafe(24)
        return _event_page(event, form, 400)
    except events.AlreadyRegistered:
        form.email.errors = [
            _(
                "This e-mail address is already registered for this event. The link in "
                "your confirmation mail shows the registration."
            )
        ]
        return _event_page(event, form, 409)
    except events.EventFull:
        flash(_("Sorry, the event is full."), "error")
        return _event_page(event, form, 409)
    except events.RegistrationClosed:
        flash(_("Registration has closed. Please call us."), "error")
        return _event_page(event, form, 409)
    if result.registration.status == "confirmed":
        flash(_("You are registered. We have sent you a confirmation by e-mail."), "success")
    else:
        flash(
            _(
                "The event is full: you are on the waiting list at position %(position)d.",
                position=result.waiting_position,
            ),
            "success",
        )
    return redirect(url_for("public.registration", token=result.manage_token), code=303)


class UnknownRegistrationLink(NotFound):
    """A registration link that matches no registration (old, mistyped or replaced)."""


def _registration_or_404(token: str) -> Registration:
    registration = events.find_by_token(token)
    if registration is None:
        raise UnknownRegistrationLink()
    return registration


@bp.errorhandler(UnknownRegistrationLink)
def unknown_registration_link(error):
    return render_template("public/unknown_link.html", centres=availability.all_centres()), 404


@bp.get("/r/<token>")
def registration(token: str):
    registration = _registration_or_404(token)
    event = registration.event
    now = request_now()
    return render_template(
        "public/registration.html",
        registration=registration,
        event=event,
        centre=event.centre,
        token=token,
        language=current_language(),
        position=events.waiting_position(registration),
        can_cancel=registration.status != "cancelled" and now < event.start_at,
    )


@bp.route("/r/<token>/cancel", methods=["GET", "POST"])
@limiter.limit(BOOKING_LIMIT, methods=["POST"])
def cancel_registration(token: str):
    registration = _registration_or_404(token)
    form = EmptyForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            events.cancel_registration(registration, now=request_now())
        except events.RegistrationNotChangeable:
            flash(
                _("This registration can no longer be cancelled online. Please call us."), "error"
            )
        else:
            flash(_("Your registration is cancelled. Thank you for letting us know."), "success")
        return redirect(url_for("public.registration", token=token), code=303)
    return render_template(
        "public/registration_cancel.html",
        registration=registration,
        event=registration.event,
        centre=registration.event.centre,
        form=form,
        token=token,
        language=current_language(),
    )


@bp.get("/r/<token>/invite.ics")
def registration_invite(token: str):
    """This registration's own invitation (or its cancellation), for "add to calendar"."""
    registration = _registration_or_404(token)
    if registration.status == "waiting" or not registration.email:
        abort(404)
    parts = event_mail.calendar_parts(registration)
    calendar_event = event_mail.calendar_event(*parts, request_now(), None)
    if registration.status == "cancelled":
        body = ical.build_cancel(calendar_event)
    else:
        body = ical.build_request(calendar_event)
    return Response(
        body,
        mimetype="text/calendar",
        headers={"Content-Disposition": 'attachment; filename="event.ics"'},
    )
