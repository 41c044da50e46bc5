"""Four fingers in one photo (a "slap"): cut out the index, middle, ring and little fingertips, upright.

The photo shows the palm side of one hand, fingers flat and apart. The
hand's 21 landmarks come with it (MediaPipe Hands [1]_ numbering: 0 wrist,
1-4 thumb, then MCP, PIP, DIP and TIP of the index 5-8, middle 9-12, ring
13-16 and little 17-20), found on the phone; the server does not trust them
blindly::

    parse -> hand plausible -> handedness agrees -> per finger: inside, flat, apart -> width -> crop

1. **Parse.** 21 points in normalised image coordinates (``x`` = col /
   width, ``y`` = row / height), as MediaPipe gives them.
2. **A hand.** Each finger's length against the palm's width (index MCP to
   little MCP), its segments' proportions, and its direction against the
   palm's must be those of a hand (anatomical proportions, e.g. Buryanov &
   Kotiuk [2]_, with generous margins). Anything else is ``not_a_hand``.
3. **Which hand.** The palm side of a right hand, fingers up, has its thumb
   on the right of the photo (the camera sees the palm as its owner does);
   a left hand's on the left. The landmarks' own chirality must agree with
   the ``hand`` stated (``handedness_mismatch`` otherwise: landmarks found
   on a mirrored preview and sent with the unmirrored photo, or the back of
   the hand shown).
4. **Each finger.** The distal phalanx (DIP to TIP, with margins) must lie
   inside the photo (``finger_outside_image``), the finger must be nearly
   straight (``finger_not_flat``), and not lie over its neighbour
   (``fingers_together``).
5. **Width.** The finger's own width is measured across the middle of its
   distal phalanx: the run of finger-coloured pixels (the "redness" of
   :mod:`tessera.finger.locate`, or brightness in a monochrome photo)
   around the axis, split from the background by Otsu's threshold. A
   measurement far from the landmarks' estimate (palm width / 4) is
   replaced by the estimate.
6. **Crop.** A rectangle along the finger's axis, from below the DIP to
   beyond the TIP and a little under two widths across, is cut from the
   full-resolution photo and rotated so that the tip points up: a photo of
   one fingertip entering from the bottom edge, which the finger pipeline
   (:func:`tessera.finger.pipeline.extract_finger`, contactless) then
   locates, checks and templates like any other: a crop that shows no
   finger is refused there.

ISO/IEC 19794-2 finger positions come from the hand: right index 2 ...
right little 5, left index 7 ... left little 10. The thumb is not in a
slap: it is photographed on its own (positions 1 and 6).

References
----------
.. [1] F. Zhang et al., "MediaPipe Hands: On-device Real-time Hand Tracking",
   CVPR Workshop on Computer Vision for AR/VR, 2020 (the 21-landmark model).
.. [2] A. Buryanov, V. Kotiuk, "Proportions of Hand Segments", International
   Journal of Morphology 28(3), pp. 755-758, 2010.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real

import cv2
import numpy as np

from tessera.capture.refusal import Refusal
from tessera.finger.positions import FingerPosition
from tessera.primitives import NO_TRACE, Trace

HAND_LANDMARKS = 21
"""Landmarks of one hand (MediaPipe Hands)."""

HANDS = ("left", "right")
"""The person's own hand, as the API takes it (not MediaPipe's label on a mirrored image)."""

SLAP_FINGERS = (("index", 5), ("middle", 9), ("ring", 13), ("little", 17))
"""The fingers of a slap and the landmark of each one's MCP joint (PIP, DIP and TIP follow it)."""

WRIST = 0

HAND_REFUSAL_REASONS = (
    "not_a_hand",
    "handedness_mismatch",
    "finger_outside_image",
    "finger_not_flat",
    "fingers_together",
)
"""Every ``HandRefusal.reason``: the first two refuse the whole hand, the others one finger."""

