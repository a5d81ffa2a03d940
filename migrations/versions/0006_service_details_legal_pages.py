"""service description, what to bring and format; centre fields of the legal pages

Revision ID: 0006
Revises: 0005

Only adds columns (with server defaults, so existing rows are filled).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.add_column(sa.Column('descriptions', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('what_to_bring', sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('format', sa.String(length=16), nullable=False, server_default='in_person'))
        batch_op.create_check_constraint(
            op.f('ck_service_format'), "format IN ('in_person', 'phone', 'video')"
        )

    with op.batch_alter_table('centre', schema=None) as batch_op:
        batch_op.add_column(sa.Column('legal_operator', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('responsible_person', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('contact_email', sa.String(length=254), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('accessibility_contact', sa.String(length=300), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('centre', schema=None) as batch_op:
        batch_op.drop_column('accessibility_contact')
        batch_op.drop_column('contact_email')
        batch_op.drop_column('responsible_person')
        batch_op.drop_column('legal_operator')

    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_service_format'), type_='check')
        batch_op.drop_column('format')
        batch_op.drop_column('what_to_bring')
        batch_op.drop_column('descriptions')
