"""Tessera's minutiae matcher: Minutia Cylinder-Code (MCC) with Local Similarity Sort and Relaxation.

The method of Cappelli, Ferrara and Maltoni [1]_, written from the paper:

1. **Cylinders** (section 3). Around every minutia ``m`` a cylinder of
   radius ``R`` and height 2π is laid, aligned with ``m``'s direction and
   cut into ``Ns x Ns`` spatial by ``Nd`` directional cells. Each neighbour
   ``t`` adds to every cell a *spatial* contribution (a Gaussian of its
   distance to the cell centre, eq. 5) times a *directional* one (how well
   the difference between ``t``'s and ``m``'s directions falls into the
   cell's angular slice: a Gaussian integrated over the slice, eq. 6-7); a
   sigmoid ``Ψ`` squashes the sum (eq. 4). A cell is *valid* when it lies
   within ``R`` of ``m`` and inside the minutiae's convex hull enlarged by
   ``Ω`` (eq. 3): outside it the print simply was not seen. A cylinder is
   kept when enough of its cells are valid (``minVC``) and enough other
   minutiae fall near it (``minM``).
2. **Local similarity** (section 4, eq. 8-9). Two cylinders are compared
   only over the cells valid in both, and only when their minutiae's
   directions differ by at most ``δθ``: ``1 - |a - b| / (|a| + |b|)``.
   Cylinders are invariant to where and how the finger was placed, so no
   alignment is needed.
3. **Global score** (section 5). *LSS* averages the ``nP`` highest local
   similarities (eq. 13-14). *LSS-R* (section 5.2, eq. 15-18) first takes the
   ``nR = min(nA, nB)`` best pairs, then lets them reinforce one another for
   ``n_rel`` rounds of relaxation, a pair keeping its weight only as far as
   the other pairs agree with it on distance, relative direction and
   relative bearing (``ρ``); the score averages the ``nP`` pairs that kept
   most of their weight. LSS-R is the default: it is what makes MCC robust
   to a few accidental look-alike cylinders in non-mates.

Implementation notes
--------------------
Cylinders are float (the paper's "MCC16" variant) and every invalid cell is
stored as 0, so that the three quantities of eq. 9 over the cells valid in
*both* cylinders become matrix products::

    |a|b|^2  = sum_cells  a^2 * valid_b       (a is 0 where a itself is invalid)
    |b|a|^2  = sum_cells  b^2 * valid_a
    |a-b|^2 = |a|b|^2 + |b|a|^2 - 2 a.b

so one comparison is three BLAS calls (``|a|b|^2`` and the count of matchable
cells share one), and a 1:N search stacks every gallery cylinder into one
matrix (:class:`MccGallery`, one column per cylinder, so that a block of
templates is a column slice BLAS reads in place) and does them once per
block of ``gallery_chunk`` templates. Validity does not depend on the
directional slice, so the small products run over the ``Ns²`` spatial cells
only, not ``Ns² Nd``.

Positions are computed in a frame whose ``x`` is the image column and ``y``
points *up* (``-row``), so that the minutia angles of
:mod:`tessera.match.minutiae` (counter-clockwise on screen) are ordinary
mathematical angles in it.

References
----------
.. [1] R. Cappelli, M. Ferrara, D. Maltoni, "Minutia Cylinder-Code: a new
   representation and matching technique for fingerprint recognition",
   IEEE Transactions on Pattern Analysis and Machine Intelligence 32(12),
   pp. 2128-2141, 2010. Parameters: Table 1 and section 6.1.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tessera.match.minutiae import Minutiae

ALGORITHM = "tessera-mcc-lssr-2"
"""Identifies the cylinder layout and scoring of the default configuration (2: ``min_valid_cells`` 0.6,
was 0.75; scores of the two are not comparable and need their own calibration)."""


@dataclass(frozen=True)
class MccConfig:
    """Every parameter of MCC; defaults are the paper's (Table 1, section 6.1), for 500 ppi minutiae."""

    radius: float = 70.0
    """``R``: cylinder radius, pixels."""
    spatial_cells: int = 8
    """``Ns``: cells along each side of the cylinder's square base. The paper's default is 16; 8 is as
    accurate on the shared data and 2.5 times faster, with a quarter of the memory (mean EER over FVC2004
    DB1-3, all cross-finger pairs, measured with ``min_valid_cells`` 0.75: 1.67 % with 8, 1.72 % with 16,
    1.82 % with 12; FVC2002 DB1 0.35 % and CrossMatch 0.09-0.10 % with both; 1:N on one core 10-12,000 against
    4,600 comparisons per second; 12,700-15,500 with 8 since the gallery is stored transposed)."""
    directional_cells: int = 6
    """``Nd``: angular slices of the cylinder's height (2π)."""
    spatial_sigma: float = 28.0 / 3.0
    """``σS``: standard deviation of the spatial Gaussian, pixels. Neighbours farther than ``3 σS`` from a
    cell do not contribute to it."""
    directional_sigma: float = 2.0 * math.pi / 9.0
    """``σD``: standard deviation of the directional Gaussian, radians."""
    contribution_mean: float = 0.01
    """``μΨ``: where the sigmoid that squashes a cell's summed contributions is 1/2."""
    contribution_slope: float = 400.0
    """``τΨ``: slope of that sigmoid."""
    hull_margin: float = 50.0
    """``Ω``: how far beyond the minutiae's convex hull a cell still counts as seen, pixels."""
    min_valid_cells: float = 0.60
    """``minVC``: a cylinder is kept when at least this fraction of the cells within ``R`` are valid. The
    paper's 0.75 drops the cylinders of minutiae near the edge of a small print, where a partial overlap
    has most of its common minutiae. Mean EER over FVC2004 DB1-3, every cross-finger pair: 1.67 % with
    0.75, 1.43 % with 0.5, 0.6 or 0.65 (DB2 3.93 -> 3.20 %, DB4 2.85 -> 2.64 %; DB1, DB3, FVC2002 DB1,
    CrossMatch and the contactless set unchanged); FVC protocol 1.75 -> 1.26 %."""
    min_neighbours: int = 2
    """``minM``: a cylinder is kept when at least this many other minutiae lie within ``R + 3 σS``."""
    min_matchable_cells: float = 0.60
    """``minME``: two cylinders are compared only when at least this fraction of the cells within ``R``
    are valid in both; otherwise their similarity is 0."""
    max_angle_difference: float = math.pi / 2.0
    """``δθ``: cylinders of minutiae whose directions differ by more than this (radians) have similarity 0."""
    pairs_mean: float = 20.0
    """``μP``: the number of pairs averaged, ``nP``, grows from ``min_pairs`` to ``max_pairs`` along a
    sigmoid of ``min(nA, nB)`` centred here (eq. 14)..."""
    pairs_slope: float = 0.4
    """``τP``: ... with this slope."""
    min_pairs: int = 4
    """``minNP``."""
    max_pairs: int = 12
    """``maxNP``."""
    relaxation: bool = True
    """Score with LSS-R (True) or plain LSS (False)."""
    relaxation_iterations: int = 5
    """``n_rel``: rounds of relaxation."""
    relaxation_weight: float = 0.5
    """``wR``: share of a pair's own previous weight kept at each round (eq. 15)."""
    distance_mean: float = 5.0
    """``μ1ρ``: pairs whose inter-minutia distances differ by this many pixels are half compatible..."""
    distance_slope: float = -8.0 / 5.0
    """``τ1ρ``: ... with this slope."""
    direction_mean: float = math.pi / 12.0
    """``μ2ρ``: the same for the difference of relative directions, radians..."""
    direction_slope: float = -30.0
    """``τ2ρ``."""
    bearing_mean: float = math.pi / 12.0
    """``μ3ρ``: and for the difference of relative bearings (the angle between a minutia's direction and
    the line to the other), radians..."""
    bearing_slope: float = -30.0
    """``τ3ρ``."""
    gallery_chunk: int = 256
    """:func:`mcc_scores` compares the probe with this many gallery templates at a time: it bounds the
    memory of the intermediate arrays (about ``nA x nB_max x chunk`` floats) and keeps them in cache
    (64-1024 measured; 256-512 fastest)."""

    def __post_init__(self) -> None:
        if not (2 <= self.spatial_cells <= 64 and 1 <= self.directional_cells <= 32):
            raise ValueError(
                f"spatial_cells must be 2-64 and directional_cells 1-32; got {self.spatial_cells}, "
                f"{self.directional_cells}"
            )
        for name in ("radius", "spatial_sigma", "directional_sigma", "contribution_slope"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive; got {getattr(self, name)}")
        for name in ("min_valid_cells", "min_matchable_cells", "relaxation_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1]; got {getattr(self, name)}")
        if not 1 <= self.min_pairs <= self.max_pairs:
            raise ValueError(
                f"min_pairs and max_pairs must satisfy 1 <= min_pairs <= max_pairs; got {self.min_pairs}, "
                f"{self.max_pairs}"
            )
        if self.gallery_chunk < 1:
            raise ValueError(f"gallery_chunk must be at least 1; got {self.gallery_chunk}")

    @property
    def spatial_cell_size(self) -> float:
        """``ΔS = 2R / Ns``, pixels."""
        return 2.0 * self.radius / self.spatial_cells

    @property
    def directional_cell_size(self) -> float:
        """``ΔD = 2π / Nd``, radians."""
        return 2.0 * math.pi / self.directional_cells

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_MCC_CONFIG = MccConfig()


@dataclass(frozen=True, eq=False)
class MccTemplate:
    """The cylinders of one set of minutiae, ready to compare (:func:`mcc_template`).

    Only minutiae with a valid cylinder are kept; ``n`` below counts them.

    Attributes
    ----------
    xy : numpy.ndarray, shape (n, 2), float32
        Positions in the matching frame: ``x`` = col, ``y`` = -row, pixels.
    angles : numpy.ndarray, shape (n,), float32
        Minutia directions, radians, counter-clockwise in that frame.
    cylinders : numpy.ndarray, shape (n, Ns*Ns*Nd), float32
        Cell values in [0, 1], 0 where the cell is invalid; cell ``(i, j, k)`` at ``(i*Ns + j)*Nd + k``.
    energy : numpy.ndarray, shape (n, Ns*Ns), float32
        Per spatial cell, the sum over directional slices of the squared cell values.
    validity : numpy.ndarray, shape (n, Ns*Ns), float32
        1 where the spatial cell is valid, else 0.
    minutiae_count : int
        Minutiae the template was made from, kept or not.
    """

    xy: np.ndarray
    angles: np.ndarray
    cylinders: np.ndarray
    energy: np.ndarray
    validity: np.ndarray
    minutiae_count: int

    def __len__(self) -> int:
        return int(self.xy.shape[0])


@dataclass(frozen=True, eq=False)
class MccGallery:
    """Many templates stacked for one-to-many comparison (:func:`mcc_gallery`).

    Attributes
    ----------
    cylinders : numpy.ndarray, shape (Ns*Ns*Nd, T), float32
        Every template's cylinders, one after the other in ``order`` (``T`` = total cylinders), stored
        *transposed*: one column per cylinder, so that a block of consecutive templates is a column slice
        that BLAS reads in place, and the probe's rows multiply it without a transposed copy.
    energy, validity : numpy.ndarray, shape (Ns*Ns, T), float32
        The same for the templates' energies and validities.
    directions : numpy.ndarray, shape (2, T), float32
        Cosine and sine of every cylinder's minutia direction.
    angles : numpy.ndarray, shape (T,), float32
    order : numpy.ndarray, shape (N,), int64
        Gallery positions in stacking order: fewest cylinders first, so that templates compared
        together in one block have about as many cylinders and little is padded.
    padded_xy : numpy.ndarray, shape (N, n_max, 2), float32
    padded_angles : numpy.ndarray, shape (N, n_max), float32
    padded_index : numpy.ndarray, shape (N, n_max), int64
        Row of each template's ``i``-th cylinder in the stacked arrays; ``T`` (one past the end) for padding.
    counts : numpy.ndarray, shape (N,), int64
        Cylinders per template.
    """

    cylinders: np.ndarray
    energy: np.ndarray
    validity: np.ndarray
    directions: np.ndarray
    angles: np.ndarray
    padded_xy: np.ndarray
    padded_angles: np.ndarray
    padded_index: np.ndarray
    counts: np.ndarray
    order: np.ndarray

    def __len__(self) -> int:
        return int(self.counts.shape[0])


# -- cylinders ------------------------------------------------------------------


def mcc_template(minutiae: Minutiae, config: MccConfig = DEFAULT_MCC_CONFIG) -> MccTemplate:
    """Build the cylinders of ``minutiae`` (Cappelli et al. 2010, section 3).

    Parameters
    ----------
    minutiae : Minutiae
        Positions in pixels at 500 ppi (the radius and Gaussians are in those pixels).
    config : MccConfig

    Returns
    -------
    MccTemplate
        May hold no cylinder (fewer than ``minM + 1`` minutiae, or all too
        isolated): it then scores 0 against everything.
    """
    count = len(minutiae)
    xy = np.stack([minutiae.cols, -minutiae.rows], axis=1).astype(np.float64) if count else np.zeros((0, 2))
    angles = minutiae.angles.astype(np.float64)
    cells = config.spatial_cells**2
    if count == 0:
        return _empty_template(config, 0)

    offsets = cell_offsets(config)  # (S, 2) in the cylinder's own frame
    inside_radius = np.hypot(offsets[:, 0], offsets[:, 1]) <= config.radius
    cos, sin = np.cos(angles), np.sin(angles)
    # Cell centres in the image frame: the minutia plus its offsets rotated by its direction.
    centres = np.empty((count, cells, 2))
    centres[..., 0] = xy[:, None, 0] + cos[:, None] * offsets[None, :, 0] - sin[:, None] * offsets[None, :, 1]
    centres[..., 1] = xy[:, None, 1] + sin[:, None] * offsets[None, :, 0] + cos[:, None] * offsets[None, :, 1]

    # Spatial contributions (eq. 5): (m, cell, t), zero beyond 3 σS and for t == m.
    delta = centres[:, :, None, :] - xy[None, None, :, :]
    distance_sq = np.einsum("mctd,mctd->mct", delta, delta)
    sigma_s = config.spatial_sigma
    spatial = np.exp(-distance_sq / (2.0 * sigma_s**2)) / (sigma_s * math.sqrt(2.0 * math.pi))
    spatial[distance_sq > (3.0 * sigma_s) ** 2] = 0.0
    spatial[np.arange(count), :, np.arange(count)] = 0.0

    # Directional contributions (eq. 6-7): (m, k, t).
    slice_angles = -math.pi + (np.arange(config.directional_cells) + 0.5) * config.directional_cell_size
    relative = angle_difference(angles[:, None], angles[None, :])  # dθ(θm, θt)
    directional = _slice_integral(angle_difference(slice_angles[None, :, None], relative[:, None, :]), config)

    summed = np.einsum("mct,mkt->mck", spatial, directional)
    values = 1.0 / (1.0 + np.exp(-config.contribution_slope * (summed - config.contribution_mean)))

    # Validity (eq. 3): within R and within Ω of the convex hull.
    valid = inside_radius[None, :] & (
        _distance_outside_hull(centres.reshape(-1, 2), xy).reshape(count, cells) <= config.hull_margin
    )
    neighbours = (np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) <= config.radius + 3.0 * sigma_s).sum(
        axis=1
    ) - 1
    kept = (valid.sum(axis=1) >= config.min_valid_cells * inside_radius.sum()) & (neighbours >= config.min_neighbours)
    if not kept.any():
        return _empty_template(config, count)

    values = values[kept] * valid[kept][:, :, None]
    validity = valid[kept].astype(np.float32)
    return MccTemplate(
        xy=xy[kept].astype(np.float32),
        angles=angles[kept].astype(np.float32),
        cylinders=values.reshape(int(kept.sum()), -1).astype(np.float32),
        energy=np.square(values).sum(axis=2).astype(np.float32),
        validity=validity,
        minutiae_count=count,
    )


