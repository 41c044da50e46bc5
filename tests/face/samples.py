"""Sample photos and perturbations shared by the face pipeline tests."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from tessera.capture.decode import decode_image
from tessera.face.pipeline import FaceTemplate

MATE_ABOVE = 0.929
"""Score threshold at a false-match rate of 1e-3 in the shipped face calibration (this pipeline's
default config, flip augmentation on; 5.9 million non-mate pairs of LFW pairsDevTrain photos; 0.926
without flip augmentation). A mate pair must score above it."""

NON_MATE_BELOW = 0.910
"""Score threshold at a false-match rate of 1e-2 in the same calibration. A non-mate pair must
score below it, leaving a margin under :data:`MATE_ABOVE`."""

REFERENCE = ("Abel_Pacheco", 1)
"""A frontal, evenly lit LFW photo with a single face (one detection at every HOG upsampling)."""


def score(a: FaceTemplate, b: FaceTemplate) -> float:
    return float(np.dot(a.embedding, b.embedding))


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def scale_brightness(image: np.ndarray, factor: float) -> np.ndarray:
    return np.clip(image.astype(np.float32) * factor + 0.5, 0, 255).astype(np.uint8)


def rescale(image: np.ndarray, factor: float) -> np.ndarray:
    rows, cols = image.shape[:2]
    interpolation = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, (round(cols * factor), round(rows * factor)), interpolation=interpolation)


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    rows, cols = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((cols / 2, rows / 2), degrees, 1.0)
    return cv2.warpAffine(image, matrix, (cols, rows), flags=cv2.INTER_LINEAR)


def jpeg_recompress(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return decode_image(buffer.getvalue())
