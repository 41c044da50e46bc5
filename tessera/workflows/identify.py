"""1:N search: candidates for a person to review, bound to a purpose and a case.

Every search must pass the purpose rules (:mod:`tessera.workflows.policy`),
opens a review case, and is recorded with its start and end time, the
gallery and its version, the probe's hash and the candidates (EU AI Act
Art. 12(3)). Candidates are leads, never identifications: two adjudicators
decide (:mod:`tessera.workflows.adjudication`).

A search may carry a face photo, finger captures, or both.

One probe is searched on its own, with its calibration and threshold: the
face among the gallery's face templates (:mod:`tessera.index.exact`), a
finger among the templates of the same finger position and capture kind
(:mod:`tessera.index.fingers`). A finger search needs a finger calibration:
without one no threshold can be set, and the search is refused (409
``not_calibrated``) rather than showing candidates nobody can put a
false-match rate on.

Several probes (face and fingers, or several fingers) are fused
(:mod:`tessera.match.fusion`): every eligible subject's best score per
modality (per finger position) is taken from the indexes, not only each
probe's own top candidates, because fusion can find a mate that no single
probe ranks high. Each subject's scores are fused into one LLR, on the
modalities that subject has (those missing are listed), and the subjects
whose LLR reaches the fused threshold for ``identify_expected_false_candidates
/ N`` (with the safety factor) are the candidates, one list ranked by LLR.
Contactless fingers have no fusion model: they are listed as not fused and
not searched. When fewer than two probes can be fused (a model missing,
contactless only), each probe is searched on its own as above, and the
answer's ``fusion`` says why.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select

from tessera.capture.still import clean_jpeg
from tessera.errors import Conflict, InvalidRequest
from tessera.governance.vocabulary import CaseStatus
from tessera.index.base import Hit, SearchResult
from tessera.match.calibration import Calibration, FmrBeyondCalibration
from tessera.match.fusion import INDEPENDENCE_NOTE, fuse, fused_fmr, fused_threshold, model_kind
from tessera.match.mcc import ALGORITHM as MATCHER
from tessera.match.mcc import mcc_template
from tessera.store.crypto import seal
from tessera.store.models import CaseCandidate, Gallery, Search, Template
from tessera.workflows.enrolment import image_associated_data
from tessera.workflows.faces import FACE, fmr_fields, read_face, refuse_capture
from tessera.workflows.fingers import (
    FINGER,
    FUSABLE_CAPTURE,
    NOT_CALIBRATED,
    FingerProbe,
    check_finger_fields,
    fused_fmr_fields,
    fusion_name,
    read_finger,
)
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.policy import check_search_allowed

CATCH_TRIAL_POOL = 25
"""How many of the best non-candidates a catch trial is drawn from."""


@dataclass(frozen=True)
class Candidate:
    subject_id: str
    score: float
    fmr: float
    fmr_detail: dict
    rank: int
    reference_captured_at: str | None = None
    reference_quality: dict | None = None
    modality: str = FACE
    """The probe that found the candidate (``face``, ``finger``), or ``fused``: several probes' fused LLR."""
    finger_position: int | None = None
    """Fingers: which finger matched (the probe's and the reference's: only the same finger is searched)."""
    fusion: dict | None = None
    """Fused: each modality's score and LLR, what the subject has no reference of, and the threshold met."""


@dataclass(frozen=True)
class ProbeSearch:
    """What one probe of a search met: its modality (and finger), N, threshold and candidates found."""

    modality: str
    finger_position: int | None
    capture: str | None
    probe_sha256: str
    gallery_size: int
    threshold: float | None
    """None when the probe's score was fused: the fused threshold (``Identification.threshold``) applies."""
    threshold_fmr: float | None
    expected_false_candidates: float | None
    algorithm: str
    candidates: int
    quality: dict | None = None


@dataclass(frozen=True)
class Identification:
    search_id: str
    case_reference: str
    gallery_size: int
    gallery_version: int
    threshold: float | None
    threshold_fmr: float | None
    expected_false_candidates: float
    candidates: list[Candidate] = field(default_factory=list)
    quality: dict | None = None
    modalities_compared: list[str] = field(default_factory=list)
    probes: list[ProbeSearch] = field(default_factory=list)
    fused: bool = False
    fusion: dict | None = None
    """Several probes: how they were fused (target FMR per comparison, thresholds, what was not fused and why),
    or why they could not be and each was searched on its own."""


