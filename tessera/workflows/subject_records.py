"""A subject's record without biometric data: found by short number or the programme's own id, shown, listed.

What a record holds here: the short number, the programme's ``external_id``,
the gallery, the status (:class:`~tessera.governance.vocabulary.SubjectStatus`),
the modalities consented to and enrolled, and the consent's dates. Never a
template, a photo or a score. Every read by a key is audited; a key limited
to galleries finds nothing outside them (404 as for a number that does not
exist, :mod:`tessera.workflows.scope`).

A short number is accepted wherever a subject id is
(:func:`resolve_subject_id`): the API resolves it once, at its edge, and
the workflows keep working on the internal id.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tessera.errors import Conflict, InvalidRequest, NotFound
from tessera.governance.numbers import checked_number, parse_number
from tessera.store.models import Gallery, Subject, Template
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.reads import record_read
from tessera.workflows.scope import check_subject, galleries_of
from tessera.workflows.subjects import load_subject

EXTERNAL_ID_MAX_CHARS = 100
"""The longest programme id kept (``Subject.external_id``)."""
LIST_LIMIT = 200
"""The most records one listing answers."""


def resolve_subject_id(instance: Instance, actor: Actor | str, reference: str, action: str) -> str:
    """The internal id of the subject ``reference`` names: its id, or its short number in any accepted spelling.

    A reference shaped like a number is checked first (422 ``number_check_failed`` on a typo); a number no
    subject holds, or one outside the key's galleries, is 404 ``subject_not_found`` naming the number (the
    refusal is audited under ``action``). Anything else is taken as an id and left to the workflow to find.
    """
    if parse_number(reference) is None:
        return reference
    number = checked_number(reference, "subject number")
    with instance.sessions() as session:
        subject_id = session.scalar(select(Subject.id).where(Subject.number == number))
    missing = NotFound(f"No subject with number {number}.", code="subject_not_found")
    if subject_id is None:
        raise missing
    try:
        check_subject(instance, actor, subject_id, action)
    except NotFound:
        raise missing from None
    return subject_id


def checked_external_id(external_id: str | None) -> str | None:
    """The programme id stripped of outer spaces; None when absent or blank; 422 when too long."""
    if external_id is None or not external_id.strip():
        return None
    external_id = external_id.strip()
    if len(external_id) > EXTERNAL_ID_MAX_CHARS:
        raise InvalidRequest(
            f"external_id must be at most {EXTERNAL_ID_MAX_CHARS} characters; got {len(external_id)}.",
            code="invalid_external_id",
        )
    return external_id


def refuse_taken_external_id(session: Session, gallery_id: str, external_id: str | None) -> None:
    """409 ``external_id_taken`` when another subject of the gallery holds ``external_id``."""
    if external_id is None:
        return
    taken = session.scalar(
        select(Subject.number).where(Subject.gallery_id == gallery_id, Subject.external_id == external_id)
    )
    if taken is not None:
        raise Conflict(
            f"external_id {external_id!r} already belongs to subject {taken} in this gallery; each person's "
            "programme id is used once.",
            code="external_id_taken",
        )


def record_of(session: Session, subject: Subject) -> dict[str, object]:
    """A subject's record, without biometric data."""
    enrolled = sorted(set(session.scalars(select(Template.modality).where(Template.subject_id == subject.id))))
    consent = subject.consent
    return {
        "id": subject.id,
        "number": subject.number,
        "external_id": subject.external_id,
        "gallery_id": subject.gallery_id,
        "status": subject.status,
        "modalities_consented": list(consent.modalities),
        "modalities_enrolled": enrolled,
        "purposes": list(consent.purposes),
        "consent_signed_at": consent.signed_at.isoformat(),
        "consent_expires_at": consent.expires_at.isoformat(),
        "created_at": subject.created_at.isoformat(),
    }


def show_subject(instance: Instance, actor: Actor | str, subject_id: str) -> dict[str, object]:
    """One subject's record (audited ``subject.read``)."""
    check_subject(instance, actor, subject_id, "subject.read")
    with instance.sessions() as session:
        subject = load_subject(session, subject_id)
        record = record_of(session, subject)
    record_read(instance, actor, "subject.read", subject_id=subject_id, gallery_id=str(record["gallery_id"]))
    return record


def lookup_number(instance: Instance, actor: Actor | str, number: str) -> dict[str, object]:
    """Check a number before the camera opens: its record when it is valid and reachable (audited
    ``subject.lookup``), else 422 (malformed, mistyped) or 404."""
    checked_number(number)  # a malformed or mistyped number is answered 422 before anything is looked up
    subject_id = resolve_subject_id(instance, actor, number, "subject.lookup")
    with instance.sessions() as session:
        record = record_of(session, load_subject(session, subject_id))
    record_read(instance, actor, "subject.lookup", subject_id=subject_id, gallery_id=str(record["gallery_id"]))
    return record


def list_subjects(
    instance: Instance,
    actor: Actor | str,
    *,
    gallery_id: str | None = None,
    external_id: str | None = None,
    limit: int = LIST_LIMIT,
) -> list[dict[str, object]]:
    """The newest ``limit`` records of the galleries the caller reaches, of ``gallery_id`` and holding
    ``external_id`` when given (audited ``subject.list`` with what was asked, and the subjects answered when a
    programme id was looked up)."""
    query = select(Subject).order_by(Subject.created_at.desc(), Subject.id).limit(max(1, min(limit, LIST_LIMIT)))
    if gallery_id is not None:
        query = query.where(Subject.gallery_id == gallery_id)
    if external_id is not None:
        query = query.where(Subject.external_id == external_id.strip())
    scope = galleries_of(actor)
    if scope is not None:
        query = query.where(Subject.gallery_id.in_(sorted(scope)))
    with instance.sessions() as session:
        records = [record_of(session, subject) for subject in session.scalars(query)]
    details: dict[str, object] = {"gallery_id": gallery_id, "external_id": external_id, "answered": len(records)}
    if external_id is not None:
        details["subjects"] = [record["id"] for record in records]
    record_read(instance, actor, "subject.list", gallery_id=gallery_id, details=details)
    return records


def gallery_names(instance: Instance) -> dict[str, str]:
    """Gallery names by id (for the CLI's tables)."""
    with instance.sessions() as session:
        return dict(session.execute(select(Gallery.id, Gallery.name)).tuples().all())
