"""Demo data of SPEC "Demo data": two centres, five services, invented counsellors."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from booking import event_rules, events
from booking.bookings import new_reference
from booking.extensions import db
from booking.models import (
    COUNSELLOR,
    OFFICER,
    Booking,
    Centre,
    OpeningHours,
    Service,
    User,
    WorkingHours,
    utcnow,
)
from booking.slots import is_public_holiday

MON, TUE, WED, THU, FRI = range(5)

CENTRES = [
    {
        "slug": "herne",
        "name": "Kommunales Integrationszentrum Herne",
        "address": "Rademachers Weg 15, 44649 Herne",
        "visiting_address": "",
        "privacy_officer": "Datenschutzbeauftragte der Stadt Herne (Demo), "
        "datenschutz@herne.example",
        "phone": "02325 6589-313",
        "email": "integrationszentrum@herne.example",
        "legal_operator": "Stadt Herne\nKommunales Integrationszentrum\n"
        "Körperschaft des öffentlichen Rechts",
        "hours": [(day, time(8, 0), time(16, 0)) for day in (MON, TUE, WED, THU)]
        + [(FRI, time(8, 0), time(13, 0))],
    },
    {
        "slug": "kreis-heinsberg",
        "name": "Kommunales Integrationszentrum Kreis Heinsberg",
        # SPEC "Demo data": letters go to Valkenburger Str. 45, families to the Dienstgebäude.
        "address": "Valkenburger Str. 45, 52525 Heinsberg",
        "visiting_address": "Dienstgebäude, Oberbrucher Str. 1, 52525 Heinsberg",
        "privacy_officer": "Datenschutzbeauftragter des Kreises Heinsberg (Demo), "
        "datenschutz@kreis-heinsberg.example",
        "phone": "02452 13-4222",
        "email": "integrationszentrum@kreis-heinsberg.example",
        "legal_operator": "Kreis Heinsberg\nKommunales Integrationszentrum\n"
        "Körperschaft des öffentlichen Rechts",
        "hours": [(day, time(8, 30), time(12, 0)) for day in (MON, TUE, WED, THU, FRI)]
        + [(day, time(14, 0), time(17, 0)) for day in (TUE, THU)],
    },
]

# Slugs are part of public URLs and so never name the (confidential) topic. The slugs of
# SPEC "Demo data" did; they are kept as former slugs, so links and API calls using them
# still find the service (and are redirected to the neutral address). The former slug is
# also the key of the service's names in booking/data/service-names/<language>.json
# ({"<former slug>": "<name>"}) and of its details below.
SERVICES = [
    ("beratung-1", "bildung", 45),
    ("beratung-2", "erziehung", 60),
    ("beratung-3", "ankommen", 45),
    ("beratung-4", "seiteneinstieg", 60),
    ("beratung-5", "einrichtungen", 60),
]
SERVICE_NAMES_DIR = Path(__file__).parent / "data" / "service-names"


def service_names() -> dict[str, dict[str, str]]:
    """{former slug: {language: name}} merged from every file of booking/data/service-names/."""
    names: dict[str, dict[str, str]] = {topic: {} for _slug, topic, _minutes in SERVICES}
    for path in sorted(SERVICE_NAMES_DIR.glob("*.json")):
        for slug, name in json.loads(path.read_text(encoding="utf-8")).items():
            if slug in names and name:
                names[slug][path.stem] = name
    return names


# How each consultation takes place.
SERVICE_FORMATS = {
    "bildung": "in_person",
    "erziehung": "in_person",
    "ankommen": "in_person",
    "seiteneinstieg": "in_person",
    "einrichtungen": "video",
}
# What it is about and what to bring, per language: booking/data/service-texts/<language>.json
# ({"<former slug>": {"description": "…", "what_to_bring": "…"}}).
SERVICE_TEXTS_DIR = Path(__file__).parent / "data" / "service-texts"


def service_texts() -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """{former slug: ({language: description}, {language: what to bring})} merged from every
    file of booking/data/service-texts/."""
    texts: dict[str, tuple[dict[str, str], dict[str, str]]] = {
        topic: ({}, {}) for _slug, topic, _minutes in SERVICES
    }
    for path in sorted(SERVICE_TEXTS_DIR.glob("*.json")):
        for slug, given in json.loads(path.read_text(encoding="utf-8")).items():
            if slug not in texts:
                continue
            descriptions, bring = texts[slug]
            if given.get("description"):
                descriptions[path.stem] = given["description"]
            if given.get("what_to_bring"):
                bring[path.stem] = given["what_to_bring"]
    return texts


# {former slug: (format, {language: description}, {language: what to bring})}.
SERVICE_DETAILS = {
    topic: (SERVICE_FORMATS[topic], *texts) for topic, texts in service_texts().items()
}


def _merge_texts(stored: dict | None, demo: dict[str, str]) -> dict[str, str] | None:
    """The demo's texts in the languages ``stored`` lacks, joined to it; None when nothing
    is to change. Only while the German text is still the demo's own: a centre that wrote
    its own text keeps it, without translations of a text it no longer shows."""
    stored = stored or {}
    if stored.get("de", demo.get("de")) != demo.get("de") or not set(demo) - set(stored):
        return None
    return {**demo, **stored}


# Invented people; together each centre's counsellors offer every service.
COUNSELLORS = {
    "herne": [
        ("Aylin Demir", ["de", "tr"], ["beratung-1", "beratung-2", "beratung-4"]),
        ("Karim Haddad", ["de", "ar", "fa"], ["beratung-3", "beratung-2", "beratung-5"]),
        ("Olena Koval", ["de", "ru", "uk"], ["beratung-1", "beratung-3", "beratung-4"]),
    ],
    "kreis-heinsberg": [
        ("Mehmet Yilmaz", ["de", "tr"], ["beratung-1", "beratung-3", "beratung-2"]),
        ("Nour Saleh", ["de", "ar", "en"], ["beratung-2", "beratung-4", "beratung-5"]),
        ("Irina Petrenko", ["de", "ru", "uk"], ["beratung-1", "beratung-3", "beratung-4"]),
        ("Dariush Rahimi", ["de", "fa"], ["beratung-3", "beratung-5"]),
    ],
}


# The school supervision officer of each centre (invented), Tuesday and Thursday
# 08:30–12:00, holding the Seiteneinsteigerberatung together with a counsellor.
OFFICERS = {
    "herne": "Sabine Becker (Schulaufsicht)",
    "kreis-heinsberg": "Thomas Wagner (Schulaufsicht)",
}
OFFICER_HOURS = ((1, time(8, 30), time(12)), (3, time(8, 30), time(12)))
# Services held jointly: the roles one appointment needs.
JOINT_ROLES = {"beratung-4": [COUNSELLOR, OFFICER]}


def _demo_email(name: str, centre_slug: str) -> str:
    local = name.lower().replace(" ", ".")
    return f"{local}@{centre_slug}.example"


def seed_demo(with_bookings: bool = False) -> dict[str, int]:
    """Create what is missing of the demo data; running it again changes nothing.

    ``with_bookings`` adds invented bookings of the last months and the next days to a
    centre that has none yet, so that calendars and reports have something to show.
    """
    created = {"centres": 0, "services": 0, "counsellors": 0, "bookings": 0, "events": 0}
    names = service_names()
    for spec in CENTRES:
        centre = db.session.scalar(select(Centre).where(Centre.slug == spec["slug"]))
        if centre is None:
            centre = Centre(
                slug=spec["slug"],
                name=spec["name"],
                address=spec["address"],
                phone=spec["phone"],
                email=spec["email"],
                timezone="Europe/Berlin",
                holiday_region="DE-NW",
            )
            centre.opening_hours = [
                OpeningHours(weekday=day, opens=opens, closes=closes)
                for day, opens, closes in spec["hours"]
            ]
            db.session.add(centre)
            created["centres"] += 1
        if spec["visiting_address"] and not centre.visiting_address:
            # A centre seeded before the visiting address existed had both in one string.
            centre.address = spec["address"]
            centre.visiting_address = spec["visiting_address"]
        if not centre.privacy_officer_contact:
            centre.privacy_officer_contact = spec["privacy_officer"]
        if not centre.legal_operator:
            centre.legal_operator = spec["legal_operator"]
            centre.responsible_person = "Leitung des Integrationszentrums (Demo)"
            centre.accessibility_contact = spec["email"]
        services = {service.slug: service for service in centre.services}
        for position, (slug, topic, minutes) in enumerate(SERVICES):
            if slug not in services:
                services[slug] = Service(
                    slug=slug,
                    former_slug=topic,
                    names=names[topic],
                    duration_minutes=minutes,
                    position=position,
                )
                centre.services.append(services[slug])
                created["services"] += 1
            elif set(names[topic]) - set(services[slug].names or {}):
                # A language added since: its names join, names already there stay.
                services[slug].names = {**names[topic], **(services[slug].names or {})}
            if slug in JOINT_ROLES and services[slug].roles != JOINT_ROLES[slug]:
                services[slug].roles = JOINT_ROLES[slug]
            service_format, descriptions, bring = SERVICE_DETAILS[topic]
            if not services[slug].descriptions:
                services[slug].format = service_format
            # A language added since: its texts join, texts already there stay.
            if (merged := _merge_texts(services[slug].descriptions, descriptions)) is not None:
                services[slug].descriptions = merged
            if (merged := _merge_texts(services[slug].what_to_bring, bring)) is not None:
                services[slug].what_to_bring = merged
        for name, languages, service_slugs in COUNSELLORS[spec["slug"]]:
            email = _demo_email(name, spec["slug"])
            if db.session.scalar(select(User).where(User.email == email)) is None:
                db.session.add(
                    User(
                        email=email,
                        name=name,
                        role="counsellor",
                        centre=centre,
                        languages=languages,
                        services=[services[slug] for slug in service_slugs],
                    )
                )
                created["counsellors"] += 1
        officer_name = OFFICERS[spec["slug"]]
        email = _demo_email(officer_name.split(" (")[0], spec["slug"])
        if db.session.scalar(select(User).where(User.email == email)) is None:
            db.session.add(
                User(
                    email=email,
                    name=officer_name,
                    role=OFFICER,
                    centre=centre,
                    languages=["de"],
                    services=[s for slug, s in services.items() if slug in JOINT_ROLES],
                    working_hours=[
                        WorkingHours(weekday=day, opens=opens, closes=closes)
                        for day, opens, closes in OFFICER_HOURS
                    ],
                )
            )
            created["officers"] = created.get("officers", 0) + 1
    db.session.commit()
    created["events"] = _seed_events(utcnow())
    if with_bookings:
        for centre in db.session.scalars(select(Centre).where(Centre.slug.in_(DEMO_SLUGS))):
            created["bookings"] += _seed_bookings(centre, utcnow())
        db.session.commit()
    return created


DEMO_SLUGS = [spec["slug"] for spec in CENTRES]
PAST_DAYS = 150
FUTURE_DAYS = 10


def _seed_bookings(centre: Centre, now: datetime) -> int:
    """Invented bookings on the centre's grid, never two of one counsellor at once."""
    if db.session.scalar(select(func.count()).where(Booking.centre_id == centre.id)):
        return 0
    chance = random.Random(f"demo:{centre.slug}")  # noqa: S311 - invented data, not security
    zone = ZoneInfo(centre.timezone)
    today = now.astimezone(zone).date()
    counsellors = [u for u in centre.staff if u.role == COUNSELLOR and u.is_active]
    taken: set[tuple[int, datetime]] = set()
    count = 0
    for offset in range(-PAST_DAYS, FUTURE_DAYS + 1):
        day = today + timedelta(days=offset)
        hours = [h for h in centre.opening_hours if h.weekday == day.weekday()]
        if not hours or offset == 0 or is_public_holiday(centre.holiday_region, day):
            continue
        for _ in range(chance.choice((0, 1, 1, 2, 3))):
            booking = _demo_booking(centre, counsellors, day, hours, zone, chance, taken, now)
            if booking is not None:
                db.session.add(booking)
                count += 1
    return count


