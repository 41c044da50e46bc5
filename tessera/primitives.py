"""Conventions shared by every part of Tessera.

Images
    ``numpy.ndarray`` of shape (rows, cols, 3), dtype ``uint8``, RGB channel
    order, already rotated upright by its EXIF orientation. Grayscale images
    are (rows, cols) ``uint8``. Decoding happens once, at the boundary
    (:func:`tessera.capture.decode.decode_image`); inside, steps assume it.

Coordinates
    Pixel positions are (row, col) pairs, row first, as numpy indexes them.
    Rectangles are :class:`Box` (top, left, bottom, right), bottom and right
    exclusive.

Embeddings
    1-D ``float32`` vectors of unit L2 norm, so that the cosine similarity of
    two embeddings is their dot product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

Image = np.ndarray
"""(rows, cols, 3) uint8 RGB image."""


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in pixels: rows [top, bottom), cols [left, right)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def area(self) -> int:
        return max(self.height, 0) * max(self.width, 0)


class Trace(Protocol):
    """Receives intermediate results of a pipeline for inspection.

    Steps call ``trace.log(key, value)``; the default :data:`NO_TRACE` does
    nothing, so tracing costs nothing unless asked for.
    """

    def log(self, key: str, value: object) -> None: ...


class _NoTrace:
    def log(self, key: str, value: object) -> None:
        return None


NO_TRACE: Trace = _NoTrace()


class DictTrace:
    """A trace that keeps every checkpoint in insertion order."""

    def __init__(self) -> None:
        self.items: dict[str, object] = {}

    def log(self, key: str, value: object) -> None:
        self.items[key] = value


def unit_vector(vector: np.ndarray) -> np.ndarray:
    """Return ``vector`` as float32 scaled to unit L2 norm.

    Raises ``ValueError`` for a zero or non-finite vector, which no real
    embedding should produce.
    """
    vector = np.asarray(vector, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(vector))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError(f"cannot normalise a vector of norm {norm}")
    return vector / norm
