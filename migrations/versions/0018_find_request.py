"""find_request: "find my booking" requests waiting for the outbox worker

Revision ID: 0018
Revises: 0017

The /find page writes one row whether or not a booking matches (keyed hashes of the
address and the reference, never the values); the worker looks the booking up, mails the
new link and deletes the row.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'find_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email_hash', sa.String(length=64), nullable=False),
        sa.Column('reference_hash', sa.String(length=64), nullable=True),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_find_request')),
    )
    op.create_index(
        op.f('ix_find_request_requested_at'), 'find_request', ['requested_at'], unique=False
    )


def downgrade():
    op.drop_index(op.f('ix_find_request_requested_at'), table_name='find_request')
    op.drop_table('find_request')
