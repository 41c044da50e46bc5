"""Rate-limit counts in the store: ``attempt_windows``, one row per name counted in its current window.

The verification limits (per key, per subject) and the failed-authentication limits were counted in each server
process's memory, so that N processes on one store allowed N times the limit; counted here, every process on the
store shares them. Rows hold key ids, subject ids and client addresses, never a secret; ended windows are deleted.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = False  # rate-limit counts


def upgrade() -> None:
    op.create_table(
        "attempt_windows",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False, index=True),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("counted_at", sa.Float(), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("attempt_windows")
