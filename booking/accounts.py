"""Writing staff accounts (the command line and the admin pages use this)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import select

from booking import audit, auth
from booking.extensions import db
from booking.models import ROLES, Centre, User
from booking.transactions import commit


class AccountError(ValueError):
    """The account cannot be written as asked; the message says why."""


class PasswordChangeInvalid(ValueError):
    """The own password change is refused; ``errors`` maps each form field to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def change_own_password(user: User, *, current: str, new: str, confirm: str) -> None:
    """A staff member changes their own password; their other sessions end."""
    errors: dict[str, list[str]] = {}
    if not auth.verify_password(user, current or ""):
        errors["current"] = [_("This is not your current password.")]
    try:
        auth.check_password_policy(new or "", user.email, user.name)
    except auth.PasswordRejected as error:
        errors["new"] = [str(error)]
    else:
        if new == current:
            errors["new"] = [_("Choose a password different from the current one.")]
        elif new != confirm:
            errors["confirm"] = [_("The two passwords are not the same.")]
    if errors:
        db.session.rollback()
        raise PasswordChangeInvalid(errors)
    user.password_hash = auth.hash_password(new)
    user.must_change_password = False
    auth.end_other_sessions(user)
    audit.record(user, "password", centre_id=user.centre_id, detail="own password changed")
    commit()


def create_or_update_user(
    email: str, role: str, centre_slugs: list[str], password: str, name: str | None = None
) -> tuple[User, bool]:
    """Create the account, or update role, centres and password of an existing one."""
    try:
        email = validate_email(
            email.strip(), check_deliverability=False, allow_smtputf8=False
        ).normalized
    except EmailNotValidError as error:
        raise AccountError(f"not a valid e-mail address: {email}") from error
    if role not in ROLES:
        raise AccountError(f"unknown role {role}")
    centres = []
    for slug in centre_slugs:
        centre = db.session.scalar(select(Centre).where(Centre.slug == slug))
        if centre is None:
            raise AccountError(f"no centre with slug {slug}")
        centres.append(centre)
    if not centres:
        raise AccountError("give the centre with --centre SLUG")
    if role != "admin" and len(centres) > 1:
        raise AccountError("only an admin works for several centres")
    user = auth.find_user_by_email(email)
    try:
        auth.check_password_policy(password, email, name or (user.name if user else None))
    except auth.PasswordRejected as error:
        raise AccountError(f"password refused: {error}") from error

    created = user is None
    if created:
        user = User(email=email, name=name or email.split("@")[0], languages=["de"])
        db.session.add(user)
    elif name:
        user.name = name
    user.role = role
    user.centre = centres[0]
    user.extra_centres = centres[1:] if role == "admin" else []
    user.password_hash = auth.hash_password(password)
    user.is_active = True
    if not created:
        auth.end_all_sessions(user)
    commit()
    return user, created


def normalise_email(email: str) -> str:
    """The normalised form of an e-mail address; AccountError if it is not one."""
    try:
        return validate_email(
            email.strip(), check_deliverability=False, allow_smtputf8=False
        ).normalized
    except EmailNotValidError as error:
        raise AccountError(f"not a valid e-mail address: {email}") from error
