"""Searching a gallery: each probe on its own, or several fused. Called by :func:`tessera.workflows.identify.identify`.

:func:`search_each` thresholds each probe on its own (its matcher's
calibration and the gallery size N the store counts); :func:`search_fused`
fuses several probes' scores over every subject some probe ranks among its
best ``identify_fusion_pool`` and ranks them with
:func:`tessera.match.fusion.rank_fused`. Both return a
:class:`~tessera.workflows.cases.Found`, which
:func:`~tessera.workflows.cases.open_case` turns into a review case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from tessera.errors import Conflict
from tessera.index.base import Hit
from tessera.match.calibration import Calibration, FmrBeyondCalibration
from tessera.match.fusion import (
    INDEPENDENCE_NOTE,
    FusedRanking,
    FusedSubject,
    FusedThresholds,
    fuse,
    model_kind,
    rank_fused,
)
from tessera.store.counts import TemplateKind, count_searchable_by_kinds
from tessera.workflows.captures import Probe
from tessera.workflows.cases import CATCH_TRIAL_POOL, Candidate, Found, Listed, ProbeSearch, Request, reference_of
from tessera.workflows.comparisons import fmr_fields, fused_fmr_fields
from tessera.workflows.instance import Actor, Instance


@dataclass(frozen=True)
class Searched:
    """One probe searched on its own: its calibration, N, threshold, the best subjects and those above it."""

    probe: Probe
    calibration: Calibration
    size: int
    threshold: float
    ranked: list[Hit]
    hits: list[Hit]
    method: str
    """:meth:`~tessera.index.base.SearchIndex.search_method` of the search."""

    def summary(self) -> ProbeSearch:
        threshold_fmr = self.calibration.fmr_at(self.threshold).value
        capture = self.probe.capture
        return ProbeSearch(
            modality=capture.modality.value,
            finger_position=capture.finger_position,
            capture=capture.sensor,
            probe_sha256=self.probe.sha256,
            gallery_size=self.size,
            threshold=self.threshold,
            threshold_fmr=threshold_fmr,
            expected_false_candidates=self.size * threshold_fmr,
            algorithm=self.probe.matcher.score_algorithm,
            candidates=len(self.hits),
            quality=self.probe.quality,
            search_method=self.method,
        )


def search_each(
    instance: Instance, actor: Actor | str, request: Request, probes: Sequence[Probe], not_fused: list[dict]
) -> Found:
    """Each probe on its own: its threshold from its calibration and N, its candidates above it, one list."""
    now = instance.clock()
    searched = [search_one(instance, actor, request, probe, now) for probe in probes]
    references = reference_of(instance, [hit.template_id for one in searched for hit in one.hits])
    listed = [listed_hit(one, rank, hit, references) for one in searched for rank, hit in enumerate(one.hits, 1)]
    summaries = [one.summary() for one in searched]
    candidates = [row.candidate for row in listed if row.candidate is not None]
    audit: dict[str, object] = {
        "probes": [logged_probe(summary, one.probe) for summary, one in zip(summaries, searched)],
        "candidates": [
            {
                "subject_id": c.subject_id,
                "score": c.score,
                "fmr": c.fmr,
                "rank": c.rank,
                "modality": c.modality,
                "finger_position": c.finger_position,
            }
            for c in candidates
        ],
    }
    fusion = None
    if len(probes) > 1:
        fusion = {
            "fused": False,
            "reason": "Fewer than two of the probes can be fused, so each was searched on its own with its own "
            "threshold.",
            "not_fused": not_fused,
        }
        audit.update(fused=False, not_fused=[item["modality"] for item in not_fused])
    lead = searched[0]
    return Found(
        listed=listed,
        catch=catch_trial(instance, lead),
        gallery_size=max(one.size for one in searched),
        threshold=lead.threshold,
        threshold_fmr=summaries[0].threshold_fmr if len(probes) == 1 else None,
        expected_false_candidates=sum(s.expected_false_candidates or 0.0 for s in summaries),
        probes=summaries,
        score_kind=lead.probe.matcher.score_kind.value,
        algorithm=lead.probe.matcher.score_algorithm,
        fusion=fusion,
        audit=audit,
    )


def search_one(instance: Instance, actor: Actor | str, request: Request, probe: Probe, now: datetime) -> Searched:
    """One probe's threshold (from its calibration and N) and its best subjects; an audited 409 when no calibration
    can set the threshold."""
    settings = instance.settings
    calibration = probe.matcher.calibration
    if calibration is None:
        refuse(instance, actor, request, "not_calibrated", probe_sha256=probe.sha256, **probe.capture.where)
        raise Conflict(
            f"No calibration of {probe.capture.description} scores is installed, so no 1:N threshold can be "
            "set. Install a finger calibration (tessera/match/calibrations/finger-*.json) to search by finger.",
            code="not_calibrated",
        )
    size = gallery_size(instance, request, [probe], now)
    try:
        threshold = calibration.identify_threshold(max(size, 1), settings.identify_expected_false_candidates)
    except FmrBeyondCalibration as error:
        refuse(instance, actor, request, "beyond_calibration", gallery_size=size, modality=probe.capture.modality)
        raise Conflict(
            f"A search of {size:,} people needs a false-match rate the {probe.capture.modality.value} calibration "
            f"cannot vouch for ({error}). Recalibrate on more impostor comparisons, or raise "
            "identify_expected_false_candidates.",
            code="beyond_calibration",
        ) from None
    ranked = probe.matcher.index.search(
        probe.features,
        gallery_id=request.gallery_id,
        part=probe.capture.part,
        purpose=request.purpose,
        now=now,
        limit=settings.identify_max_candidates + CATCH_TRIAL_POOL,
    )
    hits = [hit for hit in ranked if hit.score >= threshold][: settings.identify_max_candidates]
    return Searched(probe, calibration, size, threshold, ranked, hits, searched_by(probe, request, now))


def searched_by(probe: Probe, request: Request, now: datetime) -> str:
    """How the probe's index searched its shard (:meth:`~tessera.index.base.SearchIndex.search_method`)."""
    return probe.matcher.index.search_method(
        gallery_id=request.gallery_id, part=probe.capture.part, purpose=request.purpose, now=now
    )


