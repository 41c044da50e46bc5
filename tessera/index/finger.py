"""Fingerprint 1:N that scales: a compact code shortlists, exact MCC decides.

A search over a shard ``(gallery_id, part)`` runs in two stages:

1. **Shortlist**: the probe's fixed-length code
   (:mod:`tessera.index.finger_prefilter`: a fixed number of pooled MCC
   cylinders) is compared with the code of every eligible template by one
   matrix product per block, and the best
   :meth:`PrefilterConfig.shortlist_size` templates (a fraction of the
   eligible ones, the *penetration rate*, but never fewer than
   ``min_shortlist``) are kept.
2. **Rerank**: exact MCC with LSS-R (:class:`~tessera.match.mcc.MccScorer`)
   scores the shortlisted templates only; the answer is ranked on those
   exact scores, as :class:`~tessera.index.exact.ExactIndex` ranks them.

So every score returned is the exact MCC score, and a shard of at most
``min_shortlist`` eligible templates is searched exactly. What a larger
shard can lose is a mate the code ranked below the shortlist: how often that
happens at each penetration rate is measured by ``tessera eval finger-index``
(docs/fingerprints.md). :meth:`FingerIndex.scores_for` (fusion) is not
shortlisted: it scores the listed subjects exactly.

Each entry's code is made once, at :meth:`FingerIndex.upsert`; a shard's
cylinders and codes are stacked lazily at the first search after a change,
and a search works on that immutable snapshot (taken under the lock), so it
sees the index before or after a concurrent change, never half of it. Once
stacked, the entries hold views into the stacked cylinders and the codes are
read back from the stack when it is rebuilt: each template is held once
(docs/scale.md, "Fingers").

Meets the contract of :mod:`tessera.index.base` (``tests/index/contract.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np

from tessera.index.base import (
    Eligibility,
    Hit,
    IndexEntry,
    best_per_subject,
    check_entries_belong,
    parts_of,
    rows_of_subjects,
)
from tessera.index.finger_prefilter import (
    DEFAULT_PREFILTER_CONFIG,
    PrefilterConfig,
    PrefilterGallery,
    gallery_code,
    prefilter_code,
    prefilter_gallery,
    prefilter_scores,
)
from tessera.match.mcc import MccGallery, MccScorer, MccTemplate

Shard = tuple[str, int]
"""(gallery_id, part)."""


@dataclass(frozen=True)
class _Packed:
    """A shard's entries sorted by (subject_id, template_id), their stacked cylinders and codes, who is eligible."""

    order: list[IndexEntry[MccTemplate]]
    gallery: MccGallery
    codes: PrefilterGallery
    """The entries' prefilter codes, in ``order``."""
    who: Eligibility
    subject_codes: dict[str, int]


@dataclass
class _Shard:
    entries: dict[str, IndexEntry[MccTemplate]] = field(default_factory=dict)
    cache: _Packed | None = None


