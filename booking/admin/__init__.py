"""Admin pages: opening hours, closures, services, staff, rules, reports, outbox.

The whole blueprint needs a signed-in admin, checked once in before_request.
"""

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

from booking import access
from booking.staff import password_change_pending

bp = Blueprint("admin", __name__)


@bp.before_request
def require_admin():
    if not current_user.is_authenticated:
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
    if not access.may_open(current_user, request.endpoint):
        abort(403)
    return password_change_pending()


from booking.admin import views  # noqa: E402,F401 - registers the routes on bp
