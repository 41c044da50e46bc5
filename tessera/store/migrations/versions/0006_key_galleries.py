"""API keys may be limited to galleries.

``api_key_galleries``: one row per gallery a key is limited to. A key with no
row is global (every admin key, and keys created before this revision); a key
with rows reaches only those galleries' subjects, searches and reports
(:mod:`tessera.workflows.scope`).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = False  # keys limited to galleries


def upgrade() -> None:
    op.create_table(
        "api_key_galleries",
        sa.Column("api_key_id", sa.String(32), sa.ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("gallery_id", sa.String(36), sa.ForeignKey("galleries.id"), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("api_key_galleries")
