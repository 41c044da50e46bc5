"""A contest of an erased registration's notice re-reviews every finding of its case: one contest row per finding.

``contests.notice_id`` was unique (one contest, of one candidate, per notice). A registration a duplicate check
found to duplicate two records or more was erased on all their findings, and its contest re-reviews each of them,
so a notice may now have one contest per candidate it contests: unique on ``(notice_id, candidate_id)``. A
downgrade refuses while any notice has several contests (the old key cannot hold them).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = False  # contests only

NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
"""Names the unnamed unique key SQLite reflects for ``notice_id`` so that the batch can drop it."""
PER_FINDING = "uq_one_contest_per_notice_finding"


def _notice_key() -> str:
    """The name of the unique key on ``contests.notice_id``: PostgreSQL's own, or the convention's on SQLite."""
    for key in sa.inspect(op.get_bind()).get_unique_constraints("contests"):
        if key["column_names"] == ["notice_id"] and key["name"]:
            return key["name"]
    return "uq_contests_notice_id"


def upgrade() -> None:
    name = _notice_key()
    with op.batch_alter_table("contests", naming_convention=NAMING) as batch:
        batch.drop_constraint(name, type_="unique")
        batch.create_unique_constraint(PER_FINDING, ["notice_id", "candidate_id"])


def downgrade() -> None:
    several = op.get_bind().execute(
        sa.text("SELECT notice_id FROM contests GROUP BY notice_id HAVING COUNT(*) > 1 LIMIT 1")
    )
    if several.first() is not None:
        raise RuntimeError("A notice has several contests (one per finding): revision 0015 cannot hold them.")
    with op.batch_alter_table("contests", naming_convention=NAMING) as batch:
        batch.drop_constraint(PER_FINDING, type_="unique")
        batch.create_unique_constraint("uq_contests_notice_id", ["notice_id"])