HAND_MESSAGES = {
    "not_a_hand": "The hand landmarks do not describe a hand held flat towards the camera. Hold the hand flat, "
    "palm towards the camera, fingers straight and apart, and take the photo again.",
    "handedness_mismatch": "The landmarks show the other hand (or the back of this hand). Say which hand it is as "
    "the person's own hand, send landmarks in the photo's own (unmirrored) coordinates, and show the palm side.",
    "finger_outside_image": "This fingertip is not wholly in the photo. Move the camera back a little so that all "
    "four fingertips are inside the frame.",
    "finger_not_flat": "This finger is bent. Hold the fingers straight and flat towards the camera.",
    "fingers_together": "This finger touches or lies over its neighbour. Spread the fingers apart.",
}


class HandRefusal(Refusal):
    """A hand, or one of its fingers, that cannot be cut out of a slap photo; falsy."""

    REASONS = HAND_REFUSAL_REASONS
    MESSAGES = HAND_MESSAGES


@dataclass(frozen=True)
class SlapConfig:
    """Every tuning value of the slap crop (see the module docstring)."""

    finger_length_to_palm: tuple[float, float] = (0.45, 2.6)
    """A finger's length (MCP -> PIP -> DIP -> TIP) over the palm's width (index MCP to little MCP): a hand's
    fingers are about 0.8 (little) to 1.3 (middle) palm widths long; the margins allow for foreshortening and
    landmark error."""
    segment_ratio: tuple[float, float] = (0.3, 3.0)
    """A finger's distal phalanx (DIP -> TIP) over its middle one (PIP -> DIP)."""
    max_finger_to_palm_angle_deg: float = 75.0
    """Largest angle between a finger (MCP -> TIP) and the palm's axis (wrist -> middle MCP)."""
    max_finger_bend_deg: float = 40.0
    """Largest angle between a finger's proximal (MCP -> PIP) and distal (DIP -> TIP) directions: a flat finger."""
    width_to_palm: float = 0.25
    """First estimate of a fingertip's width, over the palm's width (four fingers across the palm)."""
    measured_width_range: tuple[float, float] = (0.5, 1.6)
    """A measured width is kept when it is within this factor of the estimate; else the estimate is used."""
    inside_margin: float = 0.02
    """How far (as a fraction of the photo's side) the fingertip rectangle may reach beyond the photo."""
    max_overlap: float = 0.25
    """Largest overlap (intersection over the smaller area) of two neighbouring fingertip rectangles."""
    below_dip: float = 0.5
    """The crop starts this many distal-phalanx lengths below the DIP (the finger enters from the crop's edge)."""
    beyond_tip: float = 0.6
    """The crop ends this many finger widths beyond the TIP landmark (background above the fingertip)."""
    breadth: float = 1.8
    """The crop's breadth, in finger widths (background on both sides of the finger)."""
    max_crop_finger_width_px: float = 640.0
    """A finger wider than this in the photo is cut out at a reduced scale, so that each crop costs the finger
    pipeline a bounded amount whatever the photo's resolution."""


DEFAULT_SLAP_CONFIG = SlapConfig()


@dataclass(frozen=True, eq=False)
class FingerCrop:
    """One fingertip of a slap, cut out upright.

    Attributes
    ----------
    image : numpy.ndarray, shape (rows, cols, 3) or (rows, cols), uint8
        Tip towards row 0, the finger entering from the bottom edge.
    corners : numpy.ndarray, shape (4, 2), float32
        The crop's corners in the photo, (row, col): top-left, top-right, bottom-right, bottom-left.
    width_px : float
        The finger's width in the photo, pixels.
    width_measured : bool
        Whether ``width_px`` was measured in the photo (False: estimated from the landmarks).
    scale : float
        Pixels of ``image`` per pixel of the photo (1 unless the finger was wider than
        ``max_crop_finger_width_px``).
    """

    image: np.ndarray
    corners: np.ndarray
    width_px: float
    width_measured: bool
    scale: float


