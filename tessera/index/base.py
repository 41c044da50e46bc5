"""The search index interface. The exact in-process index implements it; a
distributed vector engine can implement it later without touching callers.

The index holds no personal data beyond ids: each entry is a template's unit
embedding with the ids and consent scope needed to filter a search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class IndexEntry:
    template_id: str
    subject_id: str
    gallery_id: str
    modality: str
    vector: np.ndarray
    purposes: frozenset[str]
    consent_expires_at: datetime


@dataclass(frozen=True)
class Hit:
    """The best-scoring template of one subject."""

    subject_id: str
    template_id: str
    score: float


@dataclass(frozen=True)
class SearchResult:
    hits: list[Hit]
    searched_subjects: int
    """How many subjects were compared: the gallery size N behind the false-candidate estimate."""


class SearchIndex(Protocol):
    def add(self, entry: IndexEntry) -> None: ...
    def remove_subject(self, subject_id: str) -> int: ...
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
    ) -> SearchResult: ...
    def score_all(
        self, vector: np.ndarray, *, gallery_id: str, modality: str, purpose: str, now: datetime
    ) -> SearchResult:
        """Every eligible subject's best template and score, highest first (for fusion, which needs them all)."""
        ...

    def searchable_subjects(self, *, gallery_id: str, modality: str, purpose: str, now: datetime) -> int: ...
    def size(self) -> int: ...


@dataclass(frozen=True)
class Eligibility:
    """Who in one shard of an index may be searched, as arrays, so that filtering and counting are vectorised.

    Built from the shard's entries in order (each with ``subject_id``,
    ``purposes`` and ``consent_expires_at``); row ``i`` describes entry ``i``.
    """

    subject_codes: np.ndarray
    expires: np.ndarray
    purpose_masks: dict[str, np.ndarray]

    @classmethod
    def of(cls, entries: Sequence) -> Eligibility:
        codes: dict[str, int] = {}
        return cls(
            subject_codes=np.array([codes.setdefault(e.subject_id, len(codes)) for e in entries], dtype=np.int64),
            expires=np.array([e.consent_expires_at.timestamp() for e in entries], dtype=np.float64),
            purpose_masks={
                purpose: np.array([purpose in e.purposes for e in entries], dtype=bool)
                for purpose in {p for e in entries for p in e.purposes}
            },
        )

    def eligible(self, purpose: str, now: datetime) -> np.ndarray:
        """Bool per entry: consented to ``purpose`` and not expired at ``now``."""
        mask = self.purpose_masks.get(purpose)
        if mask is None:
            return np.zeros(self.expires.shape[0], bool)
        return mask & (self.expires > now.timestamp())

    def subjects_in(self, eligible: np.ndarray) -> int:
        """How many distinct subjects the ``eligible`` entries belong to."""
        return int(np.unique(self.subject_codes[eligible]).size)


def best_per_subject(scores: np.ndarray, entries: Sequence, threshold: float | None, limit: int | None) -> list[Hit]:
    """Each subject's best-scoring entry, highest score first.

    ``scores[i]`` is the score of ``entries[i]`` (each with ``subject_id`` and
    ``template_id``); ``-inf`` marks an entry that may not be returned. Stops
    at the first score below ``threshold`` (if given) or after ``limit``
    subjects (if given).
    """
    best: dict[str, Hit] = {}
    for position in np.argsort(-scores, kind="stable"):
        score = float(scores[position])
        if score == -np.inf or (threshold is not None and score < threshold):
            break
        entry = entries[position]
        if entry.subject_id not in best:
            best[entry.subject_id] = Hit(entry.subject_id, entry.template_id, score)
            if len(best) == limit:
                break
    return list(best.values())
