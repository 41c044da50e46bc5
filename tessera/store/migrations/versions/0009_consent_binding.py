"""Consent texts bound to galleries, modalities and purposes; consent evidence.

- ``consent_texts``: ``gallery_id`` (NULL: shared by every gallery, as every
  text before this revision), ``modalities`` and ``purposes`` the text asks
  consent for (every one for the texts registered before).
- ``consents``: ``text_language`` (the language the person read), ``evidence``
  (how they signified it; ``typed_name`` before), ``witness_key_id``, and a
  signature or thumbprint mark image sealed under the subject's key
  (``evidence_ciphertext``, ``evidence_sha256``).
- ``galleries``: ``consent_evidence``, the kinds of evidence the gallery
  accepts (every kind until an admin narrows it).

Revision ID: 0009
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = False  # consent evidence and text bindings: a consent's purposes and expiry stay as they were

EVERY_MODALITY = '["face", "finger"]'
EVERY_PURPOSE = '["verify", "deduplicate"]'
EVERY_EVIDENCE = '["signature", "thumbprint_mark", "spoken_witnessed", "typed_name"]'


def upgrade() -> None:
    with op.batch_alter_table("consent_texts") as batch:
        batch.add_column(sa.Column("gallery_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("modalities", sa.JSON(), nullable=False, server_default=EVERY_MODALITY))
        batch.add_column(sa.Column("purposes", sa.JSON(), nullable=False, server_default=EVERY_PURPOSE))
        batch.create_index("ix_consent_texts_gallery_id", ["gallery_id"])
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("text_language", sa.String(16), nullable=True))
        batch.add_column(sa.Column("evidence", sa.String(32), nullable=False, server_default="typed_name"))
        batch.add_column(sa.Column("witness_key_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("evidence_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("evidence_ciphertext", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("galleries") as batch:
        batch.add_column(sa.Column("consent_evidence", sa.JSON(), nullable=False, server_default=EVERY_EVIDENCE))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild would drop tables that other tables' foreign keys point at.
    op.drop_column("galleries", "consent_evidence")
    for column in ("evidence_ciphertext", "evidence_sha256", "witness_key_id", "evidence", "text_language"):
        op.drop_column("consents", column)
    op.drop_index("ix_consent_texts_gallery_id", table_name="consent_texts")
    for column in ("purposes", "modalities", "gallery_id"):
        op.drop_column("consent_texts", column)
