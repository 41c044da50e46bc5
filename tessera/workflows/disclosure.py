"""What the requester of a 1:N search is told: a case number and a status, never a candidate before review.

The identify answer, the search outcome (``GET /v1/searches/{id}``) and the
CLI all shape their answer here, from one rule
(:func:`tessera.governance.adjudication.disclosed_subjects` and
:func:`~tessera.governance.adjudication.search_status`): until two trained
reviewers have confirmed the same candidate the requester learns only that
the search was sent for review; then only the confirmed subject is named.
Scores, ranks and rejected candidates stay with the reviewers.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from tessera.governance.adjudication import Row, disclosed_subjects, search_status
from tessera.governance.vocabulary import ReviewStatus
from tessera.store.models import Search

if TYPE_CHECKING:
    from tessera.workflows.identify import Identification

NOTICE = (
    "Candidates are leads for two trained reviewers, never identifications: no one is named until two "
    "reviewers have confirmed the same person."
)


def case_rows(search: Search) -> list[Row]:
    """The disclosure rule's view of a stored case: (subject id, catch trial, review status) per candidate."""
    return [(c.subject_id, c.catch_trial, c.status) for c in search.candidates]


def outcome(rows: list[Row]) -> dict[str, object]:
    """The status and the confirmed subjects (none before two confirmations) of a case's candidates."""
    return {
        "status": search_status(rows).value,
        "confirmed": [{"subject_id": subject} for subject in disclosed_subjects(rows)],
    }


def identification_answer(result: Identification) -> dict[str, object]:
    """The identify answer: what was searched and how, the case number (``search_id``) and its status; every
    candidate's id, score and rank is left out (they wait for review)."""
    answer = asdict(result)
    answer.pop("candidates")
    rows: list[Row] = [(c.subject_id, False, ReviewStatus.PENDING) for c in result.candidates]
    return {**answer, **outcome(rows), "notice": NOTICE}
