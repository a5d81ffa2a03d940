"""The JSON API under /api/v1: cookie-less, rate-limited, problem+json on every error."""

from booking.api import events, invitation_views, views
from booking.api.blueprint import bp

# The modules whose routes make up the blueprint (importing one adds its routes to bp).
ROUTE_MODULES = (invitation_views, views, events)

__all__ = ["bp"]