def mcc_gallery(templates: Sequence[MccTemplate], config: MccConfig = DEFAULT_MCC_CONFIG) -> MccGallery:
    """Stack ``templates`` for :func:`mcc_scores` (do it once per gallery, not per search)."""
    counts = np.array([len(template) for template in templates], dtype=np.int64)
    order = np.argsort(counts, kind="stable")
    stacked = [templates[position] for position in order if len(templates[position])]
    width = int(counts.max()) if counts.size else 0
    total = int(counts.sum())
    cells = config.spatial_cells**2
    if total:
        cylinders = np.concatenate([t.cylinders for t in stacked])
        energy = np.concatenate([t.energy for t in stacked])
        validity = np.concatenate([t.validity for t in stacked])
        angles = np.concatenate([t.angles for t in stacked])
    else:
        cylinders = np.zeros((0, cells * config.directional_cells), np.float32)
        energy = np.zeros((0, cells), np.float32)
        validity = np.zeros((0, cells), np.float32)
        angles = np.zeros(0, np.float32)
    padded_xy = np.zeros((len(templates), width, 2), np.float32)
    padded_angles = np.zeros((len(templates), width), np.float32)
    padded_index = np.full((len(templates), width), total, np.int64)
    start = 0
    for position in order:
        template = templates[position]
        n = len(template)
        padded_xy[position, :n] = template.xy
        padded_angles[position, :n] = template.angles
        padded_index[position, :n] = np.arange(start, start + n)
        start += n
    return MccGallery(
        cylinders=np.ascontiguousarray(cylinders.T),
        energy=np.ascontiguousarray(energy.T),
        validity=np.ascontiguousarray(validity.T),
        directions=np.ascontiguousarray(_unit_directions(angles).T),
        angles=angles,
        padded_xy=padded_xy,
        padded_angles=padded_angles,
        padded_index=padded_index,
        counts=counts,
        order=order.astype(np.int64),
    )


