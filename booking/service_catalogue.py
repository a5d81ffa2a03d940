"""The service catalogue: a centre's services, their names, durations, texts, and who offers
them. The only writer of the tables service and user_service (which staff offer which
service; accounts.py sets a person's services through ``set_services_of``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime, time

from flask_babel import gettext as _
from sqlalchemy import func, select

from booking.extensions import db
from booking.i18n import PUBLIC_LANGUAGES
from booking.models import SERVICE_FORMATS, Centre, Service, User
from booking.settings_checks import (
    BUFFER_MINUTES,
    DURATION_MINUTES,
    MAX_NAME,
    SLUG,
    FieldErrors,
    check_range,
    check_text,
    clean_input,
    commit_change,
    german_needed,
    text_field,
)
from booking.validation import has_control_characters


def _minutes_between(opens: time, closes: time) -> int:
    return (closes.hour * 60 + closes.minute) - (opens.hour * 60 + opens.minute)


def longest_opening_minutes(centre: Centre, today: date) -> int | None:
    """The longest opening interval still valid on or after ``today``; None without any."""
    lengths = [
        _minutes_between(h.opens, h.closes)
        for h in centre.opening_hours
        if h.valid_until is None or h.valid_until >= today
    ]
    return max(lengths, default=None)


MAX_SERVICE_TEXT = 1000


@dataclass(frozen=True)
class ServiceTexts:
    """What families read about a service besides its name, and how it takes place.

    ``descriptions`` and ``what_to_bring`` map a public language to its text; a language
    given with "" loses its text, a language not given keeps it."""

    format: str = "in_person"
    descriptions: Mapping[str, str] = dataclass_field(default_factory=dict)
    what_to_bring: Mapping[str, str] = dataclass_field(default_factory=dict)


def _check_texts_per_language(
    errors: FieldErrors, prefix: str, texts: Mapping[str, str]
) -> dict[str, str]:
    """Each language's text cleaned and checked (messages at ``text_field(prefix, code)``);
    German needed once another language has a text."""
    cleaned = {}
    for language, value in texts.items():
        if language not in PUBLIC_LANGUAGES:
            raise ValueError(f"not a public language: {language!r}")
        name = text_field(prefix, language)
        value = (value or "").strip()
        if len(value) > MAX_SERVICE_TEXT:
            errors.add(name, _("Use at most %(max)d characters.", max=MAX_SERVICE_TEXT))
        elif has_control_characters(value, allow_line_breaks=True):
            errors.add(name, _("Please use plain text without special characters."))
        cleaned[language] = value
    if "de" in cleaned:
        others = (text for code, text in cleaned.items() if code != "de")
        german_needed(errors, text_field(prefix, "de"), cleaned["de"], others)
    return cleaned


def _check_service_texts(errors: FieldErrors, texts: ServiceTexts) -> ServiceTexts:
    if texts.format not in SERVICE_FORMATS:
        errors.add("format", _("Please choose one of the formats."))
    return ServiceTexts(
        format=texts.format,
        descriptions=_check_texts_per_language(errors, "description", texts.descriptions),
        what_to_bring=_check_texts_per_language(errors, "what_to_bring", texts.what_to_bring),
    )


def _with_texts(current: dict | None, given: Mapping[str, str]) -> dict:
    """``current`` with the texts of the languages given set (or removed when empty); the
    texts of languages not given are kept."""
    merged = dict(current or {})
    for language, value in given.items():
        if value:
            merged[language] = value
        else:
            merged.pop(language, None)
    return merged


def _free_neutral_slug(centre: Centre) -> str:
    """The first of beratung-1, beratung-2, … that no service of the centre uses."""
    used = set(db.session.scalars(select(Service.slug).where(Service.centre_id == centre.id)))
    number = 1
    while f"beratung-{number}" in used:
        number += 1
    return f"beratung-{number}"


def _check_holders(errors: FieldErrors, field: str, users: Iterable[User]) -> None:
    """Only a role that holds appointments may newly offer a service (User.holds_appointments);
    what an account of another role offered before stays until removed."""
    if any(not u.holds_appointments for u in users):
        errors.add(field, _("Only counsellors offer services."))


def save_service(
    centre: Centre,
    actor: User,
    service: Service | None,
    *,
    slug: str | None,
    name_de: str | None,
    name_en: str | None,
    duration_minutes: int | None,
    buffer_minutes: int | None,
    online_bookable: bool,
    is_active: bool,
    counsellor_ids: Iterable[int],
    now: datetime,
    texts: ServiceTexts | None = None,
    further_names: Mapping[str, str] | None = None,
) -> Service:
    """Create (``service`` None) or change a service of the centre.

    ``buffer_minutes`` None means the centre's buffer. ``further_names`` maps public
    languages besides German and English to a name ("" removes it); names in languages
    not given are kept as they are.
    """
    errors = FieldErrors()
    slug = clean_input(slug).lower() or (service.slug if service else _free_neutral_slug(centre))
    name_de, name_en = clean_input(name_de), clean_input(name_en)
    if len(slug) > 64 or not SLUG.match(slug):
        errors.add(
            "slug",
            _(
                "Use lower-case letters, digits and hyphens, e.g. %(example)s.",
                example=_free_neutral_slug(centre),
            ),
        )
    else:
        taken = db.session.scalar(
            select(Service.id).where(
                Service.centre_id == centre.id,
                Service.slug == slug,
                Service.id != (service.id if service is not None else -1),
            )
        )
        if taken is not None:
            errors.add("slug", _("This short name is already used by another service."))
    if not name_de:
        errors.add("name_de", _("This field is required."))
    for field, name in (("name_de", name_de), ("name_en", name_en)):
        check_text(errors, field, name, MAX_NAME)
    further_names = {code: clean_input(name) for code, name in (further_names or {}).items()}
    for code, name in further_names.items():
        if code not in PUBLIC_LANGUAGES or code in ("de", "en"):
            raise ValueError(f"not a further public language: {code!r}")
        check_text(errors, text_field("name", code), name, MAX_NAME)
    check_range(errors, "duration_minutes", duration_minutes, DURATION_MINUTES)
    if "duration_minutes" not in errors:
        today = centre.today(now)
        longest = longest_opening_minutes(centre, today)
        if longest is not None and duration_minutes > longest:
            errors.add(
                "duration_minutes",
                _(
                    "This is longer than every opening interval (the longest has %(minutes)d "
                    "minutes): the service could never be booked.",
                    minutes=longest,
                ),
            )
    if buffer_minutes is not None:
        check_range(errors, "buffer_minutes", buffer_minutes, BUFFER_MINUTES)
    if texts is not None:
        texts = _check_service_texts(errors, texts)
    wanted_ids = set(counsellor_ids)
    staff = {u.id: u for u in centre.staff}
    if not wanted_ids <= staff.keys():
        errors.add("counsellors", _("Choose staff of this centre."))
    else:
        current = {u.id for u in service.counsellors} if service is not None else set()
        _check_holders(errors, "counsellors", [staff[i] for i in wanted_ids - current])
    errors.raise_if_any()

    created = service is None
    if created:
        position = db.session.scalar(
            select(func.coalesce(func.max(Service.position), -1)).where(
                Service.centre_id == centre.id
            )
        )
        service = Service(centre=centre, position=position + 1, names={})
        db.session.add(service)
    names = dict(service.names or {})
    names["de"] = name_de
    if name_en:
        names["en"] = name_en
    else:
        names.pop("en", None)
    names = _with_texts(names, further_names)
    if not created and service.slug != slug:
        service.former_slug = service.slug  # old links still find the service
    service.slug = slug
    service.names = names
    service.duration_minutes = duration_minutes
    service.buffer_minutes = buffer_minutes
    service.online_bookable = online_bookable
    service.is_active = is_active
    service.counsellors = [staff[i] for i in sorted(wanted_ids)]
    if texts is not None:
        service.format = texts.format
        service.descriptions = _with_texts(service.descriptions, texts.descriptions)
        service.what_to_bring = _with_texts(service.what_to_bring, texts.what_to_bring)
    db.session.flush()
    commit_change(
        actor,
        centre.id,
        f"service {slug} {'created' if created else 'changed'}: {duration_minutes} min, "
        f"{'online' if online_bookable else 'phone only'}, "
        f"{'active' if is_active else 'inactive'}, staff {sorted(wanted_ids)}",
        now,
    )
    return service


def set_services_of(user: User, services: list[Service]) -> None:
    """The services a staff member offers (the caller commits: accounts.py)."""
    user.services = services