def listed_hit(one: Searched, rank: int, hit: Hit, references: dict[str, tuple[str, dict]]) -> Listed:
    """A candidate found by one probe, with the FMR of its score and its reference's capture date and quality."""
    estimate = one.calibration.fmr_at(hit.score)
    captured_at, quality = references.get(hit.template_id, (None, None))
    candidate = Candidate(
        subject_id=hit.subject_id,
        score=hit.score,
        fmr=estimate.value,
        fmr_detail=fmr_fields(estimate),
        rank=rank,
        reference_captured_at=captured_at,
        reference_quality=quality,
        modality=one.probe.capture.modality.value,
        finger_position=one.probe.capture.finger_position,
    )
    return Listed(hit.subject_id, hit.template_id, hit.score, estimate.value, candidate)


def search_fused(
    instance: Instance, actor: Actor | str, request: Request, probes: Sequence[Probe], not_fused: list[dict]
) -> Found:
    """Several probes fused: every subject any probe ranks high, with all its scores, ranked by fused LLR."""
    settings, now = instance.settings, instance.clock()
    names = list(dict.fromkeys(p.capture.name for p in probes))
    scores, templates = pooled_scores(instance, request, probes, now)
    population = gallery_population(instance, request, probes, now)
    size = sum(population.values())
    target = min(settings.identify_expected_false_candidates / max(size, 1), 0.5)
    models = {model_kind(p.capture.name): p.matcher.fusion_model for p in probes if p.matcher.fusion_model}
    thresholds = FusedThresholds(models, instance.fusion_config)
    ranking = rank_fused(
        scores, names, thresholds, target_fmr=target, limit=settings.identify_max_candidates, population=population
    )
    if ranking.threshold is None:
        refuse(instance, actor, request, "beyond_calibration", gallery_size=size, fused=True, modalities=names)
        raise Conflict(
            f"A search of {size:,} people needs a fused false-match rate of {target:.3g} per comparison, which the "
            f"fusion models cannot vouch for with {', '.join(names)} (safety factor "
            f"{settings.fusion_fmr_safety_factor:g}). Send more fingers, or raise identify_expected_false_candidates.",
            code="beyond_calibration",
        )
    full_fmr, full_basis = thresholds.fmr(names, ranking.threshold)
    loudest = {s.subject_id: templates[s.subject_id][loudest_modality(s, thresholds)] for s in ranking.ranked}
    references = reference_of(instance, [loudest[s.subject_id] for s in ranking.candidates])
    listed = []
    for rank, subject in enumerate(ranking.candidates, start=1):
        decision = fuse(
            {n: subject.scores.get(n) for n in names},
            thresholds.models,
            target_fmr=target,
            config=instance.fusion_config,
        )
        captured_at, quality = references.get(loudest[subject.subject_id], (None, None))
        candidate = Candidate(
            subject_id=subject.subject_id,
            score=decision.llr,
            fmr=decision.fmr,
            fmr_detail=fused_fmr_fields(decision),
            rank=rank,
            reference_captured_at=captured_at,
            reference_quality=quality,
            modality="fused",
            fusion={
                "llr": decision.llr,
                "threshold_llr": decision.threshold_llr,
                "scores": dict(subject.scores),
                "per_modality_llr": dict(decision.per_modality_llr),
                "missing": list(decision.missing),
            },
        )
        listed.append(Listed(subject.subject_id, loudest[subject.subject_id], decision.llr, decision.fmr, candidate))
    catch = fused_catch_trial(instance, ranking, thresholds)
    catch_row = None
    if catch is not None:
        catch_row = Listed(
            catch.subject_id, loudest[catch.subject_id], catch.llr, thresholds.fmr(catch.scores, catch.llr)[0]
        )
    fusion = {
        "fused": True,
        "modalities": names,
        "target_fmr": target,
        "threshold_llr": ranking.threshold,
        "threshold_fmr": full_fmr,
        "threshold_fmr_basis": full_basis,
        "thresholds_by_modalities": [dict(row) for row in ranking.thresholds_by_modalities],
        "fmr_safety_factor": settings.fusion_fmr_safety_factor,
        "algorithms": {kind: model.algorithm for kind, model in sorted(thresholds.models.items())},
        "not_fused": not_fused,
        "assumption": INDEPENDENCE_NOTE,
    }
    summaries = fused_summaries(instance, request, probes, now, [s.scores for s in ranking.candidates])
    candidates = [row.candidate for row in listed if row.candidate is not None]
    audit = {
        "fused": True,
        "fusion": {
            key: fusion[key]
            for key in ("modalities", "target_fmr", "threshold_llr", "threshold_fmr", "fmr_safety_factor", "algorithms")
        },
        "not_fused": [item["modality"] for item in not_fused],
        "probes": [logged_probe(summary, probe) for summary, probe in zip(summaries, probes)],
        "candidates": [
            {
                "subject_id": c.subject_id,
                "score": c.score,
                "fmr": c.fmr,
                "rank": c.rank,
                "modality": c.modality,
                "scores": (c.fusion or {}).get("scores"),
                "missing": (c.fusion or {}).get("missing"),
            }
            for c in candidates
        ],
    }
    return Found(
        listed=listed,
        catch=catch_row,
        gallery_size=size,
        threshold=ranking.threshold,
        threshold_fmr=full_fmr,
        expected_false_candidates=ranking.expected_false_candidates,
        probes=summaries,
        score_kind="llr",
        algorithm="+".join(sorted({p.matcher.score_algorithm for p in probes})),
        fused=True,
        fusion=fusion,
        audit=audit,
    )


