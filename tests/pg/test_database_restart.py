"""A database restart in the middle of a request: the answer made stays, the next one works."""

from __future__ import annotations

import threading
from datetime import timedelta

import psycopg
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import event, make_url, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from booking import outbox
from booking.extensions import db
from booking.models import OutboxMessage, utcnow
from tests.helpers import Inbox, at, booking_payload, free_port, next_working_day


@pytest.mark.backends("pg")
def test_connection_closed_after_the_last_query_is_no_500(app, db_backend):
    def read_then_lose_the_connection():
        pid = db.session.scalar(text("SELECT pg_backend_pid()"))
        # What `pg_ctl restart -m fast` does to every connection, here to this one only;
        # the second argument waits (ms) until the backend has gone.
        with db.engine.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        return "read"

    app.add_url_rule("/test-lost-connection", view_func=read_then_lose_the_connection)
    client = app.test_client()
    response = client.get("/test-lost-connection")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "read"
    # The pool dropped the dead connection: the next request reads again.
    assert client.get("/api/v1/centres").status_code == 200


@pytest.mark.backends("pg")
def test_mail_sent_while_the_database_goes_away_is_recorded_once_it_is_back(
    app, client, make_centre, db_backend
):
    """Regression: the load run's restart left a delivered mail claimed but not marked sent,
    so it would have gone out again when the claim ended."""
    make_centre()
    set_connections = _connections_switch(app)

    class GoesAwayOnDelivery(Inbox):
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            # The database refuses every connection from the moment the mail is accepted
            # until a second later, as during `pg_ctl restart`.
            set_connections(False)
            threading.Timer(1.0, set_connections, args=(True,)).start()
            return await super().handle_DATA(server, session, envelope)

    inbox = GoesAwayOnDelivery()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port, OUTBOX_SEND_AFTER_COMMIT="off"
    )
    try:
        monday = next_working_day(0)
        response = client.post(
            "/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10))
        )
        assert response.status_code == 201
        with app.app_context():
            assert outbox.send_due(app, now=utcnow()) == (1, 0)
            db.session.remove()
            row = db.session.scalar(
                select(OutboxMessage).where(OutboxMessage.kind == "confirmation")
            )
            assert row.state == "sent" and row.claimed_until is None and row.attempts == 1
    finally:
        controller.stop()
        set_connections(True)
    assert len(inbox.messages) == 1


@pytest.mark.backends("pg", "sqlite")
def test_a_claim_whose_commit_broke_off_is_taken_back_by_its_time(
    app, client, make_centre, db_backend
):
    """Regression: the load run's restart broke the connection at the claim's commit after
    the server had stored it, and the mail waited out the whole claim."""
    make_centre()
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    monday = next_working_day(0)
    client.post("/api/v1/centres/test/bookings", json=booking_payload(at(monday, 10)))
    with app.app_context():
        now = utcnow()
        (row,) = outbox.claim(app, now, ids=[_confirmation_id()])
        until = now + outbox.CLAIM_FOR
        # Another worker's claim (another time) is not ours to release.
        assert outbox.release_claim([row.id], until + timedelta(microseconds=1)) == 0
        assert outbox.release_claim([row.id], until) == 1
        db.session.commit()
        assert [r.id for r in outbox.claim(app, now)] == [row.id]


def _connections_switch(app):
    """A function that makes the test database refuse (False) or accept (True) connections;
    refusing also ends the open ones, as a restart does."""
    database = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    admin_dsn = (
        f"host={database.host} port={database.port or 5432} user={database.username} "
        "dbname=postgres"
    )

    def set_connections(allowed: bool) -> None:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{database.database}" ALLOW_CONNECTIONS {allowed}')
            if not allowed:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (database.database,),
                )

    return set_connections


def _confirmation_id() -> int:
    return db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.kind == "confirmation"))


@pytest.mark.backends("pg")
def test_database_gone_between_claim_and_delivery_hands_the_claim_back(
    app, client, make_centre, db_backend
):
    """Regression: the load run's restart came right after a claim, reading the mail's body
    failed, and the mail waited out the whole claim."""
    make_centre()
    app.config["OUTBOX_SEND_AFTER_COMMIT"] = "off"
    client.post("/api/v1/centres/test/bookings", json=booking_payload(at(next_working_day(0), 10)))
    set_connections = _connections_switch(app)

    fired: list[threading.Timer] = []

    def away_after_the_claim(session) -> None:
        if fired:  # once: the first commit is the claim
            return
        set_connections(False)
        back = threading.Timer(1.0, set_connections, args=(True,))
        fired.append(back)
        back.start()

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    try:
        with app.app_context():
            event.listen(Session, "after_commit", away_after_the_claim)
            with pytest.raises(OperationalError):
                outbox.send_due(app, now=utcnow())
            db.session.remove()
            fired[0].join()  # the database is back
            # Taken back: the next round sends it at once, not after CLAIM_FOR.
            assert outbox.send_due(app, now=utcnow()) == (1, 0)
    finally:
        event.remove(Session, "after_commit", away_after_the_claim)
        controller.stop()
        set_connections(True)
    assert len(inbox.messages) == 1
