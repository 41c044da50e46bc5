"""Find the fingertip in a photo and cut it out, upright (mode A: one finger, held towards the camera).

A contact print needs no locating: it *is* the fingertip. A contactless photo
shows a finger in front of whatever was behind it. The finger is found by its
colour and its shape, on a copy shrunk to ``FingerConfig.locate_side``:

1. **Skin.** Skin is redder than almost every background: its YCrCb
   chroma has a high ``Cr`` and a low ``Cb``. Otsu's threshold [1]_ of the
   "redness" ``Cr - (Cb - 128) / 2`` splits each photo into the finger and
   the rest, whatever the lighting; a floor keeps neutral backgrounds out
   when there is no skin at all. A monochrome photo (an infrared
   contactless device) has no colour: there the finger is the bright region
   against a dark background, again by Otsu. Otsu splits any photo in two,
   so the region must also have an outline: its redness (or brightness)
   must step across it. A wall in uneven light is cut along a smooth
   gradient, with no step there, and is no finger.
2. **Tip.** The finger enters the frame from an edge, so its tip is the
   point of the skin region farthest from the edge *along* the region (the
   geodesic distance, grown by repeated dilation inside the region). Blobs
   of skin-coloured background that touch the finger near the edge do not
   move it.
3. **Width and axis.** The finger's width is twice the largest distance to
   the region's outline in the far half of the finger (the inscribed
   circle), and its axis runs from the centre of the last two widths to the
   tip.
4. **Crop.** A rectangle ``fingertip_length`` widths long and
   ``fingertip_breadth`` widths across, starting just beyond the tip, is cut
   from the full-resolution photo and rotated so that the tip points up,
   at a resolution where the ridges are about twice the target period (the
   ridge period, measured in :mod:`tessera.finger.normalise`, fixes the
   final scale).

Mode B (four fingers in one photo, located with the hand's landmarks) is :mod:`tessera.finger.slap`: it cuts
each fingertip out upright, and this module then locates it in that crop like any mode A photo.

References
----------
.. [1] N. Otsu, "A threshold selection method from gray-level histograms",
   IEEE Transactions on Systems, Man, and Cybernetics 9(1), pp. 62-66, 1979.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tessera.finger.config import TARGET_PPI, FingerConfig
from tessera.finger.refusal import FingerRefusal, refuse
from tessera.primitives import Trace

MM_PER_INCH = 25.4


@dataclass(frozen=True, eq=False)
class FingerLocation:
    """The fingertip, cut out and upright.

    Attributes
    ----------
    gray : numpy.ndarray, shape (rows, cols), uint8
        Luma of the fingertip crop, tip towards row 0.
    mask : numpy.ndarray, same shape, bool
        Where the crop shows the finger (for a contact print: everywhere).
    ppi : float or None
        Pixels per inch of ``gray`` when known (a contact print), None when
        it must be measured from the ridges.
    crop_scale : float
        Pixels of ``gray`` per pixel of the input photo.
    corners : numpy.ndarray, shape (4, 2), float32
        The crop's corners in the input photo, (row, col): top-left,
        top-right, bottom-right, bottom-left of ``gray``.
    finger_width_px : float
        Width of the finger in the input photo's pixels (contact: the print's narrower side).
    brightness : float
        Mean grey level (0-255) of the finger in the photo.
    clipped_fraction : float
        Fraction of the finger's pixels that are pure black or pure white (within 3 levels).
    colour : bool
        Whether the finger was found by skin colour (False: by brightness, or a contact print).
    expected_period : float
        Ridge period expected in ``gray`` from the finger's width (contact: from ``ppi``), pixels.
    close_up : bool
        The finger filled the frame (or the image is a contact print): no outline or tip was seen,
        so only the ridges can tell a finger from anything else.
    """

    gray: np.ndarray
    mask: np.ndarray
    ppi: float | None
    crop_scale: float
    corners: np.ndarray
    finger_width_px: float
    brightness: float
    clipped_fraction: float
    colour: bool
    expected_period: float
    close_up: bool


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luma of an RGB image (ITU-R BT.601 weights), or the image itself if already (rows, cols)."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def locate_contact(image: np.ndarray, ppi: float, config: FingerConfig) -> FingerLocation:
    """A contact print is its own fingertip: the whole image, at the scanner's ``ppi``."""
    gray = to_gray(image)
    rows, cols = gray.shape
    corners = np.array([[0, 0], [0, cols], [rows, cols], [rows, 0]], np.float32)
    return FingerLocation(
        gray=gray,
        mask=np.ones_like(gray, dtype=bool),
        ppi=float(ppi),
        crop_scale=1.0,
        corners=corners,
        finger_width_px=float(min(rows, cols)),
        brightness=float(gray.mean()),
        clipped_fraction=float(np.mean((gray <= 3) | (gray >= 252))),
        colour=False,
        expected_period=config.target_ridge_period * ppi / TARGET_PPI,
        close_up=True,
    )