def fused_summaries(
    instance: Instance,
    request: Request,
    probes: Sequence[Probe],
    now: datetime,
    candidates: Sequence[Mapping[str, float]],
) -> list[ProbeSearch]:
    """What each probe of a search decided over all probes met: its N and how many candidates it has a score of
    (``candidates``: each candidate's scores by modality name); the threshold is the search's own."""
    return [
        ProbeSearch(
            modality=p.capture.modality.value,
            finger_position=p.capture.finger_position,
            capture=p.capture.sensor,
            probe_sha256=p.sha256,
            gallery_size=gallery_size(instance, request, [p], now),
            threshold=None,
            threshold_fmr=None,
            expected_false_candidates=None,
            algorithm=p.matcher.score_algorithm,
            candidates=sum(1 for scores in candidates if p.capture.name in scores),
            quality=p.quality,
            search_method=searched_by(p, request, now),
        )
        for p in probes
    ]


def pooled_scores(
    instance: Instance, request: Request, probes: Sequence[Probe], now: datetime
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, str]]]:
    """Every subject some probe ranks among its best ``identify_fusion_pool``, with each score it can have.

    Returns each subject's best score and the template behind it, per
    modality name (several probes of one finger: the best speaks for it).
    """
    pool = instance.settings.identify_fusion_pool
    gallery_id, purpose = request.gallery_id, request.purpose
    subject_ids: set[str] = set()
    for probe in probes:
        part = probe.capture.part
        hits = probe.matcher.index.search(
            probe.features, gallery_id=gallery_id, part=part, purpose=purpose, now=now, limit=pool
        )
        subject_ids.update(hit.subject_id for hit in hits)
    scores: dict[str, dict[str, float]] = {}
    templates: dict[str, dict[str, str]] = {}
    for probe in probes:
        name = probe.capture.name
        for hit in probe.matcher.index.scores_for(
            probe.features,
            gallery_id=gallery_id,
            part=probe.capture.part,
            subject_ids=sorted(subject_ids),
            purpose=purpose,
            now=now,
        ):
            best = scores.setdefault(hit.subject_id, {})
            if name not in best or hit.score > best[name]:
                best[name] = hit.score
                templates.setdefault(hit.subject_id, {})[name] = hit.template_id
    return scores, templates


