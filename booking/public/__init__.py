"""Pages for families: centres, services, free slots, booking and managing a booking."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from booking.public import booking_views, views  # noqa: E402,F401 - registers the routes on bp