@dataclass
class _Probe:
    """A probe being searched: read, then thresholded, then searched."""

    modality: str
    sha256: str
    image: np.ndarray
    quality: dict
    features: object
    """A face embedding, or a finger's MCC cylinders."""
    calibration: Calibration | None
    template_algorithm: str
    finger_position: int | None = None
    capture: str | None = None
    threshold: float = 0.0
    ranked: SearchResult | None = None
    hits: list[Hit] = field(default_factory=list)

    @property
    def action(self) -> str:
        return f"{self.modality}.identify"

    @property
    def algorithm(self) -> str:
        if self.calibration is None:
            return self.template_algorithm if self.modality == FACE else f"{self.template_algorithm}+{MATCHER}"
        return self.calibration.algorithm if self.modality == FACE else f"{self.calibration.algorithm} ({MATCHER})"

    @property
    def name(self) -> str:
        """The modality name of its score in a fusion (``face``, ``finger:right-index``)."""
        return fusion_name(self.finger_position)


def identify_face(
    instance: Instance, actor: Actor | str, gallery_id: str, purpose: str, image_bytes: bytes, case_reference: str = ""
) -> Identification:
    """Search the gallery's consenting subjects for the person in ``image_bytes``."""
    return identify(instance, actor, gallery_id, purpose, case_reference, face_image=image_bytes)


