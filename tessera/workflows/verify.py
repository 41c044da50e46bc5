"""1:1 verification: is the person in these captures the one enrolled as subject #123?

One straight line for every modality::

    check captures -> consent and references -> read probes and compare -> decide (fuse) -> audit

Each capture is compared on its own by the matcher of its references
(:mod:`tessera.match.matchers`): a face by the strongest face algorithm the
subject has a reference of, a finger by its sensor kind's matcher against
the references of the same finger. Each :class:`Comparison` carries its
score, its kind and algorithm, and the false-match rate its threshold
stands for; with no calibration no rate is invented and the comparison is
``inconclusive``. With several scores, :func:`combine` fuses those that can
be (:mod:`tessera.match.fusion`) into one decision that states its fused
false-match rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from sqlalchemy import select

from tessera.capture.refusal import Refusal
from tessera.errors import Conflict
from tessera.governance.consent import check_consent
from tessera.governance.vocabulary import Decision, Modality, Purpose
from tessera.match.calibration import FmrBeyondCalibration, FmrEstimate
from tessera.match.fusion import FusedDecision, ScoreModel, fuse, model_kind
from tessera.match.matchers import Matcher
from tessera.store.models import Template
from tessera.workflows.captures import Capture, capture_sha256, check_captures, decode, read_probe
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.subjects import load_subject

ORDER = [Modality.FACE.value, Modality.FINGER.value]
"""The order modalities are listed in answers."""
CONSENT_ORDER = [Modality.FINGER, Modality.FACE]
"""The order consent is checked in (and a refusal audited under): fingers first, as before fusion existed."""


@dataclass(frozen=True)
class Comparison:
    """One capture's 1:1 result, reported on its own.

    ``score`` is None when nothing was compared (unusable probe, no
    reference); ``fmr`` and ``threshold`` are None when no calibration
    speaks for the score (``calibrated`` False), and the decision is then
    ``inconclusive``: Tessera does not invent a rate.
    """

    modality: str
    decision: str
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
    score_kind: str | None = None
    matcher: str | None = None
    probe_sha256: str | None = None


@dataclass(frozen=True)
class MultimodalVerification:
    """The answer to a 1:1 request: the overall decision (see :func:`combine`) and every comparison made."""

    decision: str
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


def verify(
    instance: Instance, actor: Actor | str, subject_id: str, captures: Sequence[Capture]
) -> MultimodalVerification:
    """1:1 with a face photo, finger captures, or both: each compared on its own, then fused by :func:`combine`.

    Consent to every modality sent is checked before anything is compared.
    """
    check_captures(captures)
    gallery_id, references = consented_references(instance, actor, subject_id, captures)
    images = [decode(instance, capture.image) for capture in captures]  # bad input: 413/415/422, nothing compared
    require_references(instance, actor, subject_id, gallery_id, references)
    comparisons = [compare(instance, c, image, references[c.modality]) for c, image in zip(captures, images)]
    answer = combine(comparisons, instance)
    record_verification(instance, actor, subject_id, gallery_id, comparisons, answer)
    return answer


def consented_references(
    instance: Instance, actor: Actor | str, subject_id: str, captures: Sequence[Capture]
) -> tuple[str, dict[Modality, list[Template]]]:
    """The subject's gallery and templates per modality sent, once consent covers verification with each.

    A refusal is audited under that modality's action and raised as a 409;
    fingers are checked first.
    """
    modalities = sorted({c.modality for c in captures}, key=CONSENT_ORDER.index)
    with instance.sessions() as session:
        subject = load_subject(session, subject_id)
        gallery_id, consent = subject.gallery_id, subject.consent
        templates = list(session.scalars(select(Template).where(Template.subject_id == subject_id)))
    held: dict[str, list[Template]] = defaultdict(list)
    for template in templates:
        held[template.modality].append(template)
    references: dict[Modality, list[Template]] = {}
    now = instance.clock()
    for modality in modalities:
        action = f"{modality.value}.verify"
        refusal = check_consent(consent, modality=modality.value, purpose=Purpose.VERIFY.value, now=now)
        if refusal is not None:
            instance.record_alone(
                actor, action, f"refused:{refusal.code}", subject_id=subject_id, gallery_id=gallery_id
            )
            raise Conflict(refusal.message, code=refusal.code)
        references[modality] = held[modality.value]
    return gallery_id, references


def require_references(
    instance: Instance,
    actor: Actor | str,
    subject_id: str,
    gallery_id: str,
    references: dict[Modality, list[Template]],
) -> None:
    """Refuse (audited 409 ``no_reference``) a modality of which the subject has no template a matcher here reads."""
    for modality, templates in references.items():
        if not any(instance.matchers.of_template(t.modality, t.algorithm, t.capture) for t in templates):
            action = f"{modality.value}.verify"
            instance.record_alone(actor, action, "refused:no_reference", subject_id=subject_id, gallery_id=gallery_id)
            raise Conflict(_no_reference(instance, modality, templates), code="no_reference")


def compare(instance: Instance, capture: Capture, image: np.ndarray, references: list[Template]) -> Comparison:
    """One capture (``image``: decoded) against the subject's references that its matcher can compare it with."""
    matcher = choose_matcher(instance, capture, references)
    mine = [t for t in references if t.algorithm == matcher.algorithm and (t.finger_position or 0) == capture.part]
    threshold, estimate, missing = verify_threshold(instance, matcher)
    probe = read_probe(instance, matcher, capture, image)
    unread = Comparison(
        modality=capture.modality.value,
        decision=Decision.INCONCLUSIVE,
        score=None,
        threshold=threshold,
        fmr=None if estimate is None else estimate.value,
        fmr_detail=None if estimate is None else fmr_fields(estimate),
        calibrated=missing is None,
        algorithm=matcher.score_algorithm,
        finger_position=capture.finger_position,
        capture=capture.sensor,
        score_kind=matcher.score_kind.value,
        matcher=matcher.key,
        probe_sha256=capture_sha256(capture),
    )
    if isinstance(probe, Refusal):
        return replace(unread, reason=probe.reason, message=probe.message)
    if not mine:
        message = f"The subject has no {capture.description} reference of this finger to compare with."
        return replace(unread, reason="no_reference", message=message, quality=probe.quality)
    score = max(matcher.compare(probe.features, matcher.features(instance.vault.open_template(t))) for t in mine)
    if threshold is None:
        message = _uncalibrated(instance, capture, missing)
        return replace(unread, score=score, reason=missing, message=message, quality=probe.quality)
    decision = Decision.MATCH if score >= threshold else Decision.NO_MATCH
    return replace(unread, decision=decision, score=score, quality=probe.quality)


