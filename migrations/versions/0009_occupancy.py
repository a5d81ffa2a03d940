"""occupancy: who is busy when, whatever made them busy; the overlap guarantee moves there

Revision ID: 0009
Revises: 0014

Every booking gets its counsellor's row (active unless the booking is cancelled). The
exclusion constraint of migration 0002 and the booking's unique index of active starts are
replaced by the same guarantees on occupancy, for every kind of commitment.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0014"
branch_labels = None
depends_on = None

ONE_SUBJECT = "(CASE WHEN booking_id IS NULL THEN 0 ELSE 1 END) = 1"


def upgrade():
    op.create_table(
        "occupancy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("start_at < end_at", name=op.f("ck_occupancy_start_before_end")),
        sa.CheckConstraint(ONE_SUBJECT, name=op.f("ck_occupancy_one_subject")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["booking.id"],
            name=op.f("fk_occupancy_booking_id_booking"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_user.id"],
            name=op.f("fk_occupancy_user_id_staff_user"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_occupancy")),
        sa.UniqueConstraint("booking_id", "user_id", name="uq_occupancy_booking_user"),
    )
    with op.batch_alter_table("occupancy", schema=None) as batch_op:
        batch_op.create_index("ix_occupancy_user_start", ["user_id", "start_at"], unique=False)
        batch_op.create_index(
            "uq_occupancy_user_start_active",
            ["user_id", "start_at"],
            unique=True,
            sqlite_where=sa.text("is_active"),
            postgresql_where=sa.text("is_active"),
        )

    # Every booking, cancelled ones too (inactive), so each booking has its rows.
    op.execute(
        "INSERT INTO occupancy (user_id, role, start_at, end_at, is_active, booking_id) "
        "SELECT counsellor_id, 'counsellor', start_at, end_at, status <> 'cancelled', id "
        "FROM booking ORDER BY id"
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE booking DROP CONSTRAINT ex_booking_counsellor_overlap")
        # Two active rows of one person never overlap, whatever made them busy.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE occupancy ADD CONSTRAINT ex_occupancy_user_overlap "
            "EXCLUDE USING gist (user_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&) "
            "WHERE (is_active)"
        )
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_booking_counsellor_start_active",
            sqlite_where=sa.text("status != 'cancelled'"),
            postgresql_where=sa.text("status != 'cancelled'"),
        )


def downgrade():
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.create_index(
            "uq_booking_counsellor_start_active",
            ["counsellor_id", "start_at"],
            unique=True,
            sqlite_where=sa.text("status != 'cancelled'"),
            postgresql_where=sa.text("status != 'cancelled'"),
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE booking ADD CONSTRAINT ex_booking_counsellor_overlap "
            "EXCLUDE USING gist (counsellor_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&) "
            "WHERE (status <> 'cancelled')"
        )
    op.drop_table("occupancy")
