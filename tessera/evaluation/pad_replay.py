"""Photo-replay attack bursts synthesised from one still: what a printed photo or a phone screen held up to the
camera and moved, rotated or tilted looks like.

Every frame of an attack burst is the same still, seen as a flat picture in 3D: the picture plane is placed in
front of a pinhole camera, rotated about its centre (yaw, pitch, roll), moved and brought closer, and projected
back (:func:`plane_view`), which is exactly a planar homography of the still. Each burst then gets one
presentation degradation for all its frames (:func:`degrade`): ``print`` (paper: lower contrast, ink gamma,
slight blur, paper grain) or ``screen`` (a display: moiré from the pixel grid, a colour cast, glare), followed
by a camera's blur, noise and JPEG compression. Nothing here is ever sent to the service as live: these bursts
are attacks by construction, and the evaluation counts any of them accepted as an attack accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SPECIES = ("print", "screen")
"""Presentation attack instrument species synthesised (ISO/IEC 30107-3 calls them PAI species)."""


@dataclass(frozen=True)
class PlaneMotion:
    """How the flat picture is held in one frame: rotations in degrees, shift as a fraction of the side, closer > 1."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    shift_x: float = 0.0
    shift_y: float = 0.0
    closer: float = 1.0


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = np.radians([yaw, pitch, roll])
    about_y = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    about_x = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    about_z = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return about_z @ about_x @ about_y


def plane_homography(shape: tuple[int, ...], motion: PlaneMotion, focal_ratio: float = 1.2) -> np.ndarray:
    """The 3x3 homography that shows an image of ``shape`` as a flat picture held as ``motion`` says.

    The picture fills the frame at rest (plane at depth ``focal``, focal length ``focal_ratio`` x the longer
    side, a phone camera's field of view); it is rotated about its centre, moved and brought closer, and its
    four corners projected: the homography maps the original corners to the projected ones.
    """
    rows, cols = shape[:2]
    focal = focal_ratio * max(rows, cols)
    centre = np.array([cols / 2, rows / 2])
    corners = np.array([[0, 0], [cols, 0], [cols, rows], [0, rows]], dtype=np.float64)
    plane = np.column_stack([corners - centre, np.zeros(4)])
    moved = plane @ _rotation(motion.yaw, motion.pitch, motion.roll).T
    moved[:, 0] += motion.shift_x * cols
    moved[:, 1] += motion.shift_y * rows
    depth = focal / motion.closer
    projected = focal * moved[:, :2] / (depth + moved[:, 2:3]) + centre
    return cv2.getPerspectiveTransform(corners.astype(np.float32), projected.astype(np.float32))


def plane_view(image: np.ndarray, motion: PlaneMotion) -> np.ndarray:
    """``image`` (rows, cols, 3) uint8 seen as a flat picture held as ``motion`` says (background mid-grey)."""
    homography = plane_homography(image.shape, motion)
    return cv2.warpPerspective(
        image, homography, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR, borderValue=(110, 110, 110)
    )


def degrade(image: np.ndarray, species: str, rng: np.random.Generator) -> np.ndarray:
    """``image`` as a camera sees it on paper (``print``) or on a display (``screen``); uint8 RGB in and out."""
    if species not in SPECIES:
        raise ValueError(f"species must be one of {', '.join(SPECIES)}; got {species!r}")
    picture: np.ndarray = image.astype(np.float32) / 255
    rows, cols = picture.shape[:2]
    if species == "print":
        picture = 0.08 + 0.82 * picture ** rng.uniform(1.1, 1.5)  # ink on paper: no true black or white
        picture = cv2.GaussianBlur(picture, (0, 0), rng.uniform(0.6, 1.2))
        grain = cv2.GaussianBlur(rng.normal(0, 1, (rows, cols)).astype(np.float32), (0, 0), 1.0)
        picture = picture + 0.02 * grain[..., None]
    else:
        period = rng.uniform(2.5, 4.5)  # the display's pixel grid beating with the camera's: moiré
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
        wave = np.cos(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
        picture = picture * (1 + 0.06 * wave[..., None]) * np.array([0.92, 1.0, 1.08], dtype=np.float32)
        glare_row, glare_col = rng.uniform(0, rows), rng.uniform(0, cols)
        glare = np.exp(-(((yy - glare_row) ** 2 + (xx - glare_col) ** 2) / (2 * (0.25 * max(rows, cols)) ** 2)))
        picture = picture + 0.15 * glare[..., None]
    picture = cv2.GaussianBlur(picture, (0, 0), rng.uniform(0.3, 0.8))
    picture = picture + rng.normal(0, 0.01, picture.shape).astype(np.float32)
    shot = np.clip(picture * 255, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", shot, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(70, 92))])
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_UNCHANGED)
    if not ok or decoded is None:
        raise RuntimeError("OpenCV could not JPEG-compress a synthetic frame")
    return np.asarray(decoded, dtype=np.uint8)


def random_motions(frames: int, rng: np.random.Generator) -> list[PlaneMotion]:
    """A burst's worth of hand-held motions: at rest first, then increasingly tilted, rotated, moved and closer.

    The attacker tries to follow any challenge: the picture swings up to 40 degrees about each axis, in a
    random direction per burst, so that its drawn face appears to turn, nod and come closer.
    """
    direction = rng.choice([-1.0, 1.0], size=2)
    most = rng.uniform(15, 40, size=3)
    motions = [PlaneMotion()]
    for step in range(1, frames):
        t = step / (frames - 1)
        motions.append(
            PlaneMotion(
                yaw=float(direction[0] * most[0] * np.sin(np.pi * t * 1.5)),
                pitch=float(direction[1] * most[1] * np.sin(np.pi * t)),
                roll=float(rng.uniform(-8, 8)),
                shift_x=float(rng.uniform(-0.05, 0.05)),
                shift_y=float(rng.uniform(-0.05, 0.05)),
                closer=float(1 + 0.3 * t * rng.uniform(0.5, 1.0)),
            )
        )
    return motions


def replay_burst(still: np.ndarray, frames: int, species: str, rng: np.random.Generator) -> list[np.ndarray]:
    """An attack burst of ``frames`` views of one ``still`` (rows, cols, 3) uint8 RGB held as a flat picture."""
    return [degrade(plane_view(still, motion), species, rng) for motion in random_motions(frames, rng)]
