"""The audit log: who viewed or changed which booking, when. No family data goes in."""

from __future__ import annotations

from datetime import datetime

from booking.extensions import db
from booking.models import AuditEntry, Booking, User

ACTIONS = (
    "view",
    "book",
    "move",
    "cancel",
    "attended",
    "no_show",
    "absence",
    "feed_renewed",
    "settings",
    "hand_over",
    "search",
    "password",
    "erase",
    "purge",
    "event",
    "registration",
    "invite",
)


def record(
    actor: User | None,
    action: str,
    booking: Booking | None = None,
    detail: str = "",
    centre_id: int | None = None,
    *,
    now: datetime,
) -> None:
    """Add an entry, made at ``now``, to the current transaction; the caller commits."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    db.session.add(
        AuditEntry(
            at=now,
            actor_id=actor.id if actor else None,
            actor_label=actor.name if actor else "system",
            action=action,
            centre_id=booking.centre_id if booking is not None else centre_id,
            booking_id=booking.id if booking is not None else None,
            booking_reference=booking.reference if booking is not None else None,
            detail=detail[:300],
        )
    )
