"""The parallax measure on synthetic 3D points: a rotated head model against a flat picture of it."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.evaluation.pad_replay import PlaneMotion, plane_homography
from tessera.liveness.geometry import nose_parallax, pose, signed_parallax
from tests.liveness.heads import HEAD, project, rotate, through


@pytest.mark.parametrize("angle", [10, 20, 30])
def test_a_turning_head_leaves_the_plane_and_a_picture_does_not(angle):
    straight = project(HEAD)
    turned = project(rotate(HEAD, yaw=angle))
    # A real head: the nose leaves the eyes-and-mouth homography by about depth x tan(angle) interocular distances
    # (depth x sin(angle) over the interocular distance foreshortened by cos(angle)).
    assert nose_parallax(straight, turned) == pytest.approx(0.55 * np.tan(np.radians(angle)), rel=0.25)
    assert signed_parallax(straight, turned, ("along", 1.0)) > 0.5 * 0.55 * np.sin(np.radians(angle))
    # A picture of the straight face, swung as far about every axis: the nose stays on the homography.
    picture = through(
        plane_homography((480, 640), PlaneMotion(yaw=angle, pitch=angle / 2, roll=5, closer=1.2)), straight
    )
    assert nose_parallax(straight, picture) < 1e-6


def test_the_sign_follows_the_direction_of_the_turn_and_nod():
    straight = project(HEAD)
    left, right = project(rotate(HEAD, yaw=20)), project(rotate(HEAD, yaw=-20))
    up, down = project(rotate(HEAD, pitch=20)), project(rotate(HEAD, pitch=-20))
    assert signed_parallax(straight, left, ("along", 1.0)) > 0.1 > signed_parallax(straight, right, ("along", 1.0))
    assert signed_parallax(straight, up, ("down", -1.0)) > 0.1 > signed_parallax(straight, down, ("down", -1.0))
    assert pose(left).yaw > pose(straight).yaw + 0.15 > pose(right).yaw + 0.3
    assert pose(up).pitch < pose(straight).pitch < pose(down).pitch


def test_landmark_noise_on_a_picture_stays_below_the_parallax_limit():
    """Two pixels of noise on a 100-pixel interocular distance: what a flat picture can show by chance."""
    rng = np.random.default_rng(3)
    straight = project(HEAD * 100 / 133.3)
    found = []
    for _ in range(200):
        picture = through(
            plane_homography((480, 640), PlaneMotion(yaw=rng.uniform(-40, 40), pitch=rng.uniform(-30, 30))), straight
        )
        found.append(
            nose_parallax(straight + rng.normal(0, 1.0, straight.shape), picture + rng.normal(0, 1.0, picture.shape))
        )
    assert np.percentile(found, 99) < 0.12


def test_degenerate_points_are_reported_not_divided_by_zero():
    collapsed = np.zeros((5, 2))
    assert nose_parallax(project(HEAD), collapsed) == float("inf")
    with pytest.raises(ValueError, match="5, 2"):
        pose(np.zeros((4, 2)))