def _demo_booking(centre, counsellors, day: date, hours, zone, chance, taken, now):
    opening = chance.choice(hours)
    counsellor = chance.choice(counsellors)
    service = chance.choice(counsellor.services)
    if service.is_joint:
        return None  # joint appointments are made through invitations
    starts = []
    start = datetime.combine(day, opening.opens, zone)
    while start + service.duration <= datetime.combine(day, opening.closes, zone):
        starts.append(start)
        start += timedelta(minutes=60)
    if not starts:
        return None
    start_at = chance.choice(starts)
    if (counsellor.id, start_at) in taken or (
        counsellor.id,
        start_at + timedelta(minutes=30),
    ) in taken:
        return None
    taken.update({(counsellor.id, start_at), (counsellor.id, start_at - timedelta(minutes=30))})
    number = len(taken)
    if start_at < now:
        status = chance.choices(["attended", "no_show", "cancelled"], weights=(75, 10, 15))[0]
    else:
        status = "confirmed"
    return Booking(
        reference=new_reference(),
        centre=centre,
        service=service,
        counsellor=counsellor,
        start_at=start_at,
        end_at=start_at + service.duration,
        status=status,
        channel=chance.choices(["online", "phone", "walk_in"], weights=(60, 35, 5))[0],
        name=f"Demo-Familie {number}",
        email=f"demo-{centre.slug}-{number}@example.org",
        phone=None,
        language=chance.choice([None, *counsellor.languages]),
        interpreter_language=chance.choice([None] * 8 + ["ku", "ti"]),
        persons=chance.choice((1, 1, 2, 3)),
        manage_token_hash=hashlib.sha256(f"demo:{centre.slug}:{number}".encode()).hexdigest(),
        cancelled_at=start_at - timedelta(days=2) if status == "cancelled" else None,
        created_at=start_at - timedelta(days=chance.randint(2, 20)),
    )


