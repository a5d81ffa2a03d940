"""centre_availability_version: a number per centre that rises with every change of the
availability of that centre alone

Revision ID: 0015
Revises: 0009

Read by the cache of computed free slots and pages (booking/availability_cache.py); a row is
made by the first change at its centre.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'centre_availability_version',
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ['centre_id'], ['centre.id'],
            name=op.f('fk_centre_availability_version_centre_id_centre'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('centre_id', name=op.f('pk_centre_availability_version')),
    )


def downgrade():
    op.drop_table('centre_availability_version')
