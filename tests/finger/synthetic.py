"""Honest stand-ins for bad fingerprint input the shared data lacks: a palm, the back of a hand, the back of a finger.

Drawn at test time (no image file is committed): skin-coloured silhouettes with skin shading, grain and
creases, on a background, but no papillary ridges; and a real phone photo with the ridges wiped off the
finger. Sizes are those of a phone photo held at arm's length (2000x1500).
"""

from __future__ import annotations

import cv2
import numpy as np

from tessera.finger.pipeline import extract_finger
from tessera.primitives import DictTrace

SKIN_TONES = {"light": (235, 195, 170), "medium": (205, 150, 125), "dark": (140, 95, 70)}


def _skin(mask: np.ndarray, random: np.random.Generator, colour: tuple[int, int, int]) -> np.ndarray:
    """Skin over the whole frame: ``colour``, darker towards the outline of ``mask``, fine grain and blotches."""
    rows, cols = mask.shape
    inner = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    shade = np.clip(inner / (0.03 * max(rows, cols)), 0, 1) * 30 - 30
    grain = cv2.GaussianBlur(random.normal(0, 1, mask.shape).astype(np.float32), (0, 0), 1.5) * 6
    blotch = cv2.GaussianBlur(random.normal(0, 1, mask.shape).astype(np.float32), (0, 0), 25) * 40
    return np.array(colour, np.float32) + (shade + grain + blotch)[..., None]


def _background(shape: tuple[int, int], random: np.random.Generator) -> np.ndarray:
    """A blue-grey table top: grain and a light gradient."""
    grain = cv2.GaussianBlur(random.normal(0, 1, shape).astype(np.float32), (0, 0), 2.0) * 8
    light = np.linspace(-20, 20, shape[1], dtype=np.float32)[None, :]
    return np.array((95, 110, 125), np.float32) + (grain + light)[..., None]


def _point(vector: np.ndarray) -> tuple[int, int]:
    return int(vector[0]), int(vector[1])  # OpenCV's (x, y) = (col, row)


