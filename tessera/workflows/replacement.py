"""Replacing a face capture: a better photo enrolled in place of an earlier one, whose templates are erased.

A face kept with a retake advised (``quality.retake_advised``) stays usable, but it is the kind of reference that
gives false non-matches and false candidates. ``POST /v1/subjects/{id}/faces`` with ``replaces`` (the template id of
the subject's earlier face capture, as its enrolment answered it) enrols the new capture and, in the same
transaction (:func:`tessera.workflows.enrolment.store`), erases the earlier capture's templates, one per algorithm
that read it:

- the rows are deleted (``secure_delete``; the caller checkpoints the write-ahead log after the commit, as an
  erasure does), with the sealed reference photo they carry;
- the indexes learn of it through the outbox, as of any change: a ``remove_template`` row for each replaced
  template, so every process (and a snapshot segment brought in step by the outbox) drops those and keeps the
  subject's others, which no search misses meanwhile (:mod:`tessera.workflows.indexing`);
- the subject's snapshot segment key is destroyed after the commit (:meth:`~tessera.store.vault.Vault.
  forget_snapshot_segment_of`): no copy of the index snapshot holding the replaced payload can be opened;
- ``template.replaced`` is audited, with the new template id and the replaced ones, no biometric data.

A replacement that is refused (not this subject's template, not a face) or whose new capture is refused (quality,
liveness, a duplicate) changes nothing: the earlier capture stays.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tessera.errors import InvalidRequest, NotFound, TesseraError
from tessera.governance.vocabulary import Modality
from tessera.store.models import Template
from tessera.workflows.indexing import queue_template_removal
from tessera.workflows.instance import Actor, Instance

ACTION = "template.replaced"


def check_replaceable(
    instance: Instance, actor: Actor | str, subject_id: str, gallery_id: str, template_id: str
) -> None:
    """Refuse (audited as a refused ``face.enrol``) a ``replaces`` that names no face template of the subject:
    before the new photo is read."""
    with instance.sessions() as session:
        refusal = _refusal(session, subject_id, template_id)
    if refusal is not None:
        instance.record_alone(
            actor,
            f"{Modality.FACE.value}.enrol",
            f"refused:{refusal.code}",
            subject_id=subject_id,
            gallery_id=gallery_id,
            details={"replaces": template_id},
        )
        raise refusal


def retire(instance: Instance, session: Session, subject_id: str, template_id: str) -> tuple[str, ...]:
    """In the enrolment's transaction, the subject's row locked: delete every template of the capture that
    ``template_id`` belongs to and queue the indexes' removal of them; returns the ids deleted.

    Checked again here: another request may have replaced the same capture since :func:`check_replaceable`.
    """
    refusal = _refusal(session, subject_id, template_id)
    if refusal is not None:
        raise refusal
    capture = session.get_one(Template, template_id).capture_sha256
    same_capture = (
        Template.subject_id == subject_id,
        Template.modality == Modality.FACE.value,
        Template.capture_sha256 == capture,
    )
    retired = tuple(sorted(session.scalars(select(Template.id).where(*same_capture))))
    session.execute(delete(Template).where(*same_capture), execution_options={"synchronize_session": "fetch"})
    for template in retired:  # the indexes forget these and keep the subject's others throughout
        queue_template_removal(instance, session, subject_id, template)
    return retired


def audit_replacement(
    instance: Instance,
    session: Session,
    actor: Actor | str,
    subject_id: str,
    gallery_id: str,
    template_id: str,
    retired: tuple[str, ...],
) -> None:
    """The ``template.replaced`` entry: which template came in, which went; ids only."""
    instance.record(
        session,
        actor,
        ACTION,
        "ok",
        subject_id=subject_id,
        gallery_id=gallery_id,
        details={"template_id": template_id, "replaced_template_ids": list(retired)},
    )


def _refusal(session: Session, subject_id: str, template_id: str) -> TesseraError | None:
    """Why ``template_id`` cannot be replaced in ``subject_id``'s record, or None.

    Another subject's template is answered as one that does not exist: the answer never says that an id names
    someone else's template (of another gallery, perhaps).
    """
    template = session.get(Template, template_id)
    if template is None or template.subject_id != subject_id:
        return NotFound(
            f"The subject has no template {template_id!r} to replace; nothing was enrolled.",
            code="template_not_found",
        )
    if template.modality != Modality.FACE.value:
        return InvalidRequest(
            f"Template {template_id!r} is a {template.modality} template: a face photo replaces only a face "
            "capture; nothing was enrolled.",
            code="template_not_a_face",
        )
    return None