# SPEC "Demo data": (centre, German title, English title, audience, seats, waiting list,
# weekday, weeks ahead, start, end, German description).
DEMO_EVENTS = (
    (
        "herne",
        "Fortbildung: Interkulturelle Kompetenz im Schulalltag",
        "Training: intercultural competence in everyday school life",
        "professionals",
        16,
        True,
        1,
        3,
        time(14),
        time(16, 30),
        "Für Lehrkräfte, Erzieherinnen und Erzieher und Fachkräfte der Sozialarbeit: "
        "Fallbeispiele aus dem Schulalltag, Kommunikation mit Familien, Angebote des "
        "Integrationszentrums.",
    ),
    (
        "herne",
        "Elterncafé: Das Schulsystem in NRW",
        "Parents' café: the school system in NRW",
        "families",
        12,
        True,
        3,
        2,
        time(10),
        time(11, 30),
        "Wie funktionieren Grundschule, Gymnasium, Gesamtschule und Berufskolleg? "
        "Bei Kaffee und Tee beantworten wir Ihre Fragen. Kinder sind willkommen.",
    ),
    (
        "kreis-heinsberg",
        "Infoabend für neu zugewanderte Familien",
        "Information evening for newly arrived families",
        "families",
        20,
        False,
        1,
        4,
        time(15),
        time(16, 30),
        "Ankommen im Kreis Heinsberg: Schule, Kita, Beratung und Sprachkurse. "
        "Dolmetscherinnen für Arabisch und Ukrainisch sind da.",
    ),
)


