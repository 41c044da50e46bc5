"""The passive presentation-attack score of one still: classic print and screen-recapture cues, no learned weights.

A photo of a printed photo or of a screen differs from a photo of a face in ways that need no training to
measure (Määttä, Hadid & Pietikäinen, "Face spoofing detection from single images using micro-texture analysis",
IJCB 2011; Boulkenafet, Komulainen & Hadid, "Face anti-spoofing based on color texture analysis", ICIP 2015;
Wen, Han & Jain, "Face spoof detection with image distortion analysis", IEEE TIFS 10(4), 2015, whose four
distortion cues these follow):

``chroma``
    Colour diversity: ink and displays reproduce a smaller gamut, so the spread of the face's chroma (Cb, Cr
    in YCbCr) shrinks. Cue: minus the log of their summed standard deviations.
``blur``
    Recapture blurs: the share of the face's gradient energy left after a 2-pixel Gaussian blur is removed is
    smaller. Cue: minus the log of that share.
``specular``
    Glossy paper and glass reflect: the share of face pixels that are nearly white and colourless. Cue: the
    log of that share (plus 1e-4).
``moire``
    A screen's pixel grid beats with the camera's: isolated peaks in the face's spectrum at mid-high
    frequencies. Cue: the log of the largest over the median spectral magnitude in that band.

The face is the YuNet box grown by 10 %, resampled to 160x160 for the colour cues and read at full resolution
(at most 512 px a side) for the frequency cues. **Combination rule**, fixed: each cue is standardised by the mean
and standard deviation it has on bona fide photos (the calibration file), and the score is the mean of the four
standardised cues; higher looks more like a print or screen. Nothing is learned from attacks: the calibration
(``tessera/liveness/calibrations/pad-passive-v1.json``) holds the bona fide means and deviations, the
threshold, and where they were measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import cv2
import numpy as np

from tessera.primitives import Box, Image

CUES = ("chroma", "blur", "specular", "moire")
CALIBRATION_FILE = "pad-passive-v1.json"
_COLOUR_SIDE = 160
_FREQUENCY_MAX_SIDE = 512
_BLUR_SIGMA = 2.0
_MOIRE_BAND = (0.25, 0.45)
"""The band of spatial frequencies searched for moiré peaks, in cycles per pixel (Nyquist is 0.5)."""


@dataclass(frozen=True)
class PassiveCalibration:
    """Bona fide mean and deviation of each cue, the threshold and what backs them (the JSON file)."""

    name: str
    means: dict[str, float]
    deviations: dict[str, float]
    threshold: float
    bpcer_at_threshold: float
    data: str

    def score(self, cues: dict[str, float]) -> float:
        """The combination rule: the mean of the standardised cues."""
        return float(np.mean([(cues[cue] - self.means[cue]) / self.deviations[cue] for cue in CUES]))


@cache
def load_passive_calibration(name: str = CALIBRATION_FILE) -> PassiveCalibration:
    """The shipped calibration (``tessera/liveness/calibrations/``)."""
    raw = json.loads(files("tessera.liveness").joinpath("calibrations", name).read_text())
    return PassiveCalibration(
        name=raw["name"],
        means={cue: float(raw["cues"][cue]["mean"]) for cue in CUES},
        deviations={cue: float(raw["cues"][cue]["deviation"]) for cue in CUES},
        threshold=float(raw["threshold"]),
        bpcer_at_threshold=float(raw["bpcer_at_threshold"]),
        data=raw["data"],
    )


def face_crop(image: Image, box: Box, grow: float = 0.10) -> Image | None:
    """The face box grown by ``grow`` of its size on each side, clipped to the image; None when fewer than 8x8
    pixels of it lie inside the image (a detector's box off a degenerate image, e.g. 16384x2)."""
    rows, cols = image.shape[:2]
    grow_rows, grow_cols = round(box.height * grow), round(box.width * grow)
    top, left = max(0, box.top - grow_rows), max(0, box.left - grow_cols)
    bottom, right = min(rows, box.bottom + grow_rows), min(cols, box.right + grow_cols)
    if bottom - top < 8 or right - left < 8:
        return None
    return image[top:bottom, left:right]


def measure_cues(face: Image) -> dict[str, float]:
    """The four cues of a face crop (rows, cols, 3) uint8 RGB (module docstring)."""
    colour = cv2.resize(face, (_COLOUR_SIDE, _COLOUR_SIDE), interpolation=cv2.INTER_AREA)
    ycc = cv2.cvtColor(colour, cv2.COLOR_RGB2YCrCb).astype(np.float64)
    chroma = -np.log(ycc[..., 1].std() + ycc[..., 2].std() + 1e-3)
    hsv = cv2.cvtColor(colour, cv2.COLOR_RGB2HSV)
    specular = np.log(np.mean((hsv[..., 2] >= 235) & (hsv[..., 1] <= 40)) + 1e-4)
    grey: np.ndarray = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.float64)
    scale = min(1.0, _FREQUENCY_MAX_SIDE / max(grey.shape))
    if scale < 1:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return {"chroma": float(chroma), "blur": _blur(grey), "specular": float(specular), "moire": _moire(grey)}


