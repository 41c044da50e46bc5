"""Searching with a face and contactless fingers: the subjects decided on the product of the rates each states.

Contactless fingers have no fusion model, so the likelihood-ratio search
(:func:`tessera.workflows.search.search_fused`) cannot take them, and each
probe searched on its own (:func:`~tessera.workflows.search.search_each`)
leaves out a person whom the face and the fingers together speak for but
neither alone: a slap can never state a rate as small as a large gallery
needs (four contactless fingers: 4.2e-5 at best, against 1e-6 for 10,000
people). The 1:1 product rule (:func:`tessera.match.pvalues.decide_by_product`)
ranks the gallery the same way::

    pool: each probe's best identify_fusion_pool subjects -> every score of each (scores_for)
    -> p_face (face calibration; 1 without a face reference), p_fingers (multi-finger rule_rate; 1 without)
    -> stated FMR of p_face x p_fingers -> candidates: at most expected_false_candidates / N, lowest first

A subject without a face reference or without finger references counts that
piece as saying nothing (rate 1): the rule then asks of the other alone what
the product would, so the stated rate stays a bound. As in the fused search,
a mate that no probe ranks among its best ``identify_fusion_pool`` is not
considered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tessera.governance.vocabulary import Modality
from tessera.match.calibration import Calibration
from tessera.match.multifinger import RuleRate, rule_rate
from tessera.match.pvalues import ASSUMPTION, ProductDecision, decide_by_product
from tessera.workflows.captures import Probe
from tessera.workflows.cases import Candidate, Found, Listed, Request, reference_of
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.search import fused_summaries, gallery_size, logged_probe, pooled_scores

SCORE_KIND = "fmr_decades"
"""A candidate's score in this search: ``-log10`` of the stated FMR (higher: stronger evidence)."""


@dataclass(frozen=True)
class Rated:
    """One subject of the pool: its scores, each piece's rate and the product's decision."""

    subject_id: str
    scores: dict[str, float]
    fingers: RuleRate | None
    decision: ProductDecision

    @property
    def score(self) -> float:
        return -math.log10(max(self.decision.fmr, 1e-300))


def rated_pair(probes: Sequence[Probe]) -> tuple[Probe, list[Probe]] | None:
    """The face probe and the finger probes when they are one calibrated face and contactless fingers of one
    calibrated matcher without a fusion model; None otherwise."""
    faces = [p for p in probes if p.capture.modality is Modality.FACE]
    fingers = [p for p in probes if p.capture.modality is Modality.FINGER]
    if len(faces) != 1 or not fingers or len(faces) + len(fingers) != len(probes):
        return None
    if faces[0].matcher.calibration is None:
        return None
    matchers = {p.matcher.key for p in fingers}
    matcher = fingers[0].matcher
    if len(matchers) != 1 or matcher.calibration is None or matcher.fusion_model is not None:
        return None
    return faces[0], fingers