def gallery_views(templates: Sequence[MccTemplate], gallery: MccGallery) -> list[MccTemplate]:
    """``templates`` again, each as read-only views into ``gallery`` (what :func:`mcc_gallery` made of them).

    An index that keeps these in place of the templates it was given holds every cylinder once: the
    stacked gallery is then the only copy (a template's ``cylinders`` is a transposed column slice of
    ``gallery.cylinders``, not contiguous, which every function here accepts).

    Parameters
    ----------
    templates : sequence of MccTemplate
        The templates ``gallery`` was stacked from, in the same order.
    gallery : MccGallery

    Returns
    -------
    list of MccTemplate
        Equal, array for array, to ``templates``.
    """
    if len(templates) != len(gallery):
        raise ValueError(f"templates must be the {len(gallery)} templates of gallery; got {len(templates)}")
    arrays = {
        name: getattr(gallery, name).view()
        for name in ("cylinders", "energy", "validity", "padded_xy", "padded_angles")
    }
    for array in arrays.values():
        array.flags.writeable = False
    total = gallery.cylinders.shape[1]
    views = []
    for position, template in enumerate(templates):
        count = int(gallery.counts[position])
        first = int(gallery.padded_index[position, 0]) if count else total
        rows = slice(first, first + count)
        views.append(
            MccTemplate(
                xy=arrays["padded_xy"][position, :count],
                angles=arrays["padded_angles"][position, :count],
                cylinders=arrays["cylinders"][:, rows].T,
                energy=arrays["energy"][:, rows].T,
                validity=arrays["validity"][:, rows].T,
                minutiae_count=template.minutiae_count,
            )
        )
    return views


