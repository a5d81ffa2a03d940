"""Staff sign-in: argon2 password hashes, server-side sessions, the password policy.

A signed-in session is a row in staff_session; the cookie holds only its random token.
Signing out deletes the row, deactivating an account deletes all its rows: the session
ends on the server, not only in the browser.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app, session
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from zxcvbn import zxcvbn

from booking import notifications, throttling, transactions
from booking.clock import request_now
from booking.extensions import db, login_manager
from booking.models import SignInFailure, StaffSession, User, utcnow

MIN_PASSWORD = 8
MAX_PASSWORD = 64
SESSION_LIFETIME = timedelta(hours=8)
# A session nobody used for this long ends (a screen left signed in at the reception desk).
SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
# Seen again within this time, a session is not touched: saves a write per request.
SESSION_TOUCH_EVERY = timedelta(minutes=5)

# Hashers by their cost (PASSWORD_HASH_COST), each with a hash of a random password made
# with it: verifying against that when the account does not exist takes as long as a real
# check, so the answer's timing does not tell whether an account exists.
_hashers: dict[tuple, tuple[PasswordHasher, str]] = {}


def _hasher() -> tuple[PasswordHasher, str]:
    """The app's hasher and its dummy hash. Argon2id at argon2-cffi's cost (RFC 9106's
    low-memory choice: 3 passes over 64 MiB) unless PASSWORD_HASH_COST names other
    PasswordHasher arguments; the tests, which make thousands of hashes, name a cheap one."""
    cost = current_app.config.get("PASSWORD_HASH_COST") or {}
    key = tuple(sorted(cost.items()))
    found = _hashers.get(key)
    if found is None:
        hasher = PasswordHasher(**cost)
        found = _hashers.setdefault(key, (hasher, hasher.hash(secrets.token_urlsafe(16))))
    return found


class PasswordRejected(ValueError):
    """The password breaks the policy; the message says how."""


# zxcvbn's estimate, 0 (guessed at once) to 4 (very hard): 3 needs about 10^8 guesses.
MIN_PASSWORD_SCORE = 3
# Words a guesser tries first here, besides zxcvbn's own lists of common passwords, names
# and words: the app's and the centres' words, and the person's own name and address.
_LOCAL_WORDS = (
    "herne",
    "heinsberg",
    "kreis",
    "integrationszentrum",
    "kommunales",
    "beratung",
    "termin",
    "termine",
    "booking",
    "ki",
)


@cache
def common_passwords() -> tuple[str, ...]:
    """German common passwords zxcvbn's English lists miss, most common first."""
    path = Path(__file__).parent / "data" / "common-passwords.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip().lower() for line in lines if line and not line.startswith("#"))


@cache
def guessable_words() -> tuple[str, ...]:
    """German months, weekdays, seasons and common first names (booking/data), longest
    first, so that "dezember" goes before "dez"."""
    path = Path(__file__).parent / "data" / "guessable-words.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    words = {line.strip().lower() for line in lines if line.strip() and not line.startswith("#")}
    return tuple(sorted(words, key=len, reverse=True))


# A password must keep this many letters once the words a guesser tries first (the app's,
# the centres', months, weekdays, seasons, first names) and all digits and punctuation are
# taken away: "Dezember2026!", "Montag123!", "Ayse1990!" and "Herne-Termin-1" keep none.
MIN_OWN_LETTERS = 5


def _own_letters(lowered: str, words: list[str]) -> str:
    """What is left of the password without the given words, digits and punctuation."""
    for word in sorted(set(words), key=len, reverse=True):
        if len(word) >= 3:
            lowered = lowered.replace(word, " ")
    return "".join(char for char in lowered if char.isalpha())


def _personal_words(email: str | None, name: str | None) -> list[str]:
    """The person's name and the local part of their e-mail address, and their parts of
    three letters or more."""
    local = (email or "").lower().rpartition("@")[2 if "@" not in (email or "") else 0]
    words = [local, *re.split(r"[^\w]+", local), *re.split(r"[^\w]+", (name or "").lower())]
    return [w for w in dict.fromkeys(words) if len(w) >= 3]


