"""Two-person adjudication of 1:N candidates (EU AI Act Art. 14(5)).

A candidate is a lead, not an identification. It becomes ``confirmed`` only
when two different trained adjudicators, each blind to the other's decision,
confirm it; two rejections reject it; one of each leaves it ``disputed``
until a third adjudicator decides.
"""

from __future__ import annotations

from collections import Counter

from tessera.governance.vocabulary import ReviewStatus

CONFIRM = "confirm"
REJECT = "reject"
DECISIONS = (CONFIRM, REJECT)
REQUIRED_AGREEING = 2
MIN_RATIONALE_CHARS = 10


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