# -- comparison ----------------------------------------------------------------


def local_similarities(a: MccTemplate, b: MccTemplate, config: MccConfig = DEFAULT_MCC_CONFIG) -> np.ndarray:
    """The local similarity of every cylinder of ``a`` with every cylinder of ``b`` (eq. 8-9).

    Returns
    -------
    numpy.ndarray, shape (len(a), len(b)), float32
        In [0, 1]; 0 where the directions differ by more than ``δθ`` or too few cells are matchable.
    """
    return _similarity_matrix(
        a.cylinders,
        a.energy,
        a.validity,
        _unit_directions(a.angles),
        b.cylinders.T,
        b.energy.T,
        b.validity.T,
        _unit_directions(b.angles).T,
        config,
    )


def mcc_score(a: MccTemplate, b: MccTemplate, config: MccConfig = DEFAULT_MCC_CONFIG) -> float:
    """How alike two fingers' minutiae are: 0 (nothing in common) to 1.

    LSS-R (or LSS with ``config.relaxation=False``) over the local
    similarities; see the module docstring. Almost symmetric: LSS is exactly
    symmetric, and LSS-R differs only where equal similarities tie.
    """
    if len(a) == 0 or len(b) == 0:
        return 0.0
    gamma = np.ascontiguousarray(local_similarities(a, b, config).T)[None]
    scores = _global_scores(gamma, np.array([len(b)]), a.xy, a.angles, b.xy[None], b.angles[None], config)
    return float(scores[0])


