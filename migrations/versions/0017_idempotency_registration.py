"""idempotency_key.registration_id: a repeated event registration form answers with the first

Revision ID: 0017
Revises: 0016

The public event registration form carries a one-time nonce as the booking form does; its
key row names the registration the first submission made.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("idempotency_key") as batch_op:
        batch_op.add_column(sa.Column("registration_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_idempotency_key_registration_id_registration"),
            "registration", ["registration_id"], ["id"], ondelete="CASCADE",
        )


def downgrade():
    with op.batch_alter_table("idempotency_key") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_idempotency_key_registration_id_registration"), type_="foreignkey"
        )
        batch_op.drop_column("registration_id")
