"""A person contests a finding through a field worker; reviewers who did not take the first decision re-review it.

One straight line each: open (from the notice the person was handed) → re-reviewers list what waits for them →
two agreeing re-reviews decide → the finding is upheld or corrected (the candidate becomes ``rejected``), and the
person gets a new notice either way. Every step is audited and counted in the transparency report.

The notice of a registration a duplicate finding erased is contested the same way (no record is left to name: the
contest's ``subject_id`` is NULL and its notice says whose it is), one contest per confirmed finding of its case
(:mod:`tessera.workflows.contest_findings`): each is re-reviewed and corrected on its own. A duplicate finding has
two parties, the record it matched and the registration it erased; when it is corrected the record is told under
its own notice, and the registration under its case number once its contests are decided (register again when no
finding of the case stands).

Re-reviewers see the contested candidate's reference photo (when kept) and the person's grounds; the probe photo
of the first review is destroyed when its case closes, so a re-review that needs it asks the person to come in.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tessera.errors import Conflict, Forbidden, InvalidRequest, NotFound
from tessera.governance.adjudication import check_decision
from tessera.governance.contests import MIN_GROUNDS_CHARS, ContestOutcome, ContestStatus, contest_outcome
from tessera.governance.notices import CONTESTABLE, NoticeKind
from tessera.governance.separation import check_not_first_reviewer, check_not_own_search
from tessera.governance.vocabulary import ReviewStatus
from tessera.store.models import CaseCandidate, Contest, ContestDecision, Notice, Search, Template
from tessera.workflows.adjudication import _reference_image, check_trained
from tessera.workflows.contest_findings import contested_findings, tell_erased
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.notices import follow_up, load_notice, person_of
from tessera.workflows.reads import record_read
from tessera.workflows.scope import check_found, galleries_of


def open_contest(instance: Instance, actor: Actor | str, notice_id: str, grounds: str) -> dict:
    """Open a contest of the finding ``notice_id`` told the person of, with their ``grounds``.

    Raises
    ------
    NotFound
        ``notice_not_found`` (also outside the key's galleries).
    InvalidRequest
        ``grounds_required`` for grounds shorter than :data:`MIN_GROUNDS_CHARS`.
    Conflict
        ``not_contestable`` for a notice that reports no finding; ``already_contested``.
    """
    if len(grounds.strip()) < MIN_GROUNDS_CHARS:
        raise InvalidRequest(
            f"grounds must say why the person thinks the finding is wrong, in at least {MIN_GROUNDS_CHARS} characters.",
            code="grounds_required",
        )
    with instance.sessions() as session:
        load_notice(instance, session, actor, notice_id, "contest.open")
    with instance.transaction() as session:
        notice = load_notice(instance, session, actor, notice_id, "contest.open")
        if NoticeKind(notice.kind) not in CONTESTABLE or notice.candidate_id is None or notice.search_id is None:
            raise Conflict(f"Notice {notice_id} reports no finding that can be contested.", code="not_contestable")
        if session.scalar(select(Contest.id).where(Contest.notice_id == notice_id).limit(1)) is not None:
            raise Conflict(f"The finding of notice {notice_id} is already contested.", code="already_contested")
        findings = contested_findings(session, notice)
        if not findings:  # corrected on the other party's contest meanwhile
            raise Conflict(f"The finding of notice {notice_id} was corrected already.", code="not_contestable")
        contests = [_contest(instance, actor, notice, candidate, grounds) for candidate in findings]
        session.add_all(contests)
        ids = [contest.id for contest in contests]
        instance.record(
            session,
            actor,
            "contest.open",
            "ok",
            subject_id=person_of(notice),
            gallery_id=notice.gallery_id,
            details={"contest_id": ids[0], "contest_ids": ids, "notice_id": notice_id},
        )
        return {"contest_id": ids[0], "contest_ids": ids, "notice_id": notice_id, "status": ContestStatus.OPEN.value}


def _contest(instance: Instance, actor: Actor | str, notice: Notice, candidate: CaseCandidate, grounds: str) -> Contest:
    """The contest of one finding ``notice`` told of: re-reviewed by none of those who confirmed it."""
    return Contest(
        id=str(uuid.uuid4()),
        notice_id=notice.id,
        subject_id=notice.subject_id,
        gallery_id=notice.gallery_id,
        search_id=notice.search_id,
        candidate_id=candidate.id,
        first_reviewers=sorted(d.adjudicator for d in candidate.decisions),
        grounds=grounds.strip(),
        opened_by=str(actor),
        opened_at=instance.clock(),
        status=ContestStatus.OPEN.value,
    )


def contests_to_review(instance: Instance, actor: Actor, limit: int = 50) -> dict:
    """The open contests ``actor`` may re-review (in its galleries; not one it took the first decision of, ran the
    search of, or already decided), oldest first, each with the person's grounds and the candidate's reference."""
    query = select(Contest).where(Contest.status == ContestStatus.OPEN).order_by(Contest.opened_at, Contest.id)
    scope = galleries_of(actor)
    if scope is not None:
        query = query.where(Contest.gallery_id.in_(sorted(scope)))
    items: list[dict] = []
    with instance.sessions() as session:
        try:
            check_trained(instance, session, actor)
        except Forbidden as untrained:
            # The list is the reviewer's inbox: an untrained reviewer is told why it is empty, not refused.
            return {"contests": [], "notice": untrained.message, "training_required": True}
        for contest in session.scalars(query):
            search = session.get_one(Search, contest.search_id)
            mine = any(d.adjudicator == str(actor) for d in contest.decisions)
            if str(actor) in contest.first_reviewers or str(actor) == search.requested_by or mine:
                continue
            candidate = session.get_one(CaseCandidate, contest.candidate_id)
            template = session.get(Template, candidate.template_id)
            items.append(
                {
                    "contest_id": contest.id,
                    "opened_at": contest.opened_at.isoformat(),
                    "grounds": contest.grounds,
                    "purpose": search.purpose,
                    "score": candidate.score,
                    "fmr": candidate.fmr,
                    "reference_image": _reference_image(instance, candidate, template),
                    "decisions_so_far": len(contest.decisions),
                }
            )
            if len(items) >= limit:
                break
    record_read(instance, actor, "contest.view", details={"contests": [item["contest_id"] for item in items]})
    return {
        "contests": items,
        "training_required": False,
        "notice": "Decide again from the evidence, as if for the first time: confirm only if you are sure the "
        "person's record matches. The first reviewers' decisions are not shown.",
    }


def decide_contest(instance: Instance, actor: Actor, contest_id: str, decision: str, rationale: str) -> dict:
    """One re-review of a contest; two agreeing ones decide it, correct the finding when it was wrong, and notify.

    Raises
    ------
    Forbidden
        ``training_required``; ``first_reviewer_cannot_rereview``; ``requester_cannot_adjudicate``.
    Conflict
        ``contest_decided``; ``already_decided``.
    """
    check_decision(decision, rationale)
    missing = NotFound(f"No contest with id {contest_id!r}.", code="contest_not_found")
    with instance.sessions() as session:
        found = session.get(Contest, contest_id)
        check_found(instance, actor, None if found is None else found.gallery_id, contest_id, "contest.decide", missing)
    with instance.transaction() as session:
        contest = session.get(Contest, contest_id)
        if contest is None:
            raise missing
        search = session.get_one(Search, contest.search_id)
        check_trained(instance, session, actor)
        check_not_first_reviewer(str(actor), contest.first_reviewers)
        check_not_own_search(str(actor), search.requested_by)
        if contest.status != ContestStatus.OPEN:
            raise Conflict(f"Contest {contest_id} is already decided ({contest.outcome}).", code="contest_decided")
        if any(d.adjudicator == str(actor) for d in contest.decisions):
            raise Conflict("You have already re-reviewed this contest.", code="already_decided")
        contest.decisions.append(
            ContestDecision(
                id=str(uuid.uuid4()),
                adjudicator=str(actor),
                decision=decision,
                rationale=rationale.strip(),
                decided_at=instance.clock(),
            )
        )
        outcome = contest_outcome([d.decision for d in contest.decisions])
        instance.record(
            session,
            actor,
            "contest.decide",
            decision,
            subject_id=contest.subject_id,
            gallery_id=contest.gallery_id,
            details={"contest_id": contest_id, "rationale": rationale.strip(), "outcome": outcome},
        )
        if outcome is not None:
            _settle(instance, session, contest, search, outcome)
        return {"contest_id": contest_id, "recorded": decision, "status": contest.status, "outcome": contest.outcome}


def _settle(instance: Instance, session, contest: Contest, search: Search, outcome: ContestOutcome) -> None:
    """Close the contest of one finding; a finding found wrong is corrected (the candidate becomes ``rejected``, any
    other contest of it closes) and the record it matched is told. The person who contested is told of the outcome:
    at once for their own record's finding, once every finding it contests is decided for an erased registration
    (:func:`~tessera.workflows.contest_findings.tell_erased`)."""
    contest.status = ContestStatus.DECIDED.value
    contest.outcome = outcome.value
    contest.decided_at = instance.clock()
    contested = session.get_one(Notice, contest.notice_id)
    if outcome is ContestOutcome.OVERTURNED:
        _correct(instance, session, contest, contested)
    elif _party(contested) == "record":
        follow_up(instance, session, contested, NoticeKind.FINDING_UPHELD, contest.id)
    tell_erased(instance, session, search.id, contest.id)


def _correct(instance: Instance, session, contest: Contest, contested: Notice) -> None:
    """Reject the candidate a contest overturned, close the other contests of it, and tell its record."""
    candidate = session.get_one(CaseCandidate, contest.candidate_id)
    candidate.status = ReviewStatus.REJECTED.value
    others = session.scalars(
        select(Contest).where(
            Contest.candidate_id == contest.candidate_id, Contest.id != contest.id, Contest.status == ContestStatus.OPEN
        )
    )
    for other in others:  # the finding they contest is gone: decided with this one
        other.status, other.outcome, other.decided_at = contest.status, contest.outcome, contest.decided_at
    instance.record(
        session,
        "system:contests",
        "finding.corrected",
        "rejected",
        subject_id=contest.subject_id or person_of(contested),
        gallery_id=contest.gallery_id,
        details={"contest_id": contest.id, "search_id": contest.search_id, "candidate_id": contest.candidate_id},
    )
    # The record the finding matched is told, in the words of its own notice: it contested it, or someone else did
    # (the registration a duplicate check erased, told by tell_erased).
    told = session.scalars(
        select(Notice)
        .where(Notice.candidate_id == contest.candidate_id, Notice.kind == NoticeKind.CONFIRMED_MATCH.value)
        .order_by(Notice.created_at, Notice.id)
    )
    for notice in told:
        kind = NoticeKind.FINDING_CORRECTED if notice.id == contested.id else NoticeKind.MATCH_CORRECTED
        follow_up(instance, session, notice, kind, contest.id)


def _party(notice: Notice) -> str:
    return "erased" if notice.subject_id is None else "record"
