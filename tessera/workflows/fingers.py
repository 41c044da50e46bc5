"""Finger captures: enrol a reference, verify 1:1; and 1:1 verification of face and fingers together.

A finger template is the ISO/IEC 19794-2 minutiae record of one finger
(:func:`tessera.finger.pipeline.extract_finger`), sealed under the subject's
data key like a face template, and recorded with its finger position (1-10,
:class:`~tessera.finger.positions.FingerPosition`) and capture kind. Contact
and contactless templates are never compared with each other (NIST SP
500-334r1): a probe meets only references of its own
finger position and capture kind. Scores come from the MCC matcher
(:mod:`tessera.match.mcc`); their false-match rate comes from a finger
calibration of that capture kind (:attr:`Instance.finger_calibrations`), and
without one it is stated as unknown and no decision is given.

Several modalities in one request are each compared and reported on their
own (:class:`Comparison`), and :func:`combine` fuses their scores
(:mod:`tessera.match.fusion`) into one decision that states its false-match
rate: the face, and contact fingers (the best score per finger position).
Contactless finger scores have no fusion model and are listed as not fused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tessera.errors import Conflict, InvalidRequest
from tessera.finger.config import CAPTURES
from tessera.finger.pipeline import FingerRefusal, FingerTemplate, extract_finger
from tessera.finger.positions import FingerPosition, check_finger_position
from tessera.governance.vocabulary import Decision, Modality, Purpose
from tessera.match.calibration import Calibration, FmrBeyondCalibration
from tessera.match.fusion import FusedDecision, fuse, model_kind
from tessera.match.mcc import ALGORITHM as MATCHER
from tessera.match.mcc import mcc_score, mcc_template
from tessera.store.models import Template
from tessera.store.templates import open_payload, seal_payload
from tessera.workflows.enrolment import Enrolment, consented_templates, store_template
from tessera.workflows.faces import FACE, Verification, decode, fmr_fields, refuse_capture, verify_face
from tessera.workflows.idempotency import Idempotency
from tessera.workflows.instance import Actor, Instance, finger_index_entry
from tessera.workflows.subjects import load_subject

FINGER = Modality.FINGER.value
FUSABLE_CAPTURE = "contact"
"""The finger fusion model was fitted on contact scans; contactless scores are not fused."""


def fusion_name(finger_position: int | None) -> str:
    """The modality name of a score in :func:`tessera.match.fusion.fuse`: ``face`` or ``finger:<finger name>``
    (:attr:`FingerPosition.label <tessera.finger.positions.FingerPosition.label>`, e.g. ``finger:right-index``)."""
    return FACE if finger_position is None else f"{FINGER}:{FingerPosition(finger_position).label}"


NOT_CALIBRATED = (
    "No calibration of {capture} finger scores is installed, so the score cannot be given a false-match rate "
    "and no decision is made."
)


@dataclass(frozen=True)
class FingerProbe:
    """One finger photo or scan sent to enrol, verify or search, and which finger it shows."""

    image: bytes
    finger_position: int
    capture: str


def check_finger_fields(finger_position: int, capture: str) -> None:
    """Refuse (422) a finger position outside 1-10 (:func:`~tessera.finger.positions.check_finger_position`) or an
    unknown capture kind."""
    try:
        check_finger_position(finger_position)
    except ValueError as error:
        raise InvalidRequest(f"{error}.", code="invalid_finger_position") from None
    if capture not in CAPTURES:
        raise InvalidRequest(f"capture must be one of {', '.join(CAPTURES)}; got {capture!r}.", code="invalid_capture")


def read_finger(instance: Instance, probe: FingerProbe) -> tuple[FingerTemplate | FingerRefusal, str, np.ndarray]:
    """Decode and template one finger capture; returns the result, the capture's SHA-256 and the decoded image."""
    check_finger_fields(probe.finger_position, probe.capture)
    image = decode(instance, probe.image)
    result = extract_finger(image, probe.capture, instance.finger_config, finger_position=probe.finger_position)
    return result, hashlib.sha256(probe.image).hexdigest(), image


