"""A slap photo for tests and timing: real contactless fingertips on a drawn hand, landmarks known by construction.

No real four-finger photo is among the evaluation data, so one is composed: four real contactless_ds1
fingertip images (grey, ridges bright, a lab device) are tinted to a skin colour and set at the ends of
four fingers of a drawn, skin-coloured hand (palm and thumb) on a grey-blue background, fingers apart, the
middle finger longest and the little finger shortest. The 21 landmarks (MediaPipe Hands numbering,
normalised x = col / width, y = row / height) are placed where the drawing put each joint: each TIP a
little inside the fingertip, each DIP on the fingertip image's own first crease. The photo can be rotated
(landmarks with it) and mirrored (a left hand).

What this can show: that the slap step finds, measures and crops real fingertips in a colour photo, and
that the crops go through the finger pipeline to templates that match the same fingers photographed alone.
What it cannot: how MediaPipe's landmarks sit on a real hand, or a phone's optics, light and focus.
"""

from __future__ import annotations

import cv2
import numpy as np

SKIN = np.array([1.18, 0.86, 0.70])
"""Per-channel gain (R, G, B) that turns a grey level into a skin colour with the same luma order."""
BACKGROUND = (78, 92, 108)
FINGER_TOPS = (260, 120, 250, 520)
"""Row of each fingertip's image (index, middle, ring, little) in the upright photo."""
GAP = 130
MARGIN = 260
DIP_FRACTION = 0.72
"""The first crease of a contactless_ds1 fingertip image lies about this far down it."""


def _finger_mask(gray: np.ndarray) -> np.ndarray:
    bright = (cv2.GaussianBlur(gray, (0, 0), 3) > 25).astype(np.uint8)
    opened: np.ndarray = cv2.morphologyEx(bright, cv2.MORPH_OPEN, np.ones((15, 15), np.uint8))
    return opened > 0


def _tint(gray: np.ndarray) -> np.ndarray:
    return np.clip(gray[..., None].astype(np.float32) * SKIN[None, None, :] + 18.0, 0, 255)


def compose_slap(
    fingertips: list[np.ndarray], *, angle_deg: float = 0.0, left: bool = False, seed: int = 0
) -> tuple[np.ndarray, list[dict[str, float]]]:
    """A right-hand (or, ``left``, left-hand) slap photo, palm side, from four grey fingertip images.

    Parameters
    ----------
    fingertips : list of numpy.ndarray, (rows, cols) uint8
        Index, middle, ring and little fingertip images, tip towards row 0 (contactless_ds1 layout).
    angle_deg : float
        The photo (and its landmarks) rotated by this many degrees, counter-clockwise.
    left : bool
        Mirror the photo left to right: the palm side of a left hand.
    seed : int
        Seeds the background's and skin's noise.

    Returns
    -------
    (numpy.ndarray, list of dict)
        The (rows, cols, 3) uint8 RGB photo and its 21 landmarks ``{"x", "y", "z"}``.
    """
    random = np.random.default_rng(seed)
    tip_rows, tip_cols = max(f.shape[0] for f in fingertips), max(f.shape[1] for f in fingertips)
    slot = tip_cols + GAP
    cols = 2 * MARGIN + 4 * tip_cols + 3 * GAP + 500  # room for the thumb on the right
    rows = 3400
    photo = np.empty((rows, cols, 3), np.float32)
    photo[:] = BACKGROUND
    skin_level = 96.0
    hand = np.zeros((rows, cols), bool)
    palm_top = max(FINGER_TOPS) + tip_rows + 700
    points = np.zeros((21, 2))  # (row, col)
    # The person's right palm faces the camera: the index is on the photo's right, near the thumb.
    for slot_number in range(4):  # slots run from the little finger (left) to the index (right)
        index_number = 3 - slot_number
        gray = fingertips[index_number]
        left_col = MARGIN + slot_number * slot
        top = FINGER_TOPS[index_number]
        mask = _finger_mask(gray)
        last = np.flatnonzero(mask[-1])
        body = np.zeros((rows, cols), bool)
        body[top + gray.shape[0] - 1 : palm_top + 50, left_col + last[0] : left_col + last[-1] + 1] = True
        hand |= body
        region = np.zeros((rows, cols), bool)
        region[top : top + gray.shape[0], left_col : left_col + gray.shape[1]] = mask
        hand |= region
        tinted = _tint(gray)
        window = photo[top : top + gray.shape[0], left_col : left_col + gray.shape[1]]
        window[mask] = tinted[mask]
        first_row = int(np.flatnonzero(mask.any(axis=1))[0])
        centre = left_col + (last[0] + last[-1]) / 2.0
        tip = top + first_row + 0.06 * gray.shape[0]
        dip = top + DIP_FRACTION * gray.shape[0]
        distal = dip - tip
        pip = dip + 1.3 * distal
        mcp = palm_top + 120
        mcp_landmark = 5 + 4 * index_number
        for offset, row in enumerate((mcp, pip, dip, tip)):
            points[mcp_landmark + offset] = (row, centre)
    palm_left = MARGIN - 40
    palm_right = MARGIN + 4 * tip_cols + 3 * GAP + 40
    hand[palm_top:, palm_left:palm_right] = True
    thumb = np.zeros((rows, cols), np.uint8)
    thumb_centre = (palm_right + 120, palm_top + 500)
    cv2.ellipse(thumb, thumb_centre, (200, 560), -25, 0, 360, 1, -1)
    hand |= thumb > 0
    drawn = hand & (np.abs(photo - np.array(BACKGROUND)).sum(axis=2) < 1)
    photo[drawn] = _tint(np.full(int(drawn.sum()), skin_level, np.uint8)[:, None])[:, 0]
    photo += random.normal(0.0, 3.0, photo.shape)
    points[0] = (rows - 40, (palm_left + palm_right) / 2)
    for k in range(1, 5):  # the thumb, from its base towards its tip, up and to the right
        points[k] = (palm_top + 1100 - 180 * k, palm_right - 60 + 70 * k)
    image = np.clip(photo, 0, 255).astype(np.uint8)
    if left:
        image = image[:, ::-1].copy()
        points[:, 1] = cols - 1 - points[:, 1]
    if angle_deg:
        image, points = _rotated(image, points, angle_deg)
    rows, cols = image.shape[:2]
    landmarks = [{"x": float(c / cols), "y": float(r / rows), "z": 0.0} for r, c in points]
    return image, landmarks


def _rotated(image: np.ndarray, points: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((cols / 2, rows / 2), angle_deg, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_cols, new_rows = int(rows * sin + cols * cos), int(rows * cos + cols * sin)
    matrix[0, 2] += new_cols / 2 - cols / 2
    matrix[1, 2] += new_rows / 2 - rows / 2
    rotated = cv2.warpAffine(image, matrix, (new_cols, new_rows), borderValue=BACKGROUND)
    xy = np.stack([points[:, 1], points[:, 0], np.ones(len(points))], axis=1) @ matrix.T
    return rotated, np.stack([xy[:, 1], xy[:, 0]], axis=1)