def gallery_size(instance: Instance, request: Request, probes: Sequence[Probe], now: datetime) -> int:
    """N: the gallery's subjects who consented to the purpose and hold a template some probe is compared with."""
    return sum(gallery_population(instance, request, probes, now).values())


def gallery_population(
    instance: Instance, request: Request, probes: Sequence[Probe], now: datetime
) -> dict[tuple[str, ...], int]:
    """How many searchable subjects hold each combination of the probes' modalities (names in probe order),
    as the store counts them."""
    kinds = [
        TemplateKind(p.capture.modality.value, p.matcher.algorithm, p.capture.finger_position, p.capture.sensor)
        for p in probes
    ]
    with instance.sessions() as session:
        by_kinds = count_searchable_by_kinds(
            session, gallery_id=request.gallery_id, kinds=kinds, purpose=request.purpose, now=now
        )
    names = list(dict.fromkeys(p.capture.name for p in probes))
    population: dict[tuple[str, ...], int] = {}
    for positions, count in by_kinds.items():
        held = {probes[position].capture.name for position in positions}
        key = tuple(name for name in names if name in held)
        population[key] = population.get(key, 0) + count
    return population


def loudest_modality(subject: FusedSubject, thresholds: FusedThresholds) -> str:
    """The modality whose score gave the subject its largest LLR: its reference is the one shown for review."""
    return max(subject.scores, key=lambda n: float(thresholds.models[model_kind(n)].llr(subject.scores[n])))


def catch_trial(instance: Instance, lead: Searched) -> Listed | None:
    """At the configured rate, a known non-mate to slip among the lead probe's candidates for review.

    Drawn from the best-scoring subjects below the 1:1 threshold at the
    verification FMR (so very unlikely to be the person), which makes it the
    most plausible-looking non-mate the gallery holds.
    """
    rate = instance.settings.catch_trial_rate
    if rate <= 0 or not lead.hits or instance.random.random() >= rate:
        return None
    try:
        verify_threshold = lead.calibration.threshold_for_fmr(instance.settings.verify_target_fmr)
    except FmrBeyondCalibration:
        return None
    taken = {hit.subject_id for hit in lead.hits}
    pool = [hit for hit in lead.ranked if hit.subject_id not in taken and hit.score < verify_threshold]
    if not pool:
        return None
    best = pool[0]
    return Listed(best.subject_id, best.template_id, best.score, lead.calibration.fmr_at(best.score).value)


def fused_catch_trial(instance: Instance, ranking: FusedRanking, thresholds: FusedThresholds) -> FusedSubject | None:
    """At the configured rate, the best-scoring subject below the fused 1:1 threshold at the verification FMR."""
    rate = instance.settings.catch_trial_rate
    if rate <= 0 or not ranking.candidates or instance.random.random() >= rate:
        return None
    taken = {s.subject_id for s in ranking.candidates}
    for subject in ranking.ranked[: len(ranking.candidates) + CATCH_TRIAL_POOL]:
        if subject.subject_id in taken:
            continue
        limit = thresholds.threshold(subject.scores, instance.settings.verify_target_fmr)
        if limit is not None and subject.llr < limit:
            return subject
    return None


def refuse(instance: Instance, actor: Actor | str, request: Request, reason: str, **details: object) -> None:
    """Audit a search refused for ``reason`` (nothing else is written)."""
    instance.record_alone(
        actor,
        request.action,
        f"refused:{reason}",
        gallery_id=request.gallery_id,
        details={**request.logged, **details},
    )


def logged_probe(summary: ProbeSearch, probe: Probe) -> dict[str, object]:
    return {
        "modality": summary.modality,
        "finger_position": summary.finger_position,
        "capture": summary.capture,
        "probe_sha256": summary.probe_sha256,
        "gallery_size": summary.gallery_size,
        "threshold": summary.threshold,
        "algorithm": summary.algorithm,
        "matcher": probe.matcher.key,
        "score_kind": probe.matcher.score_kind.value,
        "search_method": summary.search_method,
    }