def search_with_rates(
    instance: Instance, actor: Actor | str, request: Request, face: Probe, fingers: Sequence[Probe]
) -> Found:
    """Rank the pool by the product rule's stated FMR; candidates at most ``identify_expected_false_candidates /
    N`` (see the module docstring)."""
    settings, now = instance.settings, instance.clock()
    probes = [face, *fingers]
    scores, templates = pooled_scores(instance, request, probes, now)
    size = gallery_size(instance, request, probes, now)
    target = min(settings.identify_expected_false_candidates / max(size, 1), 0.5)
    face_calibration, finger_calibration = face.matcher.calibration, fingers[0].matcher.calibration
    assert face_calibration is not None and finger_calibration is not None  # rated_pair keeps only calibrated ones
    finger_names = list(dict.fromkeys(p.capture.name for p in fingers))
    rated = sorted(
        (
            rate_subject(subject, held, face.capture.name, finger_names, face_calibration, finger_calibration, target)
            for subject, held in scores.items()
        ),
        key=lambda one: (one.decision.fmr, one.subject_id),
    )
    chosen = [one for one in rated if one.decision.match][: settings.identify_max_candidates]
    shown = {one.subject_id: templates[one.subject_id][loudest(one, face.capture.name)] for one in rated}
    references = reference_of(instance, [shown[one.subject_id] for one in chosen])
    listed = [
        Listed(
            one.subject_id, shown[one.subject_id], one.score, one.decision.fmr, candidate(one, rank, references, shown)
        )
        for rank, one in enumerate(chosen, start=1)
    ]
    names = [face.capture.name, *finger_names]
    fusion = {
        "fused": True,
        "rule": "product_of_rates",
        "modalities": names,
        "target_fmr": target,
        "threshold_fmr": target,
        "score_kind": SCORE_KIND,
        "algorithms": {"face": face.matcher.score_algorithm, "fingers": fingers[0].matcher.score_algorithm},
        "not_fused": [],
        "assumption": ASSUMPTION,
    }
    summaries = fused_summaries(instance, request, probes, now, [one.scores for one in chosen])
    audit = {
        "fused": True,
        "fusion": {key: fusion[key] for key in ("rule", "modalities", "target_fmr", "algorithms")},
        "probes": [logged_probe(summary, probe) for summary, probe in zip(summaries, probes)],
        "candidates": [
            {
                "subject_id": one.subject_id,
                "score": one.score,
                "fmr": one.decision.fmr,
                "rank": rank,
                "modality": "fused",
                "scores": one.scores,
                "p_values": one.decision.p_values,
            }
            for rank, one in enumerate(chosen, start=1)
        ],
    }
    return Found(
        listed=listed,
        catch=catch_trial(instance, rated, chosen, shown),
        gallery_size=size,
        threshold=-math.log10(target),  # in the candidates' score: -log10 of the stated FMR
        threshold_fmr=target,
        expected_false_candidates=size * target,
        probes=summaries,
        score_kind=SCORE_KIND,
        algorithm="+".join(sorted({p.matcher.score_algorithm for p in probes})),
        fused=True,
        fusion=fusion,
        audit=audit,
    )


def rate_subject(
    subject_id: str,
    held: dict[str, float],
    face_name: str,
    finger_names: Sequence[str],
    face_calibration: Calibration,
    finger_calibration: Calibration,
    target: float,
) -> Rated:
    """One subject's rates and decision: a piece it has no reference of states 1."""
    face_rate = face_calibration.fmr_at(held[face_name]).value if face_name in held else 1.0
    finger_scores = {name: held[name] for name in finger_names if name in held}
    fingers = rule_rate(finger_calibration, finger_scores) if finger_scores else None
    decision = decide_by_product({"face": face_rate, "fingers": 1.0 if fingers is None else fingers.fmr}, target)
    return Rated(subject_id, dict(held), fingers, decision)


def loudest(one: Rated, face_name: str) -> str:
    """The reference shown for review: the face when it states the smaller rate (or is all there is), else the
    best-scoring finger."""
    finger_scores = {name: score for name, score in one.scores.items() if name != face_name}
    if face_name in one.scores and (
        not finger_scores or one.decision.p_values["face"] <= one.decision.p_values["fingers"]
    ):
        return face_name
    return max(finger_scores, key=lambda name: finger_scores[name])


def candidate(one: Rated, rank: int, references: dict[str, tuple[str, dict]], shown: dict[str, str]) -> Candidate:
    captured_at, quality = references.get(shown[one.subject_id], (None, None))
    return Candidate(
        subject_id=one.subject_id,
        score=one.score,
        fmr=one.decision.fmr,
        fmr_detail={"value": one.decision.fmr, "upper_bound": False, "basis": "estimated"},
        rank=rank,
        reference_captured_at=captured_at,
        reference_quality=quality,
        modality="fused",
        fusion={
            "rule": "product_of_rates",
            "scores": dict(one.scores),
            "p_values": dict(one.decision.p_values),
            "fingers": None if one.fingers is None else one.fingers.as_dict(),
        },
    )


def catch_trial(instance: Instance, rated: list[Rated], chosen: list[Rated], shown: dict[str, str]) -> Listed | None:
    """At the configured rate, the subject with the strongest evidence that the 1:1 rule would still turn down
    (stated FMR above ``verify_target_fmr``)."""
    rate = instance.settings.catch_trial_rate
    if rate <= 0 or not chosen or instance.random.random() >= rate:
        return None
    taken = {one.subject_id for one in chosen}
    for one in rated:
        if one.subject_id not in taken and one.decision.fmr > instance.settings.verify_target_fmr:
            return Listed(one.subject_id, shown[one.subject_id], one.score, one.decision.fmr)
    return None
