"""A consent text says whether it covers keeping a reference photo for two-person review.

``consent_texts.keeps_reference_photo``: true when the text tells people that,
in a gallery with 1:N search enabled, a normalised photo of their face is kept
sealed under their key for reviewers and erased with them
(:func:`tessera.governance.reference_photos.keeps_reference_photo`). Texts
registered before this revision do not (false).

Revision ID: 0008
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = False  # consent texts only


def upgrade() -> None:
    with op.batch_alter_table("consent_texts") as batch:
        batch.add_column(sa.Column("keeps_reference_photo", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild would drop a table other tables' foreign keys point at.
    op.drop_column("consent_texts", "keeps_reference_photo")
