"""Which findings a contest re-reviews, and what the registration a duplicate check erased is told of them.

A ``confirmed_match`` notice is about one finding, the person's own record's: its contest re-reviews that one. A
``duplicate_erased`` notice is about every finding that erased the registration: a check may confirm several
records (one person enrolled twice already), so its contest re-reviews each confirmed finding of the case that
still stands, one contest row each, each decided by two re-reviewers of its own (:mod:`tessera.workflows.contests`).

The erased registration is told once, in one notice, when what it contested is decided: every finding overturned
(none of the case stands) is ``duplicate_corrected`` (register again), none is ``duplicate_upheld``, some is
``duplicate_partly_corrected`` (how many of each, never whose: it stays erased). When the last finding of its case
falls on a matched person's own contest instead, it is told ``duplicate_corrected`` then; a finding corrected while
another stands tells it nothing, since its erasure stands and its own contest re-reviews the rest.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.governance.contests import ContestOutcome, ContestStatus
from tessera.governance.notices import NoticeKind
from tessera.governance.vocabulary import ReviewStatus
from tessera.store.models import CaseCandidate, Contest, Notice
from tessera.workflows.instance import Instance
from tessera.workflows.notices import follow_up, searches_with_findings

ERASED_OUTCOMES = (
    NoticeKind.DUPLICATE_UPHELD.value,
    NoticeKind.DUPLICATE_PARTLY_CORRECTED.value,
    NoticeKind.DUPLICATE_CORRECTED.value,
)


def contested_findings(session: Session, notice: Notice) -> list[CaseCandidate]:
    """The standing findings a contest of ``notice`` re-reviews, best scored first; empty when none stands."""
    if NoticeKind(notice.kind) is NoticeKind.DUPLICATE_ERASED:
        confirmed = select(CaseCandidate).where(
            CaseCandidate.search_id == notice.search_id,
            CaseCandidate.status == ReviewStatus.CONFIRMED.value,
            CaseCandidate.catch_trial.is_(False),
        )
        return sorted(session.scalars(confirmed), key=lambda c: (-c.score, c.id))
    candidate = session.get_one(CaseCandidate, notice.candidate_id)
    return [] if candidate.status == ReviewStatus.REJECTED else [candidate]


def tell_erased(instance: Instance, session: Session, search_id: str, contest_id: str) -> Notice | None:
    """After contest ``contest_id`` of case ``search_id`` was decided: the erased registration's outcome notice, once,
    if the case erased one and what it must be told is now known."""
    erasure = session.scalar(
        select(Notice).where(Notice.search_id == search_id, Notice.kind == NoticeKind.DUPLICATE_ERASED.value)
    )
    if erasure is None:
        return None
    told = set(
        session.scalars(select(Notice.kind).where(Notice.search_id == search_id, Notice.kind.in_(ERASED_OUTCOMES)))
    )
    if NoticeKind.DUPLICATE_CORRECTED.value in told:
        return None
    if search_id not in searches_with_findings(session, [search_id]):  # no finding left to erase it on
        return follow_up(instance, session, erasure, NoticeKind.DUPLICATE_CORRECTED, contest_id)
    own = list(session.scalars(select(Contest).where(Contest.notice_id == erasure.id).order_by(Contest.id)))
    if told or not own or any(c.status == ContestStatus.OPEN for c in own):
        return None
    overturned = sum(c.outcome == ContestOutcome.OVERTURNED for c in own)
    kind = NoticeKind.DUPLICATE_PARTLY_CORRECTED if overturned else NoticeKind.DUPLICATE_UPHELD
    return follow_up(instance, session, erasure, kind, own[0].id)
