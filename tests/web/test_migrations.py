"""The schema made by the migrations is the schema the models describe."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from booking.extensions import db

pytestmark = pytest.mark.backends("sqlite", "pg")


def test_migrations_match_models(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_migration_0011_fills_the_normalised_phone_of_existing_bookings(seeded, make_booking):
    """Bookings made before 0011 are found by phone in any spelling after the upgrade."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from tests.helpers import at, next_working_day

    seeded.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    booking = make_booking(
        at(next_working_day(0), 11), service="beratung-5", name="Omar Nassar", phone="02325/883412"
    )
    with seeded.app_context():
        downgrade(revision="0008")
        db.session.execute(
            text("UPDATE booking SET phone = :phone WHERE id = :id"),
            {"phone": "+49 (0)171 ٢٣٤٥٦٧٨", "id": booking.id},
        )
        db.session.commit()
        upgrade()
        stored = db.session.execute(
            text("SELECT phone_normalised FROM booking WHERE id = :id"), {"id": booking.id}
        ).scalar_one()
        without_phone = db.session.execute(
            text(
                "SELECT count(*) FROM booking WHERE phone IS NULL AND phone_normalised IS NOT NULL"
            )
        ).scalar_one()
    assert stored == "+491712345678"
    assert without_phone == 0
