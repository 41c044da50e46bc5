"""1:N search: candidates for a person to review, bound to a purpose and a case.

Every search must pass the purpose rules (:mod:`tessera.workflows.policy`),
opens a review case, and is recorded with its start and end time, the
gallery and its version, the probe's hash and the candidates (EU AI Act
Art. 12(3)). Candidates are leads, never identifications: two adjudicators
decide (:mod:`tessera.workflows.adjudication`).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select

from tessera.errors import Conflict
from tessera.index.base import Hit
from tessera.match.calibration import FmrBeyondCalibration
from tessera.store.models import CaseCandidate, Gallery, Search, Template
from tessera.capture.still import clean_jpeg
from tessera.store.crypto import seal
from tessera.workflows.faces import FACE, fmr_fields, image_associated_data, read_face, refuse_capture
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


@dataclass(frozen=True)
class Identification:
    search_id: str
    case_reference: str
    gallery_size: int
    gallery_version: int
    threshold: float
    threshold_fmr: float
    expected_false_candidates: float
    candidates: list[Candidate] = field(default_factory=list)
    quality: dict | None = None


def identify_face(
    instance: Instance, actor: Actor | str, gallery_id: str, purpose: str, image_bytes: bytes, case_reference: str = ""
) -> Identification:
    """Search the gallery's consenting subjects for the person in ``image_bytes``."""
    started_at = instance.clock()
    search_id = str(uuid.uuid4())
    check_search_allowed(instance, actor, gallery_id, purpose, case_reference)
    result, probe_sha256, probe_image = read_face(instance, image_bytes)
    if not result:
        instance.record_alone(
            actor, "face.identify", f"refused:{result.reason}", gallery_id=gallery_id,
            details={"search_id": search_id, "purpose": purpose, "case_reference": case_reference, "probe_sha256": probe_sha256},
        )
        raise refuse_capture(result)
    calibration = instance.face_calibration
    now = instance.clock()
    gallery_size = instance.index.searchable_subjects(gallery_id=gallery_id, modality=FACE, purpose=purpose, now=now)
    try:
        threshold = calibration.identify_threshold(max(gallery_size, 1), instance.settings.identify_expected_false_candidates)
    except FmrBeyondCalibration as error:
        instance.record_alone(actor, "face.identify", "refused:beyond_calibration", gallery_id=gallery_id,
                              details={"search_id": search_id, "gallery_size": gallery_size})
        raise Conflict(
            f"A search of {gallery_size:,} people needs a false-match rate the calibration cannot vouch for ({error}). "
            "Recalibrate on more impostor comparisons, or raise identify_expected_false_candidates.",
            code="beyond_calibration",
        ) from None
    threshold_fmr = calibration.fmr_at(threshold).value
    limit = instance.settings.identify_max_candidates
    ranked = instance.index.search(
        result.embedding, gallery_id=gallery_id, modality=FACE, purpose=purpose, now=now, limit=limit + CATCH_TRIAL_POOL
    )
    hits = [hit for hit in ranked.hits if hit.score >= threshold][:limit]
    catch = _catch_trial(instance, ranked.hits, hits)

    with instance.transaction() as session:
        gallery = session.get(Gallery, gallery_id)
        rows = session.execute(select(Template.id, Template.created_at, Template.quality).where(Template.id.in_([h.template_id for h in hits])))
        references = {template_id: (created_at, quality) for template_id, created_at, quality in rows}
        candidates = [
            Candidate(
                subject_id=hit.subject_id, score=hit.score, fmr=(estimate := calibration.fmr_at(hit.score)).value,
                fmr_detail=fmr_fields(estimate), rank=rank,
                reference_captured_at=references[hit.template_id][0].isoformat() if hit.template_id in references else None,
                reference_quality=references[hit.template_id][1] if hit.template_id in references else None,
            )
            for rank, hit in enumerate(hits, start=1)
        ]
        ended_at = instance.clock()
        search = Search(
            id=search_id, gallery_id=gallery_id, gallery_version=gallery.version, purpose=purpose,
            case_reference=case_reference, requested_by=str(actor), started_at=started_at, ended_at=ended_at,
            probe_sha256=probe_sha256, threshold=threshold, gallery_size=ranked.searched_subjects,
            status="open" if candidates else "closed",
        )
        if candidates and instance.settings.keep_raw_images:
            search.probe_ciphertext = seal(instance.case_keys.create(search_id), clean_jpeg(probe_image),
                                           image_associated_data(search_id, "probe"))
        session.add(search)
        for candidate, hit in zip(candidates, hits):
            session.add(CaseCandidate(id=str(uuid.uuid4()), search_id=search_id, subject_id=hit.subject_id,
                                      template_id=hit.template_id, rank=candidate.rank, score=hit.score, fmr=candidate.fmr))
        if catch is not None and candidates:
            session.add(CaseCandidate(id=str(uuid.uuid4()), search_id=search_id, subject_id=catch.subject_id,
                                      template_id=catch.template_id, rank=None, score=catch.score,
                                      fmr=calibration.fmr_at(catch.score).value, catch_trial=True))
        instance.record(
            session, actor, "face.identify", f"candidates:{len(candidates)}", gallery_id=gallery_id,
            details={
                "search_id": search_id, "purpose": purpose, "case_reference": case_reference, "probe_sha256": probe_sha256,
                "started_at": started_at.isoformat(), "ended_at": ended_at.isoformat(), "gallery_version": gallery.version,
                "gallery_size": ranked.searched_subjects, "threshold": threshold, "algorithm": calibration.algorithm,
                "candidates": [{"subject_id": c.subject_id, "score": c.score, "rank": c.rank} for c in candidates],
            },
        )
    return Identification(
        search_id=search_id,
        case_reference=case_reference,
        gallery_size=ranked.searched_subjects,
        gallery_version=search.gallery_version,
        threshold=threshold,
        threshold_fmr=threshold_fmr,
        expected_false_candidates=ranked.searched_subjects * threshold_fmr,
        candidates=candidates,
        quality=result.quality.as_dict(),
    )


def _catch_trial(instance: Instance, ranked: list[Hit], candidates: list[Hit]) -> Hit | None:
    """At the configured rate, a known non-mate to slip among the candidates for review.

    Drawn from the best-scoring subjects below the 1:1 threshold at the
    verification FMR (so very unlikely to be the person), which makes it the
    most plausible-looking non-mate the gallery holds.
    """
    rate = instance.settings.catch_trial_rate
    if rate <= 0 or not candidates or instance.random.random() >= rate:
        return None
    verify_threshold = instance.face_calibration.threshold_for_fmr(instance.settings.verify_target_fmr)
    taken = {hit.subject_id for hit in candidates}
    pool = [hit for hit in ranked if hit.subject_id not in taken and hit.score < verify_threshold]
    return pool[0] if pool else None
