"""Staff accounts: the admin pages' accounts (create, change, password, deactivate), their
working hours, `flask create-user`, and a person's own password change. The only writer of
the tables user and working_hours (the services a person offers are the catalogue's:
service_catalogue.set_services_of).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _
from sqlalchemy import select

from booking import audit, auth, service_catalogue
from booking.extensions import db
from booking.models import HOLDING_ROLES, ROLES, Centre, Service, User, WorkingHours
from booking.settings_checks import (
    LANGUAGE_CODE,
    MAX_NAME,
    FieldErrors,
    SettingsRefused,
    WeeklyInterval,
    add_interval,
    check_text,
    clean_input,
    commit_change,
)
from booking.transactions import commit


class AccountError(ValueError):
    """The command line's account cannot be written as asked; the message says why."""


class PasswordChangeInvalid(ValueError):
    """The own password change is refused; ``errors`` maps each form field to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def normalise_email(email: str) -> str:
    """The normalised form of an e-mail address; AccountError if it is not one."""
    try:
        return validate_email(
            email.strip(), check_deliverability=False, allow_smtputf8=False
        ).normalized
    except EmailNotValidError as error:
        raise AccountError(f"not a valid e-mail address: {email}") from error


def change_own_password(user: User, *, current: str, new: str, confirm: str, now: datetime) -> None:
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
    commit_change(user, user.centre_id, "own password changed", now, action="password")


def create_or_update_user(
    email: str,
    role: str,
    centre_slugs: list[str],
    password: str,
    name: str | None = None,
    *,
    now: datetime,
) -> tuple[User, bool]:
    """`flask create-user`: create the account, or update role, centres and password of an
    existing one (and reactivate it); the audit log names no person but the command line."""
    email = normalise_email(email)
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
    if not user.holds_appointments:
        # only a role that holds appointments offers services
        service_catalogue.set_services_of(user, [])
    user.centre = centres[0]
    user.extra_centres = centres[1:] if role == "admin" else []
    user.password_hash = auth.hash_password(password)
    user.is_active = True
    if not created:
        auth.end_all_sessions(user)
    db.session.flush()
    change = "created" if created else "updated, password set"
    for centre in centres:
        audit.record(
            None,
            "settings",
            centre_id=centre.id,
            detail=f"staff {user.id} {change} as {role} on the command line",
            now=now,
        )
    commit()
    return user, created


def parse_languages(raw: str | None) -> list[str]:
    """ "de, tr ar" -> ["de", "tr", "ar"]; ValueError naming the first unknown code."""
    codes = []
    for part in re.split(r"[\s,;]+", (raw or "").strip().lower()):
        if not part:
            continue
        try:
            if not LANGUAGE_CODE.match(part):
                raise UnknownLocaleError(part)
            Locale.parse(part)
        except (ValueError, UnknownLocaleError) as error:
            raise ValueError(part) from error
        if part not in codes:
            codes.append(part)
    return codes


def _check_staff_fields(
    errors: FieldErrors,
    centre_id: int,
    name: str,
    languages: str | None,
    service_ids: Iterable[int],
) -> tuple[list[str], list[Service]]:
    if not name:
        errors.add("name", _("This field is required."))
    else:
        check_text(errors, "name", name, MAX_NAME)
    codes: list[str] = []
    try:
        codes = parse_languages(languages)
    except ValueError as error:
        errors.add("languages", _("Unknown language code: %(code)s", code=str(error)))
    else:
        if not codes:
            errors.add("languages", _("Enter at least one language code, e.g. de."))
    wanted = set(service_ids)
    chosen = []
    if wanted:
        chosen = list(
            db.session.scalars(
                select(Service)
                .where(Service.centre_id == centre_id, Service.id.in_(wanted))
                .order_by(Service.position)
            )
        )
        if len(chosen) != len(wanted):
            errors.add("services", _("Choose services of this centre."))
    return codes, chosen


def create_staff(
    centre: Centre,
    actor: User,
    *,
    email: str | None,
    name: str | None,
    role: str | None,
    languages: str | None,
    service_ids: Iterable[int],
    password: str | None,
    now: datetime,
) -> User:
    """Create a staff account of the centre with an initial password (auth's policy)."""
    errors = FieldErrors()
    name = clean_input(name)
    normalized = ""
    try:
        normalized = normalise_email(email or "")
    except AccountError:
        errors.add("email", _("Enter a valid e-mail address."))
    else:
        if auth.find_user_by_email(normalized) is not None:
            errors.add("email", _("An account with this e-mail address exists already."))
    if role not in ROLES:
        errors.add("role", _("Choose a role."))
    codes, chosen = _check_staff_fields(errors, centre.id, name, languages, service_ids)
    if chosen and role not in HOLDING_ROLES:
        errors.add("services", _("Only counsellors offer services."))
    try:
        auth.check_password_policy(password or "", normalized or None, name)
    except auth.PasswordRejected as error:
        errors.add("password", str(error))
    errors.raise_if_any()
    user = User(
        email=normalized,
        name=name,
        role=role,
        centre=centre,
        languages=codes,
        password_hash=auth.hash_password(password),
        is_active=True,
        # The admin knows this password: the person chooses their own at first sign-in.
        must_change_password=True,
    )
    service_catalogue.set_services_of(user, chosen)
    db.session.add(user)
    db.session.flush()
    commit_change(actor, centre.id, f"staff {user.id} created as {role}", now)
    return user


def update_staff(
    user: User,
    actor: User,
    *,
    name: str | None,
    languages: str | None,
    service_ids: Iterable[int],
    now: datetime,
) -> None:
    """Change a staff member's name, languages and the services they offer."""
    errors = FieldErrors()
    name = clean_input(name)
    codes, chosen = _check_staff_fields(errors, user.centre_id, name, languages, service_ids)
    if not user.holds_appointments and not {s.id for s in chosen} <= {s.id for s in user.services}:
        errors.add("services", _("Only counsellors offer services."))
    errors.raise_if_any()
    user.name = name
    user.languages = codes
    service_catalogue.set_services_of(user, chosen)
    commit_change(
        actor,
        user.centre_id,
        f"staff {user.id} changed: languages {codes}, services {[s.slug for s in chosen]}",
        now,
    )


def set_staff_password(
    user: User, actor: User, *, password: str | None, confirm: str | None, now: datetime
) -> None:
    """An admin sets a new password: the account's sessions end, and the person must choose
    their own password at the next sign-in."""
    errors = FieldErrors()
    password = password or ""
    try:
        auth.check_password_policy(password, user.email, user.name)
    except auth.PasswordRejected as error:
        errors.add("password", str(error))
    else:
        if password != (confirm or ""):
            errors.add("confirm", _("The two passwords are not the same."))
    errors.raise_if_any()
    user.password_hash = auth.hash_password(password)
    user.must_change_password = True
    auth.end_all_sessions(user)
    commit_change(actor, user.centre_id, f"staff {user.id}: password set", now, action="password")


def deactivate_staff(user: User, actor: User, *, now: datetime) -> None:
    """Deactivate an account: its sessions end at once, its calendar feed address stops
    working for good (reactivating does not bring it back), and it is given no new
    bookings."""
    if user.id == actor.id:
        raise SettingsRefused(_("You cannot deactivate your own account."))
    user.is_active = False
    user.feed_token_hash = None
    auth.end_all_sessions(user)
    commit_change(actor, user.centre_id, f"staff {user.id} deactivated", now)


def reactivate_staff(user: User, actor: User, *, now: datetime) -> None:
    user.is_active = True
    commit_change(actor, user.centre_id, f"staff {user.id} reactivated", now)


# Working hours.


def add_working_hours(
    user: User, actor: User, interval: WeeklyInterval, *, now: datetime
) -> WorkingHours:
    """Give a staff member their own working interval (without any, the centre's hours apply)."""
    row = add_interval(WorkingHours, user.working_hours, interval, user=user)
    commit_change(
        actor, user.centre_id, f"working hours of user {user.id} added: {interval.describe()}", now
    )
    return row


def delete_working_hours(hours: WorkingHours, actor: User, *, now: datetime) -> None:
    user = hours.user
    detail = f"working hours of user {user.id} deleted: " + WeeklyInterval.of(hours).describe()
    user.working_hours.remove(hours)
    commit_change(actor, user.centre_id, detail, now)
