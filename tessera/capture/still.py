"""Re-encoding a decoded capture for keeping: pixels only, no metadata (no EXIF, no GPS position)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image as PILImage

KEPT_JPEG_QUALITY = 90


def clean_jpeg(image: np.ndarray, quality: int = KEPT_JPEG_QUALITY) -> bytes:
    """JPEG bytes of ``image`` (rows, cols, 3) uint8 RGB, with no metadata at all."""
    buffer = io.BytesIO()
    PILImage.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
