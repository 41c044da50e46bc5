"""Stored scores say their kind and algorithm; one capture may give a template per face algorithm; the index outbox.

- ``searches`` and ``case_candidates`` get ``score_kind`` (``cosine``, ``mcc``,
  ``llr``) and ``algorithm``: a stored score or threshold is never read
  without knowing what it is. Rows written before this revision keep NULL
  (their kind was not recorded; a search's audit entry names its algorithm).
- A capture enrolled once makes a template for every face algorithm the
  instance serves, so the duplicate-capture rule becomes one template per
  (subject, capture, algorithm).
- ``index_outbox``: every change the search indexes must see (a template to
  add, a subject to remove), written in the same transaction as the
  enrolment or erasure and applied after the commit and at start, so a
  persistent index engine never keeps an erased person searchable after a
  crash between the two.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = True  # the index outbox, through which a snapshot is brought in step with the store


def upgrade() -> None:
    for table in ("searches", "case_candidates"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("score_kind", sa.String(16), nullable=True))
            batch.add_column(sa.Column("algorithm", sa.String(200), nullable=True))
    with op.batch_alter_table("templates") as batch:
        batch.drop_constraint("uq_template_capture", type_="unique")
        batch.create_unique_constraint("uq_template_capture", ["subject_id", "capture_sha256", "algorithm"])
    op.create_table(
        "index_outbox",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(36), nullable=False),
        sa.Column("template_id", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("index_outbox")
    with op.batch_alter_table("templates") as batch:
        batch.drop_constraint("uq_template_capture", type_="unique")
        batch.create_unique_constraint("uq_template_capture", ["subject_id", "capture_sha256"])
    for table in ("case_candidates", "searches"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("algorithm")
            batch.drop_column("score_kind")
