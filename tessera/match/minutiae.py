"""Minutiae: the points where a ridge ends or splits, as every fingerprint step hands them on.

Conventions (the image conventions of :mod:`tessera.primitives` apply)

Position
    (row, col) in pixels of the image the minutiae were found in, row first;
    sub-pixel values are allowed.
Angle
    The direction the ridge runs away from the minutia (for an ending, back
    along its ridge; for a bifurcation, along the valley it closes), in
    radians in [0, 2π), counted counter-clockwise *as seen on screen* from
    the image's +col axis. Rows grow downwards, so a minutia of angle ``a``
    points along ``(d_row, d_col) = (-sin a, cos a)``. This is the ISO/IEC
    19794-2 convention, so angles go into a standard record unchanged.
Kind
    The ISO/IEC 19794-2 type code: 0 other (unknown), 1 ridge ending,
    2 bifurcation.
Quality
    The extractor's confidence, 0 to 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KIND_OTHER = 0
KIND_ENDING = 1
KIND_BIFURCATION = 2
KINDS = (KIND_OTHER, KIND_ENDING, KIND_BIFURCATION)
"""ISO/IEC 19794-2:2005 minutia type codes (section 7.4.1.1)."""


@dataclass(frozen=True, eq=False)
class Minutiae:
    """A set of minutiae, one per row of four parallel arrays.

    Attributes
    ----------
    points : numpy.ndarray, shape (n, 2), float32
        (row, col) positions, pixels.
    angles : numpy.ndarray, shape (n,), float32
        Radians in [0, 2π), counter-clockwise on screen from +col (see the module docstring).
    kinds : numpy.ndarray, shape (n,), uint8
        ISO type codes (:data:`KINDS`).
    qualities : numpy.ndarray, shape (n,), float32
        0 to 1.
    """

    points: np.ndarray
    angles: np.ndarray
    kinds: np.ndarray
    qualities: np.ndarray

    def __post_init__(self) -> None:
        points = np.asarray(self.points, dtype=np.float32).reshape(-1, 2)
        count = points.shape[0]
        angles = np.mod(np.asarray(self.angles, dtype=np.float64).ravel(), 2 * math.pi).astype(np.float32)
        # float32 rounding can turn an angle just below 2π into exactly 2π.
        angles[angles >= np.float32(2 * math.pi)] = 0.0
        kinds = np.asarray(self.kinds, dtype=np.uint8).ravel()
        qualities = np.asarray(self.qualities, dtype=np.float32).ravel()
        for name, array in (("angles", angles), ("kinds", kinds), ("qualities", qualities)):
            if array.shape[0] != count:
                raise ValueError(f"{name} must have one entry per point ({count}); got {array.shape[0]}")
        if not (np.all(np.isfinite(points)) and np.all(np.isfinite(angles)) and np.all(np.isfinite(qualities))):
            raise ValueError("minutiae must have finite positions, angles and qualities")
        if count and not np.isin(kinds, KINDS).all():
            raise ValueError(f"kinds must be ISO type codes {KINDS}; got {sorted(set(kinds.tolist()) - set(KINDS))}")
        if count and (qualities.min() < 0.0 or qualities.max() > 1.0):
            raise ValueError(f"qualities must lie in [0, 1]; got {qualities.min()} to {qualities.max()}")
        for name, array in (("points", points), ("angles", angles), ("kinds", kinds), ("qualities", qualities)):
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def rows(self) -> np.ndarray:
        return self.points[:, 0]

    @property
    def cols(self) -> np.ndarray:
        return self.points[:, 1]

    def take(self, indexes: np.ndarray) -> Minutiae:
        """The minutiae at ``indexes`` (an index array or boolean mask), in that order."""
        return Minutiae(self.points[indexes], self.angles[indexes], self.kinds[indexes], self.qualities[indexes])

    def transformed(
        self, rotation: float = 0.0, shift: tuple[float, float] = (0.0, 0.0), centre: tuple[float, float] = (0.0, 0.0)
    ) -> Minutiae:
        """The same minutiae after rotating the image by ``rotation`` radians (counter-clockwise on screen)
        about ``centre`` (row, col), then shifting it by ``shift`` (rows, cols).

        Useful to check that a matcher does not care where or how a finger was placed.
        """
        cos, sin = math.cos(rotation), math.sin(rotation)
        d_row = self.points[:, 0] - centre[0]
        d_col = self.points[:, 1] - centre[1]
        # On screen, counter-clockwise with rows pointing down: col' = c cos + r sin, row' = -c sin + r cos.
        col = d_col * cos + d_row * sin + centre[1] + shift[1]
        row = -d_col * sin + d_row * cos + centre[0] + shift[0]
        return Minutiae(np.stack([row, col], axis=1), self.angles + rotation, self.kinds, self.qualities)

    def as_array(self) -> np.ndarray:
        """(n, 5) float64 columns row, col, angle, kind, quality, for inspection and CSV export."""
        return np.column_stack([self.points, self.angles, self.kinds, self.qualities]).astype(np.float64)


def no_minutiae() -> Minutiae:
    """An empty set."""
    return Minutiae(np.zeros((0, 2)), np.zeros(0), np.zeros(0), np.zeros(0))
