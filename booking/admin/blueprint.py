"""The admin blueprint itself and its guard."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

from booking import access
from booking.staff.blueprint import password_change_pending

bp = Blueprint("admin", __name__)


@bp.before_request
def require_admin():
    if not current_user.is_authenticated:
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
    if not access.may_open(current_user, request.endpoint):
        abort(403)
    return password_change_pending()