def check_password_policy(password: str, email: str | None = None, name: str | None = None) -> None:
    """Raise PasswordRejected unless the password is 8–64 characters, hard to guess
    (zxcvbn score 3 or more, against common passwords, names and words) and holds
    neither the person's name nor their e-mail address."""
    if len(password) < MIN_PASSWORD:
        raise PasswordRejected(_("Use at least %(min)d characters.", min=MIN_PASSWORD))
    if len(password) > MAX_PASSWORD:
        raise PasswordRejected(_("Use at most %(max)d characters.", max=MAX_PASSWORD))
    lowered = password.lower()
    personal = _personal_words(email, name)
    if any(word in lowered for word in personal):
        raise PasswordRejected(_("The password must not contain your name or e-mail address."))
    domain = (email or "").lower().rpartition("@")[2].split(".")
    inputs = [*personal, *domain, *_LOCAL_WORDS, *guessable_words(), *common_passwords()]
    known = [*domain, *_LOCAL_WORDS, *guessable_words()]
    if (
        lowered in common_passwords()
        or len(_own_letters(lowered, known)) < MIN_OWN_LETTERS
        or zxcvbn(password, user_inputs=inputs)["score"] < MIN_PASSWORD_SCORE
    ):
        raise PasswordRejected(
            _(
                "This password is too easy to guess. Use a longer one, e.g. three or four "
                "words that do not belong together."
            )
        )


def hash_password(password: str) -> str:
    return _hasher()[0].hash(password)


def verify_password(user: User | None, password: str) -> bool:
    """True when the password is the user's; as slow for unknown accounts as for known."""
    hasher, dummy = _hasher()
    stored = user.password_hash if user is not None and user.password_hash else dummy
    try:
        ok = hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    if user is None or not user.password_hash:
        return False
    if ok and hasher.check_needs_rehash(stored):
        user.password_hash = hash_password(password)
    return ok


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


# Failed sign-ins (booking/throttling.py has the rule).


def _throttle_keys(email: str, address: str) -> list[tuple[throttling.Rule, str]]:
    """The keys of the pair, of the address and of the account, keyed hashes: no address
    is stored. An IPv6 address counts as its /64 (throttling.client_key)."""
    secret = str(current_app.config["SECRET_KEY"]).encode()

    def key(*parts: str) -> str:
        return hmac.new(secret, "\0".join(parts).encode(), hashlib.sha256).hexdigest()

    email = email.strip().lower()
    address = throttling.client_key(address)
    return [
        (throttling.PAIR, key("pair", email, address)),
        (throttling.ADDRESS, key("address", address)),
        (throttling.ACCOUNT, key("account", email)),
    ]


def sign_in_blocked_until(email: str, address: str, now: datetime) -> datetime | None:
    """Until when sign-ins for this account from this address are refused, or None.

    Depends only on what was typed, so unknown accounts are throttled just like real ones.
    """
    keys = {key: rule for rule, key in _throttle_keys(email, address)}
    rows = db.session.scalars(select(SignInFailure).where(SignInFailure.key_hash.in_(keys)))
    until = [
        throttling.blocked_until(keys[row.key_hash], row.failures, row.last_failed_at, now)
        for row in rows
    ]
    return max((u for u in until if u is not None), default=None)