@dataclass(frozen=True, eq=False)
class SlapFinger:
    """One finger of a slap: its crop, or why it cannot be cut out."""

    name: str
    """``index``, ``middle``, ``ring`` or ``little``."""
    finger_position: int
    """ISO/IEC 19794-2 position (right 2-5, left 7-10)."""
    crop: FingerCrop | None
    refusal: HandRefusal | None


@dataclass(frozen=True, eq=False)
class Slap:
    """The four fingers of a slap photo, index to little."""

    hand: str
    fingers: tuple[SlapFinger, ...]


def parse_landmarks(value: object, arg_name: str = "landmarks") -> np.ndarray:
    """Read 21 hand landmarks in normalised image coordinates, or say what is wrong with them.

    Parameters
    ----------
    value : object
        A sequence of 21 points, each ``{"x": ..., "y": ...}`` (``z`` and other keys ignored, as
        MediaPipe gives them) or ``[x, y]`` / ``[x, y, z]``; ``x`` = col / photo width, ``y`` = row /
        photo height.
    arg_name : str
        The argument's name, for the message.

    Returns
    -------
    numpy.ndarray, shape (21, 2), float64
        (x, y) of each landmark.

    Raises
    ------
    ValueError
        Not 21 points, a point without two finite numbers, or a point farther than one photo's size
        outside the photo (no hand detector puts one there).
    """
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise ValueError(f"{arg_name} must be a list of {HAND_LANDMARKS} points; got {type(value).__name__}")
    if len(value) != HAND_LANDMARKS:
        raise ValueError(f"{arg_name} must hold the {HAND_LANDMARKS} landmarks of one hand; got {len(value)} points")
    points = np.empty((HAND_LANDMARKS, 2))
    for number, point in enumerate(value):
        if isinstance(point, dict):
            xy = (point.get("x"), point.get("y"))
        elif isinstance(point, Sequence) and not isinstance(point, str | bytes) and len(point) in (2, 3):
            xy = (point[0], point[1])
        else:
            raise ValueError(f"{arg_name}[{number}] must be {{'x': .., 'y': ..}} or [x, y]; got {point!r:.60}")
        x, y = _finite(xy[0]), _finite(xy[1])
        if x is None or y is None:
            raise ValueError(f"{arg_name}[{number}] must have finite numbers x and y; got {point!r:.60}")
        points[number] = [x, y]
    if np.any(points < -1.0) or np.any(points > 2.0):
        raise ValueError(
            f"{arg_name} must be normalised image coordinates (x = col / width, y = row / height, 0-1 inside the "
            f"photo); got values from {points.min():.3g} to {points.max():.3g}"
        )
    return points


def _finite(value: object) -> float | None:
    """``value`` as a finite float, or None: not a number, a boolean, NaN, infinite, or an integer too large for a
    float (JSON integers have no bound: ``float(10**400)`` raises OverflowError)."""
    if not isinstance(value, Real) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if np.isfinite(number) else None


def check_hand(value: object, arg_name: str = "hand") -> str:
    """Return ``value`` as ``left`` or ``right`` (the person's own hand), or raise ValueError naming it."""
    if isinstance(value, str) and value.lower() in HANDS:
        return value.lower()
    raise ValueError(f"{arg_name} must be one of {', '.join(HANDS)} (the person's own hand); got {value!r:.40}")


def finger_position(hand: str, name: str) -> int:
    """ISO/IEC 19794-2 position of a slap finger: ``("right", "index")`` -> 2 ... ``("left", "little")`` -> 10."""
    return int(FingerPosition[f"{check_hand(hand).upper()}_{name.upper()}"])