def identify(
    instance: Instance,
    actor: Actor | str,
    gallery_id: str,
    purpose: str,
    case_reference: str = "",
    *,
    face_image: bytes | None = None,
    fingers: Sequence[FingerProbe] = (),
) -> Identification:
    """Search the gallery's consenting subjects with a face photo, finger captures, or both.

    Each probe is searched on its own and gets its own threshold, from its
    calibration and the number of people it is compared with (N), so that
    about ``identify_expected_false_candidates`` wrong candidates are expected
    *per probe*; the answer's ``expected_false_candidates`` is their sum
    (an upper bound on the expected wrong candidates of the whole search).
    """
    started_at = instance.clock()
    search_id = str(uuid.uuid4())
    if face_image is None and not fingers:
        raise InvalidRequest(
            "Send a face image, or one or more finger_image with their finger_position and capture.", code="no_probe"
        )
    for finger in fingers:
        check_finger_fields(finger.finger_position, finger.capture)
    action = _action(face_image is not None, bool(fingers))
    check_search_allowed(instance, actor, gallery_id, purpose, case_reference, action)
    logged = {"search_id": search_id, "purpose": purpose, "case_reference": case_reference}
    probes = []
    if face_image is not None:
        result, sha256, image = read_face(instance, face_image)
        if not result:
            instance.record_alone(
                actor,
                action,
                f"refused:{result.reason}",
                gallery_id=gallery_id,
                details={**logged, "probe_sha256": sha256},
            )
            raise refuse_capture(result)
        probes.append(
            _Probe(
                FACE,
                sha256,
                image,
                result.quality.as_dict(),
                result.embedding,
                instance.face_calibration,
                result.algorithm,
            )
        )
    for finger in fingers:
        result, sha256, image = read_finger(instance, finger)
        where = {"finger_position": finger.finger_position, "capture": finger.capture}
        if not result:
            instance.record_alone(
                actor,
                action,
                f"refused:{result.reason}",
                gallery_id=gallery_id,
                details={**logged, "probe_sha256": sha256, **where},
            )
            raise refuse_capture(result)
        probes.append(
            _Probe(
                FINGER,
                sha256,
                image,
                result.quality.as_dict(),
                mcc_template(result.minutiae, instance.finger_config.mcc),
                instance.finger_calibration(finger.capture),
                result.algorithm,
                finger.finger_position,
                finger.capture,
            )
        )

    fusable, not_fused = _fusion_plan(instance, probes)
    now = instance.clock()
    if len({p.name for p in fusable}) >= 2:
        return _identify_fused(
            instance, actor, gallery_id, purpose, case_reference, action, search_id, started_at, fusable, not_fused, now
        )
    for probe in probes:
        if probe.calibration is None:
            instance.record_alone(
                actor,
                action,
                "refused:not_calibrated",
                gallery_id=gallery_id,
                details={
                    **logged,
                    "probe_sha256": probe.sha256,
                    "finger_position": probe.finger_position,
                    "capture": probe.capture,
                },
            )
            raise Conflict(
                NOT_CALIBRATED.format(capture=probe.capture).replace(
                    "no decision is made", "no 1:N threshold can be set"
                )
                + " Install a finger calibration (tessera/match/calibrations/finger-*.json) to search by finger.",
                code="not_calibrated",
            )
    limit = instance.settings.identify_max_candidates
    for probe in probes:
        gallery_size = _searchable(instance, probe, gallery_id, purpose, now)
        try:
            probe.threshold = probe.calibration.identify_threshold(
                max(gallery_size, 1), instance.settings.identify_expected_false_candidates
            )
        except FmrBeyondCalibration as error:
            instance.record_alone(
                actor,
                action,
                "refused:beyond_calibration",
                gallery_id=gallery_id,
                details={"search_id": search_id, "gallery_size": gallery_size, "modality": probe.modality},
            )
            raise Conflict(
                f"A search of {gallery_size:,} people needs a false-match rate the {probe.modality} calibration "
                "cannot vouch for "
                f"({error}). Recalibrate on more impostor comparisons, or raise identify_expected_false_candidates.",
                code="beyond_calibration",
            ) from None
        probe.ranked = _search(instance, probe, gallery_id, purpose, now, limit + CATCH_TRIAL_POOL)
        probe.hits = [hit for hit in probe.ranked.hits if hit.score >= probe.threshold][:limit]
    lead = probes[0]
    catch = _catch_trial(instance, lead.ranked.hits, lead.hits, lead.calibration)
    probe_sha256 = _probes_sha256(probes)
    searched = max(p.ranked.searched_subjects for p in probes)
    unfused = None
    if len(probes) > 1:
        unfused = {
            "fused": False,
            "reason": "Fewer than two of the probes can be fused, so each was searched on its own with its own "
            "threshold.",
            "not_fused": not_fused,
        }

    with instance.transaction() as session:
        gallery = session.get(Gallery, gallery_id)
        all_hits = [hit for p in probes for hit in p.hits]
        references = _references(session, [h.template_id for h in all_hits])
        found = [
            (probe, hit, _candidate(probe, hit, rank, references))
            for probe in probes
            for rank, hit in enumerate(probe.hits, start=1)
        ]
        candidates = [candidate for _, _, candidate in found]
        ended_at = instance.clock()
        search = Search(
            id=search_id,
            gallery_id=gallery_id,
            gallery_version=gallery.version,
            purpose=purpose,
            case_reference=case_reference,
            requested_by=str(actor),
            started_at=started_at,
            ended_at=ended_at,
            probe_sha256=probe_sha256,
            threshold=lead.threshold,
            gallery_size=searched,
            status=CaseStatus.OPEN if candidates else CaseStatus.CLOSED,
        )
        if candidates and instance.settings.keep_raw_images:
            search.probe_ciphertext = seal(
                instance.case_keys.create(search_id), clean_jpeg(lead.image), image_associated_data(search_id, "probe")
            )
        session.add(search)
        for _, hit, candidate in found:
            session.add(
                CaseCandidate(
                    id=str(uuid.uuid4()),
                    search_id=search_id,
                    subject_id=hit.subject_id,
                    template_id=hit.template_id,
                    rank=candidate.rank,
                    score=hit.score,
                    fmr=candidate.fmr,
                )
            )
        if catch is not None and candidates:
            session.add(
                CaseCandidate(
                    id=str(uuid.uuid4()),
                    search_id=search_id,
                    subject_id=catch.subject_id,
                    template_id=catch.template_id,
                    rank=None,
                    score=catch.score,
                    fmr=lead.calibration.fmr_at(catch.score).value,
                    catch_trial=True,
                )
            )
        details = {
            **logged,
            "probe_sha256": probe_sha256,
            "started_at": started_at.isoformat(),
            "ended_at": ended_at.isoformat(),
            "gallery_version": gallery.version,
            "gallery_size": searched,
            "threshold": lead.threshold,
            "algorithm": lead.algorithm,
            "candidates": [{"subject_id": c.subject_id, "score": c.score, "rank": c.rank} for c in candidates],
        }
        if len(probes) > 1 or lead.modality != FACE:
            details["probes"] = [
                {
                    "modality": p.modality,
                    "finger_position": p.finger_position,
                    "capture": p.capture,
                    "probe_sha256": p.sha256,
                    "gallery_size": p.ranked.searched_subjects,
                    "threshold": p.threshold,
                    "algorithm": p.algorithm,
                }
                for p in probes
            ]
            details["candidates"] = [
                {
                    "subject_id": c.subject_id,
                    "score": c.score,
                    "rank": c.rank,
                    "modality": c.modality,
                    "finger_position": c.finger_position,
                }
                for c in candidates
            ]
        if unfused is not None:
            details["fused"] = False
            details["not_fused"] = [item["modality"] for item in not_fused]
        instance.record(session, actor, action, f"candidates:{len(candidates)}", gallery_id=gallery_id, details=details)
    summaries = [_summary(p) for p in probes]
    single = len(probes) == 1
    return Identification(
        search_id=search_id,
        case_reference=case_reference,
        gallery_size=searched,
        gallery_version=search.gallery_version,
        threshold=lead.threshold if single else None,
        threshold_fmr=summaries[0].threshold_fmr if single else None,
        expected_false_candidates=sum(s.expected_false_candidates for s in summaries),
        candidates=candidates,
        quality=lead.quality if single else None,
        modalities_compared=sorted({p.modality for p in probes}, key=[FACE, FINGER].index),
        probes=summaries,
        fusion=unfused,
    )