def mcc_scores(
    probe: MccTemplate, gallery: MccGallery, config: MccConfig = DEFAULT_MCC_CONFIG, members: np.ndarray | None = None
) -> np.ndarray:
    """Score ``probe`` against every template of ``gallery`` (or only those at ``members``); equal to
    :func:`mcc_score` pair by pair.

    Returns
    -------
    numpy.ndarray, shape (len(gallery),) or (len(members),), float32
    """
    if members is None:
        chosen = gallery.order
    else:
        members = np.asarray(members, dtype=np.int64)
        chosen = members[np.argsort(gallery.counts[members], kind="stable")]
    by_position = np.zeros(len(gallery), np.float32)
    if len(probe) == 0 or len(chosen) == 0:
        return by_position if members is None else by_position[members]
    for start in range(0, len(chosen), config.gallery_chunk):
        part = chosen[start : start + config.gallery_chunk]
        counts = gallery.counts[part]
        if not counts.any():
            continue
        width = int(counts.max())
        index = gallery.padded_index[part, :width]
        real = index < gallery.cylinders.shape[1]
        if members is None:  # consecutive templates: their cylinders are one slice, no copy
            first = int(index[real].min())
            block = slice(first, int(index[real].max()) + 1)
            local = np.where(real, index - first, -1)
        else:
            block = index[real]
            local = np.full(index.shape, -1, np.int64)
            local[real] = np.arange(block.size)
        gamma = _similarity_matrix(
            probe.cylinders,
            probe.energy,
            probe.validity,
            _unit_directions(probe.angles),
            gallery.cylinders[:, block],
            gallery.energy[:, block],
            gallery.validity[:, block],
            gallery.directions[:, block],
            config,
        )
        # Spread the (nA, cylinders) block into (templates, width, nA); padding (-1) reads an appended zero row.
        by_cylinder = np.concatenate([gamma.T, np.zeros((1, gamma.shape[0]), np.float32)])
        padded = by_cylinder[local]
        by_position[part] = _global_scores(
            padded,
            counts,
            probe.xy,
            probe.angles,
            gallery.padded_xy[part, :width],
            gallery.padded_angles[part, :width],
            config,
        )
    return by_position if members is None else by_position[members]


