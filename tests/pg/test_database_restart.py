"""A database restart in the middle of a request: the answer made stays, the next one works."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from booking.extensions import db


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
