"""Measure whether a finger capture is good enough to enrol, and refuse it if not.

The figures (:class:`FingerQuality`) are measured along the way: the
finger's size and exposure when it is located, its resolution when it is
normalised, the area and clarity of its ridges when it is segmented, and
the number of minutiae found. :func:`assess_capture` compares them with the
limits of :class:`~tessera.finger.config.FingerConfig` *before* the costly
minutiae extraction, in an order chosen so that the reason given is the
cause, not a symptom (a dark finger also looks out of focus, a distant one
too); :func:`assess_minutiae` checks the count after it.

The 0-100 ``score`` sums up focus and ridge clarity, ridge area, ridge
period consistency and minutia count, as the contactless quality measures
surveyed by NIST (Libert et al., "Guidance for evaluating contactless
fingerprint acquisition devices", NIST SP 500-305, 2018) do; it is a
heuristic summary stored in the template's finger-quality byte, not a
calibrated predictor like NFIQ 2 (which is defined for contact prints only).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from tessera.finger.config import FingerConfig
from tessera.finger.locate import FingerLocation
from tessera.finger.normalise import NormalisedFinger
from tessera.finger.refusal import FingerRefusal, refuse
from tessera.finger.segment import Segmentation


@dataclass(frozen=True)
class FingerQuality:
    """Figures measured on a finger capture, stored with its template.

    Attributes
    ----------
    finger_width_px : float
        Width of the finger in the input's pixels (contact: the print's shorter side).
    source_ppi : float
        Resolution of the input, pixels per inch: given for a contact print, estimated from the ridge period for a
        photo.
    brightness : float
        Mean grey level (0-255) of the finger in the input.
    clipped_fraction : float
        Fraction (0-1) of the finger that is pure black or pure white.
    ridge_area_mm2 : float
        Area showing clear ridges, square millimetres.
    ridge_clarity : float
        Mean ridge clarity (0-1) over that area.
    finger_clarity : float
        Mean ridge clarity (0-1) over the whole finger: how sharp it is.
    finger_coherence : float
        Mean ridge-flow coherence (0-1) over the whole finger: whether it shows a ridge flow at all.
    ridge_period_px : float
        Median ridge period at 500 ppi, pixels (0 when no clear ridge).
    period_spread : float
        Interquartile range of the ridge period over the print, as a fraction of its median (0 is uniform).
    close_up : bool
        The finger filled the frame, or the image is a contact print (no outline was seen).
    minutiae_count : int
        Minutiae kept (-1 before extraction).
    score : int
        0-100 summary (see the module docstring).
    """

    finger_width_px: float
    source_ppi: float
    brightness: float
    clipped_fraction: float
    ridge_area_mm2: float
    ridge_clarity: float
    finger_clarity: float
    finger_coherence: float
    ridge_period_px: float
    period_spread: float
    close_up: bool = True
    minutiae_count: int = -1
    score: int = 0

    def as_dict(self) -> dict:
        """The figures as plain JSON-serialisable Python values."""
        return asdict(self)


def measure_quality(location: FingerLocation, finger: NormalisedFinger, segmentation: Segmentation) -> FingerQuality:
    """Collect the figures known before minutiae extraction."""
    periods = segmentation.ridges.period[segmentation.blocks]
    if periods.size:
        low, median, high = np.percentile(periods, [25, 50, 75])
    else:
        low = median = high = 0.0
    quality = FingerQuality(
        finger_width_px=round(float(location.finger_width_px), 1),
        source_ppi=round(float(finger.source_ppi), 1),
        brightness=round(float(location.brightness), 2),
        clipped_fraction=round(float(location.clipped_fraction), 4),
        ridge_area_mm2=round(segmentation.ridge_area_mm2, 1),
        ridge_clarity=round(segmentation.mean_clarity, 4),
        finger_clarity=round(segmentation.finger_clarity, 4),
        finger_coherence=round(segmentation.finger_coherence, 4),
        ridge_period_px=round(float(median), 2),
        period_spread=round(float((high - low) / median), 4) if median > 0 else 0.0,
        close_up=bool(location.close_up),
    )
    return quality


def with_minutiae(quality: FingerQuality, count: int) -> FingerQuality:
    """``quality`` completed with the minutia count and the summary score."""
    clarity = min(1.0, quality.ridge_clarity / 0.5)
    area = min(1.0, quality.ridge_area_mm2 / 150.0)
    consistency = max(0.0, 1.0 - quality.period_spread / 0.5)
    richness = min(1.0, count / 30.0)
    score = round(100.0 * clarity * area * richness * (0.5 + 0.5 * consistency))
    return FingerQuality(**{**asdict(quality), "minutiae_count": int(count), "score": int(min(100, max(0, score)))})


def assess_capture(quality: FingerQuality, capture: str, config: FingerConfig) -> FingerRefusal | None:
    """Return why ``quality`` breaks a limit, or None when extraction may go on.

    First, for a close-up or a contact image (no finger outline seen), a ridge flow at all. Then, for a
    contact print, enough ridge area; for a photo, in this order: exposure, finger size, sharpness.
    """
    if quality.close_up and quality.finger_coherence < config.min_flow_coherence:
        message = "not_a_print" if capture == "contact" else None
        return refuse(
            "not_a_finger",
            message,
            measure="finger_coherence",
            value=quality.finger_coherence,
            minimum=config.min_flow_coherence,
        )
    if capture == "contact":
        if quality.ridge_area_mm2 < config.min_print_area_mm2:
            return refuse(
                "not_a_finger",
                "not_a_print",
                measure="ridge_area_mm2",
                value=quality.ridge_area_mm2,
                minimum=config.min_print_area_mm2,
            )
        if quality.ridge_clarity < config.min_print_clarity:
            return refuse(
                "not_a_finger",
                "not_a_print",
                measure="ridge_clarity",
                value=quality.ridge_clarity,
                minimum=config.min_print_clarity,
            )
        return None
    if quality.brightness < config.min_brightness:
        return refuse("too_dark", measure="brightness", value=quality.brightness, minimum=config.min_brightness)
    if quality.brightness > config.max_brightness:
        return refuse("too_bright", measure="brightness", value=quality.brightness, maximum=config.max_brightness)
    if quality.clipped_fraction > config.max_clipped_fraction:
        reason = "too_dark" if quality.brightness < 128 else "too_bright"
        return refuse(
            reason, measure="clipped_fraction", value=quality.clipped_fraction, maximum=config.max_clipped_fraction
        )
    if quality.finger_width_px < config.min_finger_width_px:
        return refuse(
            "move_closer", measure="finger_width_px", value=quality.finger_width_px, minimum=config.min_finger_width_px
        )
    if quality.finger_clarity < config.min_finger_clarity:
        return refuse(
            "finger_out_of_focus",
            measure="finger_clarity",
            value=quality.finger_clarity,
            minimum=config.min_finger_clarity,
        )
    if quality.ridge_area_mm2 < config.min_ridge_area_mm2:
        return refuse(
            "finger_out_of_focus",
            measure="ridge_area_mm2",
            value=quality.ridge_area_mm2,
            minimum=config.min_ridge_area_mm2,
        )
    return None


def assess_minutiae(quality: FingerQuality, config: FingerConfig) -> FingerRefusal | None:
    """Refuse a capture with fewer than ``config.min_minutiae`` minutiae."""
    if quality.minutiae_count < config.min_minutiae:
        return refuse(
            "too_few_minutiae", measure="minutiae_count", value=quality.minutiae_count, minimum=config.min_minutiae
        )
    return None
