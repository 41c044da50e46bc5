"""Exact 1:N search over finger templates, with the MCC matcher.

The finger counterpart of :mod:`tessera.index.exact`: a probe finger is
compared with every eligible template of the same gallery, the same finger
position and the same capture kind (contact and contactless templates are
never compared, NIST SP 500-334r1), filtered by consented purpose and
consent expiry exactly like the face index. No approximation: the result is
what a full scan gives. Per (gallery, finger position, capture) the
templates' cylinders are stacked once into an :class:`~tessera.match.mcc.MccGallery`
(rebuilt lazily after a change), and a search scores the eligible members of
it in one call of :func:`~tessera.match.mcc.mcc_scores`.

Like the face index it holds no personal data beyond ids, and it is rebuilt
from the store at every start (:meth:`tessera.workflows.instance.Instance.open`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np

from tessera.index.base import Eligibility, SearchResult, best_per_subject
from tessera.match.mcc import DEFAULT_MCC_CONFIG, MccConfig, MccGallery, MccTemplate, mcc_gallery, mcc_scores


@dataclass(frozen=True)
class FingerEntry:
    """One finger template in the index: its cylinders and the ids and consent scope that filter a search."""

    template_id: str
    subject_id: str
    gallery_id: str
    finger_position: int
    capture: str
    template: MccTemplate
    purposes: frozenset[str]
    consent_expires_at: datetime


class FingerSearchIndex(Protocol):
    """What the finger workflows need of a finger index; :class:`ExactFingerIndex` implements it."""

    def add(self, entry: FingerEntry) -> None: ...
    def remove_subject(self, subject_id: str) -> int: ...
    def search(
        self,
        probe: MccTemplate,
        *,
        gallery_id: str,
        finger_position: int,
        capture: str,
        purpose: str,
        now: datetime,
        threshold: float | None = None,
        limit: int = 10,
    ) -> SearchResult: ...
    def score_all(
        self, probe: MccTemplate, *, gallery_id: str, finger_position: int, capture: str, purpose: str, now: datetime
    ) -> SearchResult:
        """Every eligible subject's best template and score, highest first (for fusion, which needs them all)."""
        ...

    def searchable_subjects(
        self, *, gallery_id: str, finger_position: int, capture: str, purpose: str, now: datetime
    ) -> int: ...
    def size(self) -> int: ...


@dataclass
class _Packed:
    gallery: MccGallery
    order: list[FingerEntry]
    who: Eligibility


@dataclass
class _Shard:
    entries: dict[str, FingerEntry] = field(default_factory=dict)
    cache: _Packed | None = None

    def packed(self, config: MccConfig) -> _Packed:
        if self.cache is None:
            order = list(self.entries.values())
            self.cache = _Packed(
                gallery=mcc_gallery([e.template for e in order], config),
                order=order,
                who=Eligibility.of(order),
            )
        return self.cache


class ExactFingerIndex:
    """Thread-safe exact MCC search; the default finger index of an instance."""

    def __init__(self, config: MccConfig = DEFAULT_MCC_CONFIG) -> None:
        self.config = config
        self._shards: dict[tuple[str, int, str], _Shard] = {}
        self._subject_templates: dict[str, set[tuple[tuple[str, int, str], str]]] = {}
        self._lock = threading.RLock()

    def add(self, entry: FingerEntry) -> None:
        if not 1 <= entry.finger_position <= 10:
            raise ValueError(f"entry.finger_position must be 1-10; got {entry.finger_position}")
        key = (entry.gallery_id, entry.finger_position, entry.capture)
        with self._lock:
            shard = self._shards.setdefault(key, _Shard())
            shard.entries[entry.template_id] = entry
            shard.cache = None
            self._subject_templates.setdefault(entry.subject_id, set()).add((key, entry.template_id))

    def remove_subject(self, subject_id: str) -> int:
        """Remove every finger template of ``subject_id``; returns how many were removed."""
        with self._lock:
            removed = 0
            for key, template_id in self._subject_templates.pop(subject_id, set()):
                shard = self._shards.get(key)
                if shard and shard.entries.pop(template_id, None) is not None:
                    shard.cache = None
                    removed += 1
            return removed

    def _packed(self, gallery_id: str, finger_position: int, capture: str) -> _Packed | None:
        with self._lock:
            shard = self._shards.get((gallery_id, finger_position, capture))
            if shard is None or not shard.entries:
                return None
            return shard.packed(self.config)

    def search(
        self,
        probe: MccTemplate,
        *,
        gallery_id: str,
        finger_position: int,
        capture: str,
        purpose: str,
        now: datetime,
        threshold: float | None = None,
        limit: int = 10,
    ) -> SearchResult:
        """Best template per subject, highest MCC score first, above ``threshold`` (if given)."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        return self._ranked(probe, gallery_id, finger_position, capture, purpose, now, threshold, limit)

    def score_all(
        self, probe: MccTemplate, *, gallery_id: str, finger_position: int, capture: str, purpose: str, now: datetime
    ) -> SearchResult:
        """Every eligible subject's best template and MCC score, highest first: a search with no threshold and no limit.

        Score-level fusion needs them all: a mate that no single finger ranks
        near the top can still have the highest fused score.
        """
        return self._ranked(probe, gallery_id, finger_position, capture, purpose, now, None, None)

    def _ranked(self, probe, gallery_id, finger_position, capture, purpose, now, threshold, limit) -> SearchResult:
        packed = self._packed(gallery_id, finger_position, capture)
        if packed is None:
            return SearchResult(hits=[], searched_subjects=0)
        eligible = packed.who.eligible(purpose, now)
        members = np.flatnonzero(eligible)
        if members.size == 0:
            return SearchResult(hits=[], searched_subjects=0)
        scores = mcc_scores(probe, packed.gallery, self.config, members=members)
        hits = best_per_subject(scores, [packed.order[member] for member in members], threshold, limit)
        return SearchResult(hits=hits, searched_subjects=packed.who.subjects_in(eligible))

    def searchable_subjects(
        self, *, gallery_id: str, finger_position: int, capture: str, purpose: str, now: datetime
    ) -> int:
        packed = self._packed(gallery_id, finger_position, capture)
        return 0 if packed is None else packed.who.subjects_in(packed.who.eligible(purpose, now))

    def size(self) -> int:
        with self._lock:
            return sum(len(shard.entries) for shard in self._shards.values())
