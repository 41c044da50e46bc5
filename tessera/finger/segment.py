"""Separate the fingerprint (clear ridges) from everything else, block by block.

A block belongs to the print when its ridge pattern is clear (clarity, see
:mod:`tessera.finger.ridges`), has some contrast (in-band power) and, for a
photo, lies on the finger found by :mod:`tessera.finger.locate`. The block
mask is then smoothed (closing then opening, as in the block-wise
segmentation of Bazen and Gerez [1]_), reduced to its largest piece and its
holes filled: a print is one connected area.

References
----------
.. [1] A. M. Bazen, S. H. Gerez, "Segmentation of fingerprint images",
   Proc. ProRISC 2001 Workshop on Circuits, Systems and Signal Processing,
   pp. 276-280, 2001.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tessera.finger.config import TARGET_PPI, FingerConfig
from tessera.finger.normalise import NormalisedFinger
from tessera.finger.ridges import RidgeField, block_mask, measure_ridges, pixel_mask

MM_PER_INCH = 25.4


@dataclass(frozen=True, eq=False)
class Segmentation:
    """Where the print is, and the ridge field measured to decide it.

    Attributes
    ----------
    mask : numpy.ndarray, shape (rows, cols), bool
        Pixels of the normalised image that belong to the print.
    blocks : numpy.ndarray, shape (block_rows, block_cols), bool
        The same, block by block.
    ridges : RidgeField
        Ridge measurements of the normalised image.
    ridge_area_mm2 : float
        Area of the print, square millimetres.
    mean_clarity : float
        Mean ridge clarity over the print's blocks (0 with no block).
    finger_clarity : float
        Mean ridge clarity over every block on the finger, clear or not: how sharp the finger is as a whole.
    finger_coherence : float
        Mean ridge-flow coherence over the blocks on the finger that are not flat: whether there is a flow at all.
    """

    mask: np.ndarray
    blocks: np.ndarray
    ridges: RidgeField
    ridge_area_mm2: float
    mean_clarity: float
    finger_clarity: float
    finger_coherence: float


def segment_finger(finger: NormalisedFinger, config: FingerConfig) -> Segmentation:
    """Find the print in ``finger.image`` (see the module docstring)."""
    ridges = measure_ridges(finger.image, config.block_step, config.block_window, config.period_range)
    on_finger = block_mask(finger.mask, config.block_step, 0.75)[: ridges.shape[0], : ridges.shape[1]]
    candidate = on_finger & (ridges.clarity >= config.min_block_clarity) & (ridges.power >= config.min_block_power)
    blocks = _smoothed(candidate, config.mask_smoothing_blocks) & on_finger
    textured = on_finger & (ridges.power >= config.min_block_power)  # flat background says nothing about flow
    mask = pixel_mask(blocks, config.block_step, finger.image.shape)
    block_mm = config.block_step / TARGET_PPI * MM_PER_INCH
    return Segmentation(
        mask=mask,
        blocks=blocks,
        ridges=ridges,
        ridge_area_mm2=float(blocks.sum() * block_mm**2),
        mean_clarity=float(ridges.clarity[blocks].mean()) if blocks.any() else 0.0,
        finger_clarity=float(ridges.clarity[on_finger].mean()) if on_finger.any() else 0.0,
        finger_coherence=float(ridges.coherence[textured].mean()) if textured.any() else 0.0,
    )


def _smoothed(blocks: np.ndarray, radius: int) -> np.ndarray:
    """Close then open ``blocks`` with a disc of ``radius`` blocks, keep the largest piece, fill its holes."""
    image: np.ndarray = np.pad(blocks.astype(np.uint8), radius + 1)
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        image = cv2.morphologyEx(image, cv2.MORPH_CLOSE, kernel)
        image = cv2.morphologyEx(image, cv2.MORPH_OPEN, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(image, connectivity=4)
    if count < 2:
        return np.zeros_like(blocks, dtype=bool)
    largest = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    flood = largest.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    filled = largest | (1 - flood)
    inner = slice(radius + 1, -(radius + 1))
    return filled[inner, inner] > 0