def _probes_sha256(probes: Sequence[_Probe]) -> str:
    return (
        probes[0].sha256 if len(probes) == 1 else hashlib.sha256("".join(p.sha256 for p in probes).encode()).hexdigest()
    )


def _references(session, template_ids: list[str]) -> dict:
    rows = session.execute(
        select(Template.id, Template.created_at, Template.quality).where(Template.id.in_(template_ids))
    )
    return {template_id: (created_at, quality) for template_id, created_at, quality in rows}


def _fusion_plan(instance: Instance, probes: Sequence[_Probe]) -> tuple[list[_Probe], list[dict]]:
    """The probes whose scores can be fused, and the others with the reason they cannot."""
    fusable, not_fused = [], []
    for probe in probes:
        if probe.modality == FINGER and probe.capture != FUSABLE_CAPTURE:
            problem = (
                f"no fusion model of {probe.capture} finger scores exists (the finger model is of "
                f"{FUSABLE_CAPTURE} scans)"
            )
        else:
            problem = instance.fusion_problem(model_kind(probe.name))
        if problem is None:
            fusable.append(probe)
        else:
            not_fused.append(
                {"modality": probe.name, "capture": probe.capture, "reason": "no_fusion_model", "message": problem}
            )
    return fusable, not_fused


@dataclass
class _Scored:
    """One subject in a fused search: its best score (and template) per modality name, and the fused LLR."""

    subject_id: str
    scores: dict[str, tuple[float, str]]
    llr: float = 0.0
    threshold: float | None = None


