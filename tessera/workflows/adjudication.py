"""Two-person review of 1:N candidates, with training checks and catch trials.

Rules (tessera.governance.adjudication): only trained adjudicators decide,
never the person who asked for the search, each at most once per candidate,
always with a written rationale, and without seeing the other's decision.
A key limited to galleries reviews only searches of those galleries; a
search's outcome is read only by the key that ran it and by admins
(:func:`reads_search`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from tessera.capture.still import data_url
from tessera.errors import Conflict, Forbidden, InvalidRequest, NotFound
from tessera.governance.adjudication import CONFIRM, candidate_status, check_decision
from tessera.governance.bands import catch_trial_band, score_band
from tessera.governance.notices import NoticeKind
from tessera.governance.roles import Role
from tessera.governance.separation import SINGLE_ADMIN_EXCEPTION, KeyFacts, check_attestation, check_not_own_search
from tessera.governance.vocabulary import SETTLED_REVIEWS, UNSETTLED_REVIEWS, CaseStatus, ReviewStatus
from tessera.store.models import ApiKey, CaseCandidate, Decision, Search, Subject, Template, TrainingAttestation
from tessera.store.vault import SealedDataUnreadable
from tessera.workflows.dedup import REQUESTER_PREFIX, settle
from tessera.workflows.disclosure import NOTICE, case_rows, outcome
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.notices import notify
from tessera.workflows.reads import record_read
from tessera.workflows.scope import check_search, galleries_of

STALE_REFERENCE = timedelta(days=730)
"""A reference captured longer ago than this is flagged: faces change."""


def record_training(
    instance: Instance, actor: Actor | str, api_key_id: str, course: str, completed_at: datetime, expires_at: datetime
) -> str:
    """Record that the holder of adjudicator key ``api_key_id`` was trained, until ``expires_at``.

    The separation-of-duties rules apply (:func:`tessera.governance.separation.check_attestation`): an existing,
    unrevoked adjudicator key, attested by someone other than its holder and than its creator (two admins) unless
    the ``single_admin_exception`` setting is on, in which case the use is audited as
    ``separation.single_admin_exception``.
    """
    if expires_at <= completed_at:
        raise InvalidRequest("expires_at must be after completed_at.", code="invalid_attestation")
    attestation_id = str(uuid.uuid4())
    with instance.transaction() as session:
        key = session.get(ApiKey, api_key_id)
        facts = None if key is None else KeyFacts(key.id, key.role, key.created_by, revoked=key.revoked_at is not None)
        exception_used = check_attestation(str(actor), facts, instance.settings.single_admin_exception)
        session.add(
            TrainingAttestation(
                id=attestation_id,
                api_key_id=api_key_id,
                course=course,
                completed_at=completed_at,
                expires_at=expires_at,
                recorded_by=str(actor),
                recorded_at=instance.clock(),
                single_admin_exception=exception_used,
            )
        )
        instance.record(
            session,
            actor,
            "adjudicator.training",
            "ok",
            details={
                "api_key_id": api_key_id,
                "course": course,
                "expires_at": expires_at.isoformat(),
                "single_admin_exception": exception_used,
            },
        )
        if exception_used:
            instance.record(
                session,
                actor,
                SINGLE_ADMIN_EXCEPTION,
                "ok",
                details={"api_key_id": api_key_id, "attestation_id": attestation_id, "created_by": facts.created_by}
                if facts
                else {},
            )
    return attestation_id


def _check_reviewer(instance: Instance, session, actor: Actor, search: Search) -> None:
    check_not_own_search(str(actor), search.requested_by.removeprefix(REQUESTER_PREFIX))
    check_trained(instance, session, actor)


def check_trained(instance: Instance, session, actor: Actor) -> None:
    """Refuse (403 ``training_required``) a reviewer without an unexpired training attestation."""
    key_id = str(actor).removeprefix("key:")
    trained = session.scalar(
        select(TrainingAttestation.id).where(
            TrainingAttestation.api_key_id == key_id, TrainingAttestation.expires_at > instance.clock()
        )
    )
    if trained is None:
        raise Forbidden(
            "Reviewing candidates needs a recorded, unexpired training attestation.", code="training_required"
        )


def _search(session, search_id: str) -> Search:
    search = session.get(Search, search_id)
    if search is None:
        raise NotFound(f"No search with id {search_id!r}.", code="search_not_found")
    return search


@dataclass(frozen=True)
class ReviewItem:
    candidate_id: str
    band: str
    """How strongly the scores say "same person" (:mod:`tessera.governance.bands`), never the number."""
    reference_quality: dict | None
    reference_captured_at: str | None
    reference_is_stale: bool
    reference_image: str | None
    your_decision: str | None


def _reference_image(instance: Instance, candidate: CaseCandidate, template: Template | None) -> str | None:
    """The candidate's kept enrolment photo as a data URL for the reviewer, or None when it was not kept or cannot be
    opened (its subject's key is gone)."""
    if template is None or template.image_ciphertext is None:
        return None
    try:
        return data_url(
            instance.vault.open_image(
                subject_id=candidate.subject_id, template_id=candidate.template_id, sealed=template.image_ciphertext
            )
        )
    except SealedDataUnreadable:
        return None


def _probe_image(instance: Instance, search: Search) -> str | None:
    """The search's kept probe photo as a data URL for the reviewer, or None when it was not kept, the case is
    closed, or it cannot be opened."""
    try:
        probe = instance.vault.open_case_probe(search.id, search.probe_ciphertext)
    except SealedDataUnreadable:
        return None
    return None if probe is None else data_url(probe)


def review_case(instance: Instance, actor: Actor, search_id: str) -> dict:
    """What an adjudicator sees: every candidate (catch trials among them, unmarked), blind to others' decisions."""
    check_search(instance, actor, search_id, "adjudication.view")
    with instance.sessions() as session:
        search = _search(session, search_id)
        _check_reviewer(instance, session, actor, search)
        items = []
        real_bands = [score_band(c.fmr) for c in search.candidates if not c.catch_trial]
        for candidate in sorted(search.candidates, key=lambda c: c.id):
            template = session.get(Template, candidate.template_id)
            own = next((d.decision for d in candidate.decisions if d.adjudicator == str(actor)), None)
            captured = template.created_at if template else None
            items.append(
                ReviewItem(
                    candidate_id=candidate.id,
                    band=catch_trial_band(candidate.id, real_bands)
                    if candidate.catch_trial
                    else score_band(candidate.fmr),
                    reference_quality=template.quality if template else None,
                    reference_captured_at=captured.isoformat() if captured else None,
                    reference_is_stale=bool(captured and instance.clock() - captured > STALE_REFERENCE),
                    reference_image=_reference_image(instance, candidate, template),
                    your_decision=own,
                ).__dict__
            )
        answer = {
            "search_id": search.id,
            "case_reference": search.case_reference,
            "purpose": search.purpose,
            "searched_at": search.started_at.isoformat(),
            "candidates": items,
            "probe_image": _probe_image(instance, search),
            "notice": "Decide each candidate on the images: the same person, different people, or cannot tell. "
            "Some candidates are catch trials, known to be someone else.",
        }
    record_read(instance, actor, "adjudication.view", gallery_id=search.gallery_id, details={"search_id": search_id})
    return answer


def decide(instance: Instance, actor: Actor, search_id: str, candidate_id: str, decision: str, rationale: str) -> dict:
    check_decision(decision, rationale)
    check_search(instance, actor, search_id, "adjudication.decide")
    with instance.transaction() as session:
        search = _search(session, search_id)
        _check_reviewer(instance, session, actor, search)
        candidate = session.get(CaseCandidate, candidate_id)
        if candidate is None or candidate.search_id != search_id:
            raise NotFound(f"Search {search_id} has no candidate {candidate_id!r}.", code="candidate_not_found")
        if any(d.adjudicator == str(actor) for d in candidate.decisions):
            raise Conflict(
                "You have already decided on this candidate; a second reviewer must decide.", code="already_decided"
            )
        if session.get(Subject, candidate.subject_id) is None:
            candidate.status = ReviewStatus.VOID
            raise Conflict("The candidate's consent was withdrawn and their data erased.", code="subject_erased")
        candidate.decisions.append(
            Decision(
                id=str(uuid.uuid4()),
                adjudicator=str(actor),
                decision=decision,
                rationale=rationale.strip(),
                decided_at=instance.clock(),
            )
        )
        candidate.status = candidate_status([d.decision for d in candidate.decisions])
        if candidate.status == ReviewStatus.CONFIRMED and not candidate.catch_trial:
            # A lead became a finding that affects the person: they are told (a catch trial is nobody's finding).
            notify(
                instance,
                session,
                subject_id=candidate.subject_id,
                gallery_id=search.gallery_id,
                kind=NoticeKind.CONFIRMED_MATCH,
                purpose=search.purpose,
                search_id=search.id,
                candidate_id=candidate.id,
            )
        closing = all(c.status in SETTLED_REVIEWS for c in search.candidates)
        if closing:
            search.status = CaseStatus.CLOSED
            search.probe_ciphertext = None
        instance.record(
            session,
            actor,
            "adjudication.decide",
            decision,
            subject_id=candidate.subject_id,
            gallery_id=search.gallery_id,
            details={
                "search_id": search_id,
                "candidate_id": candidate_id,
                "status": candidate.status,
                "catch_trial": candidate.catch_trial,
                "rationale": rationale.strip(),
            },
        )
    if closing:
        instance.vault.close_case(search_id)  # the probe photo is unreadable everywhere once the case is closed
        settle(instance, search_id)  # a duplicate check's pending subject is enrolled or erased
    return {"candidate_id": candidate_id, "recorded": decision}


def reads_search(actor: Actor | str, requested_by: str) -> bool:
    """Whether ``actor`` may read the outcome of a search ``requested_by`` ran: the same key, an admin key or a
    local operator. Operators of one gallery do not read each other's searches: a search names the people a
    probe resembled and the case it was for, which only its requester needs (a handover goes through an admin)."""
    return not isinstance(actor, Actor) or actor.role == Role.ADMIN or str(actor) == requested_by


def search_outcome(instance: Instance, actor: Actor | str, search_id: str) -> dict:
    """The requester's view: the case's status, and the subject two reviewers confirmed (no one before that;
    :mod:`tessera.workflows.disclosure`).

    A search of a gallery outside the key's galleries, or one another (non-admin) key ran, is answered 404
    ``search_not_found`` as if it did not exist, and the refusal is audited.
    """
    check_search(instance, actor, search_id, "search.read")
    with instance.sessions() as session:
        search = _search(session, search_id)
        if not reads_search(actor, search.requested_by):
            instance.record_alone(
                actor,
                "search.read",
                "refused:not_requester",
                gallery_id=search.gallery_id,
                details={"search_id": search_id},
            )
            raise NotFound(f"No search with id {search_id!r}.", code="search_not_found")
        # the read names the case, never its candidates: the audit log is read by auditors and admins too
        record_read(instance, actor, "search.read", gallery_id=search.gallery_id, details={"search_id": search_id})
        return {
            "search_id": search.id,
            "case_reference": search.case_reference,
            "purpose": search.purpose,
            "gallery_id": search.gallery_id,
            "gallery_version": search.gallery_version,
            "gallery_size": search.gallery_size,
            "started_at": search.started_at.isoformat(),
            "ended_at": search.ended_at.isoformat(),
            "review": search.status,
            **outcome(case_rows(search)),
            "notice": NOTICE,
        }


def list_searches(instance: Instance, actor: Actor | str, gallery_id: str | None = None, limit: int = 50) -> dict:
    """The newest ``limit`` searches the caller may read (:func:`reads_search`), of ``gallery_id`` or every gallery
    the key reaches: no candidates, only what finds the case again."""
    query = select(Search).order_by(Search.started_at.desc(), Search.id).limit(limit)
    if gallery_id is not None:
        query = query.where(Search.gallery_id == gallery_id)
    if isinstance(actor, Actor) and actor.role != Role.ADMIN:
        query = query.where(Search.requested_by == str(actor))
    scope = galleries_of(actor)
    if scope is not None:
        query = query.where(Search.gallery_id.in_(sorted(scope)))
    with instance.sessions() as session:
        searches = session.scalars(query).all()
        record_read(
            instance, actor, "search.list", gallery_id=gallery_id, details={"searches": [s.id for s in searches]}
        )
        return {
            "searches": [
                {
                    "search_id": s.id,
                    "gallery_id": s.gallery_id,
                    "case_reference": s.case_reference,
                    "purpose": s.purpose,
                    "started_at": s.started_at.isoformat(),
                    "review": s.status,
                    "requested_by": s.requested_by,
                }
                for s in searches
            ]
        }


QUEUE_SCAN = 500
"""How many open cases, oldest first, one queue read looks through (bounded work per request)."""


def review_queue(instance: Instance, actor: Actor, limit: int = 50) -> dict:
    """The open cases an adjudicator may review, oldest first: not their own searches, only their galleries, each
    with how many candidates still wait for their decision (none named; the case is opened with
    :func:`review_case`). An adjudicator without an unexpired training attestation gets no cases and
    ``trained: false``."""
    with instance.sessions() as session:
        try:
            check_trained(instance, session, actor)
        except Forbidden:  # the console says why the queue is empty; opening a case refuses with 403
            return {"cases": [], "trained": False}
        query = (
            select(Search)
            .where(Search.status == CaseStatus.OPEN, Search.requested_by != str(actor))
            .order_by(Search.started_at, Search.id)
            .limit(QUEUE_SCAN)
        )
        scope = galleries_of(actor)
        if scope is not None:
            query = query.where(Search.gallery_id.in_(sorted(scope)))
        cases = []
        for search in session.scalars(query):
            waiting = [
                c
                for c in search.candidates
                if c.status in UNSETTLED_REVIEWS and all(d.adjudicator != str(actor) for d in c.decisions)
            ]
            if waiting:
                cases.append(
                    {
                        "search_id": search.id,
                        "gallery_id": search.gallery_id,
                        "case_reference": search.case_reference,
                        "purpose": search.purpose,
                        "searched_at": search.started_at.isoformat(),
                        "to_decide": len(waiting),
                    }
                )
            if len(cases) == limit:
                break
    # A duplicate-check case's reference names the new person (DUP-<their number>): the queue read is audited.
    record_read(instance, actor, "review.queue", details={"searches": [case["search_id"] for case in cases]})
    return {"cases": cases, "trained": True}


def reviewer_accuracy(instance: Instance, galleries: frozenset[str] | None = None) -> dict[str, dict]:
    """Per adjudicator: catch trials decided and how many were wrongly confirmed (in ``galleries``; None: all).

    A catch trial is a known non-mate: "confirm" on it is a false confirmation; "cannot tell" is not one.
    """
    query = (
        select(Decision.adjudicator, Decision.decision).join(CaseCandidate).where(CaseCandidate.catch_trial.is_(True))
    )
    if galleries is not None:
        query = query.join(Search, Search.id == CaseCandidate.search_id).where(Search.gallery_id.in_(sorted(galleries)))
    with instance.sessions() as session:
        rows = session.execute(query).all()
    stats: dict[str, dict] = {}
    for adjudicator, decision in rows:
        entry = stats.setdefault(adjudicator, {"catch_trials": 0, "false_confirms": 0})
        entry["catch_trials"] += 1
        entry["false_confirms"] += decision == CONFIRM
    for entry in stats.values():
        entry["false_confirm_rate"] = entry["false_confirms"] / entry["catch_trials"]
    return stats
