"""access, passwords, confidential feeds and slugs, retention

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

NEUTRAL_SLUGS = {
    'bildung': 'beratung-1',
    'erziehung': 'beratung-2',
    'ankommen': 'beratung-3',
    'seiteneinstieg': 'beratung-4',
    'einrichtungen': 'beratung-5',
}


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
    # Plain ADD COLUMN on both databases. A batch operation would copy these tables on
    # SQLite, and dropping the old centre table there cascades to services and hours.
    op.add_column('centre', sa.Column('feed_shows_service', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('staff_user', sa.Column('must_change_password', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('booking', sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('service', sa.Column('former_slug', sa.String(length=64), nullable=True))

    # The demo's slugs named the topic of a confidential consultation in public URLs; they
    # become neutral, and the old slug still finds the service.
    service = sa.table(
        'service',
        sa.column('id', sa.Integer),
        sa.column('centre_id', sa.Integer),
        sa.column('slug', sa.String),
        sa.column('former_slug', sa.String),
    )
    conn = op.get_bind()
    for old, new in NEUTRAL_SLUGS.items():
        rows = conn.execute(sa.select(service.c.id, service.c.centre_id).where(service.c.slug == old))
        for service_id, centre_id in rows.all():
            taken = conn.execute(
                sa.select(service.c.id).where(service.c.centre_id == centre_id, service.c.slug == new)
            ).first()
            if taken is None:
                conn.execute(
                    service.update().where(service.c.id == service_id).values(slug=new, former_slug=old)
                )


def _drop_column(table, column):
    """DROP COLUMN in place (SQLite 3.35+ too): copying the table would cascade deletes."""
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f'ALTER TABLE {table} DROP COLUMN {column}')
    else:
        op.drop_column(table, column)


def downgrade():
    service = sa.table(
        'service', sa.column('id', sa.Integer), sa.column('slug', sa.String),
        sa.column('former_slug', sa.String),
    )
    conn = op.get_bind()
    for old, new in NEUTRAL_SLUGS.items():
        conn.execute(
            service.update().where(service.c.slug == new, service.c.former_slug == old).values(slug=old)
        )
    for table, column in (
        ('service', 'former_slug'),
        ('booking', 'erased_at'),
        ('staff_user', 'must_change_password'),
        ('centre', 'feed_shows_service'),
    ):
        _drop_column(table, column)
    op.drop_table('sign_in_failure')
