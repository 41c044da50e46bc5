"""Contests: a person disputes a finding, and reviewers who took no part in it decide again (GDPR Art. 22(3)).

The re-review follows the two-person rule of the first review
(:mod:`tessera.governance.adjudication`): two new reviewers who agree decide it; one of each waits
for a third. Who may re-review is :func:`tessera.governance.separation.check_not_first_reviewer`.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum

from tessera.governance.adjudication import CONFIRM, REJECT, REQUIRED_AGREEING

MIN_GROUNDS_CHARS = 10
"""The person's reasons, as the worker records them, in at least this many characters."""


class ContestStatus(StrEnum):
    OPEN = "open"
    """Waiting for two agreeing re-reviews."""
    DECIDED = "decided"


class ContestOutcome(StrEnum):
    UPHELD = "upheld"
    """Two new reviewers confirmed the finding again."""
    OVERTURNED = "overturned"
    """Two new reviewers rejected it: the finding is corrected."""


def contest_outcome(decisions: list[str]) -> ContestOutcome | None:
    """The outcome the re-review decisions so far reach, or None while they do not."""
    counts = Counter(decisions)
    if counts[CONFIRM] >= REQUIRED_AGREEING:
        return ContestOutcome.UPHELD
    if counts[REJECT] >= REQUIRED_AGREEING:
        return ContestOutcome.OVERTURNED
    return None
