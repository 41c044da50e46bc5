"""The face pipeline: one photo in, one template or one refusal out.

::

    detect -> choose -> landmarks + align -> quality -> embed

Each step is a function in its own module (:mod:`~tessera.face.detect`,
:mod:`~tessera.face.align`, :mod:`~tessera.face.quality`,
:mod:`~tessera.face.embed`); every tuning value is a field of
:class:`FaceConfig`. Expected failures (no face, blurred, ...) come back as a
falsy :class:`FaceRefusal`; exceptions mean a bug or a broken environment.

Trace keys, in the order they are logged:

``face-detections``
    tuple of :class:`~tessera.face.detect.Detection`, as the detector returned them.
``face-chosen``
    the :class:`~tessera.face.detect.Detection` taken as the subject.
``face-landmarks``
    (5, 2) float64 array of (row, col) in input pixels.
``face-chip``
    (150, 150, 3) uint8 RGB aligned chip.
``face-quality``
    :class:`FaceQuality`.
``face-refusal``
    the :class:`FaceRefusal`, when the capture is refused.
``face-embedding``
    (128,) float32 unit embedding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tessera.face.align import align_face
from tessera.face.config import DEFAULT_FACE_CONFIG, FaceConfig
from tessera.face.detect import choose_face, detect_faces
from tessera.face.embed import EMBEDDERS, algorithm_id
from tessera.face.models import load_face_models
from tessera.face.quality import FaceQuality, assess, measure_quality, retake_advice
from tessera.face.refusal import REFUSAL_REASONS, FaceRefusal, RetakeAdvice
from tessera.primitives import NO_TRACE, Box, Image, Trace

__all__ = [
    "ALGORITHM",
    "DEFAULT_FACE_CONFIG",
    "REFUSAL_REASONS",
    "FaceConfig",
    "FaceQuality",
    "FaceRefusal",
    "FaceTemplate",
    "extract_face",
]

ALGORITHM = algorithm_id(DEFAULT_FACE_CONFIG.embedder, DEFAULT_FACE_CONFIG.flip_augment)
"""Algorithm id stored with every template of the default configuration (``dlib-resnet-v1/5pt-flip/1``);
the shipped face calibration is for it."""


@dataclass(frozen=True)
class FaceTemplate:
    """What is kept of a usable face capture.

    Attributes
    ----------
    embedding : numpy.ndarray, shape (128,), float32
        Unit L2 norm; the score of two templates is the dot product.
    quality : FaceQuality
        The measurements the capture passed, recorded for audit and evaluation.
    box : Box
        The face in the input image's pixels, clipped to the image.
    algorithm : str
        Which embedder made ``embedding``; templates of different algorithms
        are not comparable.
    retake_advised : RetakeAdvice or None
        The capture passed the gate but breaks a retake limit of its config
        (:func:`~tessera.face.quality.retake_advice`): why a retake would help.
    """

    embedding: np.ndarray
    quality: FaceQuality
    box: Box
    algorithm: str = ALGORITHM
    retake_advised: RetakeAdvice | None = None

    def quality_record(self) -> dict:
        """The quality figures kept with the template and shown in answers, with the retake advice (or None)."""
        advice = self.retake_advised
        return self.quality.as_dict() | {"retake_advised": None if advice is None else advice.as_dict()}


def extract_face(
    image: Image, config: FaceConfig = DEFAULT_FACE_CONFIG, trace: Trace = NO_TRACE
) -> FaceTemplate | FaceRefusal:
    """Make a face template from a photo of one person, or say why the photo cannot be used.

    Parameters
    ----------
    image : numpy.ndarray, shape (rows, cols, 3), uint8
        RGB photo, upright (see :func:`tessera.capture.decode.decode_image`).
    config : FaceConfig
        Tuning values and quality limits.
    trace : Trace
        Receives the intermediate results listed in the module docstring.

    Returns
    -------
    FaceTemplate or FaceRefusal
        A refusal is falsy: ``if not result: ...``.

    Raises
    ------
    ValueError
        ``image`` is not a (rows, cols, 3) uint8 array.
    """
    image = checked_image(image)
    models = load_face_models()
    detections = detect_faces(image, config, models, trace)
    chosen = choose_face(detections, image.shape, config)
    if isinstance(chosen, FaceRefusal):
        return _refused(chosen, trace)
    trace.log("face-chosen", chosen)
    aligned = align_face(image, chosen.box, config, models, trace)
    quality = measure_quality(aligned, chosen, len(detections), config)
    trace.log("face-quality", quality)
    refusal = assess(quality, config)
    if refusal is not None:
        return _refused(refusal, trace)
    embedder = EMBEDDERS[config.embedder](config.flip_augment)
    embedding = embedder.embed(aligned.chip)
    embedding.setflags(write=False)  # the template is frozen; so is its vector
    trace.log("face-embedding", embedding)
    box = clipped_box(chosen.box, image.shape)
    return FaceTemplate(
        embedding=embedding,
        quality=quality,
        box=box,
        algorithm=embedder.algorithm,
        retake_advised=retake_advice(quality, config),
    )


def _refused(refusal: FaceRefusal, trace: Trace) -> FaceRefusal:
    trace.log("face-refusal", refusal)
    return refusal


def checked_image(image: object) -> np.ndarray:
    """Return ``image`` as a contiguous (rows, cols, 3) uint8 array, or raise a ValueError saying what it is instead."""
    if not isinstance(image, np.ndarray):
        raise ValueError(
            f"image must be a numpy.ndarray of shape (rows, cols, 3), uint8 RGB; got {type(image).__name__}"
        )
    if image.dtype != np.uint8:
        raise ValueError(f"image must have dtype uint8 (0-255 RGB); got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (rows, cols, 3), RGB; got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must have at least one row and one column; got shape {image.shape}")
    # dlib reads the buffer directly; a cropped or mirrored view must be made contiguous first.
    return np.ascontiguousarray(image)


def clipped_box(box: Box, shape: tuple[int, ...]) -> Box:
    """``box`` cut to an image of ``shape`` (rows, cols, ...)."""
    rows, cols = shape[:2]
    return Box(
        top=min(max(box.top, 0), rows),
        left=min(max(box.left, 0), cols),
        bottom=min(max(box.bottom, 0), rows),
        right=min(max(box.right, 0), cols),
    )
