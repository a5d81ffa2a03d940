"""Admin views."""

from __future__ import annotations

from flask import render_template

from booking.admin import bp


@bp.get("/")
def home():
    return render_template("admin/home.html")
