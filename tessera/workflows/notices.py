"""Adverse-step notices: made by the case workflow, listed for the field worker, handed over to the person.

A notice says, in plain words, what happened to the person it is for and how to contest it or complain
(:mod:`tessera.governance.notices`). It holds nothing of anyone else: not who ran the search, not its case
reference, not the other candidates, not the probe. A registration erased as a duplicate gets one too
(:func:`notify_erased`), found by the case number the person was given or by the erased registration's id.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.errors import Conflict, NotFound
from tessera.governance.contests import ContestOutcome
from tessera.governance.notices import CONTESTABLE, FOR_ERASED, NoticeKind, plain_words
from tessera.governance.vocabulary import ReviewStatus
from tessera.store.models import CaseCandidate, Complaint, Contest, Notice
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.reads import record_read
from tessera.workflows.scope import check_found, galleries_of


def notify(
    instance: Instance,
    session: Session,
    *,
    subject_id: str,
    gallery_id: str,
    kind: NoticeKind,
    purpose: str,
    search_id: str | None = None,
    candidate_id: str | None = None,
    contest_id: str | None = None,
) -> Notice:
    """Create a notice for a person's record in ``session``'s transaction and audit it (``notice.create``)."""
    return _add(
        instance,
        session,
        Notice(
            id=str(uuid.uuid4()),
            subject_id=subject_id,
            gallery_id=gallery_id,
            kind=kind.value,
            purpose=purpose,
            search_id=search_id,
            candidate_id=candidate_id,
            contest_id=contest_id,
            created_at=instance.clock(),
        ),
    )


def notify_erased(
    instance: Instance,
    session: Session,
    *,
    erased_subject_id: str,
    reference: str,
    language: str | None,
    gallery_id: str,
    search_id: str,
    candidate_id: str,
) -> Notice:
    """The notice of a registration a duplicate finding erased, kept under its case number ``reference``.

    Parameters
    ----------
    erased_subject_id : str
        The erased registration: the notice names it, as its tombstone does, and no one else.
    language : str or None
        Of the consent text the person was shown, read before the erasure.
    candidate_id : str
        The confirmed candidate whose finding erased it: kept for a contest, never shown.
    """
    return _add(
        instance,
        session,
        Notice(
            id=str(uuid.uuid4()),
            subject_id=None,
            erased_subject_id=erased_subject_id,
            reference=reference,
            language=language,
            gallery_id=gallery_id,
            kind=NoticeKind.DUPLICATE_ERASED.value,
            purpose="deduplicate",
            search_id=search_id,
            candidate_id=candidate_id,
            created_at=instance.clock(),
        ),
    )


def follow_up(instance: Instance, session: Session, notice: Notice, kind: NoticeKind, contest_id: str) -> Notice:
    """A new notice of ``kind`` for the person ``notice`` was for, about the same finding (a contest's outcome)."""
    return _add(
        instance,
        session,
        Notice(
            id=str(uuid.uuid4()),
            subject_id=notice.subject_id,
            erased_subject_id=notice.erased_subject_id,
            reference=notice.reference,
            language=notice.language,
            gallery_id=notice.gallery_id,
            kind=kind.value,
            purpose=notice.purpose,
            search_id=notice.search_id,
            candidate_id=notice.candidate_id,
            contest_id=contest_id,
            created_at=instance.clock(),
        ),
    )


def _add(instance: Instance, session: Session, notice: Notice) -> Notice:
    session.add(notice)
    instance.record(
        session,
        "system:notices",
        "notice.create",
        notice.kind,
        subject_id=person_of(notice),
        gallery_id=notice.gallery_id,
        details={"notice_id": notice.id, "kind": notice.kind},
    )
    return notice


def person_of(notice: Notice) -> str | None:
    """Whom the notice is for: its subject, or the registration that was erased."""
    return notice.subject_id or notice.erased_subject_id


def closed_to_contest(session: Session, notices: list[Notice]) -> set[str]:
    """The ids of ``notices`` that may no longer be contested: contested already, or their finding was corrected
    (on anyone's contest); an erased registration's, once no finding of its case stands."""
    ids = [n.id for n in notices]
    candidates = sorted({n.candidate_id for n in notices if n.candidate_id is not None})
    contested = set(session.scalars(select(Contest.notice_id).where(Contest.notice_id.in_(ids))))
    corrected = set(
        session.scalars(
            select(Contest.candidate_id).where(
                Contest.candidate_id.in_(candidates), Contest.outcome == ContestOutcome.OVERTURNED.value
            )
        )
    )
    erased = {n.id: n.search_id for n in notices if NoticeKind(n.kind) is NoticeKind.DUPLICATE_ERASED}
    standing = searches_with_findings(session, sorted({str(search) for search in erased.values()}))
    return (
        contested
        | {n.id for n in notices if n.candidate_id in corrected and n.id not in erased}
        | {notice for notice, search in erased.items() if search not in standing}
    )


def searches_with_findings(session: Session, search_ids: list[str]) -> set[str]:
    """Those of ``search_ids`` with a confirmed finding that stands (a real candidate, not a catch trial)."""
    confirmed = select(CaseCandidate.search_id).where(
        CaseCandidate.search_id.in_(search_ids),
        CaseCandidate.status == ReviewStatus.CONFIRMED.value,
        CaseCandidate.catch_trial.is_(False),
    )
    return set(session.scalars(confirmed.distinct()))


def reviewed_counts(session: Session, notices: list[Notice]) -> dict[str, tuple[int, int]]:
    """For each partly corrected notice of ``notices``: how many findings its contest found wrong and kept."""
    counts: dict[str, tuple[int, int]] = {}
    for notice in notices:
        if NoticeKind(notice.kind) is not NoticeKind.DUPLICATE_PARTLY_CORRECTED or notice.contest_id is None:
            continue
        first = session.get_one(Contest, notice.contest_id)
        outcomes = list(session.scalars(select(Contest.outcome).where(Contest.notice_id == first.notice_id)))
        counts[notice.id] = (
            outcomes.count(ContestOutcome.OVERTURNED.value),
            outcomes.count(ContestOutcome.UPHELD.value),
        )
    return counts


def notice_view(instance: Instance, notice: Notice, contested: bool, reviewed: tuple[int, int] = (0, 0)) -> dict:
    """What the worker hands to the person: the notice in plain words, and how to contest or complain
    (``reviewed``: of a partly corrected finding, :func:`reviewed_counts`)."""
    kind = NoticeKind(notice.kind)
    can_contest = kind in CONTESTABLE and not contested
    erased = kind in FOR_ERASED
    number = "case number" if erased else "notice number"
    return {
        "notice_id": notice.id,
        "subject_id": person_of(notice),
        "erased": erased,
        "reference": notice.reference,
        "language": notice.language if erased else None,
        "kind": kind.value,
        "created_at": notice.created_at.isoformat(),
        "handed_over_at": None if notice.handed_over_at is None else notice.handed_over_at.isoformat(),
        "text": plain_words(
            kind,
            notice.language,
            purpose=notice.purpose,
            date=notice.created_at.date().isoformat(),
            reference=notice.reference,
            reviewed=reviewed,
        ),
        "can_contest": can_contest,
        "how_to_contest": f"Ask a field worker to record why you think it is wrong; the {number} is all they need."
        if can_contest
        else None,
        "how_to_complain": instance.settings.complaint_contact,
    }


def list_notices(
    instance: Instance,
    actor: Actor | str,
    gallery_id: str | None = None,
    pending: bool | None = None,
    limit: int = 100,
    *,
    reference: str | None = None,
    subject_id: str | None = None,
) -> dict:
    """The newest ``limit`` notices of the galleries the key reaches (of ``gallery_id`` when given).

    Parameters
    ----------
    pending : bool or None
        Only those not yet handed over; None: only those, unless ``reference`` or ``subject_id`` asks for a
        person's notices (then all of them).
    reference : str or None
        Only those kept under this case number (an erased registration's: ``DUP-...``).
    subject_id : str or None
        Only those for this person: their record, or their registration that was erased.
    """
    query = select(Notice).order_by(Notice.created_at.desc(), Notice.id).limit(limit)
    if gallery_id is not None:
        query = query.where(Notice.gallery_id == gallery_id)
    if reference is not None:
        query = query.where(Notice.reference == reference.strip().upper())
    if subject_id is not None:
        query = query.where((Notice.subject_id == subject_id) | (Notice.erased_subject_id == subject_id))
    scope = galleries_of(actor)
    if scope is not None:
        query = query.where(Notice.gallery_id.in_(sorted(scope)))
    if pending if pending is not None else reference is None and subject_id is None:
        query = query.where(Notice.handed_over_at.is_(None))
    with instance.sessions() as session:
        notices = list(session.scalars(query))
        closed, counts = closed_to_contest(session, notices), reviewed_counts(session, notices)
        views = [notice_view(instance, n, n.id in closed, counts.get(n.id, (0, 0))) for n in notices]
    # The listing names the people the notices are for: a read of their data, audited with whom it named.
    details = {"notices": [v["notice_id"] for v in views], "subjects": sorted({str(v["subject_id"]) for v in views})}
    record_read(instance, actor, "notice.list", gallery_id=gallery_id, details=details)
    return {"notices": views}


def load_notice(instance: Instance, session: Session, actor: Actor | str, notice_id: str, action: str) -> Notice:
    """The notice, or 404 ``notice_not_found`` (also for one outside the key's galleries, audited)."""
    notice = session.get(Notice, notice_id)
    check_found(
        instance,
        actor,
        None if notice is None else notice.gallery_id,
        notice_id,
        action,
        NotFound(f"No notice with id {notice_id!r}.", code="notice_not_found"),
    )
    assert notice is not None  # check_found raised otherwise
    return notice


def hand_over(instance: Instance, actor: Actor | str, notice_id: str) -> dict:
    """Record that the notice was handed to the person (``notice.hand_over``); a second time is a conflict."""
    with instance.sessions() as session:
        load_notice(instance, session, actor, notice_id, "notice.hand_over")
    with instance.transaction() as session:
        notice = session.get_one(Notice, notice_id)
        if notice.handed_over_at is not None:
            raise Conflict(
                f"Notice {notice_id} was already handed over at {notice.handed_over_at.isoformat()}.",
                code="notice_already_handed_over",
            )
        notice.handed_over_at = instance.clock()
        notice.handed_over_by = str(actor)
        instance.record(
            session,
            actor,
            "notice.hand_over",
            "ok",
            subject_id=person_of(notice),
            gallery_id=notice.gallery_id,
            details={"notice_id": notice_id, "kind": notice.kind},
        )
        closed, counts = closed_to_contest(session, [notice]), reviewed_counts(session, [notice])
        return notice_view(instance, notice, notice.id in closed, counts.get(notice.id, (0, 0)))


def people_records(instance: Instance, session: Session, subject_id: str) -> dict:
    """What subject access adds about the person: their notices, contests and complaints (GDPR Art. 15)."""
    notices = list(session.scalars(select(Notice).where(Notice.subject_id == subject_id).order_by(Notice.created_at)))
    contests = session.scalars(select(Contest).where(Contest.subject_id == subject_id).order_by(Contest.opened_at))
    complaints = session.scalars(
        select(Complaint).where(Complaint.subject_id == subject_id).order_by(Complaint.opened_at)
    )
    closed = closed_to_contest(session, notices)
    return {
        "notices": [notice_view(instance, n, n.id in closed) for n in notices],
        "contests": [
            {
                "contest_id": c.id,
                "notice_id": c.notice_id,
                "grounds": c.grounds,
                "opened_at": c.opened_at.isoformat(),
                "status": c.status,
                "outcome": c.outcome,
            }
            for c in contests
        ],
        "complaints": [
            {"complaint_id": c.id, "summary": c.summary, "status": c.status, "opened_at": c.opened_at.isoformat()}
            for c in complaints
        ],
    }
