"""Bring a located fingertip to the form the extractor expects: gray, 500 ppi, even contrast, dark ridges.

1. **Resolution.** A contact print's resolution is known (the scanner's);
   it is resampled to 500 ppi. A photo's is not: the ridge period is
   measured on the crop (median over the blocks with clear ridges, see
   :mod:`tessera.finger.ridges`) and the crop is resampled so that the
   period becomes ``FingerConfig.target_ridge_period``, the median period of
   500 ppi contact prints. Ridge spacing varies between people by about
   ±10 %, much less than the distance between a phone and a finger does.
2. **Contrast.** Contrast-limited adaptive histogram equalisation
   (CLAHE [1]_) evens out the uneven light across a curved fingertip.
3. **Polarity.** Contact prints show ridges dark on light; a lit fingertip
   shows them light on dark. Contactless crops are inverted
   (``FingerConfig.contactless_ridges_bright``).

References
----------
.. [1] K. Zuiderveld, "Contrast limited adaptive histogram equalization",
   in Graphics Gems IV, Academic Press, pp. 474-485, 1994.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from tessera.finger.config import TARGET_PPI, FingerConfig
from tessera.finger.locate import FingerLocation
from tessera.finger.ridges import block_mask, measure_ridges


@dataclass(frozen=True, eq=False)
class NormalisedFinger:
    """A fingertip at 500 ppi with dark ridges and even contrast.

    Attributes
    ----------
    image : numpy.ndarray, shape (rows, cols), uint8
    mask : numpy.ndarray, same shape, bool
        Where the finger is (the located region, resampled).
    scale : float
        Pixels of ``image`` per pixel of the located crop.
    source_ppi : float
        Resolution of the input photo or print, pixels per inch: given (contact) or estimated from the ridge period.
    measured_period : float or None
        Median ridge period found on the crop, crop pixels; None when it was not measured
        (contact prints) or no clear ridges were found.
    inverted : bool
        Whether the grey levels were inverted.
    """

    image: np.ndarray
    mask: np.ndarray
    scale: float
    source_ppi: float
    measured_period: float | None
    inverted: bool


def normalise_finger(location: FingerLocation, capture: str, config: FingerConfig) -> NormalisedFinger:
    """Resample, equalise and orient the polarity of ``location`` (see the module docstring)."""
    measured = None
    if location.ppi is not None:
        scale = TARGET_PPI / location.ppi
    else:
        measured = measure_period(location.gray, location.mask, location.expected_period, config)
        # With no clear ridge, keep the guess from the finger's width; quality refuses it later anyway.
        scale = config.target_ridge_period / measured if measured else 1.0 / config.crop_oversampling
    rows, cols = location.gray.shape
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    gray = location.gray if scale == 1.0 else cv2.resize(location.gray, size, interpolation=interpolation)
    mask = (
        location.mask
        if scale == 1.0
        else cv2.resize(location.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    )
    inverted = capture == "contactless" and config.contactless_ridges_bright
    if capture == "contactless":
        tiles = (
            max(1, round(gray.shape[1] / config.clahe_tile_px)),
            max(1, round(gray.shape[0] / config.clahe_tile_px)),
        )
        gray = cv2.createCLAHE(clipLimit=config.clahe_clip, tileGridSize=tiles).apply(gray)
        if inverted:
            gray = 255 - gray
    source_ppi = TARGET_PPI / (scale * location.crop_scale)
    return NormalisedFinger(
        image=gray,
        mask=mask,
        scale=float(scale),
        source_ppi=float(source_ppi),
        measured_period=measured,
        inverted=inverted,
    )


def measure_period(gray: np.ndarray, mask: np.ndarray, expected_period: float, config: FingerConfig) -> float | None:
    """Median ridge period of ``gray`` over the clear blocks inside ``mask``, in its own pixels.

    The crop's resolution is only a guess (from the finger's width), so the
    ridges are looked for on copies shrunk to put ``expected_period`` at
    each of ``config.period_search`` times the target period, each analysed
    with the blocks and period range of a 500 ppi print. Each copy's answer
    is scored by the share of the finger's blocks where ridges are clear,
    weighed by how far the period strays from the guess (a log-normal prior
    of spread ``config.period_prior_spread``). Only the middle of the finger
    counts (``config.period_core``). The best answer is measured
    once more on a copy that puts it at the target period, the middle of
    the analysed band, where the spectral estimate is least biased.
    """
    # Only the middle of the finger faces the camera: towards its sides the curved skin foreshortens the ridges.
    inner = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    mask = inner >= config.period_core * inner.max()
    best: tuple[float, float] | None = None
    for factor in config.period_search:
        found = _period_at(gray, mask, expected_period / (config.target_ridge_period * factor), config)
        if found is None:
            continue
        period, clear_share = found
        prior = math.exp(-0.5 * (math.log(period / expected_period) / config.period_prior_spread) ** 2)
        if best is None or clear_share * prior > best[0]:
            best = (clear_share * prior, period)
    if best is None:
        return None
    refined = _period_at(gray, mask, best[1] / config.target_ridge_period, config)
    return best[1] if refined is None else refined[0]


def _period_at(gray: np.ndarray, mask: np.ndarray, shrink: float, config: FingerConfig) -> tuple[float, float] | None:
    """(median period in ``gray``'s pixels, share of clear blocks) measured on a copy shrunk by ``shrink`` (at least
    1)."""
    shrink = max(1.0, shrink)
    rows, cols = gray.shape
    size = (max(1, round(cols / shrink)), max(1, round(rows / shrink)))
    if min(size) < config.block_window:
        return None
    small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if shrink > 1.0 else gray
    small_mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) if shrink > 1.0 else mask
    field = measure_ridges(small, config.block_window // 2, config.block_window, config.period_range)
    inside = block_mask(small_mask, config.block_window // 2, 0.9)[: field.shape[0], : field.shape[1]]
    clear = inside & (field.clarity >= config.min_block_clarity)
    if clear.sum() < 4:
        return None
    return float(np.median(field.period[clear])) * cols / size[0], float(clear.sum() / inside.sum())
