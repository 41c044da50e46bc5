"""Head pose and 3D parallax from YuNet's five landmarks (eye centres, nose tip, mouth corners).

Landmarks arrive as (row, col) in image pixels (:mod:`tessera.face.yunet`); every function here turns
them to (x, y) = (col, row) once and works in image coordinates (x right, y down).

Pose is measured in face units, so that it does not depend on how far the face is:

- ``yaw``: the nose tip's offset from the eyes' midpoint along the eye axis, over the interocular
  distance. A head turned to the person's left (the image's right in an unmirrored frame) gives a
  positive value.
- ``pitch``: the nose tip's drop below the eye line over the mouth's drop below it (about 0.5 to 0.6
  looking straight); looking up makes it smaller, looking down larger.
- ``scale``: the interocular distance in pixels (moving closer makes it larger).

Parallax: the two eye centres and the two mouth corners lie close to one plane, the nose tip about half
an interocular distance in front of it. Any view of a plane (a printed photo or a screen moved, rotated or
tilted in 3D) is a planar homography of any other view, so the homography fitted to the four planar
points also carries the nose tip there, up to landmark noise. A real head that turns moves the nose off
that homography by about ``depth x tan(angle)``. :func:`nose_parallax` measures that residual in
interocular distances (Hartley & Zisserman, *Multiple View Geometry*, 2nd ed., sec. 13.3: the parallax of
a point off a plane after the plane-induced homography is removed).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

EYE_A, EYE_B, NOSE, MOUTH_A, MOUTH_B = 0, 1, 2, 3, 4
"""Rows of the (5, 2) landmark array, in YuNet's order (the image's left eye first)."""
PLANAR = (EYE_A, EYE_B, MOUTH_A, MOUTH_B)
"""The four landmarks taken as (nearly) coplanar."""


@dataclass(frozen=True)
class Pose:
    """A face's pose in face units (see the module docstring)."""

    yaw: float
    pitch: float
    scale: float


def as_xy(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) (row, col) landmarks as (5, 2) float64 (x, y); refuses any other shape."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks must be a finite (5, 2) array of (row, col); got shape {points.shape}")
    return points[:, ::-1]


def pose(landmarks: np.ndarray) -> Pose:
    """The :class:`Pose` of one face from its (5, 2) (row, col) landmarks."""
    points = as_xy(landmarks)
    eye_mid = (points[EYE_A] + points[EYE_B]) / 2
    axis = points[EYE_B] - points[EYE_A]
    interocular = float(np.linalg.norm(axis))
    if interocular <= 0:
        raise ValueError("the two eye landmarks coincide")
    along = axis / interocular
    down = np.array([-along[1], along[0]])  # the eye axis turned 90 degrees towards the chin (y grows down)
    nose = points[NOSE] - eye_mid
    mouth_drop = float(((points[MOUTH_A] + points[MOUTH_B]) / 2 - eye_mid) @ down)
    pitch = float(nose @ down) / mouth_drop if mouth_drop > 0 else float("nan")
    return Pose(yaw=float(nose @ along) / interocular, pitch=pitch, scale=interocular)


def nose_residual(reference: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The nose tip of ``other`` minus where the planar homography from ``reference`` puts it, in face units.

    Parameters
    ----------
    reference, other : numpy.ndarray, shape (5, 2)
        The same face's landmarks in two frames, (row, col) pixels.

    Returns
    -------
    residual, along, down : numpy.ndarray, shape (2,)
        The residual (x, y) over ``other``'s interocular distance, where the homography maps the four planar
        landmarks of ``reference`` exactly onto those of ``other``; and ``other``'s unit eye axis and the unit
        vector at right angles to it towards the chin. ``inf`` residual when the four points are degenerate.
    """
    source, target = as_xy(reference), as_xy(other)
    axis = target[EYE_B] - target[EYE_A]
    interocular = float(np.linalg.norm(axis))
    along = axis / interocular if interocular > 0 else np.array([1.0, 0.0])
    down = np.array([-along[1], along[0]])
    planar = list(PLANAR)
    homography = cv2.getPerspectiveTransform(source[planar].astype(np.float32), target[planar].astype(np.float32))
    if interocular <= 0 or not np.isfinite(homography).all() or abs(np.linalg.det(homography)) < 1e-12:
        return np.full(2, np.inf), along, down
    mapped = cv2.perspectiveTransform(source[None, NOSE : NOSE + 1], homography)[0, 0]
    return (target[NOSE] - mapped) / interocular, along, down


def nose_parallax(reference: np.ndarray, other: np.ndarray) -> float:
    """How far the nose tip of ``other`` is from where the planar homography puts it, in interocular distances.

    About landmark noise for two views of a flat picture, whatever its motion; grows with the rotation of a real
    head (about ``depth x tan(angle)`` in the turned face's interocular distances). ``inf`` when the four
    planar points are degenerate (see
    :func:`nose_residual`).
    """
    residual, _, _ = nose_residual(reference, other)
    return float(np.linalg.norm(residual))


def signed_parallax(reference: np.ndarray, other: np.ndarray, direction: tuple[str, float]) -> float:
    """The nose's departure from the planar homography along one face axis, signed.

    ``direction`` is (``"along"`` the eye axis or ``"down"`` towards the chin, sign): a head turning to the
    person's left moves its nose off the plane towards the image's right, (``"along"``, +1). Positive when the
    nose left the plane the way a head turning in that direction moves it; -1.0 when the four planar points
    are degenerate.
    """
    residual, along, down = nose_residual(reference, other)
    axis, sign = direction
    if not np.isfinite(residual).all():
        return -1.0
    return sign * float(residual @ (along if axis == "along" else down))