def crop_slap(
    image: np.ndarray,
    landmarks: np.ndarray,
    hand: str,
    config: SlapConfig = DEFAULT_SLAP_CONFIG,
    trace: Trace = NO_TRACE,
) -> Slap | HandRefusal:
    """Cut the four fingertips out of a slap photo, upright, or say why the hand or a finger cannot be used.

    Parameters
    ----------
    image : numpy.ndarray, shape (rows, cols, 3) uint8 RGB, or (rows, cols) uint8
        The photo as decoded, upright.
    landmarks : numpy.ndarray, shape (21, 2)
        From :func:`parse_landmarks`: (x, y) normalised to the photo's size.
    hand : str
        ``left`` or ``right``: the person's own hand.
    config : SlapConfig
    trace : Trace
        Receives ``slap-landmarks`` ((21, 2) (row, col) pixels) and ``slap-fingers`` (the :class:`Slap`).

    Returns
    -------
    Slap or HandRefusal
        A refusal (``not_a_hand``, ``handedness_mismatch``) for the whole hand; otherwise a :class:`Slap` whose
        fingers each hold a crop or their own refusal.
    """
    hand = check_hand(hand)
    rows, cols = image.shape[:2]
    points = np.stack([landmarks[:, 1] * rows, landmarks[:, 0] * cols], axis=1)  # (row, col) pixels
    trace.log("slap-landmarks", points)
    # A refusal is falsy: the first one found is picked by `is not None`, never by `or`.
    refusal = _first(_hand_refusal(points, config), _handedness_refusal(landmarks, hand))
    if refusal is not None:
        return refusal
    palm_width = float(np.hypot(*(points[17] - points[5])))
    estimate = config.width_to_palm * palm_width
    rectangles = [_tip_rectangle(points, mcp, estimate) for _, mcp in SLAP_FINGERS]
    fingers = []
    for number, (name, mcp) in enumerate(SLAP_FINGERS):
        position = finger_position(hand, name)
        refusal = _first(
            _outside_refusal(rectangles[number], rows, cols, config),
            _bend_refusal(points, mcp, config),
            _overlap_refusal(rectangles, number, config),
        )
        if refusal is not None:
            fingers.append(SlapFinger(name, position, None, refusal))
            continue
        width, measured = _finger_width(image, points, mcp, estimate, config)
        fingers.append(SlapFinger(name, position, _crop(image, points, mcp, width, measured, config), None))
    slap = Slap(hand, tuple(fingers))
    trace.log("slap-fingers", slap)
    return slap


def _first(*refusals: HandRefusal | None) -> HandRefusal | None:
    return next((refusal for refusal in refusals if refusal is not None), None)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cosine = float(np.dot(a, b) / max(np.hypot(*a) * np.hypot(*b), 1e-9))
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def _hand_refusal(points: np.ndarray, config: SlapConfig) -> HandRefusal | None:
    """``not_a_hand`` unless every finger's proportions and direction are a hand's."""
    palm_width = float(np.hypot(*(points[17] - points[5])))
    palm_axis = points[9] - points[WRIST]
    if palm_width < 1.0 or np.hypot(*palm_axis) < 1.0:
        return HandRefusal.of("not_a_hand", measure="palm_width_px", value=round(palm_width, 1), minimum=1.0)
    across = points[17] - points[5]
    mcps = [float(np.dot(points[mcp] - points[5], across)) for _, mcp in SLAP_FINGERS]
    if mcps != sorted(mcps):
        return HandRefusal.of("not_a_hand", measure="knuckle_order", value=[name for name, _ in SLAP_FINGERS])
    for name, mcp in SLAP_FINGERS:
        joints = points[mcp : mcp + 4]
        segments = np.hypot(*np.diff(joints, axis=0).T)
        length = float(segments.sum()) / palm_width
        low, high = config.finger_length_to_palm
        if not low <= length <= high:
            return HandRefusal.of(
                "not_a_hand",
                measure=f"{name}_length_to_palm_width",
                value=round(length, 2),
                minimum=low,
                maximum=high,
            )
        ratio = float(segments[2] / max(segments[1], 1e-9))
        low, high = config.segment_ratio
        if not low <= ratio <= high:
            return HandRefusal.of(
                "not_a_hand", measure=f"{name}_distal_to_middle", value=round(ratio, 2), minimum=low, maximum=high
            )
        angle = _angle_deg(joints[3] - joints[0], palm_axis)
        if angle > config.max_finger_to_palm_angle_deg:
            return HandRefusal.of(
                "not_a_hand",
                measure=f"{name}_angle_to_palm_deg",
                value=round(angle, 1),
                maximum=config.max_finger_to_palm_angle_deg,
            )
    return None


