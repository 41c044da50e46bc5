"""Measure whether a detected face is good enough to enrol, and refuse it if not.

Every measure is a pure function of the landmarks or the aligned chip. Face
size is in the input's pixels, as resolution is what it judges; sharpness and
exposure are taken on the chip, so they mean the same whatever the photo's
resolution. :func:`assess` compares them
with the limits in :class:`~tessera.face.config.FaceConfig`, in an order
chosen so that the reason given is the cause, not a symptom: a tiny face also
looks blurred once enlarged to the chip, and a dark face also looks blurred
(little contrast) and has unreliable landmarks.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Protocol

import cv2
import numpy as np

from tessera.face.align import EYE_ON_IMAGE_LEFT, EYE_ON_IMAGE_RIGHT, NOSE_BASE, AlignedFace
from tessera.face.config import FaceConfig
from tessera.face.detect import Detection
from tessera.face.refusal import FaceRefusal, RetakeAdvice, refuse

NOSE_DEPTH_RATIO = 0.65
"""How far the landmark predictor places the base of the nose in front of the eyes, as a fraction
of the distance between the eyes; turns the nose's sideways shift into an angle in :func:`yaw`.
Empirical: chosen so that LFW photos judged by eye to be turned 30-50 degrees read as such
(anatomy alone suggests less than half as much, but the predictor pulls a turned face's landmarks
towards the frontal mean shape, which shrinks the shift). Expect +-10 degrees."""


class QualityLimits(Protocol):
    """The limits :func:`assess` reads (every face pipeline's config has them)."""

    @property
    def min_inter_eye_px(self) -> float: ...
    @property
    def min_brightness(self) -> float: ...
    @property
    def max_brightness(self) -> float: ...
    @property
    def max_clipped_fraction(self) -> float: ...
    @property
    def min_sharpness(self) -> float: ...
    @property
    def max_abs_yaw(self) -> float: ...


@dataclass(frozen=True)
class FaceQuality:
    """Figures measured on a face capture, stored with its template.

    Attributes
    ----------
    detection_score : float
        The detector's confidence; comparable only for the same ``detector``.
    face_width_px : float
        Width of the detected box, in input pixels.
    inter_eye_px : float
        Distance between the eye centres, in input pixels.
    sharpness : float
        See :func:`sharpness`; dimensionless, higher is sharper.
    brightness : float
        Mean grey level (0-255) of the chip's face region.
    clipped_fraction : float
        Fraction (0-1) of the face region that is pure black or pure white.
    yaw : float
        Estimated head turn in degrees, signed (see :func:`yaw`).
    faces_found : int
        Faces detected in the photo, the subject included.
    detector : str
        Detector stage that found the face.
    """

    detection_score: float
    face_width_px: float
    inter_eye_px: float
    sharpness: float
    brightness: float
    clipped_fraction: float
    yaw: float
    faces_found: int
    detector: str

    def as_dict(self) -> dict:
        """The figures as plain JSON-serialisable Python values."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> FaceQuality:
        """The figures of a quality record (:meth:`as_dict`, with or without the retake advice beside them)."""
        return cls(**{f.name: record[f.name] for f in fields(cls)})


def measure_quality(aligned: AlignedFace, detection: Detection, faces_found: int, config: FaceConfig) -> FaceQuality:
    """Measure ``aligned`` (found as ``detection`` among ``faces_found`` faces)."""
    region = face_region(aligned.chip, config.face_region)
    return FaceQuality(
        detection_score=round(float(detection.score), 4),
        face_width_px=float(detection.box.width),
        inter_eye_px=round(inter_eye_distance(aligned.landmarks), 2),
        sharpness=round(sharpness(region, config.sharpness_denoise_sigma, config.sharpness_reblur_px), 4),
        brightness=round(brightness(region), 2),
        clipped_fraction=round(clipped_fraction(region, config.clip_margin), 4),
        yaw=round(yaw(aligned.landmarks), 1),
        faces_found=int(faces_found),
        detector=detection.detector,
    )


def assess(quality: FaceQuality, config: QualityLimits) -> FaceRefusal | None:
    """Return why ``quality`` breaks a limit of ``config``, or None when the capture is usable.

    Checked in this order, the first broken limit wins: face size, exposure,
    sharpness, head turn.
    """
    if quality.inter_eye_px < config.min_inter_eye_px:
        return refuse(
            "face_too_small", measure="inter_eye_px", value=quality.inter_eye_px, minimum=config.min_inter_eye_px
        )
    if quality.brightness < config.min_brightness:
        return refuse(
            "bad_exposure", "too_dark", measure="brightness", value=quality.brightness, minimum=config.min_brightness
        )
    if quality.brightness > config.max_brightness:
        return refuse(
            "bad_exposure", "too_bright", measure="brightness", value=quality.brightness, maximum=config.max_brightness
        )
    if quality.clipped_fraction > config.max_clipped_fraction:
        return refuse(
            "bad_exposure",
            "too_dark" if quality.brightness < 128 else "too_bright",
            measure="clipped_fraction",
            value=quality.clipped_fraction,
            maximum=config.max_clipped_fraction,
        )
    if quality.sharpness < config.min_sharpness:
        return refuse("too_blurred", measure="sharpness", value=quality.sharpness, minimum=config.min_sharpness)
    if abs(quality.yaw) > config.max_abs_yaw:
        return refuse("face_turned", measure="abs_yaw_degrees", value=abs(quality.yaw), maximum=config.max_abs_yaw)
    return None


def retake_advice(quality: FaceQuality, config: QualityLimits) -> RetakeAdvice | None:
    """Why a retake would help a capture ``config``'s gate accepted, or None.

    What :func:`assess` would answer under ``config.retake`` (a
    :class:`~tessera.face.config.QualityLimitValues`, where the config has one): the
    same reasons and messages as a refusal, so the field worker hears the
    same words whether the capture was refused or kept with advice.
    """
    retake = getattr(config, "retake", None)
    refusal = None if retake is None else assess(quality, retake)
    return None if refusal is None else RetakeAdvice.of(refusal)


def face_region(chip: np.ndarray, fractions: tuple[float, float, float, float]) -> np.ndarray:
    """The grey levels of the part of ``chip`` inside ``fractions`` (top, left, bottom, right of its side).

    Returns
    -------
    numpy.ndarray, shape (rows, cols), uint8
        Luma (ITU-R BT.601 weights, as OpenCV's RGB to grey).
    """
    size = chip.shape[0]
    top, left, bottom, right = (round(f * size) for f in fractions)
    return cv2.cvtColor(chip[top:bottom, left:right], cv2.COLOR_RGB2GRAY)


def inter_eye_distance(landmarks: np.ndarray) -> float:
    """Distance in pixels between the eye centres (the midpoint of each eye's two corners).

    ISO/IEC 19794-5 expresses face image resolution the same way; it asks for
    at least 60 px for automated recognition in passports. A phone capture in
    the field is judged against what the network needs instead (see
    ``FaceConfig.min_inter_eye_px``).
    """
    return float(np.linalg.norm(_eye_centre(landmarks, EYE_ON_IMAGE_RIGHT) - _eye_centre(landmarks, EYE_ON_IMAGE_LEFT)))


def yaw(landmarks: np.ndarray) -> float:
    """Estimated head turn, in degrees: 0 facing the camera, positive when the nose points to the image's right.

    Under a turn by angle a, the nose, which stands in front of the eyes by
    ``d``, shifts sideways by ``d sin a`` while the distance between the eyes
    shrinks to ``D cos a``; so ``tan a = (shift / projected D) / (d / D)``
    with ``d / D`` = :data:`NOSE_DEPTH_RATIO` (the weak-perspective model of
    Gee & Cipolla, "Determining the gaze of faces in images", Image and
    Vision Computing 12(10), 1994). The shift is measured along the line
    through the eyes, so a tilted head (roll) does not count as a turn.
    """
    return turn_angle(
        _eye_centre(landmarks, EYE_ON_IMAGE_RIGHT),
        _eye_centre(landmarks, EYE_ON_IMAGE_LEFT),
        landmarks[NOSE_BASE],
        NOSE_DEPTH_RATIO,
    )


def turn_angle(eye_on_image_right: np.ndarray, eye_on_image_left: np.ndarray, nose: np.ndarray, depth: float) -> float:
    """Head turn in degrees from two eye centres and a point on the nose, each (row, col); see :func:`yaw`.

    ``depth`` is how far that nose point stands in front of the eyes, as a
    fraction of the distance between them. Positive when the nose points to
    the image's right.
    """
    between = eye_on_image_right - eye_on_image_left
    distance = float(np.linalg.norm(between))
    if distance == 0.0:
        return 0.0
    shift = float(np.dot(nose - (eye_on_image_right + eye_on_image_left) / 2, between / distance))
    # (row, col) order: "between" points from the image's left eye to its right one, so shift > 0 is to the right.
    return math.degrees(math.atan2(shift / distance, depth))


def sharpness(gray: np.ndarray, denoise_sigma: float, reblur_px: int) -> float:
    """Fraction of the fine detail that blurring would remove: near 0 for a blurred face, ~0.4 for a sharp one.

    The re-blur measure of Crete-Roffet et al. ("The blur effect: perception
    and estimation with a new no-reference perceptual blur metric", SPIE
    Electronic Imaging 6492, 2007): blur the image again with a
    ``reblur_px``-long box filter and see how much of the neighbour-to-neighbour
    contrast disappears. A sharp image loses much, an already blurred one
    little. It is a ratio, so neither contrast nor brightness changes it.
    Taken along rows and along columns, the smaller wins, so motion blur in
    one direction counts.

    A light Gaussian smoothing (``denoise_sigma``) comes first: in a strongly
    blurred 8-bit photo, the one-grey-level steps of quantisation and JPEG
    noise would otherwise read as sharp detail.

    Parameters
    ----------
    gray : numpy.ndarray, shape (rows, cols), uint8
        Face region of the chip.
    denoise_sigma : float
        Standard deviation of the Gaussian smoothing, in chip pixels.
    reblur_px : int
        Length of the box filter, in chip pixels.

    Returns
    -------
    float
        In [0, 1]; 0 for a featureless region.
    """
    image = cv2.GaussianBlur(gray.astype(np.float64), (0, 0), denoise_sigma)
    ratios = []
    # cv2.blur takes (width, height): (1, n) blurs along columns (axis 0), (n, 1) along rows (axis 1).
    for axis, kernel in ((0, (1, reblur_px)), (1, (reblur_px, 1))):
        detail = np.abs(np.diff(image, axis=axis))
        kept = np.abs(np.diff(cv2.blur(image, kernel), axis=axis))
        total = float(detail.sum())
        ratios.append(float(np.maximum(detail - kept, 0.0).sum()) / total if total > 0.0 else 0.0)
    return min(ratios)


def brightness(gray: np.ndarray) -> float:
    """Mean grey level, 0-255."""
    return float(gray.mean())


def clipped_fraction(gray: np.ndarray, margin: int) -> float:
    """Fraction of pixels within ``margin`` grey levels of pure black or pure white: detail the camera lost."""
    return float(np.mean((gray <= margin) | (gray >= 255 - margin)))


def _eye_centre(landmarks: np.ndarray, corners: tuple[int, int]) -> np.ndarray:
    return landmarks[list(corners)].mean(axis=0)