class FingerIndex:
    """Thread-safe 1:N search over MCC finger templates: prefilter shortlist, exact MCC rerank.

    Parameters
    ----------
    matcher : str
        The finger matcher key every entry must carry (:func:`~tessera.index.base.matcher_key`).
    scorer : MccScorer
        Packs and scores the templates (its ``config`` is the cylinders' layout).
    config : PrefilterConfig
        The code and the shortlist size.
    """

    def __init__(self, matcher: str, scorer: MccScorer, config: PrefilterConfig = DEFAULT_PREFILTER_CONFIG) -> None:
        self._parts = parts_of(matcher)
        if self._parts.start == 0:
            raise ValueError(f"matcher must be a finger matcher key ('finger:...'); got {matcher!r}")
        config.check_layout(scorer.config)
        self._matcher = matcher
        self.scorer = scorer
        self.config = config
        self._shards: dict[Shard, _Shard] = {}
        self._codes: dict[str, np.ndarray | tuple[PrefilterGallery, int]] = {}
        """Template id -> its prefilter code, or where it is stacked (gallery, row) once its shard is packed."""
        self._where: dict[str, tuple[Shard, str]] = {}
        """Template id -> its shard and subject."""
        self._subject_templates: dict[str, set[str]] = {}
        self._lock = threading.RLock()

    @property
    def matcher(self) -> str:
        return self._matcher

    def upsert(self, entries: Sequence[IndexEntry[MccTemplate]]) -> None:
        """Add ``entries``, replacing those with the same ``template_id``; all or nothing (see the contract)."""
        for entry in entries:
            self._check(entry)
        codes = [prefilter_code(entry.features, self.config, self.scorer.config) for entry in entries]
        with self._lock:
            for entry, code in zip(entries, codes):
                self._drop(entry.template_id)
                shard = self._shards.setdefault((entry.gallery_id, entry.part), _Shard())
                shard.entries[entry.template_id] = entry
                shard.cache = None
                self._codes[entry.template_id] = code
                self._where[entry.template_id] = ((entry.gallery_id, entry.part), entry.subject_id)
                self._subject_templates.setdefault(entry.subject_id, set()).add(entry.template_id)

    def remove_subject(self, subject_id: str) -> int:
        """Remove every template of ``subject_id``; returns how many were removed (0 for an unknown subject)."""
        with self._lock:
            template_ids = list(self._subject_templates.get(subject_id, ()))
            for template_id in template_ids:
                self._drop(template_id)
            return len(template_ids)

    def search(
        self,
        probe: MccTemplate,
        *,
        gallery_id: str,
        part: int,
        purpose: str,
        now: datetime,
        limit: int,
        threshold: float | None = None,
    ) -> list[Hit]:
        """Best template per eligible subject among the shortlist, exact MCC scores, highest first."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        packed = self._packed(gallery_id, part)
        if packed is None:
            return []
        eligible = np.flatnonzero(packed.who.eligible(purpose, now))
        members = shortlist(prefilter_code(probe, self.config, self.scorer.config), packed.codes, eligible, self.config)
        return self._ranked(probe, packed, members, threshold=threshold, limit=limit)

    def scores_for(
        self,
        probe: MccTemplate,
        *,
        gallery_id: str,
        part: int,
        subject_ids: Sequence[str],
        purpose: str,
        now: datetime,
    ) -> list[Hit]:
        """Exact best score of each listed subject that is present and eligible, highest first (no shortlist)."""
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
        self, probe: MccTemplate, packed: _Packed, members: np.ndarray, *, threshold: float | None, limit: int | None
    ) -> list[Hit]:
        if members.size == 0:
            return []
        scores = self.scorer.scores(probe, packed.gallery, members)
        return best_per_subject(
            scores, members, packed.order, packed.who.subject_codes, threshold=threshold, limit=limit
        )

    def _packed(self, gallery_id: str, part: int) -> _Packed | None:
        with self._lock:
            shard = self._shards.get((gallery_id, part))
            if shard is None or not shard.entries:
                return None
            if shard.cache is None:
                order = sorted(shard.entries.values(), key=lambda e: (e.subject_id, e.template_id))
                who = Eligibility.of(order)
                gallery = self.scorer.pack([e.features for e in order])
                codes = prefilter_gallery([self._code(e.template_id) for e in order], self.config)
                # Entries and codes now point into the stacked arrays rather than keeping their own copies,
                # so each template's cylinders and code are held once.
                views = self.scorer.views([e.features for e in order], gallery)
                order = [replace(e, features=v) for e, v in zip(order, views)]
                shard.entries = {e.template_id: e for e in order}
                for row, entry in enumerate(order):
                    self._codes[entry.template_id] = (codes, row)
                shard.cache = _Packed(
                    order=order,
                    gallery=gallery,
                    codes=codes,
                    who=who,
                    subject_codes={e.subject_id: int(code) for e, code in zip(order, who.subject_codes)},
                )
            return shard.cache

    def _code(self, template_id: str) -> np.ndarray:
        held = self._codes[template_id]
        return gallery_code(*held) if isinstance(held, tuple) else held

    def _check(self, entry: IndexEntry[MccTemplate]) -> None:
        check_entries_belong([entry], self._matcher)
        self.scorer.check(entry.features, None)

    def _drop(self, template_id: str) -> None:
        """Forget ``template_id`` if held (the caller holds the lock)."""
        held = self._where.pop(template_id, None)
        if held is None:
            return
        key, subject_id = held
        del self._codes[template_id]
        shard = self._shards[key]
        del shard.entries[template_id]
        shard.cache = None
        if not shard.entries:
            del self._shards[key]
        templates = self._subject_templates[subject_id]
        templates.discard(template_id)
        if not templates:
            del self._subject_templates[subject_id]


def shortlist(
    probe_code: np.ndarray, codes: PrefilterGallery, eligible: np.ndarray, config: PrefilterConfig
) -> np.ndarray:
    """The rows exact MCC scores: the ``config.shortlist_size`` eligible rows whose codes are most like the probe's.

    Parameters
    ----------
    probe_code : numpy.ndarray, shape (C, D + 2)
    codes : PrefilterGallery
        The shard's codes.
    eligible : numpy.ndarray, shape (m,), int64
        Rows that may be searched, ascending.
    config : PrefilterConfig

    Returns
    -------
    numpy.ndarray, shape (k,), int64
        Ascending rows, a subset of ``eligible`` (all of it when ``k`` covers it). Among rows whose codes tie
        at the cut, the lower rows are kept (a deterministic choice).
    """
    keep = config.shortlist_size(eligible.size)
    if keep >= eligible.size:
        return eligible
    # Scoring every row (a contiguous pass) is cheaper than gathering the eligible rows' codes first.
    similarity = prefilter_scores(probe_code, codes, config)[eligible]
    best = np.argsort(-similarity, kind="stable")[:keep]
    chosen: np.ndarray = np.sort(eligible[best])
    return chosen
