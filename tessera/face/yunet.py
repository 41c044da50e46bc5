"""Find faces and their five landmarks with YuNet.

YuNet (Wu, Peng & Yu, "YuNet: A Tiny Millisecond-level Face Detector",
Machine Intelligence Research 20, 2023) returns, for each face, a box, five
landmarks (eye centres, nose tip, mouth corners) and a score. It runs on a
copy shrunk to ``config.detection_max_side`` (:func:`~tessera.face.detect.shrink_to`);
boxes and landmarks are mapped back to the input's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tessera.face.detect import Detection, shrink_to
from tessera.face.sface_config import SFaceConfig
from tessera.face.sface_models import SFaceModels
from tessera.primitives import NO_TRACE, Box, Image, Trace

YUNET = "yunet"
"""``Detection.detector`` of a face YuNet found."""

EYE_ON_IMAGE_LEFT = 0
"""Row of :attr:`YuNetFace.landmarks` holding the centre of the eye on the image's left (the subject's right
eye in an unmirrored photo; YuNet calls it "right eye")."""
EYE_ON_IMAGE_RIGHT = 1
"""Row holding the centre of the eye on the image's right."""
NOSE_TIP = 2
"""Row holding the tip of the nose."""
MOUTH_ON_IMAGE_LEFT = 3
"""Row holding the mouth corner on the image's left."""
MOUTH_ON_IMAGE_RIGHT = 4
"""Row holding the mouth corner on the image's right."""


@dataclass(frozen=True)
class YuNetFace:
    """One face found by YuNet.

    Attributes
    ----------
    detection : Detection
        Its box in the input's pixels (not clipped), YuNet's score (0-1) and ``detector="yunet"``.
    landmarks : numpy.ndarray, shape (5, 2), float64
        (row, col) in the input's pixels, in the order of the ``*_ON_IMAGE_*`` and ``NOSE_TIP`` constants.
    """

    detection: Detection
    landmarks: np.ndarray


def detect_faces_yunet(
    image: Image, config: SFaceConfig, models: SFaceModels, trace: Trace = NO_TRACE
) -> tuple[YuNetFace, ...]:
    """Find the faces in ``image`` scoring at least ``config.min_detection_score``.

    Parameters
    ----------
    image : numpy.ndarray, shape (rows, cols, 3), uint8
        RGB image.

    Returns
    -------
    tuple of YuNetFace
        Strongest first; empty when none is found. The trace receives their
        :class:`~tessera.face.detect.Detection` under ``face-detections``.
    """
    small, scale = shrink_to(image, config.detection_max_side)
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    with models.detector as detector:
        detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        detector.setScoreThreshold(config.min_detection_score)
        detector.setNMSThreshold(config.nms_threshold)
        _, rows = detector.detect(bgr)
    # On an image a few pixels thin YuNet's grid degenerates and it reports boxes of infinite size: not faces.
    finite = () if rows is None else [row for row in rows if np.isfinite(row).all()]
    found = tuple(_face(row, scale) for row in finite)
    found = tuple(sorted(found, key=lambda face: face.detection.score, reverse=True))
    trace.log("face-detections", tuple(face.detection for face in found))
    return found


def _face(row: np.ndarray, scale: float) -> YuNetFace:
    """One row of YuNet's output (x, y, w, h, five (x, y) landmarks, score) at ``scale``, in input pixels."""
    x, y, width, height = (float(v) / scale for v in row[:4])
    box = Box(top=round(y), left=round(x), bottom=round(y + height), right=round(x + width))
    points_xy = np.asarray(row[4:14], dtype=np.float64).reshape(5, 2) / scale
    return YuNetFace(detection=Detection(box, float(row[14]), YUNET), landmarks=points_xy[:, ::-1].copy())
