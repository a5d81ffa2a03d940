"""Admin pages: opening hours, closures, services, staff, rules, events, reports, outbox.

The whole blueprint needs a signed-in admin, checked once in blueprint.py's before_request.
"""

from booking.admin import (
    attention,
    event_pages,
    hours,
    outbox_pages,
    report_pages,
    rules,
    service_pages,
    staff_accounts,
    views,
)
from booking.admin.blueprint import bp

# The modules whose routes make up the blueprint (importing one adds its routes to bp).
ROUTE_MODULES = (
    views,
    hours,
    rules,
    service_pages,
    staff_accounts,
    attention,
    report_pages,
    outbox_pages,
    event_pages,
)

__all__ = ["bp"]
