"""Face captures: enrol a reference, verify 1:1, identify 1:N."""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from tessera.capture.decode import DecodeLimits, decode_image
from tessera.errors import Conflict, InvalidRequest, NotFound, UnusableCapture
from tessera.face.pipeline import FaceRefusal, FaceTemplate, extract_face
from tessera.governance.consent import check_consent
from tessera.governance.vocabulary import SEARCH_PURPOSES, Modality, Purpose
from tessera.match.calibration import FmrBeyondCalibration, FmrEstimate
from tessera.store.models import Gallery, Template
from tessera.store.templates import open_template, seal_vector
from tessera.workflows.idempotency import Idempotency, remember
from tessera.workflows.instance import Actor, Instance, index_entry
from tessera.workflows.subjects import load_subject

FACE = Modality.FACE.value


def decode(instance: Instance, image_bytes: bytes):
    settings = instance.settings
    return decode_image(image_bytes, DecodeLimits(settings.max_upload_bytes, settings.max_image_pixels))


def read_face(instance: Instance, image_bytes: bytes) -> tuple[FaceTemplate | FaceRefusal, str]:
    """Decode and template one capture; returns the result and the capture's SHA-256."""
    return extract_face(decode(instance, image_bytes), instance.face_config), hashlib.sha256(image_bytes).hexdigest()


def _refuse_capture(refusal: FaceRefusal) -> UnusableCapture:
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
    result, capture_sha256 = read_face(instance, image_bytes)
    if not result:
        instance.record_alone(
            actor, "face.enrol", f"refused:{result.reason}", subject_id=subject_id, gallery_id=gallery_id,
            details={"capture_sha256": capture_sha256, **result.detail},
        )
        raise _refuse_capture(result)
    template_id = str(uuid.uuid4())
    quality = result.quality.as_dict()
    sealed = seal_vector(instance.keys.get(subject_id), template_id, subject_id, result.algorithm, result.embedding)
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
        template = Template(
            id=template_id,
            subject_id=subject_id,
            modality=FACE,
            algorithm=result.algorithm,
            ciphertext=sealed,
            image_ciphertext=None,
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


def _fmr_fields(estimate: FmrEstimate) -> dict:
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
    base = {"threshold": threshold, "fmr": threshold_fmr.value, "fmr_detail": _fmr_fields(threshold_fmr)}
    if not result:
        answer = Verification(decision="inconclusive", score=None, reason=result.reason, message=result.message, **base)
    else:
        score = max(float(open_template(instance.keys, t) @ result.embedding) for t in templates)
        decision = "match" if score >= threshold else "no_match"
        answer = Verification(decision=decision, score=score, quality=result.quality.as_dict(), **base)
    instance.record_alone(
        actor, "face.verify", answer.decision, subject_id=subject_id, gallery_id=gallery_id,
        details={
            "purpose": Purpose.VERIFY.value, "probe_sha256": probe_sha256, "score": answer.score, "threshold": threshold,
            "fmr": threshold_fmr.value, "algorithm": calibration.algorithm, "reason": answer.reason,
        },
    )
    return answer


@dataclass(frozen=True)
class Candidate:
    subject_id: str
    score: float
    fmr: float
    fmr_detail: dict
    rank: int
    reference_captured_at: str | None = None


@dataclass(frozen=True)
class Identification:
    search_id: str
    gallery_size: int
    threshold: float
    threshold_fmr: float
    expected_false_candidates: float
    candidates: list[Candidate] = field(default_factory=list)
    quality: dict | None = None


def identify_face(instance: Instance, actor: Actor | str, gallery_id: str, purpose: str, image_bytes: bytes) -> Identification:
    """1:N: who in the gallery, among those who consented to ``purpose``, resembles the probe?

    Candidates are leads for a person to review, never identifications.
    """
    started_at = instance.clock()
    search_id = str(uuid.uuid4())
    with instance.sessions() as session:
        if session.get(Gallery, gallery_id) is None:
            raise NotFound(f"No gallery with id {gallery_id!r}.", code="gallery_not_found")
    if purpose not in SEARCH_PURPOSES:
        allowed = ", ".join(sorted(SEARCH_PURPOSES))
        raise InvalidRequest(
            f"purpose {purpose!r} does not allow a 1:N search; allowed: {allowed}.", code="purpose_not_searchable"
        )
    result, probe_sha256 = read_face(instance, image_bytes)
    if not result:
        instance.record_alone(
            actor, "face.identify", f"refused:{result.reason}", gallery_id=gallery_id,
            details={"search_id": search_id, "purpose": purpose, "probe_sha256": probe_sha256},
        )
        raise _refuse_capture(result)
    calibration = instance.face_calibration
    now = instance.clock()
    gallery_size = instance.index.searchable_subjects(gallery_id=gallery_id, modality=FACE, purpose=purpose, now=now)
    target = instance.settings.identify_expected_false_candidates
    try:
        threshold = calibration.identify_threshold(max(gallery_size, 1), target)
    except FmrBeyondCalibration as error:
        instance.record_alone(actor, "face.identify", "refused:beyond_calibration", gallery_id=gallery_id,
                              details={"search_id": search_id, "gallery_size": gallery_size})
        raise Conflict(
            f"A search of {gallery_size:,} people needs a false-match rate the calibration cannot vouch for ({error}). "
            "Recalibrate on more impostor comparisons, or raise identify_expected_false_candidates.",
            code="beyond_calibration",
        ) from None
    threshold_fmr = calibration.fmr_at(threshold)
    found = instance.index.search(
        result.embedding, gallery_id=gallery_id, modality=FACE, purpose=purpose, now=now,
        threshold=threshold, limit=instance.settings.identify_max_candidates,
    )
    with instance.sessions() as session:
        rows = session.execute(select(Template.id, Template.created_at).where(Template.id.in_([h.template_id for h in found.hits])))
        captured = {template_id: created_at for template_id, created_at in rows}
    candidates = []
    for rank, hit in enumerate(found.hits, start=1):
        estimate = calibration.fmr_at(hit.score)
        reference = captured.get(hit.template_id)
        candidates.append(
            Candidate(
                subject_id=hit.subject_id, score=hit.score, fmr=estimate.value, fmr_detail=_fmr_fields(estimate), rank=rank,
                reference_captured_at=reference.isoformat() if reference else None,
            )
        )
    answer = Identification(
        search_id=search_id,
        gallery_size=found.searched_subjects,
        threshold=threshold,
        threshold_fmr=threshold_fmr.value,
        expected_false_candidates=found.searched_subjects * threshold_fmr.value,
        candidates=candidates,
        quality=result.quality.as_dict(),
    )
    instance.record_alone(
        actor, "face.identify", f"candidates:{len(candidates)}", gallery_id=gallery_id,
        details={
            "search_id": search_id, "purpose": purpose, "probe_sha256": probe_sha256, "started_at": started_at.isoformat(),
            "ended_at": instance.clock().isoformat(), "gallery_size": answer.gallery_size, "threshold": threshold,
            "algorithm": calibration.algorithm,
            "candidates": [{"subject_id": c.subject_id, "score": c.score, "rank": c.rank} for c in candidates],
        },
    )
    return answer
