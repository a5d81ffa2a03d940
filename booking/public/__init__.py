"""Pages for families: centres, services, free slots, booking and managing a booking."""

from booking.public import booking_views, event_views, invitation_views, views
from booking.public.blueprint import bp

# The modules whose routes make up the blueprint (importing one adds its routes to bp).
ROUTE_MODULES = (booking_views, invitation_views, views, event_views)

__all__ = ["bp"]
