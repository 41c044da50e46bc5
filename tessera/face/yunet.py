"""Find faces and their five landmarks with YuNet.

YuNet (Wu, Peng & Yu, "YuNet: A Tiny Millisecond-level Face Detector",
Machine Intelligence Research 20, 2023) returns, for each face, a box, five
landmarks (eye centres, nose tip, mouth corners) and a score. It runs on a
copy shrunk to ``config.detection_max_side`` (:func:`~tessera.face.detect.shrink_to`);
boxes and landmarks are mapped back to the input's pixels.

The network runs in onnxruntime (:mod:`tessera.face.sface_models`) and its outputs are decoded exactly as OpenCV's
``cv2.FaceDetectorYN`` decodes them (``modules/objdetect/src/face_detect.cpp``, OpenCV 4.14): the BGR image padded
with black at the bottom and right to a multiple of 32 pixels, each anchor's score the square root of its class and
objectness scores, its box centre and landmarks offsets from the anchor in stride units, its box size an
exponential, then OpenCV's own non-maximum suppression (:func:`cv2.dnn.NMSBoxes`) on the boxes cut to whole pixels.
The result is OpenCV's to float rounding (``tests/face/test_onnx_equivalence.py``) in less than half its time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from tessera.face.detect import Detection, shrink_to
from tessera.face.sface_config import SFaceConfig
from tessera.face.sface_models import SFaceModels
from tessera.primitives import NO_TRACE, Box, Image, Trace

if TYPE_CHECKING:
    import onnxruntime

YUNET_STRIDES = (8, 16, 32)
"""The network's three output grids, in input pixels per cell."""
YUNET_DIVISOR = 32
"""The image is padded to a multiple of this many pixels on each side (the coarsest stride)."""
YUNET_TOP_K = 5000
"""At most this many faces are kept by the non-maximum suppression (``cv2.FaceDetectorYN``'s default)."""

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
    rows = yunet_rows(models.detector, small, config.min_detection_score, config.nms_threshold)
    found = tuple(_face(row, scale) for row in rows)
    found = tuple(sorted(found, key=lambda face: face.detection.score, reverse=True))
    trace.log("face-detections", tuple(face.detection for face in found))
    return found


def yunet_rows(
    session: onnxruntime.InferenceSession, image: Image, min_score: float, nms_threshold: float
) -> np.ndarray:
    """YuNet's faces in ``image`` as ``cv2.FaceDetectorYN.detect`` returns them (module docstring).

    Parameters
    ----------
    session : onnxruntime.InferenceSession
        YuNet with its input shape free (:attr:`~tessera.face.sface_models.SFaceModels.detector`).
    image : numpy.ndarray, shape (rows, cols, 3), uint8
        RGB image, at the size YuNet should see it.
    min_score : float
        Faces scoring less are dropped.
    nms_threshold : float
        Of two boxes overlapping by more than this (IoU), the weaker is dropped.

    Returns
    -------
    numpy.ndarray, shape (faces, 15), float32
        Per face: box (x, y, width, height), five landmarks (x, y) in the order of the ``*_ON_IMAGE_*`` and
        ``NOSE_TIP`` constants, score; in ``image``'s pixels. Only finite rows.
    """
    rows, cols = image.shape[:2]
    padded = np.zeros(
        (-(-rows // YUNET_DIVISOR) * YUNET_DIVISOR, -(-cols // YUNET_DIVISOR) * YUNET_DIVISOR, 3), dtype=np.float32
    )
    padded[:rows, :cols] = image[:, :, ::-1]  # BGR, 0-255, as OpenCV's blobFromImage hands it to the network
    blob = np.ascontiguousarray(padded.transpose(2, 0, 1)[None])
    outputs = dict(zip((output.name for output in session.get_outputs()), session.run(None, {"input": blob})))
    faces = np.concatenate([_decode(outputs, stride, padded.shape[1] // stride, min_score) for stride in YUNET_STRIDES])
    # On an image a few pixels thin YuNet's grid degenerates and it reports boxes of infinite size: not faces (and
    # no box to suppress another with).
    faces = faces[np.isfinite(faces).all(axis=1)]
    if len(faces) <= 1:
        return faces
    # OpenCV suppresses on the boxes cut to whole pixels, with its own routine: the same faces survive.
    boxes = faces[:, :4].astype(np.int32).tolist()
    kept = cv2.dnn.NMSBoxes(boxes, faces[:, 14].tolist(), min_score, nms_threshold, top_k=YUNET_TOP_K)
    return faces[np.asarray(kept, dtype=np.int64).reshape(-1)]


def _decode(outputs: dict[str, np.ndarray], stride: int, grid_cols: int, min_score: float) -> np.ndarray:
    """The (n, 15) float32 faces of one output grid scoring at least ``min_score``, in the padded image's pixels."""
    classes = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0.0, 1.0)
    objectness = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0.0, 1.0)
    score = np.sqrt(classes * objectness)
    anchors = np.flatnonzero(score >= min_score)
    col = (anchors % grid_cols).astype(np.float32)[:, None]
    row = (anchors // grid_cols).astype(np.float32)[:, None]
    box = outputs[f"bbox_{stride}"].reshape(-1, 4)[anchors]
    points = outputs[f"kps_{stride}"].reshape(-1, 10)[anchors]
    size = np.exp(box[:, 2:4]) * stride
    centre = (np.hstack([col, row]) + box[:, 0:2]) * stride
    faces = np.empty((len(anchors), 15), dtype=np.float32)
    faces[:, 0:2] = centre - size / 2
    faces[:, 2:4] = size
    faces[:, 4:14:2] = (points[:, 0::2] + col) * stride
    faces[:, 5:14:2] = (points[:, 1::2] + row) * stride
    faces[:, 14] = score[anchors]
    return faces


def _face(row: np.ndarray, scale: float) -> YuNetFace:
    """One row of YuNet's output (x, y, w, h, five (x, y) landmarks, score) at ``scale``, in input pixels."""
    x, y, width, height = (float(v) / scale for v in row[:4])
    box = Box(top=round(y), left=round(x), bottom=round(y + height), right=round(x + width))
    points_xy = np.asarray(row[4:14], dtype=np.float64).reshape(5, 2) / scale
    return YuNetFace(detection=Detection(box, float(row[14]), YUNET), landmarks=points_xy[:, ::-1].copy())
