"""A compact fixed-length code of a finger's MCC cylinders, to shortlist 1:N candidates before exact MCC.

Exact MCC (:mod:`tessera.match.mcc`) compares every cylinder of a probe with
every cylinder of each gallery template and relaxes the best pairs (LSS-R):
~84 KB of floats per template and ~13,000 comparisons per second per core.
This module reduces a template to a small fixed-size array that one matrix
product compares with a whole gallery block, so that a search ranks every
template cheaply and runs exact MCC on the best few percent only
(:class:`tessera.index.finger.FingerIndex`). Nothing is learned: the code is
a fixed function of the cylinders.

The code and its similarity
---------------------------
1. **Pooled cylinders.** Each cylinder (``Ns x Ns`` spatial by ``Nd``
   directional cells, [1]_ section 3) is averaged over blocks of
   ``spatial_pool x spatial_pool`` spatial cells (and ``directional_pool``
   slices) and scaled to unit length. Pooling keeps where, around the
   minutia, neighbours of which relative direction lie, at a coarser grain
   that tolerates the distortion between two impressions.
2. **A fixed number of cylinders.** The ``cylinders`` cylinders with the
   most valid cells (the minutiae nearest the print's centre, seen whole in
   most impressions) are kept, in that order, zero rows padding a template
   with fewer; with each, the unit vector of its minutia's direction.
3. **Similarity.** As in MCC's Local Similarity Sort ([1]_ section 5.1):
   the local similarity of two cylinders is here the cosine of their pooled
   vectors (0 when the minutiae's directions differ by more than 90°, the
   role of ``δθ`` in [1]_ eq. 8); each of the probe's ``probe_cylinders``
   first cylinders takes its best match in the gallery template, and the
   score is the mean of the ``pairs`` best of those.
4. **Geometric re-score** (of the best ``rescore_fraction`` only): of the
   probe cylinders' best matches found in step 3, the ``consistent_pairs``
   most similar are checked against one another, as MCC's
   relaxation ([1]_ section 5.2) does with exact cylinders: two pairs agree
   when the distance between their probe minutiae and between their
   template minutiae differ by less than ``distance_tolerance`` pixels and
   the minutiae's relative directions by less than ``angle_tolerance``.
   Each pair's similarity is weighted by the similarity of the pairs it
   agrees with, and the mean of the ``pairs`` best weighted pairs is the
   re-score, which decides the shortlist. Impostor prints often have a few
   cylinders alike by chance, rarely a few alike *and* laid out alike.

This adapts the idea of MCC-based indexing [2]_ (compare local cylinder
descriptors, not aligned prints) to a dense code a BLAS product scores. The
binary cylinders and bit-sampling hashes of [2]_, kept as a fixed-length
bitmap of hash values, were tried first: 15-45 % of the mated pairs of
FVC2004 DB1 ranked beyond a 5 % penetration rate, as the binary cylinders
of these minutiae are only ~4 % ones (docs/fingerprints.md).

References
----------
.. [1] R. Cappelli, M. Ferrara, D. Maltoni, "Minutia Cylinder-Code: a new
   representation and matching technique for fingerprint recognition",
   IEEE TPAMI 32(12), pp. 2128-2141, 2010.
.. [2] R. Cappelli, M. Ferrara, D. Maltoni, "Fingerprint Indexing Based on
   Minutia Cylinder-Code", IEEE TPAMI 33(5), pp. 1051-1057, 2011.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tessera.match.mcc import DEFAULT_MCC_CONFIG, MccConfig, MccTemplate

CODE_DTYPE = np.float16
"""A template's code is kept in half precision (half the memory; cosines to ~1e-3); a shard's codes are stacked
in single precision for the matrix products (:class:`PrefilterGallery`)."""


@dataclass(frozen=True)
class PrefilterConfig:
    """Every tuning value of the prefilter code and of the shortlist it makes (``tessera eval finger-index``)."""

    spatial_pool: int = 2
    """Spatial cells averaged along each side of a block (must divide ``MccConfig.spatial_cells``). 1 (no
    pooling) loses fewer mates (same measure as ``probe_cylinders``, 16 probe cylinders: 1.8 % against 5.0 %) but
    makes the code and its search four times larger; 4 loses 11 %."""
    directional_pool: int = 1
    """Directional slices averaged together (must divide ``MccConfig.directional_cells``)."""
    cylinders: int = 48
    """Cylinders kept per template (the code's fixed number of rows; 48 rather than 32: a mate's best pairs more
    often among them, docs/fingerprints.md)."""
    probe_cylinders: int = 32
    """Of those, how many of the probe's look for their best match (FVC2004, 40 fingers enrolled, mates the exact
    scan finds but a shortlist of 2 loses: 5.0 % with 16, 2.5 % with 32; a prefilter search costs about twice as
    much with 32)."""
    pairs: int = 6
    """The score averages this many of the probe cylinders' best matches, the highest (same measure: 2.9 % with
    4, 2.5 % with 6 or 8)."""
    rescore_fraction: float = 0.25
    """The geometric re-score ranks this fraction of a shard's eligible templates, the best by the code's
    similarity (step 3), and keeps the best ``shortlist_fraction`` of the shard."""
    consistent_pairs: int = 12
    """Cylinder pairs (the most similar of a probe and a template) checked for a consistent layout."""
    distance_tolerance: float = 15.0
    """Pixels: two pairs agree when the distances between their minutiae differ by less."""
    angle_tolerance: float = float(np.pi / 6)
    """Radians: ... and the relative directions of their minutiae by less."""
    shortlist_fraction: float = 0.05
    """Exact MCC scores this fraction of a shard's eligible templates, the best by the re-score (the
    penetration rate)..."""
    min_shortlist: int = 1000
    """... and never fewer than this many (all of them when the shard holds fewer: small galleries are
    searched exactly)."""
    exact_up_to: int = 20_000
    """A shard of at most this many eligible templates is searched exactly, every one of them (its codes are not
    even made): below ~20,000 fingers the exact scan takes less than the 2 s a search may (exact MCC ~75 µs per
    template on an idle core) and loses no mate. The service's ``finger_prefilter_above`` setting."""
    chunk: int = 2048
    """Gallery templates compared per matrix product (bounds the temporary arrays to ~``chunk x cylinders x
    probe_cylinders`` floats)."""

    def __post_init__(self) -> None:
        for name in ("spatial_pool", "directional_pool", "cylinders", "probe_cylinders", "pairs", "chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; got {getattr(self, name)}")
        if not self.pairs <= self.probe_cylinders <= self.cylinders:
            raise ValueError(
                f"pairs <= probe_cylinders <= cylinders must hold; got {self.pairs}, {self.probe_cylinders}, "
                f"{self.cylinders}"
            )
        for name in ("shortlist_fraction", "rescore_fraction"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in (0, 1]; got {getattr(self, name)}")
        if not 2 <= self.consistent_pairs <= self.probe_cylinders:
            raise ValueError(
                f"consistent_pairs must lie in 2-{self.probe_cylinders} (probe_cylinders); got {self.consistent_pairs}"
            )
        if self.pairs > self.consistent_pairs:
            raise ValueError(f"pairs ({self.pairs}) must not exceed consistent_pairs ({self.consistent_pairs})")
        if self.min_shortlist < 1:
            raise ValueError(f"min_shortlist must be at least 1; got {self.min_shortlist}")
        if self.exact_up_to < 0:
            raise ValueError(f"exact_up_to must be at least 0; got {self.exact_up_to}")

    def dimensions(self, mcc: MccConfig) -> int:
        """Length of one pooled cylinder."""
        self.check_layout(mcc)
        return (mcc.spatial_cells // self.spatial_pool) ** 2 * (mcc.directional_cells // self.directional_pool)

    def code_shape(self, mcc: MccConfig) -> tuple[int, int]:
        """Shape of a code: one row per kept cylinder, its pooled vector, its direction's cosine and sine, then
        its minutia's position (x, y in pixels)."""
        return (self.cylinders, self.dimensions(mcc) + 4)

    def check_layout(self, mcc: MccConfig) -> None:
        if mcc.spatial_cells % self.spatial_pool or mcc.directional_cells % self.directional_pool:
            raise ValueError(
                f"spatial_pool ({self.spatial_pool}) must divide spatial_cells ({mcc.spatial_cells}) and "
                f"directional_pool ({self.directional_pool}) directional_cells ({mcc.directional_cells})"
            )

    def shortlist_size(self, eligible: int) -> int:
        """How many of ``eligible`` templates exact MCC scores (all of them up to ``exact_up_to``)."""
        if eligible <= self.exact_up_to:
            return eligible
        return min(eligible, max(self.min_shortlist, int(np.ceil(self.shortlist_fraction * eligible))))

    def shortlists(self, eligible: int) -> bool:
        """Whether a search among ``eligible`` templates is shortlisted (else every one is scored exactly)."""
        return self.shortlist_size(eligible) < eligible

    def rescore_size(self, eligible: int) -> int:
        """How many of ``eligible`` templates the geometric re-score ranks (at least the shortlist)."""
        return min(eligible, max(self.shortlist_size(eligible), int(np.ceil(self.rescore_fraction * eligible))))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_PREFILTER_CONFIG = PrefilterConfig()


def prefilter_code(
    template: MccTemplate, config: PrefilterConfig = DEFAULT_PREFILTER_CONFIG, mcc: MccConfig = DEFAULT_MCC_CONFIG
) -> np.ndarray:
    """The fixed-size code of ``template`` (see the module docstring).

    Parameters
    ----------
    template : MccTemplate
        Cylinders made with ``mcc``.
    config : PrefilterConfig
    mcc : MccConfig
        The cylinders' layout.

    Returns
    -------
    numpy.ndarray, shape :meth:`PrefilterConfig.code_shape`, float16
        Row ``i``: the ``i``-th kept cylinder's unit pooled vector, then ``cos`` and ``sin`` of its minutia's
        direction and the minutia's ``x``, ``y`` (pixels, the matching frame of
        :class:`~tessera.match.mcc.MccTemplate`); zero rows after the last cylinder (all zero for a template
        without cylinders).
    """
    side, slices = mcc.spatial_cells, mcc.directional_cells
    sp, dp = config.spatial_pool, config.directional_pool
    dimensions = config.dimensions(mcc)
    kept = np.argsort(-template.validity.sum(axis=1), kind="stable")[: config.cylinders]
    cylinders = template.cylinders[kept].reshape(-1, side // sp, sp, side // sp, sp, slices // dp, dp)
    pooled = cylinders.mean(axis=(2, 4, 6), dtype=np.float32).reshape(-1, dimensions)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    code = np.zeros(config.code_shape(mcc), np.float32)
    code[: kept.size, :dimensions] = np.divide(pooled, norms, out=np.zeros_like(pooled), where=norms > 0)
    angles = template.angles[kept]
    code[: kept.size, dimensions] = np.cos(angles)
    code[: kept.size, dimensions + 1] = np.sin(angles)
    code[: kept.size, dimensions + 2 :] = template.xy[kept]
    return code.astype(CODE_DTYPE)


@dataclass(frozen=True, eq=False)
class PrefilterGallery:
    """Many templates' codes stacked for :func:`prefilter_scores` (once per change of a shard, not per search).

    Attributes
    ----------
    vectors : numpy.ndarray, shape (D, N * C), float32
        Every code's pooled cylinders, template after template, stored *transposed* (one column per
        cylinder) so that a block of templates is a column slice a matrix product reads in place.
    directions : numpy.ndarray, shape (2, N * C), float32
        Cosine and sine of each cylinder's minutia direction (0, 0 for padding).
    points : numpy.ndarray, shape (N * C, 2), float16
        Each cylinder's minutia position, pixels (read by the re-score only).
    cylinders : int
        ``C``, rows per code.
    """

    vectors: np.ndarray
    directions: np.ndarray
    points: np.ndarray
    cylinders: int

    def __len__(self) -> int:
        return int(self.vectors.shape[1] // self.cylinders)

    @property
    def nbytes(self) -> int:
        return int(self.vectors.nbytes + self.directions.nbytes + self.points.nbytes)


def prefilter_gallery(
    codes: Sequence[np.ndarray], config: PrefilterConfig = DEFAULT_PREFILTER_CONFIG
) -> PrefilterGallery:
    """Stack ``codes`` (each :func:`prefilter_code`'s, all of one shape) for :func:`prefilter_scores`."""
    if not codes:
        return PrefilterGallery(
            np.zeros((0, 0), np.float32), np.zeros((2, 0), np.float32), np.zeros((0, 2), CODE_DTYPE), config.cylinders
        )
    stacked = np.concatenate(codes)  # (N * C, D + 4), float16
    dimensions = stacked.shape[1] - 4
    return PrefilterGallery(
        vectors=np.ascontiguousarray(stacked[:, :dimensions].T, dtype=np.float32),
        directions=np.ascontiguousarray(stacked[:, dimensions : dimensions + 2].T, dtype=np.float32),
        points=np.ascontiguousarray(stacked[:, dimensions + 2 :]),
        cylinders=int(codes[0].shape[0]),
    )


@dataclass(frozen=True, eq=False)
class CodeMatches:
    """Each probe cylinder's best match in each gallery template, kept by :func:`prefilter_scores` for the re-score.

    Attributes
    ----------
    similarity : numpy.ndarray, shape (P, N), float32
        Probe cylinder ``i``'s best similarity in template ``n`` (0 where none lies within 90°).
    partner : numpy.ndarray, shape (P, N), int16
        The template's cylinder (row of its code) it is found in.
    """

    similarity: np.ndarray
    partner: np.ndarray


def prefilter_scores(
    probe: np.ndarray, gallery: PrefilterGallery, config: PrefilterConfig = DEFAULT_PREFILTER_CONFIG
) -> tuple[np.ndarray, CodeMatches]:
    """Similarity of the code ``probe`` with each code of ``gallery``, 0 to 1 (steps 1-3 of the module docstring).

    Parameters
    ----------
    probe : numpy.ndarray, shape (C, D + 4)
        :func:`prefilter_code` of the probe.
    gallery : PrefilterGallery
    config : PrefilterConfig

    Returns
    -------
    scores : numpy.ndarray, shape (len(gallery),), float32
    matches : CodeMatches
        Each probe cylinder's best match per template, for :func:`prefilter_rescores`.
    """
    rows = gallery.cylinders
    dimensions = gallery.vectors.shape[0]
    head = probe[: config.probe_cylinders, : dimensions + 2].astype(np.float32)
    vectors, directions = head[:, :dimensions], head[:, dimensions:]
    count = len(gallery)
    result = np.empty(count, np.float32)
    matches = CodeMatches(np.empty((head.shape[0], count), np.float32), np.empty((head.shape[0], count), np.int16))
    for start in range(0, count, config.chunk):
        stop = min(count, start + config.chunk)
        columns = slice(start * rows, stop * rows)
        similarity = vectors @ gallery.vectors[:, columns]  # (probe cylinders, block templates x C)
        similarity *= (directions @ gallery.directions[:, columns]) >= np.float32(-1e-3)  # within 90° (δθ)
        blocked = similarity.reshape(head.shape[0], stop - start, rows)
        partner = blocked.argmax(axis=2)  # each probe cylinder's best match
        best = np.take_along_axis(blocked, partner[:, :, None], axis=2)[:, :, 0]
        matches.similarity[:, start:stop] = best
        matches.partner[:, start:stop] = partner
        top = np.partition(best, best.shape[0] - config.pairs, axis=0)[best.shape[0] - config.pairs :]
        result[start:stop] = top.mean(axis=0)
    return result, matches


def prefilter_rescores(
    probe: np.ndarray,
    gallery: PrefilterGallery,
    matches: CodeMatches,
    rows: np.ndarray,
    config: PrefilterConfig = DEFAULT_PREFILTER_CONFIG,
) -> np.ndarray:
    """Geometric re-score of the templates ``rows`` of ``gallery`` against the code ``probe`` (step 4).

    Parameters
    ----------
    probe : numpy.ndarray, shape (C, D + 4)
        :func:`prefilter_code` of the probe.
    gallery : PrefilterGallery
    matches : CodeMatches
        What :func:`prefilter_scores` found for ``probe`` in ``gallery``.
    rows : numpy.ndarray, shape (k,), int64
        Templates to re-score.
    config : PrefilterConfig

    Returns
    -------
    numpy.ndarray, shape (k,), float32
        Higher is more alike; 0 for a template (or probe) without cylinders.
    """
    code = probe[: config.probe_cylinders].astype(np.float32)
    directions, points = code[:, -4:-2], code[:, -2:]
    probe_angles = np.arctan2(directions[:, 1], directions[:, 0])
    pairs = min(config.consistent_pairs, code.shape[0])
    similarity = matches.similarity[:, rows].T  # (k, P)
    mine = np.argpartition(-similarity, pairs - 1, axis=1)[:, :pairs]  # each template's most similar pairs
    weight = np.take_along_axis(similarity, mine, axis=1)
    picked = rows[:, None] * gallery.cylinders + np.take_along_axis(matches.partner[:, rows].T, mine, axis=1)
    their_points = gallery.points[picked].astype(np.float32)  # (k, K, 2)
    their_angles = np.arctan2(gallery.directions[1, picked], gallery.directions[0, picked])
    my_points, my_angles = points[mine], probe_angles[mine]
    distances_mine = np.linalg.norm(my_points[:, :, None] - my_points[:, None], axis=-1)
    distances_theirs = np.linalg.norm(their_points[:, :, None] - their_points[:, None], axis=-1)
    turn = (my_angles[:, :, None] - my_angles[:, None]) - (their_angles[:, :, None] - their_angles[:, None])
    turn = np.abs(np.arctan2(np.sin(turn), np.cos(turn)))
    agree = (np.abs(distances_mine - distances_theirs) < config.distance_tolerance) & (turn < config.angle_tolerance)
    # Two pairs agree only if they join four different minutiae (each probe minutia is in one pair already).
    agree &= picked[:, :, None] != picked[:, None]
    support = (agree * weight[:, None, :]).sum(axis=2) / np.float32(pairs - 1)
    weighted = weight * support
    best = np.partition(weighted, pairs - config.pairs, axis=1)[:, pairs - config.pairs :]
    result: np.ndarray = best.mean(axis=1)
    return result
