"""The staff workspace: sign-in, phone intake, calendars, absences, feeds, audit.

Every route of this blueprint needs a signed-in account, checked once in before_request;
only the sign-in page itself is open.
"""

from flask import Blueprint, redirect, request, url_for
from flask_login import current_user

bp = Blueprint("staff", __name__)

OPEN_ENDPOINTS = {"staff.login"}


@bp.before_request
def require_sign_in():
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
    return None


# Importing the modules registers their routes on bp.
from booking.staff import (  # noqa: E402,F401
    absences,
    bookings,
    intake,
    search,
    views,
    workspace,
)
