"""The yardstick: a bare Flask app served like ours (``gunicorn -w 2 bare_app:app``).

``GET /`` answers "hello". ``POST /rows`` (only when ``BARE_DATABASE_URL`` is set) reads a
JSON body like a booking's and inserts it as one row with Flask-SQLAlchemy, one commit per
request: the least a POST that writes can do on the same stack.
"""

from __future__ import annotations

import os
from datetime import datetime

from flask import Flask, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# The table, made by the harness before the workers start (two workers must not race to).
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS bare_row (
    id bigserial PRIMARY KEY,
    service text NOT NULL,
    start_at timestamptz NOT NULL,
    name text NOT NULL,
    email text NOT NULL
)
"""


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class BareRow(db.Model):
    __tablename__ = "bare_row"
    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str]
    start_at: Mapped[datetime]
    name: Mapped[str]
    email: Mapped[str]


app = Flask(__name__)


@app.get("/")
def hello():
    return "hello"


if os.environ.get("BARE_DATABASE_URL"):
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["BARE_DATABASE_URL"]
    db.init_app(app)

    @app.post("/rows")
    def add_row():
        data = request.get_json()
        row = BareRow(
            service=data["service"],
            start_at=datetime.fromisoformat(data["start"]),
            name=data["name"],
            email=data["email"],
        )
        db.session.add(row)
        db.session.commit()
        return jsonify({"id": row.id}), 201
