"""The staff blueprint and its guard: a signed-in account for every route but the sign-in
page, a changed password where an admin set it, and the role access.PAGE_ROLES asks."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

from booking import access

bp = Blueprint("staff", __name__)

OPEN_ENDPOINTS = {"staff.login"}
# Reachable while an admin-set password waits to be changed.
PASSWORD_CHANGE_ENDPOINTS = {"staff.change_password", "staff.logout"}


def password_change_pending():
    """A redirect to the change page while the account must change its password."""
    if current_user.must_change_password and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        return redirect(url_for("staff.change_password"))
    return None


@bp.before_request
def require_sign_in():
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
    pending = password_change_pending()
    if pending is not None:
        return pending
    if not access.may_open(current_user, request.endpoint):
        abort(403)
    return None


@bp.app_context_processor
def page_rules():
    """``may_open(endpoint)`` for menus: an entry shows exactly when its page would open."""

    def may_open(endpoint: str) -> bool:
        return current_user.is_authenticated and access.may_open(current_user, endpoint)

    return {"may_open": may_open}
