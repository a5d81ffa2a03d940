"""Flask extensions, created unbound and initialised in create_app."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from booking.throttling import client_key

# Named constraints so that migrations can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()
login_manager = LoginManager()


def client_address() -> str:
    """Rate limits count per client: an IPv4 address, or an IPv6 /64 network."""
    return client_key(get_remote_address())


limiter = Limiter(key_func=client_address, default_limits=[])


def _new_bookings_per_address() -> str:
    from flask import current_app

    return current_app.config["NEW_BOOKINGS_PER_ADDRESS"]


# One count per client address over every way a family books online (the API and the form),
# so no address hoards the free times: a 429 says nothing of the bookings it holds.
new_booking_limit = limiter.shared_limit(
    _new_bookings_per_address, scope="new-booking", methods=["POST"]
)