def record_failed_sign_in(email: str, address: str, now: datetime) -> None:
    """Count a failed sign-in (or a wrong current password at /staff/password) for the pair,
    the address and the account; commits. When the account's count starts its first wait,
    the owner of an existing account gets a mail saying so."""
    warn = False
    for rule, key in _throttle_keys(email, address):
        row = db.session.scalar(
            select(SignInFailure).where(SignInFailure.key_hash == key).with_for_update()
        )
        if row is None:
            try:
                with db.session.begin_nested():
                    db.session.add(SignInFailure(key_hash=key, failures=1, last_failed_at=now))
                continue
            except IntegrityError:  # another request counted the first failure just now
                row = db.session.scalar(
                    select(SignInFailure).where(SignInFailure.key_hash == key).with_for_update()
                )
        row.failures = throttling.failures_now(rule, row.failures, row.last_failed_at, now) + 1
        row.last_failed_at = now
        row.blocked_until = throttling.blocked_until(rule, row.failures, now, now)
        warn = warn or (
            rule is throttling.ACCOUNT and throttling.starts_waiting(rule, row.failures)
        )
    outbox_ids: list[int] = []
    if warn:
        user = find_user_by_email(email)
        if user is not None and user.is_active:
            outbox_ids = _warn_owner(user, now)
    transactions.commit(outbox_ids)


def _warn_owner(user: User, now: datetime) -> list[int]:
    """The mail to the account's owner when wrong passwords made its sign-in wait (German,
    as the staff pages are by default). It says neither from where nor which passwords."""
    with force_locale("de"):
        subject = _("Many wrong passwords for your account")
        text = _(
            "Hello,\n\nfor your account %(email)s at ki-booking, the wrong password was entered "
            "%(count)d times within a short time. Sign-ins to this account now wait a while "
            "(at most %(minutes)d minutes) after every further wrong password, from every "
            "address.\n\nIf that was not you, someone may be trying to guess your password: "
            "tell your administration, and choose a new password at /staff/password once you "
            "are signed in. If it was you, wait a few minutes and try again.",
            email=user.email,
            count=throttling.ACCOUNT.free_failures,
            minutes=int(throttling.ACCOUNT.cap.total_seconds() // 60),
        )
    return notifications.enqueue_account_notice(
        user.email, subject, text, f"user:{user.id}:sign-in-wait:{now.isoformat()}", now
    )


def clear_failed_sign_ins(email: str, address: str) -> None:
    """After a successful sign-in: the pair starts from zero (the address count stays, and
    so does the account's: an attacker's guesses do not start again when the owner signs in).
    Caller commits."""
    (_rule, pair_key), *_others = _throttle_keys(email, address)
    db.session.execute(delete(SignInFailure).where(SignInFailure.key_hash == pair_key))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, now: datetime | None = None) -> None:
    """Sign in: a fresh session (nothing of the old cookie survives) with a new server row."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    db.session.add(
        StaffSession(
            user_id=user.id,
            token_hash=_hash(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    db.session.commit()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    user.session_token = token
    login_user(user)


def end_session(user: User) -> None:
    """Sign out: delete the server row, then forget the cookie's contents."""
    if user.session_token:
        db.session.execute(
            delete(StaffSession).where(StaffSession.token_hash == _hash(user.session_token))
        )
        db.session.commit()
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def end_all_sessions(user: User) -> None:
    """End every session of the account (deactivation, password change). Caller commits."""
    db.session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))


def end_other_sessions(user: User) -> None:
    """End every session of the account but the current one (own password change).
    Caller commits."""
    db.session.execute(
        delete(StaffSession).where(
            StaffSession.user_id == user.id,
            StaffSession.token_hash != _hash(user.session_token or ""),
        )
    )


def load_user(token: str, now: datetime | None = None) -> User | None:
    """Flask-Login's loader: the active account behind an unexpired session token."""
    now = now or utcnow()
    row = db.session.scalar(
        select(StaffSession).where(StaffSession.token_hash == _hash(token or ""))
    )
    if row is None or row.expires_at <= now or not row.user.is_active:
        return None
    if now - row.last_seen_at >= SESSION_IDLE_TIMEOUT:
        db.session.delete(row)
        db.session.commit()
        return None
    if now - row.last_seen_at > SESSION_TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    user = row.user
    user.session_token = token
    return user


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    # The request's own time (clock.py): the loader runs inside the request.
    login_manager.user_loader(lambda token: load_user(token, request_now()))
    login_manager.login_view = "staff.login"
    login_manager.login_message = None
    login_manager.session_protection = None  # the server-side session row is the protection
