"""invitations, the school supervision role, the roles a service needs

Revision ID: 0013
Revises: 0015

A new table (invitation) and nullable or defaulted columns; the role check of staff_user
gains school_supervision (SQLite copies that table, as it must to change a CHECK).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0015"
branch_labels = None
depends_on = None

OLD_ROLES = "role IN ('admin', 'counsellor', 'reception')"
NEW_ROLES = "role IN ('admin', 'counsellor', 'reception', 'school_supervision')"


def upgrade():
    with op.batch_alter_table("staff_user") as batch_op:
        batch_op.drop_constraint(op.f("ck_staff_user_role"), type_="check")
        batch_op.alter_column("role", type_=sa.String(32), existing_type=sa.String(16))
        batch_op.create_check_constraint("role", NEW_ROLES)
    op.add_column(
        "service",
        sa.Column("roles", sa.JSON(), nullable=False, server_default=sa.text("'[\"counsellor\"]'")),
    )
    with op.batch_alter_table("booking") as batch_op:
        batch_op.add_column(sa.Column("officer_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_booking_officer_id"), ["officer_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_booking_officer_id_staff_user"),
            "staff_user", ["officer_id"], ["id"], ondelete="RESTRICT",
        )
    # The officer's time is guarded where everyone's is: their occupancy row (0009).
    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(16), nullable=False),
        sa.Column("centre_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("phone", sa.String(64), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("case_note", sa.Text(), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("replaces_booking_id", sa.Integer(), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "created_at < expires_at", name=op.f("ck_invitation_created_before_expires")
        ),
        sa.ForeignKeyConstraint(
            ["centre_id"], ["centre.id"], name=op.f("fk_invitation_centre_id_centre"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f("fk_invitation_service_id_service"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["staff_user.id"],
            name=op.f("fk_invitation_created_by_id_staff_user"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["booking.id"], name=op.f("fk_invitation_booking_id_booking"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["replaces_booking_id"], ["booking.id"],
            name=op.f("fk_invitation_replaces_booking_id_booking"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitation")),
        sa.UniqueConstraint("reference", name=op.f("uq_invitation_reference")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitation_token_hash")),
    )
    op.create_index(op.f("ix_invitation_centre_id"), "invitation", ["centre_id"])
    op.create_index(op.f("ix_invitation_booking_id"), "invitation", ["booking_id"])
    with op.batch_alter_table("outbox_message") as batch_op:
        batch_op.add_column(sa.Column("invitation_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_message_invitation_id"), ["invitation_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_message_invitation_id_invitation"),
            "invitation", ["invitation_id"], ["id"], ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("outbox_message") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outbox_message_invitation_id_invitation"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_outbox_message_invitation_id"))
        batch_op.drop_column("invitation_id")
    op.drop_table("invitation")
    op.execute("DELETE FROM occupancy WHERE role = 'school_supervision'")
    with op.batch_alter_table("booking") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_booking_officer_id_staff_user"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_booking_officer_id"))
        batch_op.drop_column("officer_id")
    with op.batch_alter_table("service") as batch_op:
        batch_op.drop_column("roles")
    # Officers have no role before 0013: their accounts stay (so nothing that names them
    # breaks), deactivated as reception without services.
    op.execute(
        "DELETE FROM counsellor_service WHERE user_id IN "
        "(SELECT id FROM staff_user WHERE role = 'school_supervision')"
    )
    op.execute(
        "UPDATE staff_user SET role = 'reception', is_active = false "
        "WHERE role = 'school_supervision'"
    )
    with op.batch_alter_table("staff_user") as batch_op:
        batch_op.drop_constraint(op.f("ck_staff_user_role"), type_="check")
        batch_op.alter_column("role", type_=sa.String(16), existing_type=sa.String(32))
        batch_op.create_check_constraint("role", OLD_ROLES)
