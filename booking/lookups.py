"""Records a page or an API call names in its URL: found, or a 404 (public pages and API)."""

from __future__ import annotations

from flask import abort
from flask_babel import gettext as _

from booking import availability
from booking.models import Centre


def centre_or_404(slug: str) -> Centre:
    """The centre of ``slug`` with its opening hours; 404 when there is none."""
    centre = availability.get_centre(slug)
    if centre is None:
        abort(404, description=_("No centre with this name."))
    return centre
