"""Liveness: a gallery's liveness policy, the challenges issued and the tokens of passed bursts.

``galleries.liveness``: ``supervised`` (default, every existing gallery) or ``unsupervised``.
``liveness_challenges``: one row per challenge (hashed nonce, steps, expiry, when used, outcome).
``liveness_tokens``: one row per unused token of a passed burst (hashed token, the burst's embedding sealed under
the token), deleted when used or expired. No frame of a burst is ever stored.

Revision ID: 0012
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = False  # liveness policy, challenges and tokens


def upgrade() -> None:
    with op.batch_alter_table("galleries") as batch:
        batch.add_column(sa.Column("liveness", sa.String(16), nullable=False, server_default="supervised"))
    op.create_table(
        "liveness_challenges",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("gallery_id", sa.String(36), sa.ForeignKey("galleries.id"), nullable=False, index=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("issued_to", sa.String(64), nullable=False),
        sa.Column("nonce_sha256", sa.String(64), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
    )
    op.create_table(
        "liveness_tokens",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column("challenge_id", sa.String(36), nullable=False),
        sa.Column("gallery_id", sa.String(36), nullable=False, index=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("issued_to", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(100), nullable=False),
        sa.Column("sealed_embedding", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("liveness_tokens")
    op.drop_table("liveness_challenges")
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild would drop a table other tables' foreign keys point at.
    op.drop_column("galleries", "liveness")
