"""Find faces in an image, and choose the one to enrol.

Detection runs on a copy shrunk to ``config.detection_max_side``, made once
and shared by every stage (shrinking a 40-MP photo costs more than a tenth of
a second each time); boxes are mapped back to the input's pixels. Detector stages run cheapest first and
stop at the first that finds a face: dlib's HOG detector (Dalal & Triggs,
"Histograms of Oriented Gradients for Human Detection", CVPR 2005), the same
on a more upsampled image for small faces, then the MMOD CNN detector (King,
"Max-Margin Object Detection", arXiv:1502.00046, 2015) for faces HOG misses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import cv2
import dlib

from tessera.face.config import FaceConfig
from tessera.face.models import FaceModels
from tessera.face.refusal import FaceRefusal, refuse
from tessera.primitives import NO_TRACE, Box, Image, Trace

CNN_WINDOW_PX = 80
"""Side of the smallest face the MMOD CNN detector finds, in pixels of the image it sees. It cannot
find a face in a smaller image, and its convolutions fail outright on one under 10 px."""


class FaceChoiceLimits(Protocol):
    """The fields of a pipeline's config that :func:`choose_face` reads (every face pipeline's config has them)."""

    @property
    def max_centre_offset(self) -> float: ...
    @property
    def centre_dominance(self) -> float: ...
    @property
    def min_central_area_fraction(self) -> float: ...
    @property
    def dominance_ratio(self) -> float: ...


@dataclass(frozen=True)
class Detection:
    """One face found by a detector.

    Attributes
    ----------
    box : Box
        The face in the input image's pixels. It may reach past the image's
        edges when the face is cut off; it is not clipped, because the
        landmark predictor expects the detector's own box.
    score : float
        The detector's confidence (HOG: SVM margin; CNN: MMOD score). Only
        comparable between detections of the same ``detector``.
    detector : str
        The stage that found it, one of :data:`tessera.face.config.DETECTORS`,
        or ``"yunet"`` (:mod:`tessera.face.sface`).
    """

    box: Box
    score: float
    detector: str


def detect_faces(
    image: Image, config: FaceConfig, models: FaceModels, trace: Trace = NO_TRACE
) -> tuple[Detection, ...]:
    """Find faces in ``image``, trying ``config.detectors`` in order until one finds any.

    Parameters
    ----------
    image : numpy.ndarray, shape (rows, cols, 3), uint8
        RGB image.

    Returns
    -------
    tuple of Detection
        In the detector's order; empty when no stage found a face.
    """
    detections: tuple[Detection, ...] = ()
    small, scale = shrink_to(image, config.detection_max_side)
    for stage in config.detectors:
        detections = _STAGES[stage](small, scale, config, models)
        if detections:
            break
    trace.log("face-detections", detections)
    return detections


def choose_face(
    detections: tuple[Detection, ...], image_shape: tuple[int, ...], config: FaceChoiceLimits
) -> Detection | FaceRefusal:
    """Return the face to enrol: the only one, the one framed in the centre, or one clearly larger than the rest.

    Photos often hold other faces in the background. With several faces:

    1. *Framed*: the face nearest the photo's centre is taken when it lies
       within ``config.max_centre_offset`` of it (:func:`centre_offset`),
       every other face is at least ``config.centre_dominance`` times
       further away, and no other face is more than
       ``1 / config.min_central_area_fraction`` times its size. Whoever
       holds the camera frames the person being enrolled.
    2. *Dominant*: otherwise, a face whose box area is at least
       ``config.dominance_ratio`` times the next largest is taken. Only the
       part of a box inside the image counts, so a face cut off by the edge
       of the frame (a bystander) weighs less than one fully in view.
    3. Otherwise the faces are ambiguous and the capture is refused.

    Parameters
    ----------
    detections : tuple of Detection
        As :func:`detect_faces` returns them.
    image_shape : tuple of int
        (rows, cols, ...) of the image they were found in.
    """
    if not detections:
        return refuse("no_face", measure="faces_found", value=0, minimum=1)
    if len(detections) == 1:
        return detections[0]
    framed = _framed_face(detections, image_shape, config)
    if framed is not None:
        return framed
    ranked = sorted(detections, key=lambda d: visible_area(d.box, image_shape), reverse=True)
    largest, runner_up = visible_area(ranked[0].box, image_shape), visible_area(ranked[1].box, image_shape)
    ratio = largest / max(runner_up, 1)
    if ratio < config.dominance_ratio:
        return refuse(
            "multiple_faces",
            measure="area_ratio_largest_to_next",
            value=round(ratio, 3),
            minimum=config.dominance_ratio,
            faces_found=len(detections),
        )
    return ranked[0]


def centre_offset(box: Box, image_shape: tuple[int, ...]) -> float:
    """Distance from the centre of ``box`` to the centre of the image, rows and columns each as a fraction of its side.

    0 for a face in the middle; 0.5 for one centred on a side's edge. Measured
    per side so that portrait and landscape photos are judged alike.
    """
    rows, cols = image_shape[:2]
    row_offset = ((box.top + box.bottom) / 2 - rows / 2) / max(rows, 1)
    col_offset = ((box.left + box.right) / 2 - cols / 2) / max(cols, 1)
    return math.hypot(row_offset, col_offset)


def _framed_face(
    detections: tuple[Detection, ...], image_shape: tuple[int, ...], config: FaceChoiceLimits
) -> Detection | None:
    """The face framed in the centre of the photo (rule 1 of :func:`choose_face`), or None."""
    by_offset = sorted(detections, key=lambda d: centre_offset(d.box, image_shape))
    nearest, offset = by_offset[0], centre_offset(by_offset[0].box, image_shape)
    if offset > config.max_centre_offset:
        return None
    if centre_offset(by_offset[1].box, image_shape) < config.centre_dominance * offset:
        return None
    area = visible_area(nearest.box, image_shape)
    if any(config.min_central_area_fraction * visible_area(d.box, image_shape) > area for d in by_offset[1:]):
        return None
    return nearest


def visible_area(box: Box, image_shape: tuple[int, ...]) -> int:
    """Area in pixels of the part of ``box`` inside an image of ``image_shape`` (rows, cols, ...)."""
    rows, cols = image_shape[:2]
    return Box(max(box.top, 0), max(box.left, 0), min(box.bottom, rows), min(box.right, cols)).area


def shrink_to(image: Image, max_side: int) -> tuple[Image, float]:
    """Return ``image`` shrunk so its longer side is at most ``max_side``, and the scale applied (<= 1).

    Area interpolation averages the pixels each output pixel covers, so the
    shrunk image is not aliased.
    """
    longer = max(image.shape[:2])
    if longer <= max_side:
        return image, 1.0
    scale = max_side / longer
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def box_from_rect(rect: dlib.rectangle, scale: float) -> Box:
    """Convert a dlib rectangle found at ``scale`` (inclusive corners) to a Box in input pixels."""
    return Box(
        top=round(rect.top() / scale),
        left=round(rect.left() / scale),
        bottom=round((rect.bottom() + 1) / scale),
        right=round((rect.right() + 1) / scale),
    )


def rect_from_box(box: Box) -> dlib.rectangle:
    """Convert a Box (exclusive bottom and right) to a dlib rectangle (inclusive corners)."""
    return dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)


def _hog(
    small: Image, scale: float, upsample: int, detector: str, config: FaceConfig, models: FaceModels
) -> tuple[Detection, ...]:
    with models.hog_detector as hog:
        rects, scores, _ = hog.run(small, upsample, config.min_hog_score)
    return tuple(Detection(box_from_rect(rect, scale), float(score), detector) for rect, score in zip(rects, scores))


def _hog_stage(small: Image, scale: float, config: FaceConfig, models: FaceModels) -> tuple[Detection, ...]:
    return _hog(small, scale, config.hog_upsample, "hog", config, models)


def _hog_upsampled_stage(small: Image, scale: float, config: FaceConfig, models: FaceModels) -> tuple[Detection, ...]:
    smaller, fallback_scale = shrink_to(small, config.fallback_hog_max_side)
    return _hog(smaller, scale * fallback_scale, config.fallback_hog_upsample, "hog-upsampled", config, models)


def _cnn_stage(small: Image, scale: float, config: FaceConfig, models: FaceModels) -> tuple[Detection, ...]:
    smaller, cnn_scale = shrink_to(small, config.cnn_max_side)
    scale *= cnn_scale
    if min(smaller.shape[:2]) * 2**config.cnn_upsample < CNN_WINDOW_PX:
        return ()
    with models.cnn_detector as cnn:
        found = cnn(smaller, config.cnn_upsample)
    return tuple(
        Detection(box_from_rect(face.rect, scale), float(face.confidence), "cnn")
        for face in found
        if face.confidence >= config.min_cnn_score
    )


_STAGES = {"hog": _hog_stage, "hog-upsampled": _hog_upsampled_stage, "cnn": _cnn_stage}
"""Each stage takes the image shrunk to ``config.detection_max_side`` and the scale it was shrunk by."""
