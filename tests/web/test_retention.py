"""Retention: `flask --app wsgi purge` erases names, contacts, messages and mail bodies of
bookings past RETENTION_DAYS and keeps what the reports count; a family erases its own
data from the manage page after cancelling. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from booking.extensions import db
from booking.models import AuditEntry, Booking, IdempotencyKey, OutboxMessage, utcnow
from tests.conftest import csrf_from
from tests.helpers import at, next_working_day

pytestmark = pytest.mark.backends("sqlite", "pg")

FAMILY = {
    "name": "Zeynep Quellenfeld",
    "email": "zeynep.quellenfeld@example.org",
    "phone": "0171 9876543",
    "message": "Unser Sohn Emre hat Probleme in der Schule",
    "language": "tr",
    "interpreter_language": "tr",
    "persons": 3,
}
KEPT = (
    "reference",
    "centre_id",
    "service_id",
    "counsellor_id",
    "start_at",
    "end_at",
    "status",
    "channel",
    "language",
    "interpreter_language",
    "persons",
    "locale",
    "consent_at",
)


def snapshot(app, booking_id: int) -> dict:
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        return {
            name: getattr(booking, name)
            for name in (
                *KEPT,
                "name",
                "email",
                "phone",
                "phone_normalised",
                "message",
                "erased_at",
            )
        }


def mails_of(app, booking_id: int) -> list[tuple[str, bytes, str]]:
    """(state, what the row holds about the family, recipient) of each mail: a mail not
    composed yet holds its snapshot (names, address, manage link), a composed one its bytes."""
    with app.app_context():
        return [
            (m.state, m.raw + _snapshot_bytes(m.snapshot), m.recipient)
            for m in db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.booking_id == booking_id)
            )
        ]


def _snapshot_bytes(found: dict | None) -> bytes:
    return b"" if found is None else json.dumps(found, ensure_ascii=False).encode()


def move_into_past(app, booking_id: int, days: int, status: str = "attended") -> None:
    """Let the appointment have ended ``days`` days ago."""
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        length = booking.end_at - booking.start_at
        end_at = utcnow() - timedelta(days=days)
        db.session.execute(
            update(Booking)
            .where(Booking.id == booking_id)
            .values(start_at=end_at - length, end_at=end_at, status=status)
        )
        db.session.commit()


@pytest.fixture
def past_and_recent(seeded, make_booking):
    """One booking that ended 91 days ago (with a sent and a dead mail), one 89 days ago,
    one upcoming."""
    monday = next_working_day(0)
    old = make_booking(at(monday, 9), **FAMILY)
    recent = make_booking(at(monday, 10), **FAMILY)
    upcoming = make_booking(at(monday, 11), **FAMILY)
    move_into_past(seeded, old.id, 91)
    move_into_past(seeded, recent.id, 89, status="no_show")
    with seeded.app_context():
        db.session.add(
            OutboxMessage(
                event_key=f"test-dead-{old.id}",
                booking_id=old.id,
                kind="reminder",
                recipient=FAMILY["email"],
                message_id="<dead@test>",
                raw=f"To: {FAMILY['email']}\r\n\r\n{FAMILY['name']}".encode(),
                state="dead",
                # As an older version kept it: the server's words, with the address.
                last_error=f"SMTPRecipientsRefused: {{'{FAMILY['email']}': (550, b'unknown')}}",
            )
        )
        db.session.commit()
    return old, recent, upcoming


def test_purge_erases_personal_data_past_retention_and_keeps_the_rest(
    seeded, runner, past_and_recent
):
    old, recent, upcoming = past_and_recent
    before = {b.id: snapshot(seeded, b.id) for b in past_and_recent}
    # The confirmation was sent, the reminder still waits, one mail was given up.
    states = sorted(state for state, _raw, _to in mails_of(seeded, old.id))
    assert states == ["dead", "pending", "sent"]
    # The waiting reminder holds the name in its snapshot, the dead one as its message; the
    # sent confirmation keeps neither (only its recipient).
    assert {
        state: FAMILY["name"].encode() in raw for state, raw, _to in mails_of(seeded, old.id)
    } == {"dead": True, "pending": True, "sent": False}

    # A dry run tells the counts, no personal data, and changes nothing.
    dry = runner.invoke(args=["purge", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert re.search(
        r"Would erase .*: 1 bookings, 0 event registrations, 3 mail bodies", dry.output
    ), dry.output
    for secret in ("Zeynep", "Quellenfeld", "example.org", "9876543", old.reference):
        assert secret not in dry.output
    assert snapshot(seeded, old.id) == before[old.id]
    with seeded.app_context():
        assert not db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "purge")
        )

    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert re.search(
        r"Erased .*: 1 bookings, 0 event registrations, 3 mail bodies", result.output
    ), result.output

    erased = snapshot(seeded, old.id)
    assert erased["name"] == "" and erased["email"] is None
    assert erased["phone"] is None and erased["message"] is None
    # The searchable form of the phone number goes with it.
    assert erased["phone_normalised"] is None
    assert erased["erased_at"] is not None
    assert {k: erased[k] for k in KEPT} == {k: before[old.id][k] for k in KEPT}
    assert mails_of(seeded, old.id) and all(
        raw == b"" and to == "" and state != "pending"
        for state, raw, to in mails_of(seeded, old.id)
    )
    with seeded.app_context():
        # The last error of a mail is erased with it: it may name the refused address.
        assert not db.session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.booking_id == old.id, OutboxMessage.last_error.is_not(None))
        )
        assert not db.session.scalar(
            select(func.count())
            .select_from(IdempotencyKey)
            .where(IdempotencyKey.booking_id == old.id)
        )
    # Within retention, nothing changes.
    for booking in (recent, upcoming):
        assert snapshot(seeded, booking.id) == before[booking.id]
        assert any(FAMILY["name"].encode() in raw for _s, raw, _to in mails_of(seeded, booking.id))

    # Each centre's audit log records the purge, with counts only.
    with seeded.app_context():
        entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "purge")).all()
    assert len(entries) == 2  # Herne and Kreis Heinsberg
    assert all(e.actor_id is None and "Zeynep" not in e.detail for e in entries)
    assert any(e.detail.startswith("1 bookings") for e in entries)

    # Idempotent: a second run finds nothing more, and says so in the log too.
    again = runner.invoke(args=["purge"])
    assert re.search(r": 0 bookings, 0 event registrations, 0 mail bodies", again.output), (
        again.output
    )
    assert snapshot(seeded, old.id) == erased


def test_retention_days_is_configurable(seeded, runner, past_and_recent):
    old, recent, upcoming = past_and_recent
    seeded.config["RETENTION_DAYS"] = 30
    result = runner.invoke(args=["purge"])
    assert re.search(r"older than 30 days.*: 2 bookings", result.output), result.output
    assert snapshot(seeded, recent.id)["email"] is None
    assert snapshot(seeded, upcoming.id)["email"] == FAMILY["email"]
    assert runner.invoke(args=["purge", "--days", "0"]).exit_code != 0


def test_an_erased_dead_mail_cannot_be_sent_again(
    seeded, client, make_staff, sign_in, runner, past_and_recent
):
    old = past_and_recent[0]
    runner.invoke(args=["purge"])
    sign_in(client, make_staff("admin@herne.example", "admin", "herne"))
    with seeded.app_context():
        dead = db.session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.booking_id == old.id, OutboxMessage.state == "dead"
            )
        )
        dead_id = dead.id
    page = client.get("/admin/centres/herne/outbox").get_data(as_text=True)
    client.post(
        f"/admin/centres/herne/outbox/{dead_id}/requeue", data={"csrf_token": csrf_from(page)}
    )
    with seeded.app_context():
        assert db.session.get(OutboxMessage, dead_id).state == "dead"


def test_a_family_erases_its_data_after_cancelling(seeded, client, make_booking):
    monday = next_working_day(0)
    booking = make_booking(at(monday, 9), **FAMILY)
    manage = f"/b/{booking.token}"
    page = client.get(manage).get_data(as_text=True)
    assert FAMILY["name"] in page and 'id="erase-link"' not in page
    # Not before cancelling.
    erase_page = client.get(f"{manage}/erase").get_data(as_text=True)
    assert 'id="erase-confirm"' not in erase_page
    cancel = client.get(f"{manage}/cancel").get_data(as_text=True)
    response = client.post(f"{manage}/erase", data={"csrf_token": csrf_from(cancel)})
    assert response.status_code == 303
    assert snapshot(seeded, booking.id)["email"] == FAMILY["email"]

    assert (
        client.post(f"{manage}/cancel", data={"csrf_token": csrf_from(cancel)}).status_code == 303
    )
    page = client.get(manage).get_data(as_text=True)
    assert 'id="erase-link"' in page
    # The confirm page changes nothing (mail scanners follow links).
    confirm = client.get(f"{manage}/erase").get_data(as_text=True)
    assert 'id="erase-confirm"' in confirm
    assert snapshot(seeded, booking.id)["erased_at"] is None

    response = client.post(f"{manage}/erase", data={"csrf_token": csrf_from(confirm)})
    assert response.status_code == 303
    after = snapshot(seeded, booking.id)
    assert after["name"] == "" and after["email"] is None and after["phone"] is None
    assert after["message"] is None and after["status"] == "cancelled"
    assert after["persons"] == 3 and after["language"] == "tr"
    # The confirmation and the cancellation were sent: their bodies are gone.
    mails = mails_of(seeded, booking.id)
    assert len(mails) == 2 and all(raw == b"" and to == "" for _s, raw, to in mails)

    page = client.get(manage).get_data(as_text=True)
    assert 'id="erased"' in page and 'id="erase-link"' not in page
    for secret in ("Zeynep", "Quellenfeld", FAMILY["email"], FAMILY["phone"]):
        assert secret not in page
    assert booking.reference in page
    with seeded.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "erase"))
        assert entry.booking_reference == booking.reference and "Zeynep" not in entry.detail
    # A second erase changes nothing and does not fail.
    assert (
        client.post(f"{manage}/erase", data={"csrf_token": csrf_from(confirm)}).status_code == 303
    )


def test_every_subject_a_mail_can_belong_to_is_registered(app):
    """A new foreign key on outbox_message (a mail's subject) without its line in
    mail_kinds.SUBJECTS would keep that subject's mails from retention."""
    from booking.mail_kinds import MAIL_KINDS, SUBJECTS

    foreign_keys = {fk.parent.key for fk in OutboxMessage.__table__.foreign_keys}
    assert foreign_keys == {subject.column.key for subject in SUBJECTS.values()}
    for subject in SUBJECTS.values():
        assert subject.erased_at.class_ is subject.model
    assert {kind.subject.name for kind in MAIL_KINDS.values()} <= set(SUBJECTS)


def test_purge_erases_a_mail_whose_booking_is_gone_once_past_retention(
    seeded, runner, make_booking
):
    """SET NULL leaves a mail without its subject: nothing would ever erase it by its
    booking, so purge erases it by its own age."""
    booking = make_booking(at(next_working_day(0), 9), **FAMILY)
    with seeded.app_context():
        ids = list(
            db.session.scalars(
                select(OutboxMessage.id).where(OutboxMessage.booking_id == booking.id)
            )
        )
        assert ids
        db.session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(booking_id=None)
        )
        db.session.commit()
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(created_at=utcnow() - timedelta(days=91))
        )
        orphan_recent = OutboxMessage(
            event_key="test-orphan-recent",
            kind="reminder",
            recipient=FAMILY["email"],
            message_id="<orphan-recent@test>",
            raw=FAMILY["name"].encode(),
            state="sent",
        )
        db.session.add(orphan_recent)
        db.session.commit()
        recent_id = orphan_recent.id

    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output

    with seeded.app_context():
        for row in db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))):
            assert (row.raw, row.snapshot, row.recipient) == (b"", None, "")
            assert row.state != "pending"
        kept = db.session.get(OutboxMessage, recent_id)
        assert kept.raw == FAMILY["name"].encode() and kept.recipient == FAMILY["email"]


@pytest.mark.backends("pg")
def test_purge_vacuums_the_tables_it_erased_on_postgresql(seeded, runner, past_and_recent):
    from sqlalchemy import text

    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert (
        "Vacuumed: booking, registration, outbox_message, idempotency_key, sign_in_failure, "
        "find_request." in result.output
    )
    with seeded.app_context():
        vacuumed = dict(
            db.session.execute(
                text(
                    "SELECT relname, last_vacuum IS NOT NULL FROM pg_stat_user_tables "
                    "WHERE relname IN ('booking', 'outbox_message')"
                )
            ).all()
        )
    assert vacuumed == {"booking": True, "outbox_message": True}