def enrol_finger(
    instance: Instance, actor: Actor | str, subject_id: str, probe: FingerProbe, idempotency: Idempotency | None = None
) -> Enrolment:
    """Template a finger capture and store it, sealed, under the subject's consent to the finger modality."""
    check_finger_fields(probe.finger_position, probe.capture)
    gallery_id, _ = consented_templates(instance, actor, "finger.enrol", subject_id, FINGER, None)
    result, capture_sha256, image = read_finger(instance, probe)
    where = {"finger_position": probe.finger_position, "capture": probe.capture}
    if not result:
        instance.record_alone(
            actor,
            "finger.enrol",
            f"refused:{result.reason}",
            subject_id=subject_id,
            gallery_id=gallery_id,
            details={"capture_sha256": capture_sha256, **where, **result.detail},
        )
        raise refuse_capture(result)
    template, consent = store_template(
        instance,
        actor,
        action="finger.enrol",
        subject_id=subject_id,
        gallery_id=gallery_id,
        modality=FINGER,
        algorithm=result.algorithm,
        seal_template=lambda key, template_id: seal_payload(
            key, template_id, subject_id, result.algorithm, result.to_bytes()
        ),
        image=image,
        quality=result.quality.as_dict(),
        capture_sha256=capture_sha256,
        idempotency=idempotency,
        columns=where,
        details=where,
    )
    instance.finger_index.add(finger_index_entry(template, consent, gallery_id, result, instance.finger_config.mcc))
    return Enrolment(template_id=template.id, quality=template.quality)


