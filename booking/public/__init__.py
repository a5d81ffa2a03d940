"""Pages for families: centres, services, free slots (and, later, booking)."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from booking.public import views  # noqa: E402,F401 - registers the routes on bp
