"""Short subject numbers, the programme's own ids, and the duplicate check at enrolment.

``subjects.number``: the short number people read and type
(:mod:`tessera.governance.numbers`); every subject made before this
revision is given one here. ``subjects.external_id``: the programme's own
id, unique in a gallery. ``subjects.status``: ``active``, or
``pending_review`` while a possible duplicate is reviewed (every older
subject is active). ``galleries.dedup_at_enrolment``: NULL keeps the
default (on when 1:N is enabled). ``dedup_cases``: the review case a first
capture opened, and how it ended.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from tessera.governance.numbers import new_number

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = True  # subjects' status: a subject held for a duplicate review reaches no index


def upgrade() -> None:
    op.add_column("galleries", sa.Column("dedup_at_enrolment", sa.Boolean(), nullable=True))
    op.add_column("subjects", sa.Column("number", sa.String(20), nullable=True))
    op.add_column("subjects", sa.Column("external_id", sa.String(100), nullable=True))
    op.add_column("subjects", sa.Column("status", sa.String(16), nullable=False, server_default="active"))
    connection = op.get_bind()
    subjects = sa.table("subjects", sa.column("id", sa.String), sa.column("number", sa.String))
    taken: set[str] = set()
    for (subject_id,) in connection.execute(sa.select(subjects.c.id)).all():
        number = new_number()
        while number in taken:  # 2^50 numbers: a clash is all but impossible, and still refused
            number = new_number()
        taken.add(number)
        connection.execute(subjects.update().where(subjects.c.id == subject_id).values(number=number))
    with op.batch_alter_table("subjects") as batch:
        batch.alter_column("number", existing_type=sa.String(20), nullable=False)
        batch.create_unique_constraint("uq_subject_number", ["number"])
        batch.create_unique_constraint("uq_subject_external_id", ["gallery_id", "external_id"])
    op.create_table(
        "dedup_cases",
        sa.Column("search_id", sa.String(36), sa.ForeignKey("searches.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("subject_id", sa.String(36), nullable=False, index=True),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False, server_default="open"),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.Column("receipt_sha256", sa.String(64), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("dedup_cases")
    with op.batch_alter_table("subjects") as batch:
        batch.drop_constraint("uq_subject_external_id", type_="unique")
        batch.drop_constraint("uq_subject_number", type_="unique")
        batch.drop_column("status")
        batch.drop_column("external_id")
        batch.drop_column("number")
    op.drop_column("galleries", "dedup_at_enrolment")
