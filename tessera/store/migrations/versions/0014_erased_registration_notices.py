"""A registration erased as a duplicate gets a notice of its own, kept under its case number.

``notices.erased_subject_id``, ``notices.reference`` and ``notices.language``: whom a notice is for when its
subject was erased (``subject_id`` NULL): the erased registration's id, the case number the person was given
at enrolment (``DUP-...``) and the language of the consent text they were shown. Ids and codes only, as a
tombstone keeps. Notices made before this revision keep NULL.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = False  # notices only


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("erased_subject_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("reference", sa.String(32), nullable=True))
        batch.add_column(sa.Column("language", sa.String(16), nullable=True))
        batch.create_index("ix_notices_erased_subject_id", ["erased_subject_id"])
        batch.create_index("ix_notices_reference", ["reference"])


def downgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.drop_index("ix_notices_reference")
        batch.drop_index("ix_notices_erased_subject_id")
        batch.drop_column("language")
        batch.drop_column("reference")
        batch.drop_column("erased_subject_id")
