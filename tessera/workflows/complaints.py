"""The complaint queue: a worker records a person's complaint; an admin acknowledges it, then resolves or rejects it.

Time limits (``complaint_acknowledge_days``, ``complaint_resolve_days``) are read from the settings; a complaint
past one is listed as overdue (:func:`tessera.governance.complaints.overdue`). Every step is audited.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tessera.errors import InvalidRequest, NotFound
from tessera.governance.complaints import CLOSED, MIN_SUMMARY_CHARS, ComplaintStatus, check_transition, overdue
from tessera.store.models import Complaint, Gallery, Subject
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.reads import record_read
from tessera.workflows.scope import check_gallery


def open_complaint(
    instance: Instance, actor: Actor | str, gallery_id: str, summary: str, subject_id: str | None = None
) -> dict:
    """Record a complaint about ``gallery_id``'s programme (and, if the person wishes, their record ``subject_id``).

    Raises
    ------
    NotFound
        ``gallery_not_found`` (also outside the key's galleries); ``subject_not_found`` for a subject not in it.
    InvalidRequest
        ``summary_required``.
    """
    check_gallery(instance, actor, gallery_id, "complaint.open")
    if len(summary.strip()) < MIN_SUMMARY_CHARS:
        raise InvalidRequest(
            f"summary must say what the person complains of, in at least {MIN_SUMMARY_CHARS} characters.",
            code="summary_required",
        )
    with instance.transaction() as session:
        if session.get(Gallery, gallery_id) is None:
            raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
        if subject_id is not None:
            subject = session.get(Subject, subject_id)
            if subject is None or subject.gallery_id != gallery_id:
                raise NotFound(f"No subject with id {subject_id!r} in this gallery.", code="subject_not_found")
        complaint = Complaint(
            id=str(uuid.uuid4()),
            gallery_id=gallery_id,
            subject_id=subject_id,
            summary=summary.strip(),
            status=ComplaintStatus.OPEN.value,
            opened_by=str(actor),
            opened_at=instance.clock(),
        )
        session.add(complaint)
        instance.record(
            session,
            actor,
            "complaint.open",
            "ok",
            subject_id=subject_id,
            gallery_id=gallery_id,
            details={"complaint_id": complaint.id},
        )
        return _view(instance, complaint)


def _view(instance: Instance, complaint: Complaint) -> dict:
    settings = instance.settings
    return {
        "complaint_id": complaint.id,
        "gallery_id": complaint.gallery_id,
        "subject_id": complaint.subject_id,
        "summary": complaint.summary,
        "status": complaint.status,
        "opened_at": complaint.opened_at.isoformat(),
        "acknowledged_at": None if complaint.acknowledged_at is None else complaint.acknowledged_at.isoformat(),
        "closed_at": None if complaint.closed_at is None else complaint.closed_at.isoformat(),
        "resolution": complaint.resolution,
        "overdue": overdue(
            complaint.status,
            complaint.opened_at,
            instance.clock(),
            settings.complaint_acknowledge_days,
            settings.complaint_resolve_days,
        ),
    }


def list_complaints(instance: Instance, actor: Actor | str, status: str | None = None, limit: int = 200) -> dict:
    """The oldest ``limit`` complaints (of ``status``; None: not yet closed), each with what is overdue; the read is
    audited (``complaint.list``: a complaint may name the person and says what they complain of)."""
    query = select(Complaint).order_by(Complaint.opened_at, Complaint.id).limit(limit)
    if status is None:
        query = query.where(Complaint.status.not_in(sorted(CLOSED)))
    else:
        query = query.where(Complaint.status == ComplaintStatus(status))
    with instance.sessions() as session:
        views = [_view(instance, c) for c in session.scalars(query)]
    details = {
        "complaints": [v["complaint_id"] for v in views],
        "subjects": sorted({v["subject_id"] for v in views if v["subject_id"]}),
    }
    record_read(instance, actor, "complaint.list", details=details)
    settings = instance.settings
    return {
        "complaints": views,
        "overdue": sum(1 for v in views if v["overdue"]),
        "limits": {
            "acknowledge_days": settings.complaint_acknowledge_days,
            "resolve_days": settings.complaint_resolve_days,
        },
    }


def set_complaint_status(instance: Instance, actor: Actor | str, complaint_id: str, status: str, note: str) -> dict:
    """Move a complaint on (open → acknowledged → resolved / rejected); closing it needs a written ``note``.

    Raises
    ------
    NotFound
        ``complaint_not_found``.
    Conflict
        ``invalid_complaint_transition``.
    InvalidRequest
        ``resolution_required`` when closing without a note.
    """
    with instance.transaction() as session:
        complaint = session.get(Complaint, complaint_id)
        if complaint is None:
            raise NotFound(f"No complaint with id {complaint_id!r}.", code="complaint_not_found")
        late = overdue(
            complaint.status,
            complaint.opened_at,
            instance.clock(),
            instance.settings.complaint_acknowledge_days,
            instance.settings.complaint_resolve_days,
        )
        target = check_transition(complaint.status, status)
        now = instance.clock()
        if target in CLOSED:
            if len(note.strip()) < MIN_SUMMARY_CHARS:
                raise InvalidRequest(
                    f"note must say how the complaint was {target.value}, in at least {MIN_SUMMARY_CHARS} characters.",
                    code="resolution_required",
                )
            complaint.closed_at = now
            complaint.resolution = note.strip()
        else:
            complaint.acknowledged_at = now
        complaint.status = target.value
        complaint.handled_by = str(actor)
        instance.record(
            session,
            actor,
            "complaint.status",
            target.value,
            subject_id=complaint.subject_id,
            gallery_id=complaint.gallery_id,
            details={"complaint_id": complaint_id, "was_overdue": late},
        )
        return _view(instance, complaint)
