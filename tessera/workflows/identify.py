"""1:N search: candidates for a person to review, bound to a purpose and a case.

Every search must pass the purpose rules (:mod:`tessera.workflows.policy`),
opens a review case, and is recorded with its start and end time, the
gallery and its version, the probe's hash and the candidates (EU AI Act
Art. 12(3)). Candidates are leads, never identifications: two adjudicators
decide (:mod:`tessera.workflows.adjudication`).

A search may carry a face photo, finger captures, or both. Each probe is
searched on its own, with its own calibration and threshold: the face among
the gallery's face templates (:mod:`tessera.index.exact`), a finger among the
templates of the same finger position and capture kind
(:mod:`tessera.index.fingers`). Candidates are reported per probe; nothing is
fused (one list per person across modalities is :mod:`tessera.match.fusion`'s
job). A finger search needs a finger calibration: without one no threshold
can be set, and the search is refused (409 ``not_calibrated``) rather than
showing candidates nobody can put a false-match rate on.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select

from tessera.errors import Conflict, InvalidRequest
from tessera.index.base import Hit, SearchResult
from tessera.match.calibration import Calibration, FmrBeyondCalibration
from tessera.match.mcc import ALGORITHM as MATCHER, mcc_template
from tessera.store.models import CaseCandidate, Gallery, Search, Template
from tessera.capture.still import clean_jpeg
from tessera.store.crypto import seal
from tessera.workflows.enrolment import image_associated_data
from tessera.workflows.faces import FACE, fmr_fields, read_face, refuse_capture
from tessera.workflows.fingers import FINGER, NOT_CALIBRATED, FingerProbe, check_finger_fields, read_finger
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
    finger_position: int | None = None
    """Fingers: which finger matched (the probe's and the reference's: only the same finger is searched)."""


@dataclass(frozen=True)
class ProbeSearch:
    """What one probe of a search met: its modality (and finger), N, threshold and candidates found."""

    modality: str
    finger_position: int | None
    capture: str | None
    probe_sha256: str
    gallery_size: int
    threshold: float
    threshold_fmr: float
    expected_false_candidates: float
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


@dataclass
class _Probe:
    """A probe being searched: read, then thresholded, then searched."""

    modality: str
    sha256: str
    image: np.ndarray
    quality: dict
    features: object
    """A face embedding, or a finger's MCC cylinders."""
    calibration: Calibration
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
        return self.calibration.algorithm if self.modality == FACE else f"{self.calibration.algorithm} ({MATCHER})"


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
        raise InvalidRequest("Send a face image, or one or more finger_image with their finger_position and capture.",
                             code="no_probe")
    for finger in fingers:
        check_finger_fields(finger.finger_position, finger.capture)
    action = _action(face_image is not None, bool(fingers))
    check_search_allowed(instance, actor, gallery_id, purpose, case_reference, action)
    logged = {"search_id": search_id, "purpose": purpose, "case_reference": case_reference}
    probes = []
    if face_image is not None:
        result, sha256, image = read_face(instance, face_image)
        if not result:
            instance.record_alone(actor, action, f"refused:{result.reason}", gallery_id=gallery_id,
                                  details={**logged, "probe_sha256": sha256})
            raise refuse_capture(result)
        probes.append(_Probe(FACE, sha256, image, result.quality.as_dict(), result.embedding, instance.face_calibration))
    for finger in fingers:
        result, sha256, image = read_finger(instance, finger)
        where = {"finger_position": finger.finger_position, "capture": finger.capture}
        if not result:
            instance.record_alone(actor, action, f"refused:{result.reason}", gallery_id=gallery_id,
                                  details={**logged, "probe_sha256": sha256, **where})
            raise refuse_capture(result)
        calibration = instance.finger_calibration(finger.capture)
        if calibration is None:
            instance.record_alone(actor, action, "refused:not_calibrated", gallery_id=gallery_id,
                                  details={**logged, "probe_sha256": sha256, **where})
            raise Conflict(
                NOT_CALIBRATED.format(capture=finger.capture).replace("no decision is made", "no 1:N threshold can be set")
                + " Install a finger calibration (tessera/match/calibrations/finger-*.json) to search by finger.",
                code="not_calibrated",
            )
        probes.append(_Probe(FINGER, sha256, image, result.quality.as_dict(), mcc_template(result.minutiae), calibration,
                             finger.finger_position, finger.capture))

    now = instance.clock()
    limit = instance.settings.identify_max_candidates
    for probe in probes:
        gallery_size = _searchable(instance, probe, gallery_id, purpose, now)
        try:
            probe.threshold = probe.calibration.identify_threshold(
                max(gallery_size, 1), instance.settings.identify_expected_false_candidates
            )
        except FmrBeyondCalibration as error:
            instance.record_alone(actor, action, "refused:beyond_calibration", gallery_id=gallery_id,
                                  details={"search_id": search_id, "gallery_size": gallery_size, "modality": probe.modality})
            raise Conflict(
                f"A search of {gallery_size:,} people needs a false-match rate the {probe.modality} calibration cannot vouch for "
                f"({error}). Recalibrate on more impostor comparisons, or raise identify_expected_false_candidates.",
                code="beyond_calibration",
            ) from None
        probe.ranked = _search(instance, probe, gallery_id, purpose, now, limit + CATCH_TRIAL_POOL)
        probe.hits = [hit for hit in probe.ranked.hits if hit.score >= probe.threshold][:limit]
    lead = probes[0]
    catch = _catch_trial(instance, lead.ranked.hits, lead.hits, lead.calibration)
    probe_sha256 = lead.sha256 if len(probes) == 1 else hashlib.sha256("".join(p.sha256 for p in probes).encode()).hexdigest()
    searched = max(p.ranked.searched_subjects for p in probes)

    with instance.transaction() as session:
        gallery = session.get(Gallery, gallery_id)
        all_hits = [hit for p in probes for hit in p.hits]
        rows = session.execute(select(Template.id, Template.created_at, Template.quality)
                               .where(Template.id.in_([h.template_id for h in all_hits])))
        references = {template_id: (created_at, quality) for template_id, created_at, quality in rows}
        found = [(probe, hit, _candidate(probe, hit, rank, references))
                 for probe in probes for rank, hit in enumerate(probe.hits, start=1)]
        candidates = [candidate for _, _, candidate in found]
        ended_at = instance.clock()
        search = Search(
            id=search_id, gallery_id=gallery_id, gallery_version=gallery.version, purpose=purpose,
            case_reference=case_reference, requested_by=str(actor), started_at=started_at, ended_at=ended_at,
            probe_sha256=probe_sha256, threshold=lead.threshold, gallery_size=searched,
            status="open" if candidates else "closed",
        )
        if candidates and instance.settings.keep_raw_images:
            search.probe_ciphertext = seal(instance.case_keys.create(search_id), clean_jpeg(lead.image),
                                           image_associated_data(search_id, "probe"))
        session.add(search)
        for _, hit, candidate in found:
            session.add(CaseCandidate(id=str(uuid.uuid4()), search_id=search_id, subject_id=hit.subject_id,
                                      template_id=hit.template_id, rank=candidate.rank, score=hit.score, fmr=candidate.fmr))
        if catch is not None and candidates:
            session.add(CaseCandidate(id=str(uuid.uuid4()), search_id=search_id, subject_id=catch.subject_id,
                                      template_id=catch.template_id, rank=None, score=catch.score,
                                      fmr=lead.calibration.fmr_at(catch.score).value, catch_trial=True))
        details = {
            **logged, "probe_sha256": probe_sha256,
            "started_at": started_at.isoformat(), "ended_at": ended_at.isoformat(), "gallery_version": gallery.version,
            "gallery_size": searched, "threshold": lead.threshold, "algorithm": lead.algorithm,
            "candidates": [{"subject_id": c.subject_id, "score": c.score, "rank": c.rank} for c in candidates],
        }
        if len(probes) > 1 or lead.modality != FACE:
            details["probes"] = [
                {"modality": p.modality, "finger_position": p.finger_position, "capture": p.capture, "probe_sha256": p.sha256,
                 "gallery_size": p.ranked.searched_subjects, "threshold": p.threshold, "algorithm": p.algorithm}
                for p in probes
            ]
            details["candidates"] = [
                {"subject_id": c.subject_id, "score": c.score, "rank": c.rank, "modality": c.modality,
                 "finger_position": c.finger_position}
                for c in candidates
            ]
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
    )


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
        return instance.index.search(probe.features, gallery_id=gallery_id, modality=FACE, purpose=purpose, now=now, limit=limit)
    return instance.finger_index.search(
        probe.features, gallery_id=gallery_id, finger_position=probe.finger_position, capture=probe.capture,
        purpose=purpose, now=now, limit=limit,
    )


