"""events and registrations: seats, a waiting list, leaders; outbox rows of a registration

Revision ID: 0012
Revises: 0013

The seats are guarded twice: the writer locks the event row and recounts, and the
``not_oversold`` check refuses a count of confirmed persons above the seats. One active
registration per address and event is a partial unique index over the address in lower case (``email_key``).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = "0013"
branch_labels = None
depends_on = None

OLD_ONE_SUBJECT = "(CASE WHEN booking_id IS NULL THEN 0 ELSE 1 END) = 1"
ONE_SUBJECT = (
    "(CASE WHEN booking_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN event_id IS NULL THEN 0 ELSE 1 END) = 1"
)


def upgrade():
    op.create_table(
        'event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('centre_id', sa.Integer(), nullable=False),
        sa.Column('titles', sa.JSON(), nullable=False),
        sa.Column('descriptions', sa.JSON(), nullable=False),
        sa.Column('audience', sa.String(length=16), nullable=False),
        sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('end_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('place', sa.String(length=300), nullable=True),
        sa.Column('seats', sa.Integer(), nullable=False),
        sa.Column('confirmed_persons', sa.Integer(), nullable=False),
        sa.Column('has_waiting_list', sa.Boolean(), nullable=False),
        sa.Column('registration_closes_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('languages', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('cancel_reason', sa.String(length=500), nullable=True),
        sa.Column('series_key', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('start_at < end_at', name=op.f('ck_event_start_before_end')),
        sa.CheckConstraint('seats BETWEEN 1 AND 500', name=op.f('ck_event_seats')),
        sa.CheckConstraint('confirmed_persons BETWEEN 0 AND seats', name=op.f('ck_event_not_oversold')),
        sa.CheckConstraint("audience IN ('families', 'professionals', 'everyone')", name=op.f('ck_event_audience')),
        sa.CheckConstraint("status IN ('scheduled', 'cancelled')", name=op.f('ck_event_status')),
        sa.ForeignKeyConstraint(['centre_id'], ['centre.id'], name=op.f('fk_event_centre_id_centre'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_event')),
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_centre_start', ['centre_id', 'start_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_event_series_key'), ['series_key'], unique=False)

    op.create_table(
        'event_leader',
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_event_leader_event_id_event'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['staff_user.id'], name=op.f('fk_event_leader_user_id_staff_user'), ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('event_id', 'user_id', name=op.f('pk_event_leader')),
    )

    op.create_table(
        'registration',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(length=16), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attendance', sa.String(length=16), nullable=True),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=True),
        sa.Column('email_key', sa.String(length=254), nullable=True),
        sa.Column('phone', sa.String(length=64), nullable=True),
        sa.Column('organisation', sa.String(length=200), nullable=True),
        sa.Column('language', sa.String(length=35), nullable=True),
        sa.Column('persons', sa.Integer(), nullable=False),
        sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('locale', sa.String(length=16), nullable=False),
        sa.Column('manage_token_hash', sa.String(length=64), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('confirmed', 'waiting', 'cancelled')", name=op.f('ck_registration_status')),
        sa.CheckConstraint("attendance IS NULL OR attendance IN ('attended', 'no_show')", name=op.f('ck_registration_attendance')),
        sa.CheckConstraint("channel IN ('online', 'phone', 'walk_in')", name=op.f('ck_registration_channel')),
        sa.CheckConstraint('persons BETWEEN 1 AND 10', name=op.f('ck_registration_persons')),
        sa.ForeignKeyConstraint(['event_id'], ['event.id'], name=op.f('fk_registration_event_id_event'), ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['created_by_id'], ['staff_user.id'], name=op.f('fk_registration_created_by_id_staff_user'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_registration')),
        sa.UniqueConstraint('reference', name=op.f('uq_registration_reference')),
        sa.UniqueConstraint('manage_token_hash', name=op.f('uq_registration_manage_token_hash')),
    )
    with op.batch_alter_table('registration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registration_event_id'), ['event_id'], unique=False)
        batch_op.create_index('ix_registration_event_status', ['event_id', 'status', 'id'], unique=False)
        batch_op.create_index(
            'uq_registration_event_email_active',
            ['event_id', 'email_key'],
            unique=True,
            sqlite_where=sa.text("status != 'cancelled' AND email_key IS NOT NULL"),
            postgresql_where=sa.text("status != 'cancelled' AND email_key IS NOT NULL"),
        )

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registration_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_message_registration_id'), ['registration_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_outbox_message_registration_id_registration'),
            'registration', ['registration_id'], ['id'], ondelete='SET NULL',
        )

    # An event's leaders are busy through occupancy: one row per leader, a subject of its own.
    with op.batch_alter_table('occupancy', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_occupancy_event_id_event'), 'event', ['event_id'], ['id'], ondelete='CASCADE'
        )
        batch_op.create_unique_constraint('uq_occupancy_event_user', ['event_id', 'user_id'])
        batch_op.drop_constraint(batch_op.f('ck_occupancy_one_subject'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_occupancy_one_subject'), ONE_SUBJECT)


def downgrade():
    # The leaders' rows go with the events.
    op.execute("DELETE FROM occupancy WHERE event_id IS NOT NULL")
    with op.batch_alter_table('occupancy', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_occupancy_one_subject'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_occupancy_one_subject'), OLD_ONE_SUBJECT)
        batch_op.drop_constraint('uq_occupancy_event_user', type_='unique')
        batch_op.drop_constraint(batch_op.f('fk_occupancy_event_id_event'), type_='foreignkey')
        batch_op.drop_column('event_id')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_message_registration_id_registration'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_outbox_message_registration_id'))
        batch_op.drop_column('registration_id')
    op.drop_table('registration')
    op.drop_table('event_leader')
    op.drop_table('event')