class MccScorer:
    """Scores MCC templates for an index (:class:`tessera.index.base.Scorer`): :func:`mcc_scores` on a gallery.

    Parameters
    ----------
    config : MccConfig
        Must be the configuration the indexed templates' cylinders were made
        with (:func:`mcc_template`).
    """

    def __init__(self, config: MccConfig = DEFAULT_MCC_CONFIG) -> None:
        self.config = config

    def check(self, features: MccTemplate, like: MccTemplate | None) -> None:
        """Refuse (ValueError) anything but an :class:`MccTemplate` with this configuration's cylinder layout."""
        if not isinstance(features, MccTemplate):
            raise ValueError(f"features must be an MccTemplate (see mcc_template); got {type(features).__name__}")
        cells = self.config.spatial_cells**2
        expected = (cells * self.config.directional_cells, cells)
        if (features.cylinders.shape[1], features.validity.shape[1]) != expected:
            raise ValueError(
                f"features must have cylinders of {expected[0]} cells ({self.config.spatial_cells}^2 x "
                f"{self.config.directional_cells}) as this scorer's MccConfig makes; got "
                f"{features.cylinders.shape[1]}"
            )

    def pack(self, features: Sequence[MccTemplate]) -> MccGallery:
        """Stack the templates once (:func:`mcc_gallery`)."""
        return mcc_gallery(features, self.config)

    def views(self, features: Sequence[MccTemplate], packed: MccGallery) -> list[MccTemplate]:
        """The templates as views into ``packed`` (:func:`gallery_views`): the index then holds them once."""
        return gallery_views(features, packed)

    def scores(self, probe: MccTemplate, packed: MccGallery, members: np.ndarray) -> np.ndarray:
        """MCC scores of ``probe`` with the templates ``members`` of ``packed``, 0 to 1: shape (len(members),)."""
        return mcc_scores(probe, packed, self.config, members=members)


def _similarity_matrix(
    ca: np.ndarray,
    ea: np.ndarray,
    va: np.ndarray,
    da: np.ndarray,
    cb: np.ndarray,
    eb: np.ndarray,
    vb: np.ndarray,
    db: np.ndarray,
    config: MccConfig,
) -> np.ndarray:
    """Eq. 9 for every pair of cylinders: (nA, nB) float32 (see the module docstring).

    ``ca``, ``ea``, ``va`` are a's cylinders, energies and validities one row per cylinder, ``da`` its
    (nA, 2) unit directions; ``cb``, ``eb``, ``vb``, ``db`` are b's *transposed*, one column per cylinder.
    """
    count_a = ca.shape[0]
    # |a|b|^2 and the matchable cells in one product: [ea; va] @ vb.
    products = np.concatenate([ea, va]) @ vb
    norm_a = products[:count_a]  # |a|b|^2
    norm_b = va @ eb  # |b|a|^2
    usable = products[count_a:] >= np.float32(config.min_matchable_cells * _cells_in_radius(config))
    # cos(θa - θb) >= cos(δθ) is |dφ(θa, θb)| <= δθ, without wrapping every pair's angle.
    usable &= (da @ db) >= np.float32(math.cos(config.max_angle_difference) - 1e-6)
    # -2 a.b, the factor applied to a's few rows rather than to the result
    difference: np.ndarray = (ca * np.float32(-2.0)) @ cb
    difference += norm_a
    difference += norm_b
    np.maximum(difference, 0.0, out=difference)
    np.sqrt(difference, out=difference)
    np.sqrt(norm_a, out=norm_a)
    np.sqrt(norm_b, out=norm_b)
    norm_a += norm_b  # the denominator |a|b| + |b|a|
    if not config.min_matchable_cells > 0:
        usable &= norm_a > 0
    # Where usable, the denominator is positive: a valid cell's value is at least Ψ(0) > 0, and a usable pair
    # shares at least one valid cell. Elsewhere it may be 0: it is raised to a tiny positive number so that
    # the division stays finite, and the result is zeroed.
    np.maximum(norm_a, np.float32(1e-30), out=norm_a)
    np.divide(difference, norm_a, out=difference)
    np.subtract(np.float32(1.0), difference, out=difference)
    difference *= usable
    return difference


