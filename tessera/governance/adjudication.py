"""Two-person adjudication of 1:N candidates (EU AI Act Art. 14(5)).

A candidate is a lead, not an identification. It becomes ``confirmed`` only
when two different trained adjudicators, each blind to the other's decision,
confirm it; two rejections reject it; one of each leaves it ``disputed``
until a third adjudicator decides. "Cannot tell" is an honest answer that
settles nothing: another adjudicator must decide.

Until two adjudicators have confirmed a candidate, the person who asked for
the search learns only that it was sent for review (:func:`search_status`,
:func:`disclosed_subjects`); rejected candidates and catch trials are never
disclosed to them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tessera.errors import InvalidRequest
from tessera.governance.vocabulary import ReviewStatus, SearchStatus

CONFIRM = "confirm"
REJECT = "reject"
CANNOT_TELL = "cannot_tell"
DECISIONS = (CONFIRM, REJECT, CANNOT_TELL)
REQUIRED_AGREEING = 2
MIN_RATIONALE_CHARS = 10


def check_decision(decision: str, rationale: str) -> None:
    """Refuse a review decision that is not one of :data:`DECISIONS` or whose rationale explains nothing.

    Raises
    ------
    InvalidRequest
        ``invalid_decision``; ``rationale_required`` (fewer than :data:`MIN_RATIONALE_CHARS` characters).
    """
    if decision not in DECISIONS:
        raise InvalidRequest(
            f"decision must be one of {', '.join(DECISIONS)}; got {decision!r}.", code="invalid_decision"
        )
    if len(rationale.strip()) < MIN_RATIONALE_CHARS:
        raise InvalidRequest(
            f"rationale must explain the decision in at least {MIN_RATIONALE_CHARS} characters.",
            code="rationale_required",
        )


def candidate_status(decisions: list[str]) -> ReviewStatus:
    """pending | confirmed | rejected | disputed, from the decisions made so far."""
    counts = Counter(decisions)
    if counts[CONFIRM] >= REQUIRED_AGREEING:
        return ReviewStatus.CONFIRMED
    if counts[REJECT] >= REQUIRED_AGREEING:
        return ReviewStatus.REJECTED
    if counts[CONFIRM] and counts[REJECT]:
        return ReviewStatus.DISPUTED
    return ReviewStatus.PENDING


Row = tuple[str, bool, str]
"""What the disclosure rule reads of a case candidate: (subject id, catch trial, review status)."""


def disclosed_subjects(rows: Iterable[Row]) -> list[str]:
    """The subjects the requester of a search may be told of: real candidates two adjudicators confirmed.

    Every answer about a search to its requester (the identify answer, the
    search outcome, the CLI, a subject-access export) names no other subject.
    """
    return sorted({subject for subject, catch_trial, status in rows if not catch_trial and status == "confirmed"})


def search_status(rows: Iterable[Row]) -> SearchStatus:
    """What the requester is told of a search: confirmed, sent for review, or no likely match.

    No real candidate, or every real one rejected (or void), is "no likely
    match"; a confirmed one is "confirmed"; anything still open is "sent for
    review". Catch trials never count: the requester never learns of them.
    """
    real = [status for _, catch_trial, status in rows if not catch_trial]
    if ReviewStatus.CONFIRMED in real:
        return SearchStatus.CONFIRMED
    if any(status in (ReviewStatus.PENDING, ReviewStatus.DISPUTED) for status in real):
        return SearchStatus.SENT_FOR_REVIEW
    return SearchStatus.NO_LIKELY_MATCH