def _hand(shape: tuple[int, int], scale: float, centre: tuple[int, int]):
    """A hand's mask (bool), wrist at the bottom, four spread fingers and a thumb; with each finger's (tip, base, angle)
    and width."""
    rows, _ = shape
    mask = np.zeros(shape, np.uint8)
    centre_row, centre_col = centre
    palm_width, palm_height = int(0.42 * scale), int(0.46 * scale)
    cv2.ellipse(mask, (centre_col, centre_row), (palm_width // 2, palm_height // 2), 0, 0, 360, 1, -1)
    cv2.rectangle(mask, (centre_col - int(0.17 * scale), centre_row), (centre_col + int(0.17 * scale), rows), 1, -1)
    width = int(0.085 * scale)
    fingers = []
    for index, (length, degrees) in enumerate(((0.36, -14), (0.42, -4), (0.40, 5), (0.32, 15))):
        base = np.array(
            [centre_col - palm_width * 0.36 + index * palm_width * 0.24, centre_row - palm_height * 0.35]
        )  # (x, y)
        angle = np.deg2rad(degrees)
        tip = base + np.array([np.sin(angle), -np.cos(angle)]) * length * scale
        cv2.line(mask, _point(base), _point(tip), 1, width)
        cv2.circle(mask, _point(tip), width // 2, 1, -1)
        fingers.append((tip, base, angle))
    thumb_base = np.array([centre_col + palm_width * 0.45, centre_row + palm_height * 0.1])
    thumb_tip = thumb_base + np.array([0.22, -0.18]) * scale
    cv2.line(mask, _point(thumb_base), _point(thumb_tip), 1, int(width * 1.1))
    cv2.circle(mask, _point(thumb_tip), int(width * 0.55), 1, -1)
    return mask.astype(bool), fingers, width


def back_of_hand(tone: str = "medium", seed: int = 3, shape: tuple[int, int] = (2000, 1500)) -> np.ndarray:
    """The back of a hand, fingers spread, on a table: knuckle wrinkles and nails, no ridges (RGB uint8)."""
    random = np.random.default_rng(seed)
    rows, cols = shape
    mask, fingers, width = _hand(shape, 0.9 * rows, (int(0.72 * rows), cols // 2))
    marks = np.zeros(shape, np.float32)  # +1 darker (a wrinkle), negative lighter (a nail)
    for tip, base, angle in fingers:
        along_finger = np.array([np.sin(angle), -np.cos(angle)])
        across = np.array([along_finger[1], -along_finger[0]])
        for joint in (0.35, 0.7):
            for step in range(-2, 3):
                centre = base + (tip - base) * joint + along_finger * step * width * 0.08
                cv2.line(marks, _point(centre - across * width * 0.3), _point(centre + across * width * 0.3), 1.0, 3)
        nail = tip - along_finger * width * 0.35
        cv2.ellipse(
            marks, _point(nail), (int(width * 0.32), int(width * 0.45)), float(np.rad2deg(angle)), 0, 360, -0.6, -1
        )
    skin = _skin(mask, random, SKIN_TONES[tone]) - 40 * cv2.GaussianBlur(marks, (0, 0), 1.5)[..., None]
    image = _background(shape, random)
    image[mask] = skin[mask]
    return np.clip(image, 0, 255).astype(np.uint8)


def palm(tone: str = "medium", seed: int = 5, shape: tuple[int, int] = (2000, 1500)) -> np.ndarray:
    """A palm held close to the camera, covering most of the frame: the three main creases and minor ones (RGB uint8).

    A real palm carries ridges too, but at this distance (the whole palm in a phone photo) they are far
    below the resolution a fingertip photo needs; no fingertip is in the frame.
    """
    random = np.random.default_rng(seed)
    rows, cols = shape
    mask, _, _ = _hand(shape, 1.6 * rows, (int(0.62 * rows), cols // 2))
    creases = np.zeros(shape, np.float32)
    main_lines = (
        ((0.05, 0.35), (0.45, 0.30), (0.95, 0.40)),
        ((0.05, 0.50), (0.40, 0.55), (0.70, 0.75)),
        ((0.60, 0.98), (0.45, 0.7), (0.25, 0.45)),
    )
    for start, middle, end in main_lines:  # quadratic Bezier curves, (x, y) as fractions of the frame
        t = np.linspace(0, 1, 40)[:, None]
        curve = (1 - t) ** 2 * np.array(start) + 2 * t * (1 - t) * np.array(middle) + t**2 * np.array(end)
        cv2.polylines(creases, [(curve * [cols, rows]).astype(np.int32)], False, 1.0, 9)
    for _ in range(25):
        row, col = random.uniform(0.3, 0.9) * rows, random.uniform(0.1, 0.9) * cols
        angle, length = random.uniform(0, np.pi), random.uniform(0.03, 0.08) * rows
        offset = np.array([np.cos(angle), np.sin(angle)]) * length
        cv2.line(creases, _point(np.array([col, row]) - offset), _point(np.array([col, row]) + offset), 0.5, 3)
    skin = _skin(mask, random, SKIN_TONES[tone]) - 45 * cv2.GaussianBlur(creases, (0, 0), 2.0)[..., None]
    image = _background(shape, random)
    image[mask] = skin[mask]
    return np.clip(image, 0, 255).astype(np.uint8)


def back_of_finger(photo: np.ndarray) -> np.ndarray:
    """``photo`` (a real fingertip photo, RGB) with its ridges wiped off: a strong low-pass inside the finger only.

    The finger's silhouette, colour and shading stay, and so does the background: what the camera sees of
    the back of a finger (without its nail and wrinkles).
    """
    trace = DictTrace()
    extract_finger(photo, "contactless", trace=trace)
    rows, cols = photo.shape[:2]
    finger = cv2.resize(trace.items["finger-skin"].astype(np.uint8), (cols, rows), interpolation=cv2.INTER_NEAREST)
    finger = cv2.erode(finger, np.ones((25, 25), np.uint8)).astype(bool)  # the outline stays sharp
    wiped = photo.copy()
    wiped[finger] = cv2.GaussianBlur(photo, (0, 0), 25)[finger]
    return wiped
