"""What every modality's enrolment shares: the consent check before a capture is read, and storing
the sealed template with its audit entry, idempotency record and duplicate check in one transaction.

:mod:`tessera.workflows.faces` and :mod:`tessera.workflows.fingers` template their captures and
call these; the index entry is added by the caller after the commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from tessera.errors import Conflict
from tessera.governance.consent import check_consent
from tessera.store.models import Consent, Gallery, Template
from tessera.workflows.idempotency import Idempotency, remember
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.subjects import load_subject


@dataclass(frozen=True)
class Enrolment:
    template_id: str
    quality: dict


def consented_templates(
    instance: Instance, actor: Actor | str, action: str, subject_id: str, modality: str, purpose: str | None
) -> tuple[str, list[Template]]:
    """The subject's gallery and ``modality`` templates, once its consent covers them and ``purpose`` (else an audited
    409)."""
    with instance.sessions() as session:
        subject = load_subject(session, subject_id)
        refusal = check_consent(subject.consent, modality=modality, purpose=purpose, now=instance.clock())
        gallery_id = subject.gallery_id
        templates = list(
            session.scalars(select(Template).where(Template.subject_id == subject_id, Template.modality == modality))
        )
    if refusal is not None:
        instance.record_alone(actor, action, f"refused:{refusal.code}", subject_id=subject_id, gallery_id=gallery_id)
        raise Conflict(refusal.message, code=refusal.code)
    return gallery_id, templates


def store_template(
    instance: Instance,
    actor: Actor | str,
    *,
    action: str,
    subject_id: str,
    gallery_id: str,
    modality: str,
    algorithm: str,
    payload: bytes,
    image: np.ndarray,
    quality: dict,
    capture_sha256: str,
    idempotency: Idempotency | None,
    columns: dict | None = None,
    details: dict | None = None,
) -> tuple[Template, Consent]:
    """Store one sealed template of ``subject_id`` and audit it as ``action``; the same capture twice is a 409.

    ``payload`` is the template's bytes (a face embedding,
    :func:`tessera.face.codec.embedding_to_bytes`; a finger's ISO/IEC 19794-2
    record, :meth:`tessera.finger.template.FingerTemplate.to_bytes`), sealed by
    the vault under the subject's key. The photo ``image`` itself is kept
    (re-encoded without metadata, sealed) only when ``keep_raw_images`` is on.
    Returns the new row and the subject's consent, for the caller's index entry.
    """
    template_id = str(uuid.uuid4())
    vault = instance.vault
    sealed = vault.seal_template(template_id=template_id, subject_id=subject_id, algorithm=algorithm, payload=payload)
    kept_image = (
        vault.seal_image(subject_id=subject_id, template_id=template_id, image=image)
        if instance.settings.keep_raw_images
        else None
    )
    with instance.transaction() as session:
        subject = load_subject(session, subject_id)
        existing = session.scalar(
            select(Template.id).where(Template.subject_id == subject_id, Template.capture_sha256 == capture_sha256)
        )
        if existing is not None:
            raise Conflict(
                f"This exact photo is already enrolled for the subject (template {existing}).",
                code="duplicate_capture",
                detail={"template_id": existing},
            )
        subject.last_interaction_at = instance.clock()
        session.get(Gallery, gallery_id).version += 1
        template = Template(
            id=template_id,
            subject_id=subject_id,
            modality=modality,
            algorithm=algorithm,
            ciphertext=sealed,
            image_ciphertext=kept_image,
            quality=quality,
            capture_sha256=capture_sha256,
            created_at=instance.clock(),
            **(columns or {}),
        )
        session.add(template)
        instance.record(
            session,
            actor,
            action,
            "ok",
            subject_id=subject_id,
            gallery_id=gallery_id,
            details={
                "template_id": template_id,
                "algorithm": algorithm,
                "capture_sha256": capture_sha256,
                **(details or {}),
                "quality": quality,
            },
        )
        remember(instance, session, idempotency, 201, {"template_id": template_id, "quality": quality}, subject_id)
        consent = subject.consent
    return template, consent