def _gradient_energy(grey: np.ndarray) -> float:
    gx, gy = cv2.Sobel(grey, cv2.CV_64F, 1, 0), cv2.Sobel(grey, cv2.CV_64F, 0, 1)
    return float(np.mean(gx**2 + gy**2))


def _blur(grey: np.ndarray) -> float:
    detail = grey - cv2.GaussianBlur(grey, (0, 0), _BLUR_SIGMA)
    share = _gradient_energy(detail) / (_gradient_energy(grey) + 1e-9)
    return float(-np.log(share + 1e-6))


def _moire(grey: np.ndarray) -> float:
    windowed = (grey - grey.mean()) * np.outer(np.hanning(grey.shape[0]), np.hanning(grey.shape[1]))
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2(windowed)))
    fy = np.fft.fftshift(np.fft.fftfreq(grey.shape[0]))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(grey.shape[1]))[None, :]
    radius = np.hypot(fy, fx)
    band = spectrum[(radius >= _MOIRE_BAND[0]) & (radius <= _MOIRE_BAND[1])]
    if band.size == 0:
        return 0.0
    return float(np.log(band.max() / (np.median(band) + 1e-9) + 1e-9))


@dataclass(frozen=True)
class PassiveScore:
    """The passive score of one still, or why none was measured."""

    measured: bool
    score: float | None
    threshold: float | None
    bpcer_at_threshold: float | None
    calibration: str
    cues: dict[str, float] | None = None
    reason: str | None = None

    @property
    def attack_suspected(self) -> bool | None:
        if self.score is None or self.threshold is None:
            return None
        return self.score >= self.threshold

    def as_dict(self) -> dict[str, object]:
        """For answers and the audit trail: the score, threshold and flag (no image)."""
        return {
            "measured": self.measured,
            "score": None if self.score is None else round(self.score, 4),
            "threshold": self.threshold,
            "attack_suspected": self.attack_suspected,
            "bpcer_at_threshold": self.bpcer_at_threshold,
            "calibration": self.calibration,
            "reason": self.reason,
        }


def passive_score(image: Image, box: Box | None, calibration: PassiveCalibration | None = None) -> PassiveScore:
    """Score the face in ``box`` of ``image``; ``box`` None (no face found) gives an unmeasured score."""
    calibration = calibration or load_passive_calibration()
    if box is None:
        return PassiveScore(False, None, None, None, calibration.name, reason="no_face")
    face = face_crop(image, box)
    if face is None:
        return PassiveScore(False, None, None, None, calibration.name, reason="face_outside_image")
    cues = measure_cues(face)
    return PassiveScore(
        True, calibration.score(cues), calibration.threshold, calibration.bpcer_at_threshold, calibration.name, cues
    )
