"""Locate five landmarks in a detected face and cut out an aligned, upright chip.

Landmarks come from dlib's 5-point shape predictor, an ensemble of regression
trees (Kazemi & Sullivan, "One Millisecond Face Alignment with an Ensemble of
Regression Trees", CVPR 2014). The chip is the similarity transform (rotation,
scale, shift) that best maps them onto dlib's mean face, as the ResNet
descriptor was trained on (``dlib.get_face_chip``).
"""

from __future__ import annotations

from dataclasses import dataclass

import dlib
import numpy as np

from tessera.face.config import FaceConfig
from tessera.face.detect import rect_from_box
from tessera.face.models import FaceModels
from tessera.primitives import NO_TRACE, Box, Image, Trace

EYE_ON_IMAGE_RIGHT = (0, 1)
"""Rows of :attr:`AlignedFace.landmarks` holding the outer and inner corner of the eye on the
image's right (the subject's left eye in an unmirrored photo)."""
EYE_ON_IMAGE_LEFT = (2, 3)
"""Rows holding the outer and inner corner of the eye on the image's left."""
NOSE_BASE = 4
"""Row holding the base of the nose, between the nostrils."""


@dataclass(frozen=True)
class AlignedFace:
    """A face cut out upright at a standard size.

    Attributes
    ----------
    chip : numpy.ndarray, shape (chip_size, chip_size, 3), uint8
        RGB chip, eyes level, scaled to the mean face.
    landmarks : numpy.ndarray, shape (5, 2), float64
        (row, col) in the input image's pixels: outer and inner corner of
        the eye on the image's right, outer and inner corner of the eye on
        the image's left, base of the nose.
    """

    chip: np.ndarray
    landmarks: np.ndarray


def align_face(image: Image, box: Box, config: FaceConfig, models: FaceModels, trace: Trace = NO_TRACE) -> AlignedFace:
    """Find the 5 landmarks of the face in ``box`` and cut the aligned chip.

    Parameters
    ----------
    image : numpy.ndarray, shape (rows, cols, 3), uint8
        RGB image the box refers to, at full resolution (landmarks and chip
        are taken from the original pixels, not the shrunk detection copy).
    box : Box
        The detected face, in ``image``'s pixels.
    """
    with models.landmarks as predictor:
        shape = predictor(image, rect_from_box(box))
    landmarks = np.array([(point.y, point.x) for point in shape.parts()], dtype=np.float64)
    trace.log("face-landmarks", landmarks)
    chip = dlib.get_face_chip(image, shape, size=config.chip_size, padding=config.chip_padding)
    trace.log("face-chip", chip)
    return AlignedFace(chip=chip, landmarks=landmarks)
