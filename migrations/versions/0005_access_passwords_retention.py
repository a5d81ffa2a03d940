"""access, passwords, confidential feeds, retention

Revision ID: 0005
Revises: 0004


"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sign_in_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('blocked_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_failure')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_sign_in_failure_key_hash'))
    )
    with op.batch_alter_table('centre', schema=None) as batch_op:
        batch_op.add_column(sa.Column('feed_shows_service', sa.Boolean(), server_default=sa.text('false'), nullable=False))

    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.text('false'), nullable=False))

    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.drop_column('erased_at')

    with op.batch_alter_table('staff_user', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')

    with op.batch_alter_table('centre', schema=None) as batch_op:
        batch_op.drop_column('feed_shows_service')

    op.drop_table('sign_in_failure')
