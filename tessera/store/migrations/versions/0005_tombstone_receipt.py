"""A tombstone keeps its erasure receipt, so a retried erasure answers the same receipt.

``tombstones.receipt``: the canonical JSON of the receipt handed out when the
subject was erased (ids, counts, the audit entry's number and the receipt's
sha256; no personal data). A retried ``DELETE /v1/subjects/{id}`` (its
first answer lost, or the process killed after the commit) answers it again.
Tombstones written before this revision keep NULL.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = False  # a tombstone's receipt: tombstones stay as they were


def upgrade() -> None:
    with op.batch_alter_table("tombstones") as batch:
        batch.add_column(sa.Column("receipt", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tombstones") as batch:
        batch.drop_column("receipt")
