"""outbox_message.link_hash: the hash of the manage token a mail minted when it was sent

Revision ID: 0016
Revises: 0012

A reminder mints its manage link when it is sent, so no waiting mail holds a working link;
the row keeps only the token's hash (bookings.find_by_token reads it).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message') as batch:
        batch.add_column(sa.Column('link_hash', sa.String(length=64), nullable=True))
        batch.create_unique_constraint(
            op.f('uq_outbox_message_link_hash'), ['link_hash']
        )


def downgrade():
    with op.batch_alter_table('outbox_message') as batch:
        batch.drop_constraint(op.f('uq_outbox_message_link_hash'), type_='unique')
        batch.drop_column('link_hash')
