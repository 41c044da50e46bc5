"""Finger templates: the finger position and capture kind of each finger template.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = True  # the finger position and capture kind: which matcher reads a template, and its part


def upgrade() -> None:
    # Nullable: face templates have neither; existing rows are all faces.
    with op.batch_alter_table("templates") as batch:
        batch.add_column(sa.Column("finger_position", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("capture", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("templates") as batch:
        batch.drop_column("capture")
        batch.drop_column("finger_position")
