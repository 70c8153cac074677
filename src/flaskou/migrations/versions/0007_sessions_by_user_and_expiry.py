"""sessions indexed by user and expiry

Sign-in deletes the user's expired sessions (user_id = ? AND expires_at <= ?);
on an index of user_id alone that read every session the user holds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 09:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index('ix_sessions_user_id_expires_at', ['user_id', 'expires_at'], unique=False)
        batch_op.drop_index(batch_op.f('ix_sessions_user_id'))


def downgrade():
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_user_id'), ['user_id'], unique=False)
        batch_op.drop_index('ix_sessions_user_id_expires_at')
