"""Reading a burst frame: decode within the frame limits, then YuNet's landmarks and SFace's embedding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tessera.capture.decode import DecodeLimits, decode_image
from tessera.face.detect import Detection
from tessera.face.sface import extract_face_sface
from tessera.liveness.burst import FrameReading
from tessera.primitives import Box, DictTrace, Image


def frame_limits(max_bytes: int, max_jpeg_scans: int, frame_max_pixels: int, max_image_pixels: int) -> DecodeLimits:
    """The limits a burst frame is decoded under: the service's bytes, pixels and scans; shrunk to
    ``frame_max_pixels``."""
    return DecodeLimits(
        max_bytes=max_bytes,
        max_pixels=max_image_pixels,
        max_jpeg_scans=max_jpeg_scans,
        shrink_to_pixels=frame_max_pixels,
        what="burst frame",
    )


def decode_frame(data: bytes, limits: DecodeLimits) -> Image:
    """A frame's bytes as (rows, cols, 3) uint8 RGB (413/415/422 on bad input, as every upload)."""
    return decode_image(data, limits)


def read_frame(image: Image) -> FrameReading | str:
    """The face in one frame through the default face pipeline (YuNet + SFace) and its quality gate.

    Returns
    -------
    FrameReading or str
        The landmarks and embedding, or the reason the pipeline refused the frame (``no_face``,
        ``multiple_faces``, ``too_blurred``, ``face_turned``...).
    """
    trace = DictTrace()
    result = extract_face_sface(image, trace=trace)
    if not result:
        return str(getattr(result, "reason", "unusable"))
    return FrameReading(landmarks=trace.items["face-landmarks"], embedding=result.embedding)  # type: ignore[arg-type, union-attr]


@dataclass(frozen=True)
class StillFace:
    """The face of a still as the default pipeline saw it: where it is, and its embedding when usable."""

    box: Box | None
    """The chosen face's box, or None when no single face was found."""
    embedding: np.ndarray | None
    """SFace unit embedding; None when the quality gate refused the photo (``refusal`` says why)."""
    refusal: str | None


def read_still(image: Image) -> StillFace:
    """Find the face of a still (for the passive score) and embed it (to compare with a burst's face)."""
    trace = DictTrace()
    result = extract_face_sface(image, trace=trace)
    chosen = trace.items.get("face-chosen")
    box = chosen.box if isinstance(chosen, Detection) else None
    if not result:
        return StillFace(box, None, str(getattr(result, "reason", "unusable")))
    return StillFace(box, result.embedding, None)  # type: ignore[union-attr]
