"""The photo a reviewer compares: the detected face, cut square with a margin and scaled to a fixed size.

What is kept for review is this crop, not the upload: the background, other
people and the photo's metadata are left out, and every kept photo has the
same bounded size (``reference_photo_pixels`` square, a JPEG of a few tens of
kilobytes).
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from tessera.primitives import Box

MARGIN = 0.4
"""Added around the detected face box on every side, as a share of its larger side: hair, ears and chin stay in."""


def reference_crop(image: np.ndarray, box: Box, pixels: int) -> np.ndarray:
    """The face of ``image`` in ``box``, cut square with :data:`MARGIN` and scaled to (pixels, pixels, 3) uint8.

    Parameters
    ----------
    image : numpy.ndarray, shape (rows, cols, 3), uint8
        The decoded, upright RGB photo.
    box : Box
        The detected face, in ``image``'s pixels.
    pixels : int
        Side of the result.
    """
    rows, cols = image.shape[:2]
    side = max(1, round(max(box.height, box.width) * (1 + 2 * MARGIN)))
    top = round((box.top + box.bottom) / 2 - side / 2)
    left = round((box.left + box.right) / 2 - side / 2)
    # Where the square leaves the photo it is filled with grey, so the face is never stretched.
    square = np.full((side, side, 3), 128, dtype=np.uint8)
    rows_from, rows_to = max(0, top), min(rows, top + side)
    cols_from, cols_to = max(0, left), min(cols, left + side)
    if rows_to > rows_from and cols_to > cols_from:
        square[rows_from - top : rows_to - top, cols_from - left : cols_to - left] = image[
            rows_from:rows_to, cols_from:cols_to
        ]
    return np.asarray(PILImage.fromarray(square).resize((pixels, pixels), PILImage.Resampling.BICUBIC))
