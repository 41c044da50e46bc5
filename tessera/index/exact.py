"""Exact 1:N search in process, for any matcher: the default index of an instance.

Every probe is compared with every eligible template of its shard (no
approximation), so a search gives exactly what a full scan gives. The
comparison itself is the matcher's :class:`~tessera.index.base.Scorer`: the
cosine of unit vectors for faces (:class:`~tessera.match.face.CosineScorer`,
one matrix-vector product), MCC for fingers
(:class:`~tessera.match.mcc.MccScorer`, cylinders stacked once into an
:class:`~tessera.match.mcc.MccGallery`). Per ``(gallery_id, part)`` shard the
entries are packed lazily, at the first search after a change, and the packed
shard is immutable: a search works on a snapshot taken under the lock, so it
sees the index before or after a concurrent change, never half of it. Once a
shard is packed its entries hold views into the packed features
(:meth:`~tessera.index.base.Scorer.views`), not their own copies, so each
template is held once.

A scorer may also narrow a search before it scores (:class:`Shortlisting`):
its ``shortlist`` picks, from the eligible rows of the packed shard, the rows
the scorer then scores exactly. Fingers use that hook to scale
(:class:`tessera.index.finger.FingerIndex`: a compact code shortlists, exact
MCC ranks the shortlist); the bookkeeping (upsert, removal, packing,
eligibility, ranking) is this one class for every in-process index.
:meth:`ExactIndex.scores_for` (fusion: listed subjects) is never shortlisted.

Meets the contract of :mod:`tessera.index.base` (tested by
``tests/index/contract.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import numpy as np

from tessera.index.base import (
    EXACT_SEARCH,
    PREFILTER_SEARCH,
    Eligibility,
    F,
    F_contra,
    G,
    Hit,
    IndexEntry,
    Scorer,
    best_per_subject,
    check_entries_belong,
    parts_of,
    rows_of_subjects,
)

Shard = tuple[str, int]
"""(gallery_id, part)."""


G_contra = TypeVar("G_contra", contravariant=True)


@runtime_checkable
class Shortlisting(Protocol[F_contra, G_contra]):
    """A :class:`~tessera.index.base.Scorer` that narrows a search to a shortlist before it scores."""

    def shortlists(self, packed: G_contra, eligible: int) -> bool:
        """Whether a search among ``eligible`` rows of the shard ``packed`` is shortlisted (else all are scored)."""
        ...

    def shortlist(self, probe: F_contra, packed: G_contra, members: np.ndarray) -> np.ndarray:
        """The rows of ``members`` the search scores (a subset, ascending; all of them to scan exactly).

        Parameters
        ----------
        probe : F
        packed : G
            What the scorer's ``pack`` returned for the shard.
        members : numpy.ndarray, shape (m,), int64
            The eligible rows, ascending.

        Returns
        -------
        numpy.ndarray, shape (k,), int64
            ``k <= m`` rows of ``members``, ascending.
        """
        ...


@dataclass(frozen=True)
class _Packed(Generic[G]):
    """A shard's entries sorted by (subject_id, template_id), their packed features and who is eligible."""

    order: list[IndexEntry[Any]]
    features: G
    who: Eligibility
    subject_codes: dict[str, int]


@dataclass
class _Shard(Generic[F, G]):
    entries: dict[str, IndexEntry[F]] = field(default_factory=dict)
    cache: _Packed[G] | None = None

    def packed(self, scorer: Scorer[F, G]) -> _Packed[G]:
        if self.cache is None:
            order = sorted(self.entries.values(), key=lambda e: (e.subject_id, e.template_id))
            who = Eligibility.of(order)
            features = scorer.pack([e.features for e in order])
            # The entries keep views into the packed features, not their own copies: each template is held once.
            order = [replace(e, features=v) for e, v in zip(order, scorer.views([e.features for e in order], features))]
            self.entries = {e.template_id: e for e in order}
            self.cache = _Packed(
                order=order,
                features=features,
                who=who,
                subject_codes={e.subject_id: int(code) for e, code in zip(order, who.subject_codes)},
            )
        return self.cache