def _global_scores(
    gamma: np.ndarray,
    counts_b: np.ndarray,
    xy_a: np.ndarray,
    angles_a: np.ndarray,
    xy_b: np.ndarray,
    angles_b: np.ndarray,
    config: MccConfig,
) -> np.ndarray:
    """LSS or LSS-R for a batch: ``gamma`` (N, width, nA) holds the local similarity of each template b's
    cylinders (padded to ``width``) with the probe a's."""
    batch, width, count_a = gamma.shape
    smaller = np.minimum(count_a, counts_b)
    pairs = config.min_pairs + np.round(
        _sigmoid(smaller, config.pairs_mean, config.pairs_slope) * (config.max_pairs - config.min_pairs)
    ).astype(np.int64)
    pairs = np.minimum(pairs, np.maximum(smaller, 1))
    flat = gamma.reshape(batch, -1)
    if not config.relaxation:
        top = _top_values(flat, int(pairs.max()))
        take = np.arange(top.shape[1])[None, :] < pairs[:, None]
        averages: np.ndarray = (np.where(take, top, 0.0).sum(axis=1) / pairs).astype(np.float32)
        return averages

    # LSS-R (section 5.2): the nR best pairs by local similarity...
    relaxed = int(smaller.max())
    chosen = _top_indexes(flat, relaxed)
    live = np.arange(relaxed)[None, :] < smaller[:, None]
    initial = np.where(live, np.take_along_axis(flat, chosen, axis=1), np.float32(0.0))
    cols, rows = chosen // count_a, chosen % count_a
    xa, ya = xy_a[rows, 0], xy_a[rows, 1]  # (N, nR)
    xb = np.take_along_axis(xy_b[..., 0], cols, axis=1)
    yb = np.take_along_axis(xy_b[..., 1], cols, axis=1)
    # The rotation each pair implies; two pairs agree on relative direction when they imply the same one.
    rotation = angles_a[rows] - np.take_along_axis(angles_b, cols, axis=1)

    # ...their mutual compatibility ρ (eq. 17-18): d1 distances, d2 relative directions, d3 bearings.
    dxa, dya = xa[:, :, None] - xa[:, None, :], ya[:, :, None] - ya[:, None, :]  # from k to t
    dxb, dyb = xb[:, :, None] - xb[:, None, :], yb[:, :, None] - yb[:, None, :]
    d1 = np.abs(np.sqrt(dxa * dxa + dya * dya) - np.sqrt(dxb * dxb + dyb * dyb))
    d2 = np.abs(_wrap(rotation[:, :, None] - rotation[:, None, :]))
    # dR_a - dR_b = rotation_t - (angle of the k-to-t line in a - the same in b): that angle with one arctan2.
    turn = np.arctan2(dxb * dya - dyb * dxa, dxa * dxb + dya * dyb)
    d3 = np.abs(_wrap(rotation[:, :, None] - turn))
    compatibility = 1.0 / (
        (1.0 + _exp_clipped(-config.distance_slope * (d1 - config.distance_mean)))
        * (1.0 + _exp_clipped(-config.direction_slope * (d2 - config.direction_mean)))
        * (1.0 + _exp_clipped(-config.bearing_slope * (d3 - config.bearing_mean)))
    )
    compatibility *= live[:, :, None] & live[:, None, :]
    diagonal = np.arange(relaxed)
    compatibility[:, diagonal, diagonal] = 0.0

    # ...relaxation (eq. 15)...
    weight = np.float32(config.relaxation_weight)
    spread = ((1.0 - weight) / np.maximum(smaller - 1, 1)).astype(np.float32)[:, None]
    strength = initial
    for _ in range(config.relaxation_iterations):
        support = np.matmul(compatibility, strength[:, :, None])[:, :, 0]
        strength = weight * strength + spread * support

    # ...and the nP pairs that kept most of their weight (eq. 16).
    efficiency = np.full_like(strength, -1.0)
    np.divide(strength, initial, out=efficiency, where=initial > 0)
    best = _top_indexes(efficiency, int(pairs.max()))
    kept = np.take_along_axis(strength, best, axis=1)
    take = (np.arange(best.shape[1])[None, :] < pairs[:, None]) & (np.take_along_axis(efficiency, best, axis=1) > 0)
    relaxed_averages: np.ndarray = (np.where(take, kept, 0.0).sum(axis=1) / pairs).astype(np.float32)
    return relaxed_averages


# -- helpers -------------------------------------------------------------------


def angle_difference(first: npt.ArrayLike, second: npt.ArrayLike) -> np.ndarray:
    """``dφ``: ``first - second`` wrapped into [-π, π) radians (elementwise)."""
    wrapped: np.ndarray = np.mod(np.asarray(first) - np.asarray(second) + math.pi, 2.0 * math.pi) - math.pi
    return wrapped


def _wrap(angle: np.ndarray) -> np.ndarray:
    """``angle`` (within a few turns of 0) wrapped into [-π, π]."""
    return angle - np.float32(2.0 * math.pi) * np.rint(angle * np.float32(0.5 / math.pi))


def _exp_clipped(exponent: np.ndarray) -> np.ndarray:
    """``exp`` that saturates instead of overflowing (a sigmoid of it is then 0 or 1 anyway)."""
    saturated: np.ndarray = np.exp(np.minimum(exponent, np.float32(25.0)))
    return saturated


def _unit_directions(angles: np.ndarray) -> np.ndarray:
    return np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


