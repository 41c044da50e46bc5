"""Reading a burst: every frame decoded once, within the frame limits, then read by the default face pipeline.

::

    decode every frame (bounded size; the workflow refuses bad input before any face is read)
        -> per frame: YuNet (one pass: box and landmarks) -> choose -> align the chip -> quality gate
        -> SFace embedding of the chip, later and only if the checks ask for it (:mod:`tessera.liveness.burst`)

The steps are those of :func:`tessera.face.sface.extract_face_sface`, called one by one so that the embedding, most
of a frame's cost, can wait; a test holds the two to the same landmarks, refusals and embeddings on real photos.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from tessera.capture.decode import DecodeLimits, decode_image
from tessera.face.algorithms import YUNET_SFACE, FaceAlgorithm
from tessera.face.config import DEFAULT_FACE_CONFIG
from tessera.face.detect import Detection, choose_face
from tessera.face.pipeline import FaceTemplate, checked_image
from tessera.face.quality import assess
from tessera.face.refusal import FaceRefusal
from tessera.face.sface import SFACE_ALGORITHM, SFaceEmbedder, align_sface, measure_sface_quality
from tessera.face.sface_config import DEFAULT_SFACE_CONFIG, SFaceConfig
from tessera.face.sface_models import load_sface_models
from tessera.face.yunet import detect_faces_yunet
from tessera.liveness.burst import FrameReading
from tessera.primitives import Box, DictTrace, Image


def frame_limits(upload: DecodeLimits, frame_max_pixels: int, frame_max_upload_pixels: int) -> DecodeLimits:
    """The limits a burst frame is decoded under: those of a face upload (bytes, scans...), at most
    ``frame_max_upload_pixels`` declared (a live view's frame, not a camera's still), shrunk to ``frame_max_pixels``
    while decoded."""
    return replace(
        upload,
        max_pixels=min(upload.max_pixels, frame_max_upload_pixels),
        shrink_to_pixels=frame_max_pixels,
        what="burst frame",
    )


def decode_frame(data: bytes, limits: DecodeLimits) -> Image:
    """A frame's bytes as (rows, cols, 3) uint8 RGB (413/415/422 on bad input, as every upload)."""
    return decode_image(data, limits)


FRAME_CONFIG = replace(
    DEFAULT_SFACE_CONFIG,
    min_sharpness=DEFAULT_FACE_CONFIG.min_sharpness,
    min_brightness=DEFAULT_FACE_CONFIG.min_brightness,
    max_brightness=DEFAULT_FACE_CONFIG.max_brightness,
    max_clipped_fraction=DEFAULT_FACE_CONFIG.max_clipped_fraction,
    max_abs_yaw=DEFAULT_FACE_CONFIG.max_abs_yaw,
    retake=None,
)
"""The face pipeline's settings for a challenge frame: dlib's face limits as refusals (measured for the challenge),
and no retake advice. A frame is read for its landmarks and for the same-face check, never kept as a
reference; a challenge asks the person to turn (the turn that shows a 3D head's parallax lies close to SFace's 25
degrees) and frames of a moving head are softer than a still. The challenge's figures (docs/liveness.md) were
measured with these limits."""


def read_frame(image: Image, config: SFaceConfig = FRAME_CONFIG) -> FrameReading | str:
    """The face in one frame through the default face pipeline (YuNet + SFace) and its quality gate.

    One YuNet pass gives the box and the landmarks; the chip is cut from them and measured; the SFace embedding of
    the chip is computed only when :attr:`FrameReading.embedding` is first read.

    Returns
    -------
    FrameReading or str
        The landmarks (and the embedding, on demand), or the reason the pipeline refused the frame
        (``no_face``, ``multiple_faces``, ``too_blurred``, ``face_turned``...).
    """
    image = checked_image(image)
    models = load_sface_models()
    found = detect_faces_yunet(image, config, models)
    chosen = choose_face(tuple(face.detection for face in found), image.shape, config)
    if isinstance(chosen, FaceRefusal):
        return chosen.reason
    face = next(face for face in found if face.detection is chosen)
    chip = align_sface(image, face.landmarks)
    refusal = assess(measure_sface_quality(chip, face, len(found), config), config)
    if refusal is not None:
        return refusal.reason
    return FrameReading(face.landmarks, lambda: SFaceEmbedder(models).embed(chip))


@dataclass(frozen=True)
class StillFace:
    """The face of a still as the default pipeline saw it: where it is, and its embedding when usable."""

    box: Box | None
    """The chosen face's box, or None when no single face was found."""
    embedding: np.ndarray | None
    """SFace unit embedding; None when the quality gate refused the photo (``refusal`` says why)."""
    refusal: str | None
    result: FaceTemplate | FaceRefusal | None = field(default=None, repr=False, compare=False)
    """What the pipeline returned: the whole template, or its refusal (None when not read by a pipeline)."""


def read_still(image: Image, algorithm: FaceAlgorithm = YUNET_SFACE) -> StillFace:
    """Find the face of a still (for the passive score) and embed it (to compare with a burst's face).

    ``algorithm`` is YuNet + SFace (the burst's own), by default as registered; a caller that serves it may pass
    its own copy, so that the template read here is exactly the one its comparison would make.
    """
    if algorithm.id != SFACE_ALGORITHM:
        raise ValueError(f"algorithm must be {SFACE_ALGORITHM!r}, the burst's own; got {algorithm.id!r}")
    trace = DictTrace()
    result = algorithm.extract(image, trace)
    chosen = trace.items.get("face-chosen")
    box = chosen.box if isinstance(chosen, Detection) else None
    if isinstance(result, FaceRefusal):
        return StillFace(box, None, result.reason, result)
    return StillFace(box, result.embedding, None, result)
