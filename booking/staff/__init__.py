"""The staff workspace: sign-in, phone intake, calendars, absences, events, feeds, audit.

The blueprint and its guard are in blueprint.py: every route needs a signed-in account,
checked once in before_request (only the sign-in page is open); pages for some roles only
are listed in access.PAGE_ROLES and checked there too.
"""

from booking.staff import (
    absences,
    bookings,
    events,
    intake,
    invitation_pages,
    search,
    views,
    workspace,
)
from booking.staff.blueprint import bp

# The modules whose routes make up the blueprint (importing one adds its routes to bp).
ROUTE_MODULES = (absences, bookings, events, intake, invitation_pages, search, views, workspace)

__all__ = ["bp"]
