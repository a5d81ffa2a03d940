"""Demo data of SPEC "Demo data": two centres, five services, invented counsellors."""

from __future__ import annotations

from datetime import time

from sqlalchemy import select

from booking.extensions import db
from booking.models import Centre, OpeningHours, Service, User

MON, TUE, WED, THU, FRI = range(5)

CENTRES = [
    {
        "slug": "herne",
        "name": "Kommunales Integrationszentrum Herne",
        "address": "Rademachers Weg 15, 44649 Herne",
        "phone": "02325 6589-313",
        "email": "integrationszentrum@herne.example",
        "hours": [(day, time(8, 0), time(16, 0)) for day in (MON, TUE, WED, THU)]
        + [(FRI, time(8, 0), time(13, 0))],
    },
    {
        "slug": "kreis-heinsberg",
        "name": "Kommunales Integrationszentrum Kreis Heinsberg",
        "address": ("Valkenburger Str. 45, 52525 Heinsberg (Dienstgebäude: Oberbrucher Str. 1)"),
        "phone": "02452 13-4222",
        "email": "integrationszentrum@kreis-heinsberg.example",
        "hours": [(day, time(8, 30), time(12, 0)) for day in (MON, TUE, WED, THU, FRI)]
        + [(day, time(14, 0), time(17, 0)) for day in (TUE, THU)],
    },
]

SERVICES = [
    (
        "bildung",
        {
            "de": "Beratung zu Kita, Schullaufbahn und Berufsausbildung",
            "en": "Advice on day care, school career and vocational training",
        },
        45,
    ),
    (
        "erziehung",
        {
            "de": "Beratung zu Erziehungsfragen und psychosozialen Konflikten",
            "en": "Advice on upbringing and psychosocial conflicts",
        },
        60,
    ),
    (
        "ankommen",
        {
            "de": "Beratung für Erwachsene zur Ankunfts- und Aufenthaltssituation",
            "en": "Advice for adults on arrival and residence",
        },
        45,
    ),
    (
        "seiteneinstieg",
        {
            "de": "Seiteneinsteigerberatung für neu zugezogene Schülerinnen und Schüler",
            "en": "Advice for newly arrived pupils joining German schools",
        },
        60,
    ),
    (
        "einrichtungen",
        {
            "de": "Beratung für Einrichtungen und Fachkräfte zu interkulturellen Fragen",
            "en": "Advice for institutions and professionals on intercultural questions",
        },
        60,
    ),
]

# Invented people; together each centre's counsellors offer every service.
COUNSELLORS = {
    "herne": [
        ("Aylin Demir", ["de", "tr"], ["bildung", "erziehung", "seiteneinstieg"]),
        ("Karim Haddad", ["de", "ar", "fa"], ["ankommen", "erziehung", "einrichtungen"]),
        ("Olena Koval", ["de", "ru", "uk"], ["bildung", "ankommen", "seiteneinstieg"]),
    ],
    "kreis-heinsberg": [
        ("Mehmet Yilmaz", ["de", "tr"], ["bildung", "ankommen", "erziehung"]),
        ("Nour Saleh", ["de", "ar", "en"], ["erziehung", "seiteneinstieg", "einrichtungen"]),
        ("Irina Petrenko", ["de", "ru", "uk"], ["bildung", "ankommen", "seiteneinstieg"]),
        ("Dariush Rahimi", ["de", "fa"], ["ankommen", "einrichtungen"]),
    ],
}


def _demo_email(name: str, centre_slug: str) -> str:
    local = name.lower().replace(" ", ".")
    return f"{local}@{centre_slug}.example"


def seed_demo() -> dict[str, int]:
    """Create what is missing of the demo data; running it again changes nothing."""
    created = {"centres": 0, "services": 0, "counsellors": 0}
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
        services = {service.slug: service for service in centre.services}
        for position, (slug, names, minutes) in enumerate(SERVICES):
            if slug not in services:
                services[slug] = Service(
                    slug=slug, names=names, duration_minutes=minutes, position=position
                )
                centre.services.append(services[slug])
                created["services"] += 1
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
    db.session.commit()
    return created
