"""Find a booking by the family's name, phone, e-mail or the reference, cancelled and past
ones too, within the searcher's rights (booking/access.py). Every search is audit-logged
with the number of results, never with what was searched for."""

from __future__ import annotations

import re

from flask import make_response, render_template, request
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from booking import access, bookings
from booking.clock import request_now
from booking.extensions import db
from booking.models import Booking, User
from booking.phones import ascii_digits, search_forms
from booking.staff.blueprint import bp
from booking.staff.context import acting_user, staff_centres
from booking.text import has_control_characters, has_unreadable_characters

MAX_RESULTS = 50
MIN_QUERY = 2
MAX_QUERY = 100
REFERENCE_PATTERN = re.compile(r"^[A-Z2-9]{4}-?[A-Z2-9]{4}$")


def _conditions(text: str, fields: tuple[str, ...]) -> list:
    found = []
    compact = text.replace(" ", "").upper()
    if "reference" in fields and REFERENCE_PATTERN.match(compact):
        found.append(Booking.reference == f"{compact[:4]}-{compact[-4:]}")
    if "name" in fields:
        found.append(Booking.name.icontains(text, autoescape=True))
    if "email" in fields and len(text) >= 3:
        found.append(Booking.email.icontains(text, autoescape=True))
    typed = ascii_digits(text)
    digits = re.sub(r"\D", "", typed)
    if "phone" in fields and len(digits) >= 4 and len(digits) * 2 >= len(typed.replace(" ", "")):
        # Compared in the stored normalised form: "+49 (0)2325 883412", "0049 2325 883412"
        # and "02325/883412" are one number; the last digits alone find it too.
        whole, parts = search_forms(typed)
        if whole is not None:
            found.append(Booking.phone_normalised == whole)
        for part in parts:
            found.append(Booking.phone_normalised.contains(part, autoescape=True))
    return found


def find_bookings(user: User, text: str) -> list[Booking]:
    """The bookings ``user`` may see whose details match ``text``, newest first."""
    conditions = _conditions(text, access.search_fields(user))
    if not conditions:
        return []
    return list(
        db.session.scalars(
            select(Booking)
            .where(access.searchable_bookings(user), or_(*conditions))
            .options(
                selectinload(Booking.service),
                selectinload(Booking.counsellor),
                selectinload(Booking.centre),
            )
            .order_by(Booking.start_at.desc(), Booking.id.desc())
            .limit(MAX_RESULTS + 1)
        )
    )


@bp.get("/search")
def search():
    user = acting_user()
    text = " ".join((request.args.get("q") or "").split())
    error = None
    results: list[Booking] | None = None
    if "q" in request.args:
        if len(text) < MIN_QUERY:
            error = _("Please enter at least %(num)d characters.", num=MIN_QUERY)
        elif len(text) > MAX_QUERY:
            error = ngettext(
                "Please use at most %(num)d character.",
                "Please use at most %(num)d characters.",
                MAX_QUERY,
            )
        elif has_control_characters(text) or has_unreadable_characters(text):
            # NUL and lone surrogates no database takes: a message, not a 500.
            error = _("Please use a single line without line breaks or control characters.")
        else:
            results = find_bookings(user, text)
    more = results is not None and len(results) > MAX_RESULTS
    shown = results[:MAX_RESULTS] if results is not None else None
    centres = staff_centres(user)
    page = render_template(
        "staff/search.html",
        query=text if "q" in request.args else "",
        error=error,
        results=shown,
        more=more,
        fields=access.search_fields(user),
        show_centre=len(centres) > 1,
        now=request_now(),
    )
    if shown is not None:
        # Recorded once the page is made: the commit would expire what the page reads.
        bookings.record_search(
            user, centres[0].id if centres else None, len(shown), now=request_now()
        )
    response = make_response(page, 422 if error else 200)
    response.headers["Cache-Control"] = "no-store"
    return response
