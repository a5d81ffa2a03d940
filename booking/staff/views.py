"""Staff views: sign-in and sign-out, and the start page."""

from __future__ import annotations

import math
from urllib.parse import urlsplit

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from booking import accounts, auth
from booking.extensions import db
from booking.models import utcnow
from booking.staff import bp
from booking.staff.common import acting_user
from booking.staff.forms import EmptyForm, PasswordChangeForm, SignInForm


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("staff.home")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        return render_template("staff/login.html", form=form)
    if form.validate_on_submit():
        email, now = form.email.data or "", utcnow()
        address = request.remote_addr or ""
        blocked_until = auth.sign_in_blocked_until(email, address, now)
        if blocked_until is not None:
            # Refused without looking at the password, whether it is right or not.
            seconds = max(1, math.ceil((blocked_until - now).total_seconds()))
            form.password.errors = [
                _(
                    "Too many failed attempts. Please wait %(seconds)d seconds, then try again.",
                    seconds=seconds,
                )
            ]
            response = make_response(render_template("staff/login.html", form=form), 429)
            response.headers["Retry-After"] = str(seconds)
            return response
        user = auth.find_user_by_email(email)
        if auth.verify_password(user, form.password.data or "") and user.is_active:
            auth.clear_failed_sign_ins(email, address)
            auth.start_session(user)
            return redirect(_safe_next(form.next.data), code=303)
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
    return render_template("staff/home.html")


@bp.route("/password", methods=["GET", "POST"])
def change_password():
    form = PasswordChangeForm()
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            flash(_("The form has expired. Please try again."), "error")
            status = 400
        else:
            try:
                accounts.change_own_password(
                    acting_user(),
                    current=form.current.data or "",
                    new=form.new.data or "",
                    confirm=form.confirm.data or "",
                )
            except accounts.PasswordChangeInvalid as error:
                for name, messages in error.errors.items():
                    form[name].errors = messages
                status = 422
            else:
                flash(_("Your password is changed. Your other sessions are signed out."), "success")
                return redirect(url_for("staff.home"), code=303)
    return render_template("staff/password.html", form=form), status