def chirality(landmarks: np.ndarray) -> str:
    """Which hand's palm side the landmarks show: ``right`` or ``left`` (the back of a hand reads as the other).

    Parameters
    ----------
    landmarks : numpy.ndarray, shape (21, 2)
        (x, y) normalised to the photo, from :func:`parse_landmarks` (scaling the axes keeps the answer).

    Returns
    -------
    str
        With the fingers pointing up, a right palm has its index finger to the right of its little finger
        (in (row, col): the palm's axis crossed with the index-to-little direction is negative).
    """
    points = landmarks[:, ::-1]  # (row, col)
    along = points[9] - points[WRIST]
    across = points[17] - points[5]
    z = along[1] * across[0] - along[0] * across[1]
    return "right" if z < 0 else "left"


def _handedness_refusal(landmarks: np.ndarray, hand: str) -> HandRefusal | None:
    shown = chirality(landmarks)
    if shown == hand:
        return None
    return HandRefusal.of("handedness_mismatch", measure="palm_side_shows", value=shown, expected=hand)


def _tip_rectangle(points: np.ndarray, mcp: int, width: float) -> np.ndarray:
    """(4, 2) corners (row, col) of the distal phalanx, DIP to just beyond the TIP, ``width`` across."""
    dip, tip = points[mcp + 2], points[mcp + 3]
    axis = (tip - dip) / max(float(np.hypot(*(tip - dip))), 1e-9)
    across = np.array([axis[1], -axis[0]])
    end = tip + axis * 0.15 * width
    return np.array(
        [end - across * width / 2, end + across * width / 2, dip + across * width / 2, dip - across * width / 2]
    )


def _outside_refusal(rectangle: np.ndarray, rows: int, cols: int, config: SlapConfig) -> HandRefusal | None:
    margin_rows, margin_cols = config.inside_margin * rows, config.inside_margin * cols
    inside = (
        (rectangle[:, 0] >= -margin_rows)
        & (rectangle[:, 0] <= rows + margin_rows)
        & (rectangle[:, 1] >= -margin_cols)
        & (rectangle[:, 1] <= cols + margin_cols)
    )
    if inside.all():
        return None
    return HandRefusal.of("finger_outside_image", measure="fingertip_corners_outside", value=int((~inside).sum()))


def _bend_refusal(points: np.ndarray, mcp: int, config: SlapConfig) -> HandRefusal | None:
    bend = _angle_deg(points[mcp + 1] - points[mcp], points[mcp + 3] - points[mcp + 2])
    if bend <= config.max_finger_bend_deg:
        return None
    return HandRefusal.of(
        "finger_not_flat", measure="bend_deg", value=round(bend, 1), maximum=config.max_finger_bend_deg
    )


def _overlap_refusal(rectangles: list[np.ndarray], number: int, config: SlapConfig) -> HandRefusal | None:
    mine = rectangles[number].astype(np.float32)[:, ::-1].copy()  # OpenCV wants (x, y)
    worst = 0.0
    for other_number in (number - 1, number + 1):
        if not 0 <= other_number < len(rectangles):
            continue
        other = rectangles[other_number].astype(np.float32)[:, ::-1].copy()
        shared, _ = cv2.intersectConvexConvex(mine, other)
        smaller = min(cv2.contourArea(mine), cv2.contourArea(other))
        worst = max(worst, float(shared) / max(smaller, 1e-9))
    if worst <= config.max_overlap:
        return None
    return HandRefusal.of("fingers_together", measure="overlap", value=round(worst, 2), maximum=config.max_overlap)


