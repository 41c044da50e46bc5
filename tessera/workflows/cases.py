"""The review case a 1:N search opens, and its audit entry: the same for every modality and for fused searches.

A search's result (:class:`Found`) becomes a ``Search`` row with one
``CaseCandidate`` row per candidate (and, at ``catch_trial_rate``, a known
non-mate slipped in to measure reviewers), each stored score with its kind
(cosine, MCC, LLR) and algorithm; the probe photo is sealed for the
reviewers under a per-case key (:class:`tessera.store.vault.Vault`) for as
long as the case is open (a face: its reference crop; any capture when
``keep_raw_images`` is on); and one audit entry records the search (EU AI
Act Art. 12(3)): start and end, gallery and its version, the probes' hashes,
N, the threshold and the candidates.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import select

from tessera.face.reference import reference_crop
from tessera.governance.vocabulary import CaseStatus
from tessera.store.models import CaseCandidate, Gallery, Search, Template
from tessera.workflows.instance import Actor, Instance

if TYPE_CHECKING:
    from tessera.workflows.captures import Probe

CATCH_TRIAL_POOL = 25
"""How many of the best non-candidates a catch trial is drawn from."""


@dataclass(frozen=True)
class Request:
    """What a search is for: kept with every audit entry it writes."""

    search_id: str
    gallery_id: str
    purpose: str
    case_reference: str
    action: str
    started_at: datetime

    @property
    def logged(self) -> dict[str, object]:
        return {"search_id": self.search_id, "purpose": self.purpose, "case_reference": self.case_reference}


@dataclass(frozen=True)
class Candidate:
    subject_id: str
    score: float
    fmr: float
    fmr_detail: dict
    rank: int
    reference_captured_at: str | None = None
    reference_quality: dict | None = None
    modality: str = "face"
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
    search_method: str = "exact"
    """How the index compared the probe with its shard: ``exact`` (every eligible template), ``prefilter`` (a
    shortlist scored exactly: fingers in a large shard, docs/fingerprints.md) or ``approximate`` (an ANN index;
    :meth:`~tessera.index.base.SearchIndex.search_method`)."""


@dataclass(frozen=True)
class Listed:
    """One row of a case: the candidate (None for a catch trial), who and which reference, the score and its
    rate."""

    subject_id: str
    template_id: str
    score: float
    fmr: float
    candidate: Candidate | None = None


@dataclass
class Found:
    """What a search found, whichever way it searched: the case's rows and what the answer and audit say."""

    listed: list[Listed]
    catch: Listed | None
    gallery_size: int
    threshold: float | None
    threshold_fmr: float | None
    expected_false_candidates: float
    probes: list[ProbeSearch]
    score_kind: str
    algorithm: str
    fused: bool = False
    fusion: dict | None = None
    audit: dict = field(default_factory=dict)
    """What this way of searching adds to the audit entry (the fusion, the probes' thresholds)."""

    @property
    def candidates(self) -> list[Candidate]:
        return [row.candidate for row in self.listed if row.candidate is not None]


def open_case(instance: Instance, actor: Actor | str, request: Request, probes: Sequence[Probe], found: Found) -> int:
    """Store the search and its case, seal the probe photo for review, audit it; returns the gallery version."""
    candidates = found.candidates
    probe_sha256 = probes_sha256(probes)
    with instance.transaction() as session:
        gallery = session.get_one(Gallery, request.gallery_id)
        ended_at = instance.clock()
        search = Search(
            id=request.search_id,
            gallery_id=request.gallery_id,
            gallery_version=gallery.version,
            purpose=request.purpose,
            case_reference=request.case_reference,
            requested_by=str(actor),
            started_at=request.started_at,
            ended_at=ended_at,
            probe_sha256=probe_sha256,
            threshold=found.threshold,
            score_kind=found.score_kind,
            algorithm=found.algorithm,
            gallery_size=found.gallery_size,
            status=CaseStatus.OPEN if candidates else CaseStatus.CLOSED,
        )
        kept = case_photo(instance, probes[0])
        if candidates and kept is not None:
            search.probe_ciphertext = instance.vault.seal_case_probe(request.search_id, kept)
        session.add(search)
        catch = found.catch if found.catch is not None and candidates else None
        if catch is not None and _has_photo(session, catch) != _has_photo(session, found.listed[0]):
            catch = None  # a catch trial with a photo where the real candidates have none (or the reverse) stands out
        rows = found.listed + ([catch] if catch is not None else [])
        for row in rows:
            session.add(
                CaseCandidate(
                    id=str(uuid.uuid4()),
                    search_id=request.search_id,
                    subject_id=row.subject_id,
                    template_id=row.template_id,
                    rank=None if row.candidate is None else row.candidate.rank,
                    score=row.score,
                    score_kind=found.score_kind,
                    algorithm=found.algorithm,
                    fmr=row.fmr,
                    catch_trial=row.candidate is None,
                )
            )
        details = {
            **request.logged,
            "probe_sha256": probe_sha256,
            "started_at": request.started_at.isoformat(),
            "ended_at": ended_at.isoformat(),
            "gallery_version": gallery.version,
            "gallery_size": found.gallery_size,
            "threshold": found.threshold,
            "score_kind": found.score_kind,
            "algorithm": found.algorithm,
            **found.audit,
        }
        instance.record(
            session,
            actor,
            request.action,
            f"candidates:{len(candidates)}",
            gallery_id=request.gallery_id,
            details=details,
        )
        return gallery.version


def _has_photo(session, row: Listed) -> bool:
    """Whether the reference a case row shows reviewers has a kept photo."""
    return session.scalar(select(Template.image_ciphertext.is_not(None)).where(Template.id == row.template_id)) is True


def case_photo(instance: Instance, probe: Probe) -> np.ndarray | None:
    """The probe photo kept for the reviewers while the case is open: a face's reference crop (the same framing as
    the candidates' reference photos), or the whole capture when ``keep_raw_images`` is on, else none."""
    if probe.reading.region is not None:
        return reference_crop(probe.image, probe.reading.region, instance.settings.reference_photo_pixels)
    return probe.image if instance.settings.keep_raw_images else None


def reference_of(instance: Instance, template_ids: Sequence[str]) -> dict[str, tuple[str, dict]]:
    """When each reference was captured (ISO 8601) and its quality, by template id: shown to reviewers."""
    with instance.sessions() as session:
        rows = session.execute(
            select(Template.id, Template.created_at, Template.quality).where(Template.id.in_(list(template_ids)))
        )
        return {template_id: (created_at.isoformat(), quality) for template_id, created_at, quality in rows}


def probes_sha256(probes: Sequence[Probe]) -> str:
    """One probe's SHA-256, or the SHA-256 of several probes' hashes in order."""
    if len(probes) == 1:
        return probes[0].sha256
    return hashlib.sha256("".join(p.sha256 for p in probes).encode()).hexdigest()