# -- 1:1 ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """One modality's (for fingers: one finger's) 1:1 result, reported on its own.

    ``score`` is None when nothing was compared (unusable probe, no
    reference); ``fmr`` and ``threshold`` are None when no calibration
    speaks for the score (``calibrated`` False), and the decision is then
    ``inconclusive``: Tessera does not invent a rate.
    """

    modality: str
    decision: Decision
    score: float | None
    threshold: float | None
    fmr: float | None
    fmr_detail: dict | None
    calibrated: bool
    algorithm: str
    finger_position: int | None = None
    capture: str | None = None
    reason: str | None = None
    message: str | None = None
    quality: dict | None = None


@dataclass(frozen=True)
class MultimodalVerification:
    """The answer to a 1:1 request: the overall decision (see :func:`combine`) and every comparison made."""

    decision: Decision
    score: float | None
    threshold: float | None
    fmr: float | None
    fmr_detail: dict | None
    reason: str | None = None
    message: str | None = None
    quality: dict | None = None
    modalities_compared: list[str] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    fused: bool = False
    fusion: dict | None = None
    """With several scores: the fused LLR, its threshold, each modality's LLR, what was missing or not fused and
    why, and the assumption the fused FMR rests on (see :func:`combine`)."""


def face_comparison(answer: Verification, algorithm: str) -> Comparison:
    return Comparison(
        modality=FACE,
        decision=answer.decision,
        score=answer.score,
        threshold=answer.threshold,
        fmr=answer.fmr,
        fmr_detail=answer.fmr_detail,
        calibrated=True,
        algorithm=algorithm,
        reason=answer.reason,
        message=answer.message,
        quality=answer.quality,
    )


def combine(comparisons: Sequence[Comparison], instance: Instance | None = None) -> MultimodalVerification:
    """The overall answer from each comparison's: the single one's, or the fusion of several.

    When one comparison produced a score, the answer is that comparison's,
    exactly as without fusion. When several did, the fusable scores (the
    face; contact fingers, the best score per finger position over the
    subject's references of it) are fused (:func:`tessera.match.fusion.fuse`)
    and decided at ``verify_target_fmr`` with the instance's safety factor:
    the top-level ``score`` and ``threshold`` are then the fused LLR and its
    threshold (nats), ``fmr`` is the fused false-match rate *of that LLR*
    (the chance that a different person's fused LLR reaches it), and
    ``fusion`` says what was fused, what was missing (no score: unusable
    probe, no reference) and what was not fused and why (contactless
    fingers, a fusion model missing or of another algorithm). Fewer than two
    fusable scores: ``inconclusive`` (``not_fused``), each comparison
    standing on its own.
    """
    compared = [c for c in comparisons if c.score is not None]
    modalities = sorted({c.modality for c in compared}, key=[FACE, FINGER].index)
    if len(compared) == 1 or (not compared and len(comparisons) == 1):
        only = compared[0] if compared else comparisons[0]
        return MultimodalVerification(
            decision=only.decision,
            score=only.score,
            threshold=only.threshold,
            fmr=only.fmr,
            fmr_detail=only.fmr_detail,
            reason=only.reason,
            message=only.message,
            quality=only.quality,
            modalities_compared=modalities,
            comparisons=list(comparisons),
        )
    if not compared:
        first = comparisons[0]
        return MultimodalVerification(
            decision=Decision.INCONCLUSIVE,
            score=None,
            threshold=None,
            fmr=None,
            fmr_detail=None,
            reason=first.reason,
            message="Nothing could be compared: " + "; ".join(c.message or c.reason or "" for c in comparisons),
            modalities_compared=[],
            comparisons=list(comparisons),
        )
    scores, missing, not_fused = fusable_scores(comparisons, instance)
    if len(scores) < 2:
        why = "; ".join(f"{item['modality']}: {item['message']}" for item in not_fused)
        return MultimodalVerification(
            decision=Decision.INCONCLUSIVE,
            score=None,
            threshold=None,
            fmr=None,
            fmr_detail=None,
            reason="not_fused",
            message=(
                f"{len(compared)} comparisons were made ({', '.join(_label(c) for c in compared)}) but fewer than two "
                f"of their scores can be fused ({why or 'no fusion models'}); each one's decision, score and "
                "false-match rate is under 'comparisons'."
            ),
            modalities_compared=modalities,
            comparisons=list(comparisons),
            fusion={"fused": False, "missing": missing, "not_fused": not_fused},
        )
    target = instance.settings.verify_target_fmr
    decision = fuse(scores, instance.fusion_models, target_fmr=target, config=instance.fusion_config)
    fmr_detail = fused_fmr_fields(decision)
    if decision.threshold_llr is None:
        verdict, reason = Decision.INCONCLUSIVE, "beyond_fusion_models"
        message = (
            f"The fusion models cannot vouch for the configured false-match rate {target:g} with "
            f"{', '.join(decision.modalities)}; no decision is made."
        )
    else:
        verdict, reason, message = (Decision.MATCH if decision.match else Decision.NO_MATCH), None, None
    return MultimodalVerification(
        decision=verdict,
        score=decision.llr,
        threshold=decision.threshold_llr,
        fmr=decision.fmr,
        fmr_detail=fmr_detail,
        reason=reason,
        message=message,
        modalities_compared=modalities,
        comparisons=list(comparisons),
        fused=True,
        fusion=fusion_fields(decision, instance, scores, missing, not_fused),
    )


def fusable_scores(
    comparisons: Sequence[Comparison], instance: Instance | None
) -> tuple[dict[str, float], list[dict], list[dict]]:
    """The scores to fuse by modality name, the comparisons with no score, and the scores that cannot be fused (why)."""
    scores: dict[str, float] = {}
    missing: list[dict] = []
    not_fused: list[dict] = []
    for comparison in comparisons:
        name = fusion_name(comparison.finger_position)
        if comparison.score is None:
            missing.append({"modality": name, "reason": comparison.reason, "message": comparison.message})
            continue
        problem = (
            "this instance does not fuse scores" if instance is None else instance.fusion_problem(model_kind(name))
        )
        if comparison.capture is not None and comparison.capture != FUSABLE_CAPTURE:
            reason, problem = (
                "no_fusion_model",
                (
                    f"no fusion model of {comparison.capture} finger scores exists (the finger model is of "
                    f"{FUSABLE_CAPTURE} scans)"
                ),
            )
        elif problem is not None:
            reason = "no_fusion_model"
        else:
            # several references (and probes) of one finger: its best score speaks for it
            scores[name] = max(scores.get(name, comparison.score), comparison.score)
            continue
        not_fused.append({"modality": name, "capture": comparison.capture, "reason": reason, "message": problem})
    fused_names = set(scores)
    missing = [item for item in missing if item["modality"] not in fused_names]
    return scores, missing, not_fused


def fused_fmr_fields(decision: FusedDecision) -> dict:
    return {"value": decision.fmr, "upper_bound": decision.fmr_upper_bound, "basis": decision.fmr_basis}


def fusion_fields(
    decision: FusedDecision, instance: Instance, scores: dict, missing: list[dict], not_fused: list[dict]
) -> dict:
    """The ``fusion`` object of an answer: what was fused, how, and what was left out."""
    return {
        "fused": True,
        "llr": decision.llr,
        "threshold_llr": decision.threshold_llr,
        "target_fmr": decision.target_fmr,
        "fmr": decision.fmr,
        "fmr_basis": decision.fmr_basis,
        "fmr_upper_bound": decision.fmr_upper_bound,
        "fmr_safety_factor": instance.settings.fusion_fmr_safety_factor,
        "modalities": list(decision.modalities),
        "scores": dict(scores),
        "per_modality_llr": dict(decision.per_modality_llr),
        "algorithms": {
            kind: instance.fusion_models[kind].algorithm for kind in sorted({model_kind(n) for n in scores})
        },
        "missing": missing,
        "not_fused": not_fused,
        "assumption": decision.assumption,
    }


def _label(comparison: Comparison) -> str:
    return (
        comparison.modality
        if comparison.finger_position is None
        else f"finger {comparison.finger_position} ({comparison.capture})"
    )


def finger_threshold(instance: Instance, capture: str) -> tuple[Calibration | None, float | None, str | None]:
    """The finger calibration of ``capture``, its 1:1 threshold at ``verify_target_fmr``, and why there is none."""
    calibration = instance.finger_calibration(capture)
    if calibration is None:
        return None, None, "not_calibrated"
    try:
        return calibration, calibration.threshold_for_fmr(instance.settings.verify_target_fmr), None
    except FmrBeyondCalibration:
        return calibration, None, "beyond_calibration"


def _open_finger(instance: Instance, template: Template):
    minutiae = FingerTemplate.from_bytes(open_payload(instance.keys, template)).minutiae
    return mcc_template(minutiae, instance.finger_config.mcc)


def _compare_finger(instance: Instance, probe: FingerProbe, references: list[Template]) -> tuple[Comparison, str]:
    result, probe_sha256, _ = read_finger(instance, probe)
    where = {"finger_position": probe.finger_position, "capture": probe.capture}
    calibration, threshold, missing = finger_threshold(instance, probe.capture)
    algorithm = f"{result.algorithm}+{MATCHER}" if result else MATCHER
    if not result:
        return Comparison(
            FINGER,
            Decision.INCONCLUSIVE,
            None,
            None,
            None,
            None,
            calibration is not None and missing is None,
            algorithm,
            reason=result.reason,
            message=result.message,
            **where,
        ), probe_sha256
    mine = [t for t in references if t.finger_position == probe.finger_position and t.capture == probe.capture]
    quality = result.quality.as_dict()
    if not mine:
        return Comparison(
            FINGER,
            Decision.INCONCLUSIVE,
            None,
            None,
            None,
            None,
            missing is None,
            algorithm,
            reason="no_reference",
            message=f"The subject has no {probe.capture} template of finger {probe.finger_position} to compare with.",
            quality=quality,
            **where,
        ), probe_sha256
    matcher = instance.finger_config.mcc
    probe_cylinders = mcc_template(result.minutiae, matcher)
    score = max(mcc_score(probe_cylinders, _open_finger(instance, t), matcher) for t in mine)
    if missing is not None:
        message = (
            NOT_CALIBRATED.format(capture=probe.capture)
            if missing == "not_calibrated"
            else f"The {probe.capture} finger calibration cannot vouch for the configured false-match rate "
            f"{instance.settings.verify_target_fmr:g}; no decision is made."
        )
        return Comparison(
            FINGER,
            Decision.INCONCLUSIVE,
            score,
            None,
            None,
            None,
            False,
            algorithm,
            reason=missing,
            message=message,
            quality=quality,
            **where,
        ), probe_sha256
    estimate = calibration.fmr_at(threshold)
    decision = Decision.MATCH if score >= threshold else Decision.NO_MATCH
    return Comparison(
        FINGER,
        decision,
        score,
        threshold,
        estimate.value,
        fmr_fields(estimate),
        True,
        algorithm,
        quality=quality,
        **where,
    ), probe_sha256


def verify_fingers(
    instance: Instance, actor: Actor | str, subject_id: str, probes: Sequence[FingerProbe]
) -> list[Comparison]:
    """1:1 for each finger probe against the subject's references of the same finger and capture kind."""
    for probe in probes:
        check_finger_fields(probe.finger_position, probe.capture)
    gallery_id, templates = consented_templates(
        instance, actor, "finger.verify", subject_id, FINGER, Purpose.VERIFY.value
    )
    if not templates:
        instance.record_alone(
            actor, "finger.verify", "refused:no_reference", subject_id=subject_id, gallery_id=gallery_id
        )
        raise Conflict("The subject has no finger enrolled to compare with.", code="no_reference")
    compared = [_compare_finger(instance, probe, templates) for probe in probes]
    comparisons = [c for c, _ in compared]
    decisions = {c.decision for c in comparisons}
    with instance.transaction() as session:
        if Decision.MATCH in decisions:
            load_subject(session, subject_id).last_interaction_at = instance.clock()
        instance.record(
            session,
            actor,
            "finger.verify",
            decisions.pop() if len(decisions) == 1 else "mixed",
            subject_id=subject_id,
            gallery_id=gallery_id,
            details={
                "purpose": Purpose.VERIFY.value,
                "fingers": [
                    {
                        "probe_sha256": sha,
                        "finger_position": c.finger_position,
                        "capture": c.capture,
                        "decision": c.decision,
                        "score": c.score,
                        "threshold": c.threshold,
                        "fmr": c.fmr,
                        "algorithm": c.algorithm,
                        "reason": c.reason,
                    }
                    for c, sha in compared
                ],
            },
        )
    return comparisons


def verify(
    instance: Instance,
    actor: Actor | str,
    subject_id: str,
    face_image: bytes | None = None,
    fingers: Sequence[FingerProbe] = (),
) -> MultimodalVerification:
    """1:1 with a face photo, finger captures, or both: each compared on its own, then fused by :func:`combine`.

    Consent to every modality sent is checked before anything is compared.
    """
    if face_image is None and not fingers:
        raise InvalidRequest(
            "Send a face image, or one or more finger_image with their finger_position and capture.", code="no_probe"
        )
    for probe in fingers:
        check_finger_fields(probe.finger_position, probe.capture)
    if fingers and face_image is not None:
        consented_templates(instance, actor, "finger.verify", subject_id, FINGER, Purpose.VERIFY.value)
    comparisons: list[Comparison] = []
    if face_image is not None:
        comparisons.append(
            face_comparison(verify_face(instance, actor, subject_id, face_image), instance.face_calibration.algorithm)
        )
    if fingers:
        comparisons.extend(verify_fingers(instance, actor, subject_id, fingers))
    answer = combine(comparisons, instance)
    if answer.fused:
        _record_fused(instance, actor, subject_id, answer)
    return answer


def _record_fused(instance: Instance, actor: Actor | str, subject_id: str, answer: MultimodalVerification) -> None:
    """Audit the fused decision (each modality's comparison is audited by its own verification)."""
    fusion = answer.fusion
    with instance.transaction() as session:
        subject = load_subject(session, subject_id)
        if answer.decision == Decision.MATCH:
            subject.last_interaction_at = instance.clock()
        instance.record(
            session,
            actor,
            "multimodal.verify",
            answer.decision,
            subject_id=subject_id,
            gallery_id=subject.gallery_id,
            details={
                "purpose": Purpose.VERIFY.value,
                "llr": fusion["llr"],
                "threshold_llr": fusion["threshold_llr"],
                "target_fmr": fusion["target_fmr"],
                "fmr": answer.fmr,
                "fmr_basis": fusion["fmr_basis"],
                "fmr_safety_factor": fusion["fmr_safety_factor"],
                "scores": fusion["scores"],
                "algorithms": fusion["algorithms"],
                "missing": [item["modality"] for item in fusion["missing"]],
                "not_fused": [item["modality"] for item in fusion["not_fused"]],
            },
        )
