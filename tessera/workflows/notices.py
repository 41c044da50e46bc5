"""Adverse-step notices: made by the case workflow, listed for the field worker, handed over to the person.

A notice says, in plain words, what happened to the person it is for and how to contest it or complain
(:mod:`tessera.governance.notices`). It holds nothing of anyone else: not who ran the search, not its case
reference, not the other candidates, not the probe.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.errors import Conflict, NotFound
from tessera.governance.notices import CONTESTABLE, PLAIN_WORDS, NoticeKind
from tessera.store.models import Complaint, Contest, Notice
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
    """Create a notice in ``session``'s transaction and audit it (``notice.create``)."""
    notice = Notice(
        id=str(uuid.uuid4()),
        subject_id=subject_id,
        gallery_id=gallery_id,
        kind=kind.value,
        purpose=purpose,
        search_id=search_id,
        candidate_id=candidate_id,
        contest_id=contest_id,
        created_at=instance.clock(),
    )
    session.add(notice)
    instance.record(
        session,
        "system:notices",
        "notice.create",
        kind.value,
        subject_id=subject_id,
        gallery_id=gallery_id,
        details={"notice_id": notice.id, "kind": kind.value},
    )
    return notice


def notice_view(instance: Instance, notice: Notice, contested: bool) -> dict:
    """What the worker hands to the person: the notice in plain words, and how to contest or complain."""
    kind = NoticeKind(notice.kind)
    can_contest = kind in CONTESTABLE and not contested
    return {
        "notice_id": notice.id,
        "subject_id": notice.subject_id,
        "kind": kind.value,
        "created_at": notice.created_at.isoformat(),
        "handed_over_at": None if notice.handed_over_at is None else notice.handed_over_at.isoformat(),
        "text": PLAIN_WORDS[kind].format(purpose=notice.purpose),
        "can_contest": can_contest,
        "how_to_contest": "Ask a field worker to record why you think it is wrong; the notice number is all they need."
        if can_contest
        else None,
        "how_to_complain": instance.settings.complaint_contact,
    }


def list_notices(
    instance: Instance, actor: Actor | str, gallery_id: str | None = None, pending: bool = True, limit: int = 100
) -> dict:
    """The newest ``limit`` notices of the galleries the key reaches (of ``gallery_id`` when given); ``pending``:
    only those not yet handed over."""
    query = select(Notice).order_by(Notice.created_at.desc(), Notice.id).limit(limit)
    if gallery_id is not None:
        query = query.where(Notice.gallery_id == gallery_id)
    scope = galleries_of(actor)
    if scope is not None:
        query = query.where(Notice.gallery_id.in_(sorted(scope)))
    if pending:
        query = query.where(Notice.handed_over_at.is_(None))
    with instance.sessions() as session:
        notices = session.scalars(query).all()
        contested = set(
            session.scalars(select(Contest.notice_id).where(Contest.notice_id.in_([n.id for n in notices])))
        )
        views = [notice_view(instance, n, n.id in contested) for n in notices]
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
            subject_id=notice.subject_id,
            gallery_id=notice.gallery_id,
            details={"notice_id": notice_id, "kind": notice.kind},
        )
        contested = session.scalar(select(Contest.id).where(Contest.notice_id == notice_id)) is not None
        return notice_view(instance, notice, contested)


def people_records(instance: Instance, session: Session, subject_id: str) -> dict:
    """What subject access adds about the person: their notices, contests and complaints (GDPR Art. 15)."""
    notices = session.scalars(select(Notice).where(Notice.subject_id == subject_id).order_by(Notice.created_at))
    contests = session.scalars(select(Contest).where(Contest.subject_id == subject_id).order_by(Contest.opened_at))
    complaints = session.scalars(
        select(Complaint).where(Complaint.subject_id == subject_id).order_by(Complaint.opened_at)
    )
    contested = set(session.scalars(select(Contest.notice_id).where(Contest.subject_id == subject_id)))
    return {
        "notices": [notice_view(instance, n, n.id in contested) for n in notices],
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
