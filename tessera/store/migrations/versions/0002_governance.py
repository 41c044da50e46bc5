"""Governance: consent texts, gallery policy (1:N allow-list, DPIA, retention, version),
last interaction, system flags, searches as review cases, adjudication and training.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = False  # gallery policy, subjects' last interaction, cases: nothing an index reads


def upgrade() -> None:
    op.create_table(
        "consent_texts",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.UniqueConstraint("version", "language", name="uq_consent_text_version"),
    )
    op.create_table(
        "system_flags",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    )
    with op.batch_alter_table("galleries") as batch:
        batch.add_column(sa.Column("search_purposes", sa.JSON(), nullable=False, server_default='["deduplicate"]'))
        batch.add_column(sa.Column("identification_enabled_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("dpia_reference", sa.String(200), nullable=True))
        batch.add_column(sa.Column("retention_days", sa.Integer(), nullable=False, server_default="1095"))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("closed_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("last_interaction_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE subjects SET last_interaction_at = created_at")
    with op.batch_alter_table("subjects") as batch:
        batch.alter_column("last_interaction_at", existing_type=sa.DateTime(), nullable=False)
    op.create_table(
        "searches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("gallery_id", sa.String(36), sa.ForeignKey("galleries.id"), nullable=False, index=True),
        sa.Column("gallery_version", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("case_reference", sa.String(200), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=False),
        sa.Column("probe_sha256", sa.String(64), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("gallery_size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("probe_ciphertext", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "case_candidates",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "search_id", sa.String(36), sa.ForeignKey("searches.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("subject_id", sa.String(36), nullable=False, index=True),
        sa.Column("template_id", sa.String(36), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fmr", sa.Float(), nullable=False),
        sa.Column("catch_trial", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "candidate_id",
            sa.String(36),
            sa.ForeignKey("case_candidates.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("adjudicator", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("candidate_id", "adjudicator", name="uq_one_decision_per_adjudicator"),
    )
    op.create_table(
        "training_attestations",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("api_key_id", sa.String(32), nullable=False, index=True),
        sa.Column("course", sa.String(200), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("training_attestations", "decisions", "case_candidates", "searches", "system_flags", "consent_texts"):
        op.drop_table(table)
    with op.batch_alter_table("subjects") as batch:
        batch.drop_column("last_interaction_at")
    with op.batch_alter_table("galleries") as batch:
        for column in (
            "closed_at",
            "version",
            "retention_days",
            "dpia_reference",
            "identification_enabled_at",
            "search_purposes",
        ):
            batch.drop_column(column)
