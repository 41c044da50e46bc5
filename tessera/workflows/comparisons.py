"""What a 1:1 request answers: each comparison on its own, and the decision over all of them (fused or not).

:func:`combine` turns the comparisons of one verification into its answer:
the single comparison's decision, or the fusion of several scores
(:func:`tessera.match.fusion.fuse`) decided at ``verify_target_fmr`` with
the instance's safety factor, stating the fused false-match rate, what was
fused, what was missing and what could not be fused and why. Several fingers
of a kind that has a calibration but no fusion model (contactless) are
decided together by the multi-finger rule (:func:`multi_finger`), whose
false-match rate does not assume the fingers independent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tessera.governance.vocabulary import Decision, Modality
from tessera.match.calibration import UPPER_BOUND, FmrEstimate
from tessera.match.fusion import FusedDecision, ScoreModel, fuse, model_kind
from tessera.match.matchers import Matcher
from tessera.match.multifinger import decide_fingers, rule_rate
from tessera.match.pvalues import decide_by_product
from tessera.workflows.captures import Capture
from tessera.workflows.instance import Instance

ORDER = [Modality.FACE.value, Modality.FINGER.value]
"""The order modalities are listed in answers."""


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
    pair_kind: str | None = None
    """``contactless-contact`` when a contactless probe was compared with a contact reference (under that pair
    kind's own calibration, :mod:`tessera.match.cross_sensor`); None for two captures of one kind."""


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
    multi_finger: dict | None = None
    """Several fingers decided by the multi-finger rule (:func:`multi_finger`): its threshold, stated FMR (an upper
    bound), the fingers counted and the assumption it rests on."""


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
    if len(scores) < 2 and (several := multi_finger(comparisons, instance)) is not None:
        return several
    if len(scores) < 2 and (both := face_and_rule_fingers(comparisons, instance)) is not None:
        return both
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


def multi_finger(comparisons: Sequence[Comparison], instance: Instance) -> MultimodalVerification | None:
    """Several fingers of one calibrated matcher without a fusion model, decided together; None when not that case.

    Applies when every compared comparison is a finger of one such matcher (contactless) and at least two finger
    positions were compared: the best score per position goes to
    :func:`tessera.match.multifinger.decide_fingers` at ``verify_target_fmr``. The answer's ``threshold`` is the
    per-finger threshold, ``fmr`` the rule's stated rate (an upper bound), ``multi_finger`` the details.
    """
    fingers = rule_fingers([c for c in comparisons if c.score is not None], instance)
    if fingers is None or len(fingers[1]) < 2:
        return None
    matcher, best = fingers
    assert matcher.calibration is not None  # rule_fingers keeps only calibrated matchers
    target = instance.settings.verify_target_fmr
    decision = decide_fingers(matcher.calibration, best, target)
    details = {**decision.as_dict(), "scores": best, "algorithm": matcher.score_algorithm}
    fmr_detail = None if decision.fmr is None else {"value": decision.fmr, "upper_bound": True, "basis": "upper_bound"}
    if decision.match is None:
        verdict, reason = Decision.INCONCLUSIVE, decision.reason
        message = (
            f"The {matcher.sensor} calibration cannot vouch for the configured false-match rate {target:g} with "
            f"{len(best)} fingers; send four fingers, or calibrate on more comparisons. No decision is made."
        )
    else:
        verdict, reason, message = (Decision.MATCH if decision.match else Decision.NO_MATCH), None, None
    return MultimodalVerification(
        decision=verdict,
        score=None,
        threshold=decision.threshold,
        fmr=decision.fmr,
        fmr_detail=fmr_detail,
        reason=reason,
        message=message,
        modalities_compared=[Modality.FINGER.value],
        comparisons=list(comparisons),
        multi_finger=details,
    )


def rule_fingers(compared: Sequence[Comparison], instance: Instance) -> tuple[Matcher, dict[str, float]] | None:
    """The matcher and best score per finger position of comparisons the multi-finger rule can decide; None when
    they are not all fingers of one calibrated matcher without a fusion model, of one pair kind."""
    if not compared or any(c.modality != Modality.FINGER.value for c in compared):
        return None
    if any(c.pair_kind is not None for c in compared):
        return None  # another pair kind's scores: the rule's calibration is not theirs
    matchers = {matcher_of(instance, c).key: matcher_of(instance, c) for c in compared}
    if len(matchers) != 1:
        return None
    matcher = next(iter(matchers.values()))
    if matcher.calibration is None or matcher.fusion_model is not None or matcher.sensor is None:
        return None
    best: dict[str, float] = {}
    for comparison in compared:
        name = fusion_name(comparison)
        best[name] = max(best.get(name, 0.0), float(comparison.score or 0.0))
    return matcher, best


def face_and_rule_fingers(comparisons: Sequence[Comparison], instance: Instance) -> MultimodalVerification | None:
    """A face and fingers without a fusion model (contactless), decided on the product of their stated rates;
    None when not that case.

    Applies when the compared comparisons are faces of one calibrated matcher and fingers the multi-finger rule
    can decide (:func:`rule_fingers`, one finger or more): the face's rate is its calibration's FMR at its best
    score, the fingers' the rule's rate at theirs (:func:`tessera.match.multifinger.rule_rate`), and
    :func:`tessera.match.pvalues.decide_by_product` decides at ``verify_target_fmr``. The answer is ``fused``,
    its ``fmr`` the product rule's and ``fusion`` says how (``rule``: ``product_of_rates``).
    """
    compared = [c for c in comparisons if c.score is not None]
    faces = [c for c in compared if c.modality == Modality.FACE.value]
    fingers = rule_fingers([c for c in compared if c.modality != Modality.FACE.value], instance)
    if not faces or fingers is None:
        return None
    face_matchers = {matcher_of(instance, c).key: matcher_of(instance, c) for c in faces}
    face_matcher = next(iter(face_matchers.values()))
    if len(face_matchers) != 1 or face_matcher.calibration is None:
        return None
    finger_matcher, best = fingers
    assert finger_matcher.calibration is not None  # rule_fingers keeps only calibrated matchers
    face_score = max(float(c.score or 0.0) for c in faces)
    face_rate = face_matcher.calibration.fmr_at(face_score)
    finger_rate = rule_rate(finger_matcher.calibration, best)
    target = instance.settings.verify_target_fmr
    decision = decide_by_product({"face": face_rate.value, "fingers": finger_rate.fmr}, target)
    bound = face_rate.upper_bound
    fusion = {
        "fused": True,
        **decision.as_dict(),
        "fmr_basis": UPPER_BOUND if bound else "estimated",
        "fmr_upper_bound": bound,
        "modalities": ["face", *best],
        "scores": {"face": face_score, **best},
        "face": {"score": face_score, **fmr_fields(face_rate), "algorithm": face_matcher.score_algorithm},
        "fingers": {**finger_rate.as_dict(), "scores": best, "algorithm": finger_matcher.score_algorithm},
        "missing": [
            {"modality": fusion_name(c), "reason": c.reason, "message": c.message}
            for c in comparisons
            if c.score is None
        ],
        "not_fused": [],
    }
    return MultimodalVerification(
        decision=Decision.MATCH if decision.match else Decision.NO_MATCH,
        score=None,
        threshold=None,
        fmr=decision.fmr,
        fmr_detail={"value": decision.fmr, "upper_bound": bound, "basis": fusion["fmr_basis"]},
        modalities_compared=[Modality.FACE.value, Modality.FINGER.value],
        comparisons=list(comparisons),
        fused=True,
        fusion=fusion,
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


def _label(comparison: Comparison) -> str:
    if comparison.finger_position is None:
        return comparison.modality
    return f"finger {comparison.finger_position} ({comparison.capture})"
