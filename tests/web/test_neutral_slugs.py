"""Service slugs appear in public URLs and the API, so they never name the confidential
topic of a consultation; old links with a former slug still lead to the service."""

from __future__ import annotations

import re

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from booking import create_app
from booking.config import TestConfig
from booking.extensions import db
from booking.models import Centre, Service
from tests.conftest import csrf_from
from tests.helpers import at, booking_payload, next_working_day

TOPICS = ("bildung", "erziehung", "ankommen", "seiteneinstieg", "einrichtungen")


def test_public_pages_and_the_api_show_only_neutral_slugs(seeded, client):
    html = client.get("/centres/herne").get_data(as_text=True)
    links = re.findall(r'href="(/centres/herne/beratung[^"]*)"', html)
    assert len(links) == 4  # beratung-4 is booked by invitation, not from the list
    for link in links:
        assert re.fullmatch(r"/centres/herne/beratung-\d", link), link
    services = client.get("/api/v1/centres/herne/services").get_json()
    assert [s["slug"] for s in services] == [f"beratung-{n}" for n in range(1, 6)]
    # The week page, its links and its forms carry no topic either.
    week = client.get("/centres/herne/beratung-2").get_data(as_text=True)
    for url in re.findall(r'(?:href|action)="([^"]+)"', week):
        assert not any(topic in url for topic in TOPICS), url


def test_old_links_with_the_topic_slug_are_redirected(seeded, client):
    response = client.get("/centres/herne/erziehung?week=2026-12-07&language=tr")
    assert response.status_code == 301
    assert response.headers["Location"] == ("/centres/herne/beratung-2?week=2026-12-07&language=tr")
    start = at(next_working_day(0), 9)
    response = client.get("/centres/herne/erziehung/book", query_string={"start": start})
    assert response.status_code == 301
    assert response.headers["Location"].startswith("/centres/herne/beratung-2/book?start=")
    assert client.get("/centres/herne/nichts").status_code == 404


@pytest.mark.backends("sqlite", "pg")
def test_the_api_accepts_a_former_slug_and_answers_with_the_neutral_one(db_backend, seeded, client):
    day = next_working_day(0)
    query = {"from": day.isoformat(), "to": day.isoformat()}
    old = client.get("/api/v1/centres/herne/slots", query_string={**query, "service": "erziehung"})
    new = client.get("/api/v1/centres/herne/slots", query_string={**query, "service": "beratung-2"})
    assert old.status_code == new.status_code == 200
    assert old.get_json() == new.get_json() and new.get_json()["slots"]
    response = client.post(
        "/api/v1/centres/herne/bookings", json=booking_payload(at(day, 9), "erziehung")
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["service"] == "beratung-2"


def test_an_admin_renaming_a_slug_keeps_the_old_link_and_an_empty_one_is_chosen(
    seeded, client, make_staff, sign_in
):
    sign_in(client, make_staff("admin@herne.example", "admin", "herne"))
    with seeded.app_context():
        service = db.session.scalar(
            select(Service).join(Centre).where(Centre.slug == "herne", Service.slug == "beratung-1")
        )
        service_id, counsellors = service.id, [str(u.id) for u in service.counsellors]
    form = {
        "name_de": "Beratung zu Kita, Schullaufbahn und Berufsausbildung",
        "duration_minutes": "45",
        "online_bookable": "y",
        "is_active": "y",
        "counsellors": counsellors,
    }
    url = f"/admin/centres/herne/services/{service_id}"
    token = csrf_from(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, **form, "slug": "beratung-9"})
    assert response.status_code == 303
    assert client.get("/centres/herne/beratung-1").headers["Location"] == (
        "/centres/herne/beratung-9"
    )
    new = client.post(
        "/admin/centres/herne/services/new",
        data={"csrf_token": token, **form, "name_de": "Sprachberatung", "slug": ""},
    )
    assert new.status_code == 303
    with seeded.app_context():
        centre_id = db.session.scalar(select(Centre.id).where(Centre.slug == "herne"))
        slugs = set(db.session.scalars(select(Service.slug).where(Service.centre_id == centre_id)))
    assert "beratung-1" in slugs  # the first free neutral slug, now that beratung-1 is free


