"""Face captures: enrol a reference, verify 1:1 (1:N search is in :mod:`tessera.workflows.identify`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from tessera.capture.decode import DecodeLimits, decode_image
from tessera.errors import Conflict, UnusableCapture
from tessera.face.pipeline import FaceRefusal, FaceTemplate, extract_face
from tessera.governance.vocabulary import Decision, Modality, Purpose
from tessera.match.calibration import FmrEstimate
from tessera.match.face import similarity
from tessera.store.templates import open_template, seal_vector
from tessera.workflows.enrolment import Enrolment, consented_templates, store_template
from tessera.workflows.idempotency import Idempotency
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


def refuse_capture(refusal: FaceRefusal) -> UnusableCapture:
    return UnusableCapture(refusal.message, code=refusal.reason, detail=refusal.detail)


def enrol_face(
    instance: Instance, actor: Actor | str, subject_id: str, image_bytes: bytes, idempotency: Idempotency | None = None
) -> Enrolment:
    """Template a face capture and store it, sealed, under the subject's consent."""
    gallery_id, _ = consented_templates(instance, actor, "face.enrol", subject_id, FACE, None)
    result, capture_sha256, image = read_face(instance, image_bytes)
    if not result:
        instance.record_alone(
            actor,
            "face.enrol",
            f"refused:{result.reason}",
            subject_id=subject_id,
            gallery_id=gallery_id,
            details={"capture_sha256": capture_sha256, **result.detail},
        )
        raise refuse_capture(result)
    template, consent = store_template(
        instance,
        actor,
        action="face.enrol",
        subject_id=subject_id,
        gallery_id=gallery_id,
        modality=FACE,
        algorithm=result.algorithm,
        seal_template=lambda key, template_id: seal_vector(
            key, template_id, subject_id, result.algorithm, result.embedding
        ),
        image=image,
        quality=result.quality.as_dict(),
        capture_sha256=capture_sha256,
        idempotency=idempotency,
    )
    instance.index.add(index_entry(template, consent, gallery_id, result.embedding))
    return Enrolment(template_id=template.id, quality=template.quality)


def fmr_fields(estimate: FmrEstimate) -> dict:
    return {"value": estimate.value, "upper_bound": estimate.upper_bound, "basis": estimate.basis}


@dataclass(frozen=True)
class Verification:
    decision: Decision
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
    gallery_id, templates = consented_templates(instance, actor, "face.verify", subject_id, FACE, Purpose.VERIFY.value)
    image = decode(instance, image_bytes)
    comparable = [t for t in templates if t.algorithm == calibration.algorithm]
    if not comparable:
        instance.record_alone(
            actor, "face.verify", "refused:no_reference", subject_id=subject_id, gallery_id=gallery_id
        )
        older = sorted({t.algorithm for t in templates})
        raise Conflict(
            f"The subject's face was enrolled with another face algorithm ({', '.join(older)}) than this service "
            f"compares ({calibration.algorithm}): enrol a new face photo."
            if older
            else "The subject has no face enrolled to compare with.",
            code="no_reference",
        )
    templates = comparable
    result, probe_sha256 = extract_face(image, instance.face_config), hashlib.sha256(image_bytes).hexdigest()
    base = {"threshold": threshold, "fmr": threshold_fmr.value, "fmr_detail": fmr_fields(threshold_fmr)}
    if not result:
        answer = Verification(
            decision=Decision.INCONCLUSIVE, score=None, reason=result.reason, message=result.message, **base
        )
    else:
        score = max(similarity(open_template(instance.keys, t), result.embedding) for t in templates)
        decision = Decision.MATCH if score >= threshold else Decision.NO_MATCH
        answer = Verification(decision=decision, score=score, quality=result.quality.as_dict(), **base)
    with instance.transaction() as session:
        if answer.decision == Decision.MATCH:
            load_subject(session, subject_id).last_interaction_at = instance.clock()
        instance.record(
            session,
            actor,
            "face.verify",
            answer.decision,
            subject_id=subject_id,
            gallery_id=gallery_id,
            details={
                "purpose": Purpose.VERIFY.value,
                "probe_sha256": probe_sha256,
                "score": answer.score,
                "threshold": threshold,
                "fmr": threshold_fmr.value,
                "algorithm": calibration.algorithm,
                "reason": answer.reason,
            },
        )
    return answer
