"""worker_heartbeat: when each `outbox work` process last went round its loop

Revision ID: 0014
Revises: 0011

Read by `flask check`, which says whether a mail worker runs.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'worker_heartbeat',
        sa.Column('worker', sa.String(length=200), nullable=False),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('worker', name=op.f('pk_worker_heartbeat')),
    )


def downgrade():
    op.drop_table('worker_heartbeat')
