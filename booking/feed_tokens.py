"""Counsellors' calendar feed tokens: renewed (only the hash is kept) and looked up."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select

from booking import audit
from booking.bookings import hash_token
from booking.extensions import db
from booking.models import User
from booking.transactions import committed


def renew_feed_token(user: User, actor: User, *, now: datetime) -> str:
    """A new secret for the counsellor's calendar feed; the old URL stops working.

    Only the token's hash is stored, so the URL can be shown once and never again.
    """
    token = secrets.token_urlsafe(32)
    with committed():
        user.feed_token_hash = hash_token(token)
        audit.record(actor, "feed_renewed", centre_id=user.centre_id, detail=user.name, now=now)
    return token


def find_feed_user(token: str) -> User | None:
    """The active account a calendar feed token belongs to."""
    if not token or len(token) > 128:
        return None
    user = db.session.scalar(select(User).where(User.feed_token_hash == hash_token(token)))
    if user is None or not user.is_active:
        return None
    return user