def choose_matcher(instance: Instance, capture: Capture, references: list[Template]) -> Matcher:
    """The strongest matcher of the capture's modality and sensor that the subject has a reference of (else the
    strongest: the comparison then says there is no reference)."""
    candidates = instance.matchers.of(capture.modality.value, capture.sensor)
    held = {t.algorithm for t in references}
    return next((m for m in candidates if m.algorithm in held), candidates[0])


def verify_threshold(instance: Instance, matcher: Matcher) -> tuple[float | None, FmrEstimate | None, str | None]:
    """The matcher's 1:1 threshold at ``verify_target_fmr``, the FMR it stands for, and why there is none."""
    if matcher.calibration is None:
        return None, None, "not_calibrated"
    try:
        threshold = matcher.calibration.threshold_for_fmr(instance.settings.verify_target_fmr)
    except FmrBeyondCalibration:
        return None, None, "beyond_calibration"
    return threshold, matcher.calibration.fmr_at(threshold), None


def combine(comparisons: Sequence[Comparison], instance: Instance) -> MultimodalVerification:
    """The overall answer from each comparison's: the single one's, or the fusion of several.

    One comparison with a score: the answer is that comparison's. Several:
    the fusable scores (the face; contact fingers, the best score per finger
    position) are fused (:func:`tessera.match.fusion.fuse`) and decided at
    ``verify_target_fmr`` with the instance's safety factor; the top-level
    ``score`` and ``threshold`` are then the fused LLR and its threshold
    (nats), ``fmr`` the fused false-match rate of that LLR, and ``fusion``
    says what was fused, what was missing and what was not fused and why.
    Fewer than two fusable scores: ``inconclusive`` (``not_fused``), each
    comparison standing on its own.
    """
    compared = [c for c in comparisons if c.score is not None]
    modalities = sorted({c.modality for c in compared}, key=ORDER.index)
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
        return MultimodalVerification(
            decision=Decision.INCONCLUSIVE,
            score=None,
            threshold=None,
            fmr=None,
            fmr_detail=None,
            reason=comparisons[0].reason,
            message="Nothing could be compared: " + "; ".join(c.message or c.reason or "" for c in comparisons),
            comparisons=list(comparisons),
        )
    scores, models, missing, not_fused = fusable_scores(comparisons, instance)
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
    decision = fuse(scores, models, target_fmr=target, config=instance.fusion_config)
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
        fmr_detail=fused_fmr_fields(decision),
        reason=reason,
        message=message,
        modalities_compared=modalities,
        comparisons=list(comparisons),
        fused=True,
        fusion=fusion_fields(decision, instance, scores, models, missing, not_fused),
    )


