"""normalised phone for search; visiting address, privacy officer; closure reasons per
language; a service's own place

Revision ID: 0011
Revises: 0008

Adds columns (with server defaults, so existing rows are filled) and fills
booking.phone_normalised for every existing booking with a phone, as booking/phones.py
does for new ones: E.164 (region DE) where the number can be read, else its digits.
"""
import re

from alembic import op
import phonenumbers
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = "0008"
branch_labels = None
depends_on = None

DIGITS = str.maketrans(
    {**{chr(0x0660 + n): str(n) for n in range(10)}, **{chr(0x06F0 + n): str(n) for n in range(10)}}
)


def _normalised(phone):
    # The rule of booking/phones.py as it stood when this migration was written.
    if not phone:
        return None
    text = phone.translate(DIGITS)
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    try:
        number = phonenumbers.parse(text, "DE")
    except phonenumbers.NumberParseException:
        return digits[:32]
    if not phonenumbers.is_possible_number(number):
        return digits[:32]
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[:32]


def upgrade():
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_normalised', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_booking_phone_normalised'), ['phone_normalised'], unique=False)

    with op.batch_alter_table('centre', schema=None) as batch_op:
        batch_op.add_column(sa.Column('visiting_address', sa.String(length=300), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('privacy_officer_contact', sa.String(length=300), nullable=False, server_default=''))

    with op.batch_alter_table('closure', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reasons', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))

    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.add_column(sa.Column('location', sa.String(length=300), nullable=False, server_default=''))

    booking = sa.table(
        'booking',
        sa.column('id', sa.Integer),
        sa.column('phone', sa.String),
        sa.column('phone_normalised', sa.String),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(booking.c.id, booking.c.phone).where(booking.c.phone.is_not(None))).all()
    for booking_id, phone in rows:
        bind.execute(
            booking.update().where(booking.c.id == booking_id).values(phone_normalised=_normalised(phone))
        )


def downgrade():
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.drop_column('location')

    with op.batch_alter_table('closure', schema=None) as batch_op:
        batch_op.drop_column('reasons')

    with op.batch_alter_table('centre', schema=None) as batch_op:
        batch_op.drop_column('privacy_officer_contact')
        batch_op.drop_column('visiting_address')

    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_booking_phone_normalised'))
        batch_op.drop_column('phone_normalised')
