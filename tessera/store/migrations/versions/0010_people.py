"""People are told, can contest and complain, and can be served without biometrics; duties are separated.

- ``api_keys.created_by``: who created each key ('' for keys created before this revision).
- ``training_attestations.single_admin_exception``: the attestation was recorded by the admin who created the key,
  under the ``single_admin_exception`` setting (every such use is audited and counted in the transparency report).
- ``galleries.allow_non_biometric``: the gallery registers and serves people without biometrics.
- ``notices``: an adverse step (a confirmed match, a corrected finding) the field worker hands to the person.
- ``contests`` and ``contest_decisions``: a person contests a finding; reviewers who did not take the first
  decision re-review it.
- ``complaints``: the complaint queue (open → acknowledged → resolved / rejected).
- ``non_biometric_records``: people registered without biometrics, apart from every biometric table.

Revision ID: 0010
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = False  # notices, contests, complaints, people without biometrics


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild): a rebuilt api_keys would cascade away its api_key_galleries rows.
    op.add_column("api_keys", sa.Column("created_by", sa.String(64), nullable=False, server_default=""))
    op.add_column(
        "training_attestations",
        sa.Column("single_admin_exception", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "galleries", sa.Column("allow_non_biometric", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "notices",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("subject_id", sa.String(36), sa.ForeignKey("subjects.id", ondelete="CASCADE"), index=True),
        sa.Column("gallery_id", sa.String(36), sa.ForeignKey("galleries.id"), index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("search_id", sa.String(36), nullable=True),
        sa.Column("candidate_id", sa.String(36), nullable=True),
        sa.Column("contest_id", sa.String(36), nullable=True),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("handed_over_at", sa.DateTime(), nullable=True),
        sa.Column("handed_over_by", sa.String(64), nullable=True),
    )
    op.create_table(
        "contests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("notice_id", sa.String(36), nullable=False, unique=True),
        sa.Column("subject_id", sa.String(36), sa.ForeignKey("subjects.id", ondelete="CASCADE"), index=True),
        sa.Column("gallery_id", sa.String(36), sa.ForeignKey("galleries.id"), index=True),
        sa.Column("search_id", sa.String(36), nullable=False),
        sa.Column("candidate_id", sa.String(36), nullable=False),
        sa.Column("first_reviewers", sa.JSON(), nullable=False),
        sa.Column("grounds", sa.Text(), nullable=False),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "contest_decisions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("contest_id", sa.String(36), sa.ForeignKey("contests.id", ondelete="CASCADE"), index=True),
        sa.Column("adjudicator", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("contest_id", "adjudicator", name="uq_one_contest_decision_per_adjudicator"),
    )
    op.create_table(
        "complaints",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("gallery_id", sa.String(36), sa.ForeignKey("galleries.id"), index=True),
        sa.Column("subject_id", sa.String(36), sa.ForeignKey("subjects.id", ondelete="SET NULL"), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opened_by", sa.String(64), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("handled_by", sa.String(64), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
    )
    op.create_table(
        "non_biometric_records",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("gallery_id", sa.String(36), sa.ForeignKey("galleries.id"), index=True),
        sa.Column("programme_id", sa.String(100), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("registered_at", sa.DateTime(), nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False),
        sa.Column("last_served_at", sa.DateTime(), nullable=True),
        sa.Column("times_served", sa.Integer(), nullable=False, server_default="0"),
        sa.UniqueConstraint("gallery_id", "programme_id", name="uq_non_biometric_programme_id"),
    )


def downgrade() -> None:
    for table in ("non_biometric_records", "complaints", "contest_decisions", "contests", "notices"):
        op.drop_table(table)
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild would drop tables other tables' foreign keys point at.
    op.drop_column("galleries", "allow_non_biometric")
    op.drop_column("training_attestations", "single_admin_exception")
    op.drop_column("api_keys", "created_by")