def _identify_fused(
    instance: Instance,
    actor: Actor | str,
    gallery_id: str,
    purpose: str,
    case_reference: str,
    action: str,
    search_id: str,
    started_at,
    probes: list[_Probe],
    not_fused: list[dict],
    now,
) -> Identification:
    """A 1:N search on the fused score of several probes (see the module docstring)."""
    settings, config, models = instance.settings, instance.fusion_config, instance.fusion_models
    names = list(dict.fromkeys(p.name for p in probes))
    subjects: dict[str, _Scored] = {}
    searched_per_probe = []
    for probe in probes:
        ranked = _score_all(instance, probe, gallery_id, purpose, now)
        searched_per_probe.append(ranked.searched_subjects)
        for hit in ranked.hits:
            scored = subjects.setdefault(hit.subject_id, _Scored(hit.subject_id, {}))
            best = scored.scores.get(probe.name)
            if best is None or hit.score > best[0]:  # several probes of one finger: its best score speaks for it
                scored.scores[probe.name] = (hit.score, hit.template_id)
    gallery_size = len(subjects)
    target = min(settings.identify_expected_false_candidates / max(gallery_size, 1), 0.5)
    thresholds: dict[tuple[str, ...], float | None] = {}

    def threshold_of(present: tuple[str, ...], rate: float, cache: dict) -> float | None:
        if present not in cache:
            cache[present] = fused_threshold([models[model_kind(n)] for n in present], rate, config)
        return cache[present]

    everyone = tuple(names)
    full_threshold = threshold_of(everyone, target, thresholds)
    logged = {"search_id": search_id, "purpose": purpose, "case_reference": case_reference}
    if full_threshold is None:
        instance.record_alone(
            actor,
            action,
            "refused:beyond_calibration",
            gallery_id=gallery_id,
            details={**logged, "gallery_size": gallery_size, "fused": True, "modalities": names},
        )
        raise Conflict(
            f"A search of {gallery_size:,} people needs a fused false-match rate of {target:.3g} per "
            "comparison, which the "
            f"fusion models cannot vouch for with {', '.join(names)} (safety factor "
            f"{settings.fusion_fmr_safety_factor:g}). "
            "Send more fingers, or raise identify_expected_false_candidates.",
            code="beyond_calibration",
        )
    for name in names:
        model = models[model_kind(name)]
        having = [s for s in subjects.values() if name in s.scores]
        if having:
            llrs = np.atleast_1d(model.llr(np.array([s.scores[name][0] for s in having])))
            for scored, value in zip(having, llrs):
                scored.llr += float(value)
    for scored in subjects.values():
        scored.threshold = threshold_of(tuple(n for n in names if n in scored.scores), target, thresholds)
    ranked = sorted(subjects.values(), key=lambda s: -s.llr)
    chosen = [s for s in ranked if s.threshold is not None and s.llr >= s.threshold][: settings.identify_max_candidates]
    combos: dict[tuple[str, ...], int] = {}
    for scored in subjects.values():
        key = tuple(n for n in names if n in scored.scores)
        combos[key] = combos.get(key, 0) + 1
    expected = sum(
        count * fused_fmr(thresholds[key], [models[model_kind(n)] for n in key], config)[0]
        for key, count in combos.items()
        if thresholds.get(key) is not None
    )
    full_fmr, full_basis = fused_fmr(full_threshold, [models[model_kind(n)] for n in everyone], config)
    catch = _fused_catch_trial(instance, ranked, chosen, names, threshold_of)
    probe_sha256 = _probes_sha256(probes)

    with instance.transaction() as session:
        gallery = session.get(Gallery, gallery_id)
        references = _references(session, [_loudest(s, models) for s in chosen])
        candidates = [
            _fused_candidate(s, rank, names, target, instance, references) for rank, s in enumerate(chosen, start=1)
        ]
        ended_at = instance.clock()
        search = Search(
            id=search_id,
            gallery_id=gallery_id,
            gallery_version=gallery.version,
            purpose=purpose,
            case_reference=case_reference,
            requested_by=str(actor),
            started_at=started_at,
            ended_at=ended_at,
            probe_sha256=probe_sha256,
            threshold=full_threshold,
            gallery_size=gallery_size,
            status=CaseStatus.OPEN if candidates else CaseStatus.CLOSED,
        )
        if candidates and settings.keep_raw_images:
            search.probe_ciphertext = seal(
                instance.case_keys.create(search_id),
                clean_jpeg(probes[0].image),
                image_associated_data(search_id, "probe"),
            )
        session.add(search)
        for scored, candidate in zip(chosen, candidates):
            session.add(
                CaseCandidate(
                    id=str(uuid.uuid4()),
                    search_id=search_id,
                    subject_id=scored.subject_id,
                    template_id=_loudest(scored, models),
                    rank=candidate.rank,
                    score=scored.llr,
                    fmr=candidate.fmr,
                )
            )
        if catch is not None and candidates:
            present = [models[model_kind(n)] for n in names if n in catch.scores]
            session.add(
                CaseCandidate(
                    id=str(uuid.uuid4()),
                    search_id=search_id,
                    subject_id=catch.subject_id,
                    template_id=_loudest(catch, models),
                    rank=None,
                    score=catch.llr,
                    fmr=fused_fmr(catch.llr, present, config)[0],
                    catch_trial=True,
                )
            )
        fusion = {
            "fused": True,
            "modalities": names,
            "target_fmr": target,
            "threshold_llr": full_threshold,
            "threshold_fmr": full_fmr,
            "threshold_fmr_basis": full_basis,
            "thresholds_by_modalities": [
                {"modalities": list(key), "subjects": count, "threshold_llr": thresholds.get(key)}
                for key, count in combos.items()
            ],
            "fmr_safety_factor": settings.fusion_fmr_safety_factor,
            "algorithms": {kind: models[kind].algorithm for kind in sorted({model_kind(n) for n in names})},
            "not_fused": not_fused,
            "assumption": INDEPENDENCE_NOTE,
        }
        details = {
            **logged,
            "probe_sha256": probe_sha256,
            "started_at": started_at.isoformat(),
            "ended_at": ended_at.isoformat(),
            "gallery_version": gallery.version,
            "gallery_size": gallery_size,
            "threshold": full_threshold,
            "algorithm": "+".join(sorted({p.algorithm for p in probes})),
            "fused": True,
            "fusion": {
                key: fusion[key]
                for key in (
                    "modalities",
                    "target_fmr",
                    "threshold_llr",
                    "threshold_fmr",
                    "fmr_safety_factor",
                    "algorithms",
                )
            },
            "not_fused": [item["modality"] for item in not_fused],
            "probes": [
                {
                    "modality": p.modality,
                    "finger_position": p.finger_position,
                    "capture": p.capture,
                    "probe_sha256": p.sha256,
                    "gallery_size": searched,
                    "algorithm": p.algorithm,
                }
                for p, searched in zip(probes, searched_per_probe)
            ],
            "candidates": [
                {
                    "subject_id": c.subject_id,
                    "score": c.score,
                    "fmr": c.fmr,
                    "rank": c.rank,
                    "modality": c.modality,
                    "scores": c.fusion["scores"],
                    "missing": c.fusion["missing"],
                }
                for c in candidates
            ],
        }
        instance.record(session, actor, action, f"candidates:{len(candidates)}", gallery_id=gallery_id, details=details)
    summaries = [
        ProbeSearch(
            modality=p.modality,
            finger_position=p.finger_position,
            capture=p.capture,
            probe_sha256=p.sha256,
            gallery_size=searched,
            threshold=None,
            threshold_fmr=None,
            expected_false_candidates=None,
            algorithm=p.algorithm,
            candidates=sum(1 for s in chosen if p.name in s.scores),
            quality=p.quality,
        )
        for p, searched in zip(probes, searched_per_probe)
    ]
    return Identification(
        search_id=search_id,
        case_reference=case_reference,
        gallery_size=gallery_size,
        gallery_version=search.gallery_version,
        threshold=full_threshold,
        threshold_fmr=full_fmr,
        expected_false_candidates=expected,
        candidates=candidates,
        quality=None,
        modalities_compared=sorted({p.modality for p in probes}, key=[FACE, FINGER].index),
        probes=summaries,
        fused=True,
        fusion=fusion,
    )


