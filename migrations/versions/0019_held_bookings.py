"""held bookings: an online booking may wait for the family's confirmation from the mail

Revision ID: 0019
Revises: 0018

The centre's switch and expiry (off by default: bookings are confirmed at once), a booking's
hold expiry and the statuses held and expired (SQLite copies the booking table, as it must
to change a CHECK), and the instant an occupancy row of a hold stops making anyone busy.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('confirmed', 'cancelled', 'attended', 'no_show')"
NEW_STATUSES = "status IN ('confirmed', 'cancelled', 'attended', 'no_show', 'held', 'expired')"


def upgrade():
    with op.batch_alter_table("centre") as batch_op:
        batch_op.add_column(
            sa.Column(
                "hold_online_bookings", sa.Boolean(), nullable=False,
                server_default=sa.text("false"),
            )
        )
        batch_op.add_column(
            sa.Column("hold_minutes", sa.Integer(), nullable=False, server_default="30")
        )
        batch_op.create_check_constraint("hold_minutes", "hold_minutes BETWEEN 5 AND 1440")
    with op.batch_alter_table("booking") as batch_op:
        batch_op.add_column(sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f("ck_booking_status"), type_="check")
        batch_op.create_check_constraint("status", NEW_STATUSES)
        batch_op.create_index(
            "ix_booking_status_hold_expires", ["status", "hold_expires_at"], unique=False
        )
    with op.batch_alter_table("occupancy") as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # Holds become what they were not yet: cancelled (their time freed).
    op.execute(
        "UPDATE occupancy SET is_active = false WHERE booking_id IN "
        "(SELECT id FROM booking WHERE status IN ('held', 'expired'))"
    )
    op.execute("UPDATE booking SET status = 'cancelled' WHERE status IN ('held', 'expired')")
    with op.batch_alter_table("occupancy") as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("booking") as batch_op:
        batch_op.drop_index("ix_booking_status_hold_expires")
        batch_op.drop_constraint(op.f("ck_booking_status"), type_="check")
        batch_op.create_check_constraint("status", OLD_STATUSES)
        batch_op.drop_column("hold_expires_at")
    with op.batch_alter_table("centre") as batch_op:
        batch_op.drop_constraint(op.f("ck_centre_hold_minutes"), type_="check")
        batch_op.drop_column("hold_minutes")
        batch_op.drop_column("hold_online_bookings")