def _seed_events(now: datetime) -> int:
    """The three demo events, dated from today; one that is still ahead is not made again."""
    made = 0
    for (
        slug,
        title,
        title_en,
        audience,
        seats,
        waiting,
        weekday,
        weeks,
        starts,
        ends,
        text,
    ) in DEMO_EVENTS:
        centre = db.session.scalar(select(Centre).where(Centre.slug == slug))
        if centre is None:
            continue
        existing = [
            e
            for e in events.upcoming_events([centre.id], now, include_cancelled=True)
            if e.titles.get("de") == title
        ]
        if existing:
            continue
        day = centre.today(now) + timedelta(weeks=weeks)
        day += timedelta(days=(weekday - day.weekday()) % 7)
        times = event_rules.series_times(day, starts, ends, centre.timezone)
        leader = db.session.scalar(
            select(User)
            .where(User.centre_id == centre.id, User.role == "counsellor")
            .order_by(User.name)
            .limit(1)
        )
        details = events.EventDetails(
            titles={"de": title, "en": title_en},
            descriptions={"de": text},
            audience=audience,
            seats=seats,
            has_waiting_list=waiting,
            languages=("de", "ar", "uk") if audience == "families" else ("de",),
        )
        try:
            events.create_events(centre, details, times, [leader] if leader else [], None, now=now)
        except events.LeaderBusy:
            events.create_events(centre, details, times, [], None, now=now)
        made += 1
    return made
