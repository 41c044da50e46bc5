"""Contextual filtering: keep, in each block, only the ridge wave that block should contain.

Short-time Fourier enhancement after Chikkerur, Cartwright and Govindaraju
[1]_ (section 4): every block's spectrum (the same tapered patches as
:func:`tessera.finger.ridges.measure_ridges` reads) is multiplied by a filter that
passes frequencies near the block's ridge frequency (radial band) and
directions near its ridge normal (angular band), then transformed back and
the overlapping blocks are added up. The orientation and period used are
smoothed over neighbouring blocks first, so that a scar or a smudge takes
the flow of its surroundings; the angular band narrows where the flow is
coherent and widens where it curves (cores, deltas).

The result is what a clean contact print of that finger would look like:
dark ridges on white, the background white.

References
----------
.. [1] S. Chikkerur, A. N. Cartwright, V. Govindaraju, "Fingerprint
   enhancement using STFT analysis", Pattern Recognition 40(1), pp. 198-211,
   2007.
"""

from __future__ import annotations

import cv2
import numpy as np

from tessera.finger.config import FingerConfig
from tessera.finger.ridges import RidgeField, _frequency_grid, _taper, tapered_patches
from tessera.finger.segment import Segmentation


def enhance_ridges(image: np.ndarray, segmentation: Segmentation, config: FingerConfig) -> np.ndarray:
    """Filter ``image`` block by block along its ridge flow (see the module docstring).

    Parameters
    ----------
    image : numpy.ndarray, shape (rows, cols), uint8
        Normalised print (dark ridges), the one ``segmentation`` was measured on.
    segmentation : Segmentation
        Its ridge field and print mask.
    config : FingerConfig

    Returns
    -------
    numpy.ndarray, shape (rows, cols), uint8
        Dark ridges on white; white outside the print.
    """
    ridges = segmentation.ridges
    orientation, period, coherence = _smoothed_flow(ridges, segmentation.blocks)
    window, step = ridges.window, ridges.step
    radius, angle = _frequency_grid(window)
    centre = window / period[..., None, None]
    radial = np.exp(-0.5 * np.square((radius - centre) / (config.enhance_radial_bandwidth * centre)))
    normal = (orientation + np.pi / 2.0)[..., None, None]
    offset = np.abs(np.mod(angle - normal + np.pi / 2.0, np.pi) - np.pi / 2.0)  # distance to the normal, modulo π
    width = np.minimum(np.pi / 2.0, config.enhance_angular_bandwidth / np.maximum(coherence, 0.25))[..., None, None]
    angular = np.where(offset < width, np.square(np.cos(0.5 * np.pi * offset / width)), 0.0)
    spectra = np.fft.fft2(tapered_patches(image, step, window), axes=(2, 3))
    filtered = np.fft.ifft2(spectra * (radial * angular).astype(np.float32), axes=(2, 3)).real.astype(np.float32)

    signal = _overlap_add(filtered, step, window, image.shape)
    # Local contrast normalisation: ridges of a faint region come out as strong as elsewhere.
    spread = np.sqrt(cv2.GaussianBlur(np.square(signal), (0, 0), 2.0 * config.target_ridge_period)) + 1e-3
    normalised = np.clip(128.0 + 90.0 * signal / spread, 0, 255)
    return np.where(segmentation.mask, normalised, 255.0).astype(np.uint8)


def _smoothed_flow(ridges: RidgeField, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orientation (doubled-angle vectors), period and coherence averaged over neighbouring blocks."""
    weight = np.where(blocks, ridges.clarity, 0.05 * ridges.clarity).astype(np.float32)
    doubled = ridges.orientation * 2.0
    cos = cv2.GaussianBlur(weight * ridges.coherence * np.cos(doubled), (0, 0), 1.0)
    sin = cv2.GaussianBlur(weight * ridges.coherence * np.sin(doubled), (0, 0), 1.0)
    total = cv2.GaussianBlur(weight, (0, 0), 1.0) + 1e-6
    orientation = np.mod(0.5 * np.arctan2(sin, cos), np.pi)
    coherence = np.clip(np.hypot(cos, sin) / total, 0.0, 1.0)
    period = cv2.GaussianBlur(weight * ridges.period, (0, 0), 2.0) / (cv2.GaussianBlur(weight, (0, 0), 2.0) + 1e-6)
    fallback = float(np.median(ridges.period[blocks])) if blocks.any() else float(np.median(ridges.period))
    period = np.where(total > 0.02, period, fallback)
    return orientation, period, coherence


def _overlap_add(patches: np.ndarray, step: int, window: int, shape: tuple[int, int]) -> np.ndarray:
    """Sum the (block_rows, block_cols, window, window) patches back into an image of ``shape``."""
    block_rows, block_cols = patches.shape[:2]
    margin = (window - step) // 2
    height, width = block_rows * step + window - step, block_cols * step + window - step
    total = np.zeros((height, width), np.float32)
    weight = np.zeros((height, width), np.float32)
    taper = _taper(window)
    for i in range(block_rows):
        for j in range(block_cols):
            total[i * step : i * step + window, j * step : j * step + window] += patches[i, j]
            weight[i * step : i * step + window, j * step : j * step + window] += taper
    return (total / np.maximum(weight, 1e-3))[margin : margin + shape[0], margin : margin + shape[1]]
