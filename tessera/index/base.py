"""The search index interface. The exact in-process index implements it; a
distributed vector engine can implement it later without touching callers.

The index holds no personal data beyond ids: each entry is a template's unit
embedding with the ids and consent scope needed to filter a search.
"""
from __future__ import annotations

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
    def score_all(self, vector: np.ndarray, *, gallery_id: str, modality: str, purpose: str, now: datetime) -> SearchResult:
        """Every eligible subject's best template and score, highest first (for fusion, which needs them all)."""
        ...
    def searchable_subjects(self, *, gallery_id: str, modality: str, purpose: str, now: datetime) -> int: ...
    def size(self) -> int: ...