def fusable_scores(
    comparisons: Sequence[Comparison], instance: Instance
) -> tuple[dict[str, float], dict[str, ScoreModel], list[dict], list[dict]]:
    """The scores to fuse by modality name, their fusion models by kind (those of the matchers that made the
    scores), the comparisons with no score, and the scores that cannot be fused (why)."""
    scores: dict[str, float] = {}
    models: dict[str, ScoreModel] = {}
    missing: list[dict] = []
    not_fused: list[dict] = []
    for comparison in comparisons:
        name = fusion_name(comparison)
        if comparison.score is None:
            missing.append({"modality": name, "reason": comparison.reason, "message": comparison.message})
            continue
        matcher = matcher_of(instance, comparison)
        problem = instance.fusion_problem(matcher)
        if problem is None and matcher.fusion_model is not None:
            # several references (and probes) of one finger: its best score speaks for it
            scores[name] = max(scores.get(name, comparison.score), comparison.score)
            models[model_kind(name)] = matcher.fusion_model
            continue
        not_fused.append(
            {"modality": name, "capture": comparison.capture, "reason": "no_fusion_model", "message": problem}
        )
    missing = [item for item in missing if item["modality"] not in scores]
    return scores, models, missing, not_fused


def matcher_of(instance: Instance, comparison: Comparison) -> Matcher:
    """The matcher that made a comparison's score: the one it names, else its modality's (sensor's) default."""
    if comparison.matcher in instance.matchers.by_key:
        return instance.matchers[comparison.matcher]
    return instance.matchers.of(comparison.modality, comparison.capture)[0]


def record_verification(
    instance: Instance,
    actor: Actor | str,
    subject_id: str,
    gallery_id: str,
    comparisons: Sequence[Comparison],
    answer: MultimodalVerification,
) -> None:
    """Audit each modality's comparisons (``face.verify``, ``finger.verify``) and a fused decision
    (``multimodal.verify``), in one transaction; a match counts as an interaction (retention)."""
    by_modality: dict[str, list[Comparison]] = defaultdict(list)
    for comparison in comparisons:
        by_modality[comparison.modality].append(comparison)
    with instance.transaction() as session:
        if answer.decision == Decision.MATCH or any(c.decision == Decision.MATCH for c in comparisons):
            load_subject(session, subject_id).last_interaction_at = instance.clock()
        for modality, mine in by_modality.items():
            decisions = {c.decision for c in mine}
            outcome = decisions.pop() if len(decisions) == 1 else "mixed"
            logged = {"purpose": Purpose.VERIFY.value, "comparisons": [_logged(c) for c in mine]}
            instance.record(
                session,
                actor,
                f"{modality}.verify",
                outcome,
                subject_id=subject_id,
                gallery_id=gallery_id,
                details=logged,
            )
        if answer.fused and answer.fusion is not None:
            fusion = answer.fusion
            details: dict[str, object] = {
                "purpose": Purpose.VERIFY.value,
                "score_kind": "llr",
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
            }
            instance.record(
                session,
                actor,
                "multimodal.verify",
                answer.decision,
                subject_id=subject_id,
                gallery_id=gallery_id,
                details=details,
            )


def fmr_fields(estimate: FmrEstimate) -> dict:
    return {"value": estimate.value, "upper_bound": estimate.upper_bound, "basis": estimate.basis}


def fused_fmr_fields(decision: FusedDecision) -> dict:
    return {"value": decision.fmr, "upper_bound": decision.fmr_upper_bound, "basis": decision.fmr_basis}


def fusion_fields(
    decision: FusedDecision,
    instance: Instance,
    scores: dict,
    models: dict[str, ScoreModel],
    missing: list[dict],
    not_fused: list[dict],
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
        "algorithms": {kind: models[kind].algorithm for kind in sorted(models)},
        "missing": missing,
        "not_fused": not_fused,
        "assumption": decision.assumption,
    }


def fusion_name(comparison: Comparison) -> str:
    """A comparison's modality name in a fusion (``face``, ``finger:right-index``)."""
    if comparison.finger_position is None:
        return comparison.modality
    return Capture.finger(b"", comparison.finger_position, comparison.capture or "").name


def _logged(comparison: Comparison) -> dict:
    keys = ("probe_sha256", "finger_position", "capture", "decision", "score", "score_kind", "threshold", "fmr")
    return {
        **{key: getattr(comparison, key) for key in keys},
        "algorithm": comparison.algorithm,
        "reason": comparison.reason,
    }


def _label(comparison: Comparison) -> str:
    if comparison.finger_position is None:
        return comparison.modality
    return f"finger {comparison.finger_position} ({comparison.capture})"


def _uncalibrated(instance: Instance, capture: Capture, missing: str | None) -> str:
    what = capture.description
    if missing == "not_calibrated":
        return (
            f"No calibration of {what} scores is installed, so the score cannot be given a false-match rate "
            "and no decision is made."
        )
    return (
        f"The {what} calibration cannot vouch for the configured false-match rate "
        f"{instance.settings.verify_target_fmr:g}; no decision is made."
    )


def _no_reference(instance: Instance, modality: Modality, templates: list[Template]) -> str:
    if not templates:
        return f"The subject has no {modality.value} enrolled to compare with."
    held = ", ".join(sorted({t.algorithm for t in templates}))
    served = ", ".join(m.algorithm for m in instance.matchers.of_modality(modality.value))
    return (
        f"The subject's {modality.value} was enrolled with another {modality.value} algorithm ({held}) than this "
        f"service compares ({served}): enrol a new {modality.value} capture."
    )