class ExactIndex(Generic[F, G]):
    """Thread-safe exact search over the templates of one matcher.

    Parameters
    ----------
    matcher : str
        The matcher key every entry must carry (:func:`~tessera.index.base.matcher_key`).
    scorer : Scorer
        Packs and scores that matcher's features; if it is also :class:`Shortlisting`, :meth:`search` scores
        only the rows its ``shortlist`` keeps.
    """

    def __init__(self, matcher: str, scorer: Scorer[F, G]) -> None:
        self._parts = parts_of(matcher)
        self._matcher = matcher
        self.scorer = scorer
        self._shards: dict[Shard, _Shard[F, G]] = {}
        self._where: dict[str, tuple[Shard, str]] = {}
        """Template id -> its shard and subject."""
        self._subject_templates: dict[str, set[str]] = {}
        self._lock = threading.RLock()

    @property
    def matcher(self) -> str:
        return self._matcher

    def upsert(self, entries: Sequence[IndexEntry[F]]) -> None:
        """Add ``entries``, replacing those with the same ``template_id``; all or nothing (see the contract)."""
        with self._lock:
            like = self._any_features()
            for entry in entries:
                self._check(entry, like)
                like = entry.features if like is None else like
            for entry in entries:
                self._drop(entry.template_id)
                shard = self._shards.setdefault((entry.gallery_id, entry.part), _Shard())
                shard.entries[entry.template_id] = entry
                shard.cache = None
                self._where[entry.template_id] = ((entry.gallery_id, entry.part), entry.subject_id)
                self._subject_templates.setdefault(entry.subject_id, set()).add(entry.template_id)

    def remove_subject(self, subject_id: str) -> int:
        """Remove every template of ``subject_id``; returns how many were removed (0 for an unknown subject)."""
        with self._lock:
            template_ids = list(self._subject_templates.get(subject_id, ()))
            for template_id in template_ids:
                self._drop(template_id)
            return len(template_ids)

    def remove_templates(self, template_ids: Sequence[str]) -> int:
        """Remove the entries of ``template_ids``; returns how many were held (the subject's others stay)."""
        with self._lock:
            held = [template_id for template_id in dict.fromkeys(template_ids) if template_id in self._where]
            for template_id in held:
                self._drop(template_id)
            return len(held)

    def search(
        self,
        probe: F,
        *,
        gallery_id: str,
        part: int,
        purpose: str,
        now: datetime,
        limit: int,
        threshold: float | None = None,
    ) -> list[Hit]:
        """Best template per eligible subject, highest score first, at most ``limit``, none below ``threshold``
        (among the shortlist when the scorer is :class:`Shortlisting`)."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        packed = self._packed(gallery_id, part)
        if packed is None:
            return []
        members = np.flatnonzero(packed.who.eligible(purpose, now))
        if isinstance(self.scorer, Shortlisting):
            members = self.scorer.shortlist(probe, packed.features, members)
        return self._ranked(probe, packed, members, threshold=threshold, limit=limit)

    def search_method(self, *, gallery_id: str, part: int, purpose: str, now: datetime) -> str:
        """``prefilter`` when :meth:`search` shortlists the shard's eligible templates, else ``exact``."""
        packed = self._packed(gallery_id, part)
        if packed is None or not isinstance(self.scorer, Shortlisting):
            return EXACT_SEARCH
        eligible = int(np.count_nonzero(packed.who.eligible(purpose, now)))
        return PREFILTER_SEARCH if self.scorer.shortlists(packed.features, eligible) else EXACT_SEARCH

    def scores_for(
        self,
        probe: F,
        *,
        gallery_id: str,
        part: int,
        subject_ids: Sequence[str],
        purpose: str,
        now: datetime,
    ) -> list[Hit]:
        """Best score of each listed subject that is present and eligible, highest first."""
        packed = self._packed(gallery_id, part)
        if packed is None:
            return []
        rows = rows_of_subjects(packed.who.subject_codes, packed.subject_codes, subject_ids)
        members = rows[packed.who.eligible(purpose, now)[rows]]
        return self._ranked(probe, packed, members, threshold=None, limit=None)

    def size(self) -> int:
        with self._lock:
            return len(self._where)

    def _ranked(
        self, probe: F, packed: _Packed[G], members: np.ndarray, *, threshold: float | None, limit: int | None
    ) -> list[Hit]:
        if members.size == 0:
            return []
        scores = self.scorer.scores(probe, packed.features, members)
        return best_per_subject(
            scores, members, packed.order, packed.who.subject_codes, threshold=threshold, limit=limit
        )

    def _packed(self, gallery_id: str, part: int) -> _Packed[G] | None:
        with self._lock:
            shard = self._shards.get((gallery_id, part))
            if shard is None or not shard.entries:
                return None
            return shard.packed(self.scorer)

    def _check(self, entry: IndexEntry[F], like: F | None) -> None:
        check_entries_belong([entry], self._matcher)
        self.scorer.check(entry.features, like)

    def _any_features(self) -> F | None:
        """The features of some held entry (any: one matcher's features are all alike), or None."""
        for shard in self._shards.values():
            for entry in shard.entries.values():
                return entry.features
        return None

    def _drop(self, template_id: str) -> None:
        """Forget ``template_id`` if held (the caller holds the lock)."""
        held = self._where.pop(template_id, None)
        if held is None:
            return
        key, subject_id = held
        shard = self._shards[key]
        del shard.entries[template_id]
        shard.cache = None
        if not shard.entries:
            del self._shards[key]
        templates = self._subject_templates[subject_id]
        templates.discard(template_id)
        if not templates:
            del self._subject_templates[subject_id]
