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
``exact_up_to`` eligible templates (20,000 by default; the service's
``finger_prefilter_above``) is searched exactly. What a larger
shard can lose is a mate the code ranked below the shortlist: how often that
happens at each penetration rate is measured by ``tessera eval finger-index``
(docs/fingerprints.md). :meth:`FingerIndex.scores_for` (fusion) is not
shortlisted: it scores the listed subjects exactly.

:class:`FingerIndex` *is* an :class:`~tessera.index.exact.ExactIndex` (the
same upsert, removal, packing and ranking) whose scorer,
:class:`PrefilterScorer`, packs each shard's codes beside its stacked
cylinders and shortlists through the
:class:`~tessera.index.exact.Shortlisting` hook. The codes are made when a
shard is packed (at the first search after a change) from the templates'
cylinders, so nothing is kept per entry besides what the exact index keeps
(docs/scale.md, "Fingers").

Meets the contract of :mod:`tessera.index.base` (``tests/index/contract.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tessera.index.base import parts_of
from tessera.index.exact import ExactIndex
from tessera.index.finger_prefilter import (
    DEFAULT_PREFILTER_CONFIG,
    PrefilterConfig,
    PrefilterGallery,
    prefilter_code,
    prefilter_gallery,
    prefilter_rescores,
    prefilter_scores,
)
from tessera.match.mcc import MccGallery, MccScorer, MccTemplate


@dataclass(frozen=True, eq=False)
class PrefilteredGallery:
    """A shard packed for :class:`PrefilterScorer`: the stacked cylinders and, in the same order, the codes."""

    gallery: MccGallery
    codes: PrefilterGallery | None
    """None for a shard never shortlisted (:meth:`PrefilterConfig.shortlists`, e.g. of at most ``exact_up_to``
    templates): it is always searched exactly."""


class PrefilterScorer:
    """Exact MCC scores (:class:`~tessera.match.mcc.MccScorer`) behind a prefilter shortlist.

    A :class:`~tessera.index.base.Scorer` that is also
    :class:`~tessera.index.exact.Shortlisting`.

    Parameters
    ----------
    mcc : MccScorer
        Packs and scores the templates (its ``config`` is the cylinders' layout).
    config : PrefilterConfig
        The code and the shortlist size.
    """

    def __init__(self, mcc: MccScorer, config: PrefilterConfig = DEFAULT_PREFILTER_CONFIG) -> None:
        config.check_layout(mcc.config)
        self.mcc = mcc
        self.config = config

    def check(self, features: MccTemplate, like: MccTemplate | None) -> None:
        self.mcc.check(features, like)

    def pack(self, features: Sequence[MccTemplate]) -> PrefilteredGallery:
        """Stack the cylinders and (for a shard a search may shortlist) the codes of its templates, in order."""
        if not self.config.shortlists(len(features)):
            return PrefilteredGallery(self.mcc.pack(features), None)
        codes = [prefilter_code(template, self.config, self.mcc.config) for template in features]
        return PrefilteredGallery(self.mcc.pack(features), prefilter_gallery(codes, self.config))

    def views(self, features: Sequence[MccTemplate], packed: PrefilteredGallery) -> list[MccTemplate]:
        return self.mcc.views(features, packed.gallery)

    def scores(self, probe: MccTemplate, packed: PrefilteredGallery, members: np.ndarray) -> np.ndarray:
        """Exact MCC scores of ``probe`` with the rows ``members`` (:meth:`MccScorer.scores`)."""
        return self.mcc.scores(probe, packed.gallery, members)

    def shortlists(self, packed: PrefilteredGallery, eligible: int) -> bool:
        """Whether a search among ``eligible`` templates of the shard is shortlisted."""
        return packed.codes is not None and self.config.shortlists(eligible)

    def shortlist(self, probe: MccTemplate, packed: PrefilteredGallery, members: np.ndarray) -> np.ndarray:
        """The rows of ``members`` exact MCC scores (:func:`shortlist`; all of them in a shard without codes)."""
        if packed.codes is None or not self.config.shortlists(members.size):
            return members
        return shortlist(prefilter_code(probe, self.config, self.mcc.config), packed.codes, members, self.config)


class FingerIndex(ExactIndex[MccTemplate, PrefilteredGallery]):
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
        if parts_of(matcher).start == 0:
            raise ValueError(f"matcher must be a finger matcher key ('finger:...'); got {matcher!r}")
        super().__init__(matcher, PrefilterScorer(scorer, config))
        self.config = config


def shortlist(
    probe_code: np.ndarray, codes: PrefilterGallery, eligible: np.ndarray, config: PrefilterConfig
) -> np.ndarray:
    """The rows exact MCC scores: the ``config.shortlist_size`` eligible rows whose codes are most like the probe's.

    The code's similarity (:func:`~tessera.index.finger_prefilter.prefilter_scores`) ranks every eligible row,
    the geometric re-score (:func:`~tessera.index.finger_prefilter.prefilter_rescores`) ranks the best
    ``config.rescore_size`` of them, and its best ``config.shortlist_size`` are kept.

    Parameters
    ----------
    probe_code : numpy.ndarray, shape (C, D + 4)
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
    similarity, matches = prefilter_scores(probe_code, codes, config)
    candidates = np.sort(
        eligible[np.argsort(-similarity[eligible], kind="stable")[: config.rescore_size(eligible.size)]]
    )
    rescored = prefilter_rescores(probe_code, codes, matches, candidates, config)
    chosen: np.ndarray = np.sort(candidates[np.argsort(-rescored, kind="stable")[:keep]])
    return chosen
