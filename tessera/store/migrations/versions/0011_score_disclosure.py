"""Galleries choose what answers say about a score.

``galleries.score_disclosure``: ``banded`` (the default, every existing
gallery: a decision and a false-match-rate band) or ``exact`` (galleries
that serve an evaluation); see :mod:`tessera.governance.disclosure`.

Revision ID: 0011
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("galleries") as batch:
        batch.add_column(sa.Column("score_disclosure", sa.String(16), nullable=False, server_default="banded"))


def downgrade() -> None:
    with op.batch_alter_table("galleries") as batch:
        batch.drop_column("score_disclosure")
