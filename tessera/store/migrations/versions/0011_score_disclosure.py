"""Galleries choose what answers say about a score; the audit log is searchable by actor, gallery and time.

``galleries.score_disclosure``: ``banded`` (the default, every existing
gallery: a decision and a false-match-rate band) or ``exact`` (galleries
that serve an evaluation); see :mod:`tessera.governance.disclosure`.
Indexes on ``audit_log`` ``actor``, ``gallery_id`` and ``at`` serve the
auditors' search (``GET /v1/audit``, :mod:`tessera.workflows.audit_search`).

Revision ID: 0011
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = False  # a gallery's score disclosure and indexes of the audit log

_AUDIT_INDEXES = (("ix_audit_actor", "actor"), ("ix_audit_gallery", "gallery_id"), ("ix_audit_at", "at"))


def upgrade() -> None:
    with op.batch_alter_table("galleries") as batch:
        batch.add_column(sa.Column("score_disclosure", sa.String(16), nullable=False, server_default="banded"))
    for name, column in _AUDIT_INDEXES:
        op.create_index(name, "audit_log", [column])


def downgrade() -> None:
    for name, _column in _AUDIT_INDEXES:
        op.drop_index(name, table_name="audit_log")
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild would drop a table other tables' foreign keys point at.
    op.drop_column("galleries", "score_disclosure")
