"""Face captures: enrol a reference, verify 1:1 (1:N search is in :mod:`tessera.workflows.identify`)."""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select

from tessera.capture.decode import DecodeLimits, decode_image
from tessera.capture.still import clean_jpeg
from tessera.errors import Conflict, UnusableCapture
from tessera.face.pipeline import FaceRefusal, FaceTemplate, extract_face
from tessera.governance.consent import check_consent
from tessera.governance.vocabulary import Modality, Purpose
from tessera.match.calibration import FmrEstimate
from tessera.store.models import Gallery, Template
from tessera.store.crypto import seal
from tessera.store.templates import open_template, seal_vector
from tessera.workflows.idempotency import Idempotency, remember
from tessera.workflows.instance import Actor, Instance, index_entry
from tessera.workflows.subjects import load_subject

FACE = Modality.FACE.value


def decode(instance: Instance, image_bytes: bytes):
    settings = instance.settings
    return decode_image(image_bytes, DecodeLimits(settings.max_upload_bytes, settings.max_image_pixels))


def read_face(instance: Instance, image_bytes: bytes) -> tuple[FaceTemplate | FaceRefusal, str, np.ndarray]:
    """Decode and template one capture; returns the result, the capture's SHA-256 and the decoded image."""
    image = decode(instance, image_bytes)
    return extract_face(image, instance.face_config), hashlib.sha256(image_bytes).hexdigest(), image


def image_associated_data(owner_id: str, item_id: str) -> bytes:
    return f"tessera-image|{owner_id}|{item_id}".encode()


def refuse_capture(refusal: FaceRefusal) -> UnusableCapture:
    return UnusableCapture(refusal.message, code=refusal.reason, detail=refusal.detail)


def _consented_subject(instance: Instance, actor, action: str, subject_id: str, purpose: str | None) -> tuple[str, list[Template]]:
    """The subject's gallery and face templates, once its consent covers ``purpose`` (else an audited 409)."""
    with instance.sessions() as session:
        subject = load_subject(session, subject_id)
        refusal = check_consent(subject.consent, modality=FACE, purpose=purpose, now=instance.clock())
        gallery_id = subject.gallery_id
        templates = list(session.scalars(select(Template).where(Template.subject_id == subject_id, Template.modality == FACE)))
    if refusal is not None:
        instance.record_alone(actor, action, f"refused:{refusal.code}", subject_id=subject_id, gallery_id=gallery_id)
        raise Conflict(refusal.message, code=refusal.code)
    return gallery_id, templates


@dataclass(frozen=True)
class Enrolment:
    template_id: str
    quality: dict


def enrol_face(
    instance: Instance, actor: Actor | str, subject_id: str, image_bytes: bytes, idempotency: Idempotency | None = None
) -> Enrolment:
    """Template a face capture and store it, sealed, under the subject's consent."""
    gallery_id, _ = _consented_subject(instance, actor, "face.enrol", subject_id, None)
    result, capture_sha256, image = read_face(instance, image_bytes)
    if not result:
        instance.record_alone(
            actor, "face.enrol", f"refused:{result.reason}", subject_id=subject_id, gallery_id=gallery_id,
            details={"capture_sha256": capture_sha256, **result.detail},
        )
        raise refuse_capture(result)
    template_id = str(uuid.uuid4())
    quality = result.quality.as_dict()
    data_key = instance.keys.get(subject_id)
    sealed = seal_vector(data_key, template_id, subject_id, result.algorithm, result.embedding)
    kept_image = (
        seal(data_key, clean_jpeg(image), image_associated_data(subject_id, template_id))
        if instance.settings.keep_raw_images else None
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
            modality=FACE,
            algorithm=result.algorithm,
            ciphertext=sealed,
            image_ciphertext=kept_image,
            quality=quality,
            capture_sha256=capture_sha256,
            created_at=instance.clock(),
        )
        session.add(template)
        instance.record(
            session, actor, "face.enrol", "ok", subject_id=subject_id, gallery_id=gallery_id,
            details={"template_id": template_id, "algorithm": result.algorithm, "capture_sha256": capture_sha256, "quality": quality},
        )
        remember(instance, session, idempotency, 201, {"template_id": template_id, "quality": quality}, subject_id)
        consent = subject.consent
    instance.index.add(index_entry(template, consent, gallery_id, result.embedding))
    return Enrolment(template_id=template_id, quality=quality)


def fmr_fields(estimate: FmrEstimate) -> dict:
    return {"value": estimate.value, "upper_bound": estimate.upper_bound, "basis": estimate.basis}


@dataclass(frozen=True)
class Verification:
    decision: str
    score: float | None
    threshold: float
    fmr: float
    fmr_detail: dict
    reason: str | None = None
    message: str | None = None
    quality: dict | None = None


def verify_face(instance: Instance, actor: Actor | str, subject_id: str, image_bytes: bytes) -> Verification:
    """1:1: is the person in ``image_bytes`` the one enrolled as ``subject_id``?"""
    calibration = instance.face_calibration
    threshold = calibration.threshold_for_fmr(instance.settings.verify_target_fmr)
    threshold_fmr = calibration.fmr_at(threshold)
    gallery_id, templates = _consented_subject(instance, actor, "face.verify", subject_id, Purpose.VERIFY.value)
    image = decode(instance, image_bytes)
    if not templates:
        instance.record_alone(actor, "face.verify", "refused:no_reference", subject_id=subject_id, gallery_id=gallery_id)
        raise Conflict("The subject has no face enrolled to compare with.", code="no_reference")
    result, probe_sha256 = extract_face(image, instance.face_config), hashlib.sha256(image_bytes).hexdigest()
    base = {"threshold": threshold, "fmr": threshold_fmr.value, "fmr_detail": fmr_fields(threshold_fmr)}
    if not result:
        answer = Verification(decision="inconclusive", score=None, reason=result.reason, message=result.message, **base)
    else:
        score = max(float(open_template(instance.keys, t) @ result.embedding) for t in templates)
        decision = "match" if score >= threshold else "no_match"
        answer = Verification(decision=decision, score=score, quality=result.quality.as_dict(), **base)
    with instance.transaction() as session:
        if answer.decision == "match":
            load_subject(session, subject_id).last_interaction_at = instance.clock()
        instance.record(
            session, actor, "face.verify", answer.decision, subject_id=subject_id, gallery_id=gallery_id,
            details={
                "purpose": Purpose.VERIFY.value, "probe_sha256": probe_sha256, "score": answer.score, "threshold": threshold,
                "fmr": threshold_fmr.value, "algorithm": calibration.algorithm, "reason": answer.reason,
            },
        )
    return answer