def _score_all(instance: Instance, probe: _Probe, gallery_id: str, purpose: str, now) -> SearchResult:
    if probe.modality == FACE:
        return instance.index.score_all(probe.features, gallery_id=gallery_id, modality=FACE, purpose=purpose, now=now)
    return instance.finger_index.score_all(
        probe.features,
        gallery_id=gallery_id,
        finger_position=probe.finger_position,
        capture=probe.capture,
        purpose=purpose,
        now=now,
    )


def _loudest(scored: _Scored, models) -> str:
    """The reference template whose modality gave the subject's largest LLR (shown for review)."""
    name = max(scored.scores, key=lambda n: models[model_kind(n)].llr(scored.scores[n][0]))
    return scored.scores[name][1]


def _fused_candidate(
    scored: _Scored, rank: int, names: list[str], target: float, instance: Instance, references: dict
) -> Candidate:
    decision = fuse(
        {n: scored.scores[n][0] if n in scored.scores else None for n in names},
        instance.fusion_models,
        target_fmr=target,
        config=instance.fusion_config,
    )
    reference = references.get(_loudest(scored, instance.fusion_models))
    return Candidate(
        subject_id=scored.subject_id,
        score=decision.llr,
        fmr=decision.fmr,
        fmr_detail=fused_fmr_fields(decision),
        rank=rank,
        reference_captured_at=reference[0].isoformat() if reference else None,
        reference_quality=reference[1] if reference else None,
        modality="fused",
        fusion={
            "llr": decision.llr,
            "threshold_llr": decision.threshold_llr,
            "scores": {n: value for n, (value, _) in scored.scores.items()},
            "per_modality_llr": dict(decision.per_modality_llr),
            "missing": list(decision.missing),
        },
    )


