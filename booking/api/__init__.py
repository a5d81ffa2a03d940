"""The JSON API under /api/v1: cookie-less, rate-limited, problem+json on every error."""

from flask import Blueprint, current_app

from booking.extensions import csrf, limiter

bp = Blueprint("api", __name__)
csrf.exempt(bp)
limiter.limit(lambda: current_app.config["API_RATELIMIT"])(bp)

from booking.api import views  # noqa: E402,F401 - registers the routes on bp
