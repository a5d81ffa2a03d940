"""The counsellor's calendar subscription and the admins' audit log."""

from __future__ import annotations

import re

from flask import abort, flash, make_response, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from booking import feed_tokens
from booking.clock import request_now
from booking.extensions import db
from booking.forms import EmptyForm
from booking.models import AuditEntry
from booking.staff.blueprint import bp
from booking.staff.context import acting_user, staff_centres

AUDIT_PAGE_SIZE = 50
# A page number beyond this is shown as this page (empty): the offset must fit the database.
AUDIT_MAX_PAGE = 100_000


@bp.route("/feed", methods=["GET", "POST"])
def feed():
    user = acting_user()
    form = EmptyForm()
    feed_url = None
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        if user.feed_token_hash is not None and request.form.get("confirm") != "yes":
            # The address in use stops working: one stray click must not do it.
            flash(_("Please tick the box: the address you use now would stop working."), "error")
        else:
            token = feed_tokens.renew_feed_token(user, user, now=request_now())
            # Shown this once: only the token's hash is kept.
            feed_url = url_for("feeds.calendar_feed", token=token, _external=True)
    response = make_response(
        render_template(
            "staff/feed.html",
            has_feed=user.feed_token_hash is not None,
            feed_url=feed_url,
            webcal_url=re.sub(r"^https?://", "webcal://", feed_url) if feed_url else None,
            form=form,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def action_labels() -> dict[str, str]:
    return {
        "view": _("viewed"),
        "book": _("booked"),
        "move": _("moved"),
        "cancel": _("cancelled"),
        "attended": _("marked attended"),
        "no_show": _("marked not attended"),
        "absence": _("absence"),
        "feed_renewed": _("calendar feed renewed"),
        "settings": _("settings"),
        "hand_over": _("handed over to a colleague"),
        "search": _("searched bookings"),
        "password": _("password changed"),
        "erase": _("personal data erased"),
        "purge": _("retention: personal data erased"),
    }


@bp.get("/audit")
def audit_log():
    user = acting_user()
    centres = staff_centres(user)
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), AUDIT_MAX_PAGE)
    query = (
        select(AuditEntry)
        .where(AuditEntry.centre_id.in_([c.id for c in centres]))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    entries = db.paginate(query, page=page, per_page=AUDIT_PAGE_SIZE, error_out=False)
    return render_template(
        "staff/audit.html",
        entries=entries,
        centre_names={c.id: c.name for c in centres},
        timezones={c.id: c.timezone for c in centres},
        show_centre=len(centres) > 1,
        action_labels=action_labels(),
    )
