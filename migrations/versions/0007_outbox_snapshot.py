"""outbox rows keep a snapshot of the mail to compose; the message is composed when sent

Revision ID: 0007
Revises: 0006

Only adds a nullable column: rows written before keep their composed bytes in ``raw``.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    # A nullable column: SQLite adds it in place, no table copy needed.
    op.add_column("outbox_message", sa.Column("snapshot", sa.JSON(none_as_null=True)))


def downgrade():
    # Rows not composed yet lose what they were to say: send them first (`flask outbox send`).
    with op.batch_alter_table("outbox_message") as batch_op:
        batch_op.drop_column("snapshot")
