"""The complaint queue: every complaint is acknowledged and then resolved or rejected, each within a time limit.

Limits come from the settings (``complaint_acknowledge_days``, ``complaint_resolve_days``); a complaint past
one is flagged overdue wherever it is listed, and counted in the transparency report.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from tessera.errors import Conflict

MIN_SUMMARY_CHARS = 10
"""What the person complains of, in at least this many characters."""


class ComplaintStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    REJECTED = "rejected"


TRANSITIONS: dict[ComplaintStatus, frozenset[ComplaintStatus]] = {
    ComplaintStatus.OPEN: frozenset({ComplaintStatus.ACKNOWLEDGED}),
    ComplaintStatus.ACKNOWLEDGED: frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED}),
    ComplaintStatus.RESOLVED: frozenset(),
    ComplaintStatus.REJECTED: frozenset(),
}
"""Where a complaint may go from each status: acknowledged first, then closed one way or the other, once."""

CLOSED = frozenset({ComplaintStatus.RESOLVED, ComplaintStatus.REJECTED})


def check_transition(current: str, new: str) -> ComplaintStatus:
    """The new status, or :class:`Conflict` ``invalid_complaint_transition`` when it cannot follow ``current``."""
    target = ComplaintStatus(new)
    if target not in TRANSITIONS[ComplaintStatus(current)]:
        allowed = [str(status) for status in sorted(TRANSITIONS[ComplaintStatus(current)])] or ["none: it is closed"]
        raise Conflict(
            f"A complaint that is {current} cannot become {new}; it may become: {', '.join(allowed)}.",
            code="invalid_complaint_transition",
        )
    return target


def overdue(status: str, opened_at: datetime, now: datetime, acknowledge_days: int, resolve_days: int) -> list[str]:
    """Which limits the complaint has passed: ``acknowledgement`` (still open after ``acknowledge_days``),
    ``resolution`` (not closed after ``resolve_days``); empty when none."""
    late = []
    if status == ComplaintStatus.OPEN and now > opened_at + timedelta(days=acknowledge_days):
        late.append("acknowledgement")
    if status not in CLOSED and now > opened_at + timedelta(days=resolve_days):
        late.append("resolution")
    return late
