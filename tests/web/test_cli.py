"""Commands: seed-demo is idempotent and matches SPEC "Demo data"."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from booking.extensions import db
from booking.models import Centre, OpeningHours, Service, User
from tests.helpers import BERLIN


def counts():
    return tuple(
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Centre, OpeningHours, Service, User)
    )


def test_seed_demo_is_idempotent(app, runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    with app.app_context():
        after_first = counts()
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0
    assert "0 centres, 0 services, 0 counsellors" in second.output
    assert "0 events created" in second.output
    with app.app_context():
        assert counts() == after_first
        assert after_first[0] == 2 and after_first[2] == 10


def test_seed_demo_adds_the_three_demo_events_ahead(app, runner):
    from booking.models import Event, utcnow

    assert "3 events created" in runner.invoke(args=["seed-demo"]).output
    runner.invoke(args=["seed-demo"])
    with app.app_context():
        found = {
            (
                e.centre.slug,
                e.titles["de"],
                e.audience,
                e.seats,
                e.has_waiting_list,
                e.start_at.astimezone(BERLIN).strftime("%a %H:%M"),
            )
            for e in db.session.scalars(select(Event))
        }
        assert found == {
            (
                "herne",
                "Fortbildung: Interkulturelle Kompetenz im Schulalltag",
                "professionals",
                16,
                True,
                "Tue 14:00",
            ),
            ("herne", "Elterncafé: Das Schulsystem in NRW", "families", 12, True, "Thu 10:00"),
            (
                "kreis-heinsberg",
                "Infoabend für neu zugewanderte Familien",
                "families",
                20,
                False,
                "Tue 15:00",
            ),
        }
        assert all(
            e.start_at > utcnow() + timedelta(days=13) for e in db.session.scalars(select(Event))
        )


def test_demo_counsellors_cover_every_service_in_several_languages(seeded):
    with seeded.app_context():
        for centre in db.session.scalars(select(Centre)):
            counsellors = [u for u in centre.staff if u.role == "counsellor"]
            assert len(counsellors) >= 3
            offered = {s.slug for c in counsellors for s in c.services}
            assert offered == {s.slug for s in centre.services}
            languages = {lang for c in counsellors for lang in c.languages}
            assert {"de", "tr", "ar", "ru"} <= languages
            assert all(u.email.endswith(".example") for u in counsellors)


def test_seed_demo_invents_bookings_once_and_within_the_rules(app, runner):
    from datetime import timedelta

    from booking import availability
    from booking.models import Booking, utcnow

    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    second = runner.invoke(args=["seed-demo"])
    assert "0 bookings," in second.output
    with app.app_context():
        bookings = db.session.scalars(select(Booking)).all()
        assert len(bookings) > 50
        assert {b.status for b in bookings} >= {"attended", "no_show", "cancelled", "confirmed"}
        assert all(b.email.endswith("@example.org") for b in bookings)
        # No upcoming demo booking breaks the centre's hours or a counsellor's time.
        for centre in db.session.scalars(select(Centre)):
            assert availability.bookings_needing_attention(centre, utcnow()) == []
        # Never two bookings of one counsellor at once.
        by_counsellor = {}
        for b in sorted(bookings, key=lambda b: b.start_at):
            if b.status == "cancelled":
                continue
            last = by_counsellor.get(b.counsellor_id)
            assert last is None or last <= b.start_at, b.reference
            by_counsellor[b.counsellor_id] = b.end_at
        assert max(b.start_at for b in bookings) < utcnow() + timedelta(days=12)


def test_create_user_writes_through_the_accounts_writer_and_is_audited(app, runner, seeded):
    from booking.models import AuditEntry

    def create_user(role: str, *centres: str):
        args = ["create-user", "new.admin@herne.example", "--role", role, "--password-stdin"]
        for slug in centres:
            args += ["--centre", slug]
        return runner.invoke(args=args, input="Lange-gute-Passphrase\n")

    assert create_user("counsellor", "herne").exit_code == 0
    assert create_user("admin", "herne", "kreis-heinsberg").exit_code == 0
    assert create_user("counsellor", "nowhere").exit_code != 0
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "new.admin@herne.example"))
        centre_ids = {
            slug: db.session.scalar(select(Centre.id).where(Centre.slug == slug))
            for slug in ("herne", "kreis-heinsberg")
        }
        entries = db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.detail.like(f"staff {user.id} %"))
            .order_by(AuditEntry.id)
        ).all()
        assert [(e.action, e.actor_id, e.actor_label, e.centre_id, e.detail) for e in entries] == [
            (
                "settings",
                None,
                "system",
                centre_ids["herne"],
                f"staff {user.id} created as counsellor on the command line",
            ),
            (
                "settings",
                None,
                "system",
                centre_ids["herne"],
                f"staff {user.id} updated, password set as admin on the command line",
            ),
            (
                "settings",
                None,
                "system",
                centre_ids["kreis-heinsberg"],
                f"staff {user.id} updated, password set as admin on the command line",
            ),
        ]


def test_seed_demo_gives_an_older_demo_database_the_service_texts_of_new_languages(app, runner):
    """A database seeded when the demo texts were German and English only gets the other
    languages on the next seed-demo; texts a centre wrote itself stay, untranslated."""
    from booking.demo import SERVICE_DETAILS

    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        services = db.session.scalars(select(Service).order_by(Service.id)).all()
        for service in services:
            service.descriptions = {k: service.descriptions[k] for k in ("de", "en")}
            service.what_to_bring = {k: service.what_to_bring[k] for k in ("de", "en")}
        own = services[0]
        own.descriptions = {"de": "Unser eigener Text.", "en": "Our own text."}
        own.what_to_bring = {**own.what_to_bring, "tr": "Kendi metnimiz."}
        own_id, own_topic = own.id, own.former_slug
        db.session.commit()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    with app.app_context():
        for service in db.session.scalars(select(Service)):
            _format, descriptions, bring = SERVICE_DETAILS[service.former_slug]
            if service.id == own_id:
                assert service.descriptions == {"de": "Unser eigener Text.", "en": "Our own text."}
                assert service.what_to_bring == {**bring, "tr": "Kendi metnimiz."}
            else:
                assert service.descriptions == descriptions and service.what_to_bring == bring
                assert len(descriptions) == 10
    assert own_topic == "bildung"
