"""Records a page or an API call names in its URL: found, or a 404 (public pages and API)."""

from __future__ import annotations

from flask import abort
from flask_babel import gettext as _
from werkzeug.routing import IntegerConverter

from booking import availability
from booking.models import Centre, Service

# The largest key of a table (PostgreSQL's integer); the API's document names it too.
MAX_ROW_ID = 2**31 - 1


class RowId(IntegerConverter):
    """``<int:...>`` in every route: a number that fits a table's key, else no match (404).
    A longer one would overflow the database's integer (a 500) when it is looked up."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ROW_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def centre_or_404(slug: str) -> Centre:
    """The centre of ``slug`` with its opening hours; 404 when there is none."""
    centre = availability.get_centre(slug)
    if centre is None:
        abort(404, description=_("No centre with this name."))
    return centre


def centre_and_service_or_404(centre_slug: str, service_slug: str) -> tuple[Centre, Service | None]:
    """The centre of ``centre_slug`` (404 when there is none) and its active service of
    ``service_slug`` or None; one query."""
    centre, service = availability.get_centre_and_service(centre_slug, service_slug)
    if centre is None:
        abort(404, description=_("No centre with this name."))
    return centre, service


def kept_centre_and_service_or_404(
    centre_slug: str, service_slug: str
) -> tuple[Centre, Service | None]:
    """As centre_and_service_or_404, the copies kept per process (availability.py): to read
    ids and values from, never to change; availability.attached gives the request's own."""
    centre, service = availability.kept_centre_and_service(centre_slug, service_slug)
    if centre is None:
        abort(404, description=_("No centre with this name."))
    return centre, service
