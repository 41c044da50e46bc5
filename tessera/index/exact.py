"""Exact cosine search in process, with numpy.

Every query is compared with every eligible template (no approximation), so
1:N results are exactly what a full scan would give. Per (gallery, modality)
the vectors sit in one contiguous matrix, rebuilt lazily after changes; a
search is a single matrix-vector product.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from tessera.index.base import Eligibility, IndexEntry, SearchResult, best_per_subject


@dataclass
class _Packed:
    """A shard's entries as arrays, so eligibility and counting are vectorised too."""

    matrix: np.ndarray
    order: list[IndexEntry]
    who: Eligibility


@dataclass
class _Shard:
    entries: dict[str, IndexEntry] = field(default_factory=dict)
    cache: _Packed | None = None

    def packed(self) -> _Packed:
        if self.cache is None:
            order = list(self.entries.values())
            dim = order[0].vector.shape[0] if order else 0
            self.cache = _Packed(
                matrix=np.stack([e.vector for e in order]).astype(np.float32)
                if order
                else np.zeros((0, dim), np.float32),
                order=order,
                who=Eligibility.of(order),
            )
        return self.cache


class ExactIndex:
    """Thread-safe exact search; the default index of an instance."""

    def __init__(self) -> None:
        self._shards: dict[tuple[str, str], _Shard] = {}
        self._subject_templates: dict[str, set[tuple[str, str, str]]] = {}
        self._lock = threading.RLock()

    def add(self, entry: IndexEntry) -> None:
        vector = np.asarray(entry.vector, dtype=np.float32)
        if vector.ndim != 1:
            raise ValueError(f"entry.vector must be 1-D, got shape {vector.shape}")
        with self._lock:
            shard = self._shards.setdefault((entry.gallery_id, entry.modality), _Shard())
            if shard.entries and next(iter(shard.entries.values())).vector.shape != vector.shape:
                raise ValueError(
                    f"entry.vector has shape {vector.shape}; this gallery's {entry.modality} vectors differ"
                )
            shard.entries[entry.template_id] = entry
            shard.cache = None
            self._subject_templates.setdefault(entry.subject_id, set()).add(
                (entry.gallery_id, entry.modality, entry.template_id)
            )

    def remove_subject(self, subject_id: str) -> int:
        """Remove every template of ``subject_id``; returns how many were removed."""
        with self._lock:
            removed = 0
            for gallery_id, modality, template_id in self._subject_templates.pop(subject_id, set()):
                shard = self._shards.get((gallery_id, modality))
                if shard and shard.entries.pop(template_id, None) is not None:
                    shard.cache = None
                    removed += 1
            return removed

    def search(
        self,
        vector: np.ndarray,
        *,
        gallery_id: str,
        modality: str,
        purpose: str,
        now: datetime,
        threshold: float | None = None,
        limit: int = 10,
    ) -> SearchResult:
        """Best template per subject, highest score first, above ``threshold`` (if given)."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        return self._ranked(
            vector, gallery_id=gallery_id, modality=modality, purpose=purpose, now=now, threshold=threshold, limit=limit
        )

    def score_all(
        self, vector: np.ndarray, *, gallery_id: str, modality: str, purpose: str, now: datetime
    ) -> SearchResult:
        """Every eligible subject's best template and score, highest first: a search with no threshold and no limit.

        Score-level fusion needs them all: a mate that no single modality
        ranks near the top can still have the highest fused score.
        """
        return self._ranked(
            vector, gallery_id=gallery_id, modality=modality, purpose=purpose, now=now, threshold=None, limit=None
        )

    def _ranked(self, vector, *, gallery_id, modality, purpose, now, threshold, limit) -> SearchResult:
        with self._lock:
            shard = self._shards.get((gallery_id, modality))
            if shard is None or not shard.entries:
                return SearchResult(hits=[], searched_subjects=0)
            packed = shard.packed()
        eligible = packed.who.eligible(purpose, now)
        scores = packed.matrix @ np.asarray(vector, dtype=np.float32)
        scores[~eligible] = -np.inf
        hits = best_per_subject(scores, packed.order, threshold, limit)
        return SearchResult(hits=hits, searched_subjects=packed.who.subjects_in(eligible))

    def searchable_subjects(self, *, gallery_id: str, modality: str, purpose: str, now: datetime) -> int:
        with self._lock:
            shard = self._shards.get((gallery_id, modality))
            if shard is None or not shard.entries:
                return 0
            packed = shard.packed()
        return packed.who.subjects_in(packed.who.eligible(purpose, now))

    def size(self) -> int:
        with self._lock:
            return sum(len(shard.entries) for shard in self._shards.values())