def _candidate(probe: _Probe, hit: Hit, rank: int, references: dict) -> Candidate:
    estimate = probe.calibration.fmr_at(hit.score)
    reference = references.get(hit.template_id)
    return Candidate(
        subject_id=hit.subject_id, score=hit.score, fmr=estimate.value, fmr_detail=fmr_fields(estimate), rank=rank,
        reference_captured_at=reference[0].isoformat() if reference else None,
        reference_quality=reference[1] if reference else None,
        modality=probe.modality, finger_position=probe.finger_position,
    )


def _summary(probe: _Probe) -> ProbeSearch:
    threshold_fmr = probe.calibration.fmr_at(probe.threshold).value
    return ProbeSearch(
        modality=probe.modality, finger_position=probe.finger_position, capture=probe.capture, probe_sha256=probe.sha256,
        gallery_size=probe.ranked.searched_subjects, threshold=probe.threshold, threshold_fmr=threshold_fmr,
        expected_false_candidates=probe.ranked.searched_subjects * threshold_fmr, algorithm=probe.algorithm,
        candidates=len(probe.hits), quality=probe.quality,
    )


def _catch_trial(instance: Instance, ranked: list[Hit], candidates: list[Hit], calibration: Calibration | None = None) -> Hit | None:
    """At the configured rate, a known non-mate to slip among the candidates for review.

    Drawn from the best-scoring subjects below the 1:1 threshold at the
    verification FMR (so very unlikely to be the person), which makes it the
    most plausible-looking non-mate the gallery holds.
    """
    rate = instance.settings.catch_trial_rate
    if rate <= 0 or not candidates or instance.random.random() >= rate:
        return None
    try:
        verify_threshold = (calibration or instance.face_calibration).threshold_for_fmr(instance.settings.verify_target_fmr)
    except FmrBeyondCalibration:
        return None
    taken = {hit.subject_id for hit in candidates}
    pool = [hit for hit in ranked if hit.subject_id not in taken and hit.score < verify_threshold]
    return pool[0] if pool else None
