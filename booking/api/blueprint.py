"""The api blueprint itself."""

from flask import Blueprint, current_app

from booking.extensions import csrf, limiter

bp = Blueprint("api", __name__)
csrf.exempt(bp)
limiter.limit(lambda: current_app.config["API_RATELIMIT"])(bp)
