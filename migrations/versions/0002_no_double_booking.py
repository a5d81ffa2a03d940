"""No double booking: exclusion constraint on PostgreSQL; the booking's mail language

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("locale", sa.String(length=16), nullable=False, server_default="de")
        )

    if op.get_bind().dialect.name == "postgresql":
        # Two active bookings of one counsellor never overlap, whatever the application does.
        # btree_gist lets the plain integer column take part in the GiST index.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE booking ADD CONSTRAINT ex_booking_counsellor_overlap "
            "EXCLUDE USING gist (counsellor_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&) "
            "WHERE (status <> 'cancelled')"
        )
    # SQLite has no exclusion constraints: there every write transaction begins with
    # BEGIN IMMEDIATE (booking/db_events.py), so the check and the insert cannot interleave,
    # and uq_booking_counsellor_start_active catches identical starts.


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE booking DROP CONSTRAINT ex_booking_counsellor_overlap")
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_column("locale")
