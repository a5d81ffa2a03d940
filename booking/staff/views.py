"""Staff views: sign-in and sign-out, and the start page."""

from __future__ import annotations

import math
from datetime import timedelta
from urllib.parse import urlsplit

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from booking import access, accounts, auth, events
from booking.clock import request_now
from booking.extensions import db
from booking.forms import EmptyForm
from booking.models import OFFICER, Booking
from booking.staff.blueprint import bp
from booking.staff.context import (
    acting_user,
    parse_day,
    pick_centre,
    staff_centres,
)
from booking.staff.forms import PasswordChangeForm, SignInForm


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect, never a header break (CR, LF)."""
    if (
        target
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and target.isascii()
        and target.isprintable()
    ):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("staff.home")


def _too_many_attempts(form, field, template: str, now, blocked_until):
    """429 with Retry-After and the wait next to the password field."""
    seconds = max(1, math.ceil((blocked_until - now).total_seconds()))
    field.errors = [
        _(
            "Too many failed attempts. Please wait %(seconds)d seconds, then try again.",
            seconds=seconds,
        )
    ]
    response = make_response(render_template(template, form=form), 429)
    response.headers["Retry-After"] = str(seconds)
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        return render_template("staff/login.html", form=form)
    if form.validate_on_submit():
        email, now = form.email.data or "", request_now()
        address = request.remote_addr or ""
        blocked_until = auth.sign_in_blocked_until(email, address, now)
        if blocked_until is not None:
            # Refused without looking at the password, whether it is right or not.
            return _too_many_attempts(form, form.password, "staff/login.html", now, blocked_until)
        user = auth.find_user_by_email(email)
        if auth.verify_password(user, form.password.data or "") and user.is_active:
            # Checked before the session row is written: a bad next= must not fail after it.
            target = _safe_next(form.next.data)
            auth.clear_failed_sign_ins(email, address)
            auth.start_session(user, now)
            return redirect(target, code=303)
        db.session.rollback()
        auth.record_failed_sign_in(email, address, now)
    # The same words whether the account exists or not.
    form.password.errors = [_("E-mail address or password is wrong.")]
    return render_template("staff/login.html", form=form), 401


@bp.post("/logout")
def logout():
    if EmptyForm().validate_on_submit():
        auth.end_session(current_user._get_current_object())
        flash(_("You are signed out."), "success")
    return redirect(url_for("staff.login"), code=303)


@bp.get("/")
def home():
    """Today at the centre: the day's appointments, attendance per row, printable."""
    user = acting_user()
    centres = staff_centres(user)
    if not centres:
        return render_template("staff/home.html", centre=None)
    centre = pick_centre(centres, request.args.get("centre"))
    now = request_now()
    day = parse_day(request.args.get("date"), centre.today(now))
    query = (
        select(Booking)
        .where(
            Booking.centre_id == centre.id,
            Booking.takes_time(now),
            Booking.start_at >= centre.local_midnight(day),
            Booking.start_at < centre.local_midnight(day + timedelta(days=1)),
        )
        .options(selectinload(Booking.service), selectinload(Booking.counsellor))
        .order_by(Booking.start_at, Booking.id)
    )
    # Counsellors list only their own appointments of the day.
    query = query.where(access.searchable_bookings(user))
    rows = [
        {
            "booking": b,
            "person": access.can_see_person(user, b),
            "contacts": access.can_see_contacts(user, b),
            "can_mark": access.can_change(user, b) and b.can_mark_attendance(now),
        }
        for b in db.session.scalars(query)
    ]
    # The events of the day: those a counsellor or officer leads, or all of the centre's.
    led = events.events_between(
        [centre.id],
        centre.local_midnight(day),
        centre.local_midnight(day + timedelta(days=1)),
        leader_id=user.id if user.role in ("counsellor", OFFICER) else None,
    )
    counts = dict.fromkeys(("confirmed", "attended", "no_show"), 0)
    for row in rows:
        counts[row["booking"].status] += 1
    args = {"centre": centre.slug} if len(centres) > 1 else {}
    page = render_template(
        "staff/home.html",
        centre=centre,
        centres=centres,
        day=day,
        is_today=day == centre.today(now),
        rows=rows,
        events_today=led,
        counts=counts,
        persons=sum(r["booking"].persons for r in rows if r["person"]),
        form=EmptyForm(),
        previous_url=url_for("staff.home", date=(day - timedelta(days=1)).isoformat(), **args),
        next_url=url_for("staff.home", date=(day + timedelta(days=1)).isoformat(), **args),
        today_url=url_for("staff.home", **args),
    )
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/password", methods=["GET", "POST"])
def change_password():
    form = PasswordChangeForm()
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(_("The form has expired. Please try again."), "error")
            status = 400
        else:
            user, now, address = acting_user(), request_now(), request.remote_addr or ""
            blocked_until = auth.sign_in_blocked_until(user.email, address, now)
            if blocked_until is not None:
                # A stolen session guessing the current password waits like a sign-in.
                return _too_many_attempts(
                    form, form.current, "staff/password.html", now, blocked_until
                )
            try:
                accounts.change_own_password(
                    user,
                    current=form.current.data or "",
                    new=form.new.data or "",
                    confirm=form.confirm.data or "",
                    now=now,
                )
            except accounts.PasswordChangeInvalid as error:
                if "current" in error.errors:
                    auth.record_failed_sign_in(user.email, address, now)
                for name, messages in error.errors.items():
                    form[name].errors = messages
                status = 422
            else:
                flash(_("Your password is changed. Your other sessions are signed out."), "success")
                return redirect(url_for("staff.home"), code=303)
    return render_template("staff/password.html", form=form), status
