"""A 3D head model and flat pictures of it, as five YuNet-style landmarks: the liveness tests' synthetic inputs."""

from __future__ import annotations

import numpy as np

from tessera.evaluation.pad_replay import PlaneMotion, plane_homography

HEAD = np.array([[-0.5, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.55, 0.55], [-0.4, 1.1, 0.0], [0.4, 1.1, 0.0]])
"""Eyes, nose tip, mouth corners in interocular units (x right, y down, z towards the camera): the nose tip stands
0.55 in front of the plane of the eyes and mouth (about 20 mm for 63 mm between the eyes)."""
FOCAL, DEPTH, CENTRE = 800.0, 6.0, np.array([320.0, 240.0])


def project(points: np.ndarray) -> np.ndarray:
    """Pinhole projection of (n, 3) model points 6 units from the camera, as (n, 2) (row, col) landmarks."""
    z = DEPTH - points[:, 2]
    xy = FOCAL * points[:, :2] / z[:, None] + CENTRE
    return xy[:, ::-1]


def rotate(points: np.ndarray, yaw: float = 0.0, pitch: float = 0.0, closer: float = 1.0) -> np.ndarray:
    """The head turned ``yaw`` degrees to the person's left (nose to the image's right), ``pitch`` degrees up,
    and brought ``closer`` (a scale about the face's centre: nearer the camera looks larger)."""
    y, p = np.radians([yaw, pitch])
    about_y = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    about_x = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    centre = np.array([0.0, 0.55, 0.0])
    return closer * ((points - centre) @ (about_x @ about_y).T) + centre


STEP_POSES = {
    "turn_left": {"yaw": 25},
    "turn_right": {"yaw": -25},
    "look_up": {"pitch": 20},
    "look_down": {"pitch": -20},
    "move_closer": {"closer": 1.3},
}
"""How a person answers each step."""


def live_landmarks(steps: list[str], hold: int = 2) -> list[np.ndarray]:
    """A live burst's landmarks: straight, then each step's pose in turn, held for ``hold`` frames."""
    return [project(HEAD)] + [project(rotate(HEAD, **STEP_POSES[step])) for step in steps for _ in range(hold)]


def through(homography: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(row, col) landmarks moved by a 3x3 homography of (x, y)."""
    xy = landmarks[:, ::-1]
    mapped = np.column_stack([xy, np.ones(len(xy))]) @ homography.T
    return (mapped[:, :2] / mapped[:, 2:])[:, ::-1]


def picture_landmarks(motions: list[PlaneMotion]) -> list[np.ndarray]:
    """A flat picture of the straight face held as each motion says: every frame a homography of the first."""
    straight = project(HEAD)
    return [through(plane_homography((480, 640), motion), straight) for motion in motions]