def locate_fingertip(image: np.ndarray, config: FingerConfig, trace: Trace) -> FingerLocation | FingerRefusal:
    """Find the fingertip in a contactless photo and cut it out upright (see the module docstring).

    Parameters
    ----------
    image : numpy.ndarray, shape (rows, cols, 3) uint8 RGB, or (rows, cols) uint8
    config : FingerConfig
    trace : Trace
        Receives ``finger-skin`` (the small photo's finger mask, bool) and ``finger-tip``
        (dict: tip, axis, width in the small photo).

    Returns
    -------
    FingerLocation or FingerRefusal
        ``not_a_finger`` when no finger-coloured, finger-shaped region is found.
    """
    rows, cols = image.shape[:2]
    shrink = min(1.0, config.locate_side / max(rows, cols))
    small = cv2.resize(
        image, (max(1, round(cols * shrink)), max(1, round(rows * shrink))), interpolation=cv2.INTER_AREA
    )
    colour = (
        small.ndim == 3
        and float(np.abs(small.astype(np.int16) - small.mean(axis=2, keepdims=True)).mean()) > config.grey_is_colourless
    )
    pixels = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    exposure = _exposure_refusal(pixels, config)
    if exposure is not None:
        return exposure
    region, contrast = _finger_region(small, colour, config)
    trace.log("finger-skin", region)
    if region.sum() < config.min_finger_fraction * region.size:
        return refuse(
            "not_a_finger",
            measure="finger_region_fraction",
            value=round(float(region.mean()), 4),
            minimum=config.min_finger_fraction,
        )
    close_up = _fills_frame(region, config)
    if not region.all() and contrast < config.min_finger_contrast:
        # A region whose outline hardly shows is part of a surface (a skin-coloured wall, a wall in uneven light),
        # not a finger held in front of one.
        return refuse(
            "not_a_finger", measure="outline_contrast", value=round(contrast, 2), minimum=config.min_finger_contrast
        )

    inner = cv2.distanceTransform(np.pad(region.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    if close_up:
        # A close-up: the finger is the frame. Keep it as it is, cut to the finger.
        top, left, bottom, right = _extent(region)
        width_small = 2.0 * float(inner.max())
        tip = np.array([top, (left + right) / 2.0])
        axis = np.array([-1.0, 0.0])
        length_small, breadth_small = float(bottom - top), float(right - left)
    else:
        geodesic = _geodesic_from_edges(region)
        reach = int(geodesic.max())
        tip = np.argwhere(geodesic >= reach - 1).mean(axis=0)  # (row, col) in the small photo
        # Padded with background, so that a finger filling the frame's width is as wide as the frame.
        width_small = 2.0 * float(inner[geodesic >= reach / 2.0].max())
        base = np.argwhere(region & (geodesic >= reach - 2.0 * width_small)).mean(axis=0)
        axis = tip - base
        if np.hypot(*axis) < 1e-6 or width_small < 4:
            return refuse(
                "not_a_finger",
                measure="finger_width_px",
                value=round(width_small / shrink, 1),
                minimum=config.min_finger_width_px,
            )
        axis /= np.hypot(*axis)
        tip = tip + axis * 0.1 * width_small  # a little beyond the tip
        length_small, breadth_small = config.fingertip_length * width_small, config.fingertip_breadth * width_small
    trace.log("finger-tip", {"tip": tip.tolist(), "axis": axis.tolist(), "width": width_small})

    width = width_small / shrink
    finger_pixels = pixels[region]
    # The crop's resolution: ridges at about twice the target period, never above the photo's own.
    guessed_ppi = width / (config.finger_width_mm / MM_PER_INCH)
    crop_scale = min(1.0, config.crop_oversampling * TARGET_PPI / guessed_ppi)
    length, breadth = length_small / shrink, breadth_small / shrink
    start = tip / shrink
    across = np.array([axis[1], -axis[0]])  # (row, col): "right" when the tip points up (a rotation, never a mirror)
    # Corners of the crop in the photo: top-left, top-right, bottom-right, bottom-left of the upright crop.
    corners = np.array(
        [
            start - across * breadth / 2,
            start + across * breadth / 2,
            start + across * breadth / 2 - axis * length,
            start - across * breadth / 2 - axis * length,
        ],
        np.float32,
    )
    out_cols, out_rows = max(8, round(breadth * crop_scale)), max(8, round(length * crop_scale))
    source = np.array([[c, r] for r, c in corners[:3]], np.float32)  # OpenCV wants (x, y) = (col, row)
    target = np.array([[0, 0], [out_cols, 0], [out_cols, out_rows]], np.float32)
    warp: np.ndarray = cv2.getAffineTransform(source, target)
    gray_full = to_gray(image)
    gray = cv2.warpAffine(
        gray_full,
        warp,
        (out_cols, out_rows),
        flags=cv2.INTER_AREA if crop_scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    # The mask comes from the small photo: map the crop's pixels back into it.
    small_warp = warp.copy()
    small_warp[:, :2] /= shrink
    mask = (
        cv2.warpAffine(
            region.astype(np.uint8), small_warp, (out_cols, out_rows), flags=cv2.INTER_NEAREST, borderValue=0
        )
        > 0
    )
    return FingerLocation(
        gray=gray,
        mask=mask,
        ppi=None,
        crop_scale=float(crop_scale),
        corners=corners,
        finger_width_px=float(width),
        brightness=float(finger_pixels.mean()),
        clipped_fraction=float(np.mean((finger_pixels <= 3) | (finger_pixels >= 252))),
        colour=bool(colour),
        expected_period=float(config.target_ridge_period * guessed_ppi * crop_scale / TARGET_PPI),
        close_up=bool(close_up),
    )


def _finger_region(small: np.ndarray, colour: bool, config: FingerConfig) -> tuple[np.ndarray, float]:
    """The largest finger-coloured region of the small photo, holes filled (bool), and how much it stands out.

    The contrast is the step of "redness" (colour) or grey level (monochrome) across the region's
    outline (see :func:`_outline_contrast`).
    """
    if colour:
        blurred = cv2.GaussianBlur(small, (0, 0), 1.5)
        ycrcb = cv2.cvtColor(blurred, cv2.COLOR_RGB2YCrCb).astype(np.float32)
        redness = ycrcb[..., 1] - 0.5 * (ycrcb[..., 2] - 128.0)
        # Otsu on a stretched 8-bit copy: redness spans ~100-200 in practice.
        stretched = np.clip((redness - 100.0) * 2.5, 0, 255).astype(np.uint8)
        otsu, _ = cv2.threshold(stretched, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        threshold = max(otsu / 2.5 + 100.0, config.skin_floor)
        candidate = redness > threshold
        measure = redness
    else:
        gray = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        blurred = cv2.GaussianBlur(gray, (0, 0), 2.0)
        _, binary = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        candidate = binary > 0
        measure = blurred.astype(np.float32)
    radius = max(1, round(min(small.shape[:2]) / 80))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    cleaned = cv2.morphologyEx(candidate.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(cleaned, connectivity=4)
    if count < 2:
        return np.zeros(small.shape[:2], bool), 0.0
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = (labels == largest).astype(np.uint8)
    # Fill holes (specular highlights, creases): flood the background from the border.
    padded = np.pad(region, 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    region = ((padded | (1 - flood)) > 0)[1:-1, 1:-1]
    return region, _outline_contrast(region, measure, kernel)


def _outline_contrast(region: np.ndarray, measure: np.ndarray, kernel: np.ndarray) -> float:
    """Mean ``measure`` just inside the region's outline minus just outside it; 0 when it has no outline.

    A finger held in front of a background has an outline: its colour or brightness steps across it within
    a few pixels. A surface with no finger on it (a wall in uneven light) is split by the threshold along a
    smooth gradient, and the two sides of that line hardly differ. The frame's edges are no outline: the
    region is taken to go on beyond them.
    """
    steps = 2
    pad = steps * kernel.shape[0]
    padded = np.pad(region.astype(np.uint8), pad, mode="edge")
    inside = region & ~cv2.erode(padded, kernel, iterations=steps)[pad:-pad, pad:-pad].astype(bool)
    outside = cv2.dilate(padded, kernel, iterations=steps)[pad:-pad, pad:-pad].astype(bool) & ~region
    if not inside.any() or not outside.any():
        return 0.0
    return float(measure[inside].mean() - measure[outside].mean())


def _exposure_refusal(gray: np.ndarray, config: FingerConfig) -> FingerRefusal | None:
    """Refuse a photo in which nothing is lit (or everything is blown out) before looking for a finger in it.

    Skin colour fades with the light (chroma scales with brightness), so a
    finger in a dark photo is not even found; the person must be told it is too dark.
    """
    low, high = np.percentile(gray, [10, 90])
    if high < config.min_brightness:
        return refuse(
            "too_dark", measure="brightness_90th_percentile", value=round(float(high), 1), minimum=config.min_brightness
        )
    if low > config.max_brightness:
        return refuse(
            "too_bright",
            measure="brightness_10th_percentile",
            value=round(float(low), 1),
            maximum=config.max_brightness,
        )
    return None


def _fills_frame(region: np.ndarray, config: FingerConfig) -> bool:
    """Whether the finger covers most of the photo: a close-up."""
    return bool(region.mean() >= config.close_up_fraction)


def _extent(region: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def _geodesic_from_edges(region: np.ndarray) -> np.ndarray:
    """Steps (8-connected) from the region's pixels on the image edge to every region pixel.

    A region that touches no edge is measured from its pixel farthest from its centre of mass,
    so that the tip is then the opposite end.
    """
    seeds = np.zeros_like(region)
    seeds[0, :], seeds[-1, :], seeds[:, 0], seeds[:, -1] = region[0, :], region[-1, :], region[:, 0], region[:, -1]
    if not seeds.any():
        points = np.argwhere(region)
        far = points[np.argmax(np.hypot(*(points - points.mean(axis=0)).T))]
        seeds[far[0], far[1]] = True
    region8 = region.astype(np.uint8)
    reached = seeds.astype(np.uint8)
    distance = np.full(region.shape, -1, np.int32)
    distance[reached > 0] = 0
    kernel = np.ones((3, 3), np.uint8)
    for step in range(1, 4 * sum(region.shape)):
        dilated: np.ndarray = cv2.dilate(reached, kernel)
        grown = dilated & region8
        new = (grown > 0) & (reached == 0)
        if not new.any():
            break
        distance[new] = step
        reached = grown
    return np.where(distance < 0, 0, distance)


def finger_ppi_guess(finger_width_px: float, config: FingerConfig) -> float:
    """The photo's resolution if the finger is ``finger_width_mm`` wide, pixels per inch."""
    return finger_width_px / (config.finger_width_mm / MM_PER_INCH)


FACE_CHECK_SIDE = 320
"""Longer side, pixels, a refused finger photo is shrunk to before a face is looked for in it."""


def shows_a_face(image: np.ndarray) -> bool:
    """Whether dlib's HOG face detector finds a face in ``image`` (RGB).

    Used only to word a refusal: a face photo sent where a finger was
    expected should be told so, not told to move closer or to focus. Such a
    face fills much of the photo, so it is looked for with the photo shrunk
    to :data:`FACE_CHECK_SIDE` pixels (faces down to about 40 of them are
    found): a refused fingertip of a four-finger photo (1,300 x 1,150 pixels)
    paid 0.12 s for it at the face pipeline's 640, 0.03 s now.
    """
    if image.ndim != 3:
        return False
    from tessera.face.config import FaceConfig
    from tessera.face.detect import detect_faces
    from tessera.face.models import load_face_models

    config = FaceConfig(detectors=("hog",), detection_max_side=FACE_CHECK_SIDE)
    return bool(detect_faces(np.ascontiguousarray(image), config, load_face_models()))