def _strip(image: np.ndarray, centre: np.ndarray, axis: np.ndarray, long: float, short: float) -> np.ndarray:
    """The photo around ``centre``, rotated so that ``axis`` points up: ``short`` rows by ``long`` cols."""
    across = np.array([axis[1], -axis[0]])
    top_left = centre + axis * short / 2 - across * long / 2
    top_right = centre + axis * short / 2 + across * long / 2
    bottom_right = centre - axis * short / 2 + across * long / 2
    out_cols, out_rows = max(2, round(long)), max(2, round(short))
    source = np.array([top_left[::-1], top_right[::-1], bottom_right[::-1]], np.float32)
    target = np.array([[0, 0], [out_cols, 0], [out_cols, out_rows]], np.float32)
    warp = cv2.getAffineTransform(source, target)
    return cv2.warpAffine(image, warp, (out_cols, out_rows), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def _finger_width(
    image: np.ndarray, points: np.ndarray, mcp: int, estimate: float, config: SlapConfig
) -> tuple[float, bool]:
    """The finger's width across the middle of its distal phalanx, pixels, and whether it was measured."""
    dip, tip = points[mcp + 2], points[mcp + 3]
    length = float(np.hypot(*(tip - dip)))
    axis = (tip - dip) / max(length, 1e-9)
    # A band three estimated widths across, shrunk so that it costs little whatever the photo's resolution.
    shrink = min(1.0, 64.0 / max(estimate, 1.0))
    band = _strip(image, (dip + tip) / 2, axis, 3.0 * estimate, max(0.5 * length, 2.0))
    band = cv2.resize(band, (max(8, round(band.shape[1] * shrink)), max(2, round(band.shape[0] * shrink))))
    if band.ndim == 3:
        ycrcb = cv2.cvtColor(band, cv2.COLOR_RGB2YCrCb).astype(np.float32)
        measure = ycrcb[..., 1] - 0.5 * (ycrcb[..., 2] - 128.0)
    else:
        measure = band.astype(np.float32)
    profile = np.median(measure, axis=0)
    low, high = float(profile.min()), float(profile.max())
    stretched = ((profile - low) * (255.0 / max(high - low, 1e-6))).astype(np.uint8).reshape(1, -1)
    _, binary = cv2.threshold(stretched, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    finger = binary.ravel() > 0
    centre = finger.size // 2
    if not finger[centre]:
        return estimate, False
    left = centre - int(np.argmin(finger[centre::-1])) if not finger[: centre + 1].all() else 0
    right = centre + int(np.argmin(finger[centre:])) if not finger[centre:].all() else finger.size
    width = (right - left) / shrink
    low, high = config.measured_width_range
    if not low * estimate <= width <= high * estimate:
        return estimate, False
    return float(width), True


def _crop(
    image: np.ndarray, points: np.ndarray, mcp: int, width: float, measured: bool, config: SlapConfig
) -> FingerCrop:
    dip, tip = points[mcp + 2], points[mcp + 3]
    distal = float(np.hypot(*(tip - dip)))
    axis = (tip - dip) / max(distal, 1e-9)
    across = np.array([axis[1], -axis[0]])  # "right" when the tip points up (a rotation, never a mirror)
    top = tip + axis * config.beyond_tip * width
    bottom = dip - axis * config.below_dip * distal
    breadth = config.breadth * width
    corners = np.array(
        [
            top - across * breadth / 2,
            top + across * breadth / 2,
            bottom + across * breadth / 2,
            bottom - across * breadth / 2,
        ],
        np.float32,
    )
    scale = min(1.0, config.max_crop_finger_width_px / max(width, 1.0))
    out_cols = max(8, round(breadth * scale))
    out_rows = max(8, round(float(np.hypot(*(top - bottom))) * scale))
    source = np.array([[c, r] for r, c in corners[:3]], np.float32)
    target = np.array([[0, 0], [out_cols, 0], [out_cols, out_rows]], np.float32)
    warp = cv2.getAffineTransform(source, target)
    crop = cv2.warpAffine(
        image,
        warp,
        (out_cols, out_rows),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return FingerCrop(image=crop, corners=corners, width_px=float(width), width_measured=measured, scale=float(scale))
