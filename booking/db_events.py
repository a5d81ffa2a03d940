"""Engine hooks: SQLite write transactions taken up front, a query count per request, and
the end of a session that survives a database gone away."""

from __future__ import annotations

from flask import Flask, g, has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from booking.extensions import db


def init_app(app: Flask) -> None:
    """Attach the hooks to the app's engine once it exists."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    event.listen(engine, "before_cursor_execute", _count_query)
    # Registered after Flask-SQLAlchemy's own teardown, so it runs before it.
    app.teardown_appcontext(lambda _error: end_session())

    if app.config.get("QUERY_COUNT_HEADER"):

        @app.after_request
        def add_query_count(response):
            response.headers["X-Query-Count"] = str(g.get("query_count", 0))
            return response


def end_session() -> None:
    """End the session; a connection the database closed meanwhile is dropped, not raised."""
    try:
        db.session.remove()
    except (OperationalError, InterfaceError):
        # The database restarted after the last statement: the closing rollback cannot reach
        # it. What was committed stays; the pool has already discarded the connection, so
        # forget the session instead of failing an answer already made (or a worker's loop).
        db.session.registry.clear()


def _count_query(conn, cursor, statement, parameters, context, executemany) -> None:
    if has_request_context():
        g.query_count = g.get("query_count", 0) + 1


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and BEGIN IMMEDIATE for every transaction.

    pysqlite's own transaction handling begins lazily and only before writes, so two
    writers could both read "free" and then both insert. Taking the write lock at BEGIN
    serialises every read-check-write transaction (SQLAlchemy docs, "Serializable
    isolation / Savepoints / Transactional DDL" for pysqlite).
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 10000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):
        # A connection in autocommit (the availability version's reader) runs each
        # statement alone and takes no lock beforehand.
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "checkin")
    def on_checkin(dbapi_connection, connection_record):
        # SQLAlchemy gives a connection that was in autocommit pysqlite's default handling
        # back when it returns to the pool ("" : an implicit BEGIN before writes); ours is
        # none, as on connect: transactions begin with the BEGIN IMMEDIATE above.
        if dbapi_connection is not None:
            dbapi_connection.isolation_level = None