def _sigmoid(value: np.ndarray, mean: float, slope: float) -> np.ndarray:
    """``Z(v, μ, τ) = 1 / (1 + exp(-τ (v - μ)))`` (eq. 13)."""
    return 1.0 / (1.0 + np.exp(-slope * (np.asarray(value, dtype=np.float64) - mean)))


def _top_indexes(values: np.ndarray, count: int) -> np.ndarray:
    """Per row, the indexes of the ``count`` largest values, largest first (ties: lowest index first)."""
    count = min(count, values.shape[1])
    if count < values.shape[1]:
        part = np.argpartition(-values, count - 1, axis=1)[:, :count]
    else:
        part = np.broadcast_to(np.arange(values.shape[1]), values.shape).copy()
    part.sort(axis=1)
    order = np.argsort(-np.take_along_axis(values, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _top_values(values: np.ndarray, count: int) -> np.ndarray:
    return np.take_along_axis(values, _top_indexes(values, count), axis=1)


def cell_offsets(config: MccConfig) -> np.ndarray:
    """(Ns², 2) centres of the spatial cells relative to the minutia, in its own frame (eq. 2)."""
    steps = (np.arange(config.spatial_cells) - (config.spatial_cells - 1) / 2.0) * config.spatial_cell_size
    along, across = np.meshgrid(steps, steps, indexing="ij")
    return np.stack([along.ravel(), across.ravel()], axis=1)


@functools.lru_cache(maxsize=16)
def _cells_in_radius(config: MccConfig) -> int:
    offsets = cell_offsets(config)
    return int((np.hypot(offsets[:, 0], offsets[:, 1]) <= config.radius).sum())


def _slice_integral(alpha: np.ndarray, config: MccConfig) -> np.ndarray:
    """The directional Gaussian integrated over a slice of width ΔD centred ``alpha`` away (eq. 7)."""
    half = config.directional_cell_size / 2.0
    scale = config.directional_sigma * math.sqrt(2.0)
    integral: np.ndarray = 0.5 * (_erf((alpha + half) / scale) - _erf((alpha - half) / scale))
    return integral


def _erf(x: np.ndarray) -> np.ndarray:
    """Error function, absolute error < 1.5e-7 (Abramowitz & Stegun, Handbook of Mathematical Functions, 7.1.26)."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf: np.ndarray = sign * (1.0 - poly * np.exp(-x * x))
    return erf


def _distance_outside_hull(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Distance from each of ``points`` (P, 2) to the convex hull of ``vertices`` (n, 2); 0 inside."""
    hull = _convex_hull(vertices)
    if hull.shape[0] == 1:
        distance_to_point: np.ndarray = np.linalg.norm(points - hull[0], axis=1)
        return distance_to_point
    start, end = hull, np.roll(hull, -1, axis=0)
    edge = end - start  # (h, 2), counter-clockwise
    length_sq = np.maximum(np.einsum("hd,hd->h", edge, edge), 1e-12)
    relative = points[:, None, :] - start[None, :, :]  # (P, h, 2)
    along = np.clip(np.einsum("phd,hd->ph", relative, edge) / length_sq, 0.0, 1.0)
    nearest = start[None] + along[..., None] * edge[None]
    distance: np.ndarray = np.linalg.norm(points[:, None, :] - nearest, axis=-1).min(axis=1)
    if hull.shape[0] < 3:
        return distance
    # Counter-clockwise hull: inside means left of (or on) every edge.
    cross = edge[None, :, 0] * relative[..., 1] - edge[None, :, 1] * relative[..., 0]
    return np.where((cross >= 0).all(axis=1), 0.0, distance)


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull (Andrew's monotone chain), duplicates removed; (h, 2), h >= 1."""
    unique = np.unique(points, axis=0)
    if unique.shape[0] <= 2:
        return unique

    def cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        turn: float = (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
        return turn

    lower: list[np.ndarray] = []
    for point in unique:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], point) <= 0:
            lower.pop()
        lower.append(point)
    upper: list[np.ndarray] = []
    for point in unique[::-1]:
        while len(upper) >= 2 and cross(upper[-2], upper[-1], point) <= 0:
            upper.pop()
        upper.append(point)
    return np.array(lower[:-1] + upper[:-1])


def _empty_template(config: MccConfig, minutiae_count: int) -> MccTemplate:
    cells = config.spatial_cells**2
    return MccTemplate(
        xy=np.zeros((0, 2), np.float32),
        angles=np.zeros(0, np.float32),
        cylinders=np.zeros((0, cells * config.directional_cells), np.float32),
        energy=np.zeros((0, cells), np.float32),
        validity=np.zeros((0, cells), np.float32),
        minutiae_count=minutiae_count,
    )