def _fused_catch_trial(
    instance: Instance, ranked: list[_Scored], chosen: list[_Scored], names: list[str], threshold_of
) -> _Scored | None:
    """At the configured rate, the best-scoring subject below the fused 1:1 threshold at the verification FMR."""
    rate = instance.settings.catch_trial_rate
    if rate <= 0 or not chosen or instance.random.random() >= rate:
        return None
    taken = {s.subject_id for s in chosen}
    verify_thresholds: dict = {}
    for scored in ranked[: len(chosen) + CATCH_TRIAL_POOL]:
        if scored.subject_id in taken:
            continue
        limit = threshold_of(
            tuple(n for n in names if n in scored.scores), instance.settings.verify_target_fmr, verify_thresholds
        )
        if limit is not None and scored.llr < limit:
            return scored
    return None


def _action(face: bool, fingers: bool) -> str:
    """The audit action of a search: ``face.identify``, ``finger.identify`` or ``multimodal.identify``."""
    return "multimodal.identify" if face and fingers else ("face.identify" if face else "finger.identify")


def _searchable(instance: Instance, probe: _Probe, gallery_id: str, purpose: str, now) -> int:
    if probe.modality == FACE:
        return instance.index.searchable_subjects(gallery_id=gallery_id, modality=FACE, purpose=purpose, now=now)
    return instance.finger_index.searchable_subjects(
        gallery_id=gallery_id, finger_position=probe.finger_position, capture=probe.capture, purpose=purpose, now=now
    )


def _search(instance: Instance, probe: _Probe, gallery_id: str, purpose: str, now, limit: int) -> SearchResult:
    if probe.modality == FACE:
        return instance.index.search(
            probe.features, gallery_id=gallery_id, modality=FACE, purpose=purpose, now=now, limit=limit
        )
    return instance.finger_index.search(
        probe.features,
        gallery_id=gallery_id,
        finger_position=probe.finger_position,
        capture=probe.capture,
        purpose=purpose,
        now=now,
        limit=limit,
    )


def _candidate(probe: _Probe, hit: Hit, rank: int, references: dict) -> Candidate:
    estimate = probe.calibration.fmr_at(hit.score)
    reference = references.get(hit.template_id)
    return Candidate(
        subject_id=hit.subject_id,
        score=hit.score,
        fmr=estimate.value,
        fmr_detail=fmr_fields(estimate),
        rank=rank,
        reference_captured_at=reference[0].isoformat() if reference else None,
        reference_quality=reference[1] if reference else None,
        modality=probe.modality,
        finger_position=probe.finger_position,
    )


def _summary(probe: _Probe) -> ProbeSearch:
    threshold_fmr = probe.calibration.fmr_at(probe.threshold).value
    return ProbeSearch(
        modality=probe.modality,
        finger_position=probe.finger_position,
        capture=probe.capture,
        probe_sha256=probe.sha256,
        gallery_size=probe.ranked.searched_subjects,
        threshold=probe.threshold,
        threshold_fmr=threshold_fmr,
        expected_false_candidates=probe.ranked.searched_subjects * threshold_fmr,
        algorithm=probe.algorithm,
        candidates=len(probe.hits),
        quality=probe.quality,
    )


def _catch_trial(
    instance: Instance, ranked: list[Hit], candidates: list[Hit], calibration: Calibration | None = None
) -> Hit | None:
    """At the configured rate, a known non-mate to slip among the candidates for review.

    Drawn from the best-scoring subjects below the 1:1 threshold at the
    verification FMR (so very unlikely to be the person), which makes it the
    most plausible-looking non-mate the gallery holds.
    """
    rate = instance.settings.catch_trial_rate
    if rate <= 0 or not candidates or instance.random.random() >= rate:
        return None
    try:
        verify_threshold = (calibration or instance.face_calibration).threshold_for_fmr(
            instance.settings.verify_target_fmr
        )
    except FmrBeyondCalibration:
        return None
    taken = {hit.subject_id for hit in candidates}
    pool = [hit for hit in ranked if hit.subject_id not in taken and hit.score < verify_threshold]
    return pool[0] if pool else None
