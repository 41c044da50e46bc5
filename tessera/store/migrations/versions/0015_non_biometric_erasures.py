"""A person registered without biometrics can withdraw: ``non_biometric_erasures``, one row per record withdrawn.

The record itself is deleted (its programme id, reason and visits); the row kept holds the record's id, its
gallery, when it was erased and the receipt handed to the person, answered again to a retried withdrawal. No
personal field of the record is kept, as a subject's tombstone keeps none.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = False  # people without biometrics are never indexed


def upgrade() -> None:
    op.create_table(
        "non_biometric_erasures",
        sa.Column("record_id", sa.String(36), primary_key=True),
        sa.Column("gallery_id", sa.String(36), nullable=False),
        sa.Column("erased_at", sa.DateTime(), nullable=False),
        sa.Column("receipt_sha256", sa.String(64), nullable=False),
        sa.Column("receipt", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("non_biometric_erasures")