def test_the_migration_makes_the_demo_slugs_neutral(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    app = create_app(TestConfig, instance_path=str(tmp_path), SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade(revision="0004")
        db.session.execute(
            text(
                "INSERT INTO centre (id, slug, name, address, phone, email, timezone, "
                "holiday_region, min_notice_minutes, horizon_days, slot_step_minutes, "
                "buffer_minutes, max_active_bookings_per_email) VALUES (1, 'herne', 'H', 'A', "
                "'P', 'e@x.example', 'Europe/Berlin', 'DE-NW', 1440, 56, 30, 0, 3)"
            )
        )
        for number, slug in enumerate((*TOPICS, "sprache"), start=1):
            db.session.execute(
                text(
                    "INSERT INTO service (id, centre_id, slug, names, duration_minutes, "
                    "online_bookable, is_active, position) "
                    "VALUES (:id, 1, :slug, '{}', 45, true, true, :id)"
                ),
                {"id": number, "slug": slug},
            )
        db.session.commit()
        upgrade()
        rows = db.session.execute(text("SELECT slug, former_slug FROM service ORDER BY id")).all()
        db.session.commit()
        # Back down: nothing is lost (copying tables on SQLite would cascade deletes).
        downgrade(revision="0004")
        back = db.session.execute(text("SELECT slug FROM service ORDER BY id")).scalars().all()
        db.engine.dispose()
    assert back == [*TOPICS, "sprache"]
    assert rows == [
        ("beratung-1", "bildung"),
        ("beratung-2", "erziehung"),
        ("beratung-3", "ankommen"),
        ("beratung-4", "seiteneinstieg"),
        ("beratung-5", "einrichtungen"),
        ("sprache", None),
    ]


def test_issue_upgrade_of_a_sqlite_database_with_bookings_keeps_every_row(tmp_path):
    """Regression: migration 0006 copies the service table on SQLite; with foreign keys
    enforced, dropping the old table failed (or would cascade) once bookings pointed at it."""
    url = f"sqlite:///{tmp_path / 'lived-in.sqlite'}"
    app = create_app(TestConfig, instance_path=str(tmp_path), SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade(revision="0004")
        statements = [
            "INSERT INTO centre (id, slug, name, address, phone, email, timezone, holiday_region, "
            "min_notice_minutes, horizon_days, slot_step_minutes, buffer_minutes, "
            "max_active_bookings_per_email) VALUES (1, 'herne', 'H', 'A', 'P', 'e@x.example', "
            "'Europe/Berlin', 'DE-NW', 1440, 56, 30, 0, 3)",
            "INSERT INTO service (id, centre_id, slug, names, duration_minutes, online_bookable, "
            "is_active, position) VALUES (1, 1, 'bildung', '{}', 45, true, true, 1)",
            "INSERT INTO staff_user (id, email, name, role, centre_id, languages, is_active, "
            "created_at) VALUES (1, 'c@x.example', 'C', 'counsellor', 1, '[\"de\"]', true, "
            "'2026-01-01 00:00:00')",
            "INSERT INTO booking (id, reference, centre_id, service_id, counsellor_id, start_at, "
            "end_at, status, channel, name, email, persons, manage_token_hash, sequence, "
            "created_at, updated_at) VALUES (1, 'ABC123', 1, 1, 1, '2026-12-01 09:00:00', "
            "'2026-12-01 09:45:00', 'confirmed', 'online', 'N', 'n@x.example', 1, "
            "'0000000000000000000000000000000000000000000000000000000000000000', 0, "
            "'2026-11-01 00:00:00', '2026-11-01 00:00:00')",
        ]
        for statement in statements:
            db.session.execute(text(statement))
        db.session.commit()
        upgrade()
        counts = [
            db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in ("centre", "service", "staff_user", "booking")
        ]
        service = db.session.execute(text("SELECT slug, format FROM service")).one()
        enforced = db.session.execute(text("PRAGMA foreign_keys")).scalar()
        db.session.commit()
        db.engine.dispose()
    assert counts == [1, 1, 1, 1]
    assert tuple(service) == ("beratung-1", "in_person")
    assert enforced == 1  # switched back on for the app's own connections
