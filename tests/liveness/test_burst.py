"""The burst checks on synthetic landmarks: a 3D head following the challenge passes; a flat picture does not."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tessera.evaluation.pad_replay import PlaneMotion
from tessera.liveness import burst as burst_module
from tessera.liveness.burst import FrameReading, check_burst
from tessera.liveness.config import ROTATIONS, STEPS, LivenessConfig
from tessera.liveness.steps import draw_steps
from tests.liveness.heads import live_landmarks, picture_landmarks

FACE = np.ones(128, dtype=np.float32) / np.sqrt(128)


def frames(landmarks, embedding=FACE) -> list[FrameReading]:
    return [FrameReading.embedded(points, embedding) for points in landmarks]


@pytest.mark.parametrize("steps", [["turn_left", "look_up"], ["move_closer", "turn_right", "look_down"]])
def test_a_head_that_follows_the_steps_passes_every_check(steps):
    outcome = check_burst(frames(live_landmarks(steps)), steps)
    assert outcome.passed, outcome
    assert outcome.checks == {"quality": True, "same_face": True, "motion_as_asked": True, "parallax": True}
    assert [seen.step for seen in outcome.steps] == steps
    assert all(seen.parallax > 0.12 for seen in outcome.steps if seen.step in ROTATIONS)
    assert outcome.embedding is not None


def test_steps_out_of_order_or_the_wrong_way_are_not_seen():
    out_of_order = check_burst(frames(live_landmarks(["look_up", "turn_left"])), ["turn_left", "look_up"])
    assert out_of_order.reason == "no_motion" and "look up" in out_of_order.message
    wrong_way = check_burst(frames(live_landmarks(["turn_right", "look_up"])), ["turn_left", "look_up"])
    assert wrong_way.reason == "no_motion" and "turn left" in wrong_way.message


def test_a_flat_picture_swung_about_every_axis_fails():
    motions = [PlaneMotion()] + [
        PlaneMotion(yaw=yaw, pitch=pitch, roll=roll, closer=closer)
        for yaw, pitch, roll, closer in [(35, 0, 5, 1.1), (-35, 0, -5, 1.2), (0, 30, 0, 1.3), (0, -30, 3, 1.1)]
    ]
    for steps in (["turn_left", "look_up"], ["turn_right", "look_down"], ["move_closer", "turn_left"]):
        outcome = check_burst(frames(picture_landmarks(motions)), steps)
        assert not outcome.passed and outcome.reason in ("no_motion", "flat_image"), (steps, outcome)


def test_the_parallax_check_catches_a_picture_that_the_motion_check_lets_through(monkeypatch):
    """With the motion limits down to nothing, a tilted picture's perspective counts as a turn: only the parallax
    check stops it. Mutation: with the parallax rule switched off the same burst passes, so the test can fail."""
    lax = LivenessConfig(yaw_step=0.0, pitch_step=0.0)
    tilts = [PlaneMotion(yaw=yaw, pitch=pitch) for yaw in (-40, 40) for pitch in (-30, 30)]
    motions = [PlaneMotion()] + [tilt for tilt in tilts for _ in range(2)]  # each held two frames
    burst = frames(picture_landmarks(motions))
    outcome = check_burst(burst, ["turn_left", "look_up"], lax)
    assert outcome.reason == "flat_image" and outcome.checks["motion_as_asked"] is True
    monkeypatch.setattr(burst_module, "_shows_parallax", lambda change, parallax, config: True)
    assert check_burst(burst, ["turn_left", "look_up"], lax).passed


def test_a_pose_seen_in_one_frame_only_is_not_a_step():
    """A landmark outlier in one frame is not a movement: each step must hold for hold_frames frames."""
    burst = frames(live_landmarks(["turn_left", "look_up"], hold=1))
    assert check_burst(burst, ["turn_left", "look_up"]).reason == "no_motion"
    assert check_burst(burst, ["turn_left", "look_up"], LivenessConfig(hold_frames=1)).passed


def test_another_face_midway_fails_same_face():
    other = (np.tile([1.0, -1.0], 64) / np.sqrt(128)).astype(np.float32)  # orthogonal to FACE: similarity 0
    burst = frames(live_landmarks(["turn_left", "look_up"]))
    burst[3] = FrameReading.embedded(burst[3].landmarks, other)
    outcome = check_burst(burst, ["turn_left", "look_up"])
    assert outcome.reason == "not_same_face" and outcome.checks["motion_as_asked"] is True


def test_an_unusable_frame_fails_quality_first():
    burst: list = frames(live_landmarks(["turn_left", "look_up"]))
    burst[1] = "too_blurred"
    outcome = check_burst(burst, ["turn_left", "look_up"])
    assert outcome.reason == "frame_unusable" and "frame 2: too_blurred" in outcome.message
    assert outcome.checks == {"quality": False, "motion_as_asked": None, "same_face": None, "parallax": None}


@pytest.mark.parametrize(
    ("config", "lengths", "sequences"), [(LivenessConfig(), {2}, 16), (LivenessConfig(max_steps=3), {2, 3}, 52)]
)
def test_drawn_steps_always_hold_a_rotation_and_never_swing_straight_back(config, lengths, sequences):
    # By default two steps (the person's time within the 4 s a verification may add); a longer challenge is a
    # configuration away.
    rng = random.Random(5)
    drawn = set()
    for _ in range(2000):
        steps = draw_steps(config, rng=rng)
        assert len(steps) in lengths and len(set(steps)) == len(steps) and set(steps) <= set(STEPS)
        assert any(step in ROTATIONS for step in steps)
        assert not {("turn_left", "turn_right"), ("look_up", "look_down")} & set(zip(steps, steps[1:]))
        assert not {("turn_right", "turn_left"), ("look_down", "look_up")} & set(zip(steps, steps[1:]))
        drawn.add(tuple(steps))
    assert {len(steps) for steps in drawn} == lengths
    assert len(drawn) == sequences  # every sequence the rules allow is drawn


def counted(landmarks, embeddings=None):
    """Readings whose embedder records which frames were embedded (``embeddings``: per frame, default FACE)."""
    embedded: list[int] = []

    def embedder(number):
        def embed():
            embedded.append(number)
            return FACE if embeddings is None else embeddings[number]

        return embed

    return [FrameReading(points, embedder(n)) for n, points in enumerate(landmarks)], embedded


def test_only_the_reference_and_the_held_frames_are_embedded():
    """Embedding is most of a frame's cost: frames between the steps, and every frame of a burst that fails the motion
    check, are never embedded."""
    steps = ["turn_left", "look_up"]
    landmarks = live_landmarks(steps)
    with_transitions = [landmarks[0], landmarks[0], *landmarks[1:3], landmarks[0], *landmarks[3:]]  # 7 frames
    burst, embedded = counted(with_transitions)
    outcome = check_burst(burst, steps)
    assert outcome.passed
    assert sorted(embedded) == [0, 2, 3, 5, 6]
    assert [seen.held for seen in outcome.steps] == [(2, 3), (5, 6)]
    still, embedded = counted([landmarks[0]] * 5)
    assert check_burst(still, steps).reason == "no_motion" and embedded == []


def test_a_stranger_in_a_held_frame_fails_but_one_between_the_steps_is_not_evidence():
    """Same face is asked of the frames the decision rests on; a frame between steps carries no evidence (nothing
    it shows can make the burst pass), so it is not embedded and does not change the outcome."""
    other = (np.tile([1.0, -1.0], 64) / np.sqrt(128)).astype(np.float32)
    steps = ["turn_left", "look_up"]
    landmarks = live_landmarks(steps)
    frames_ = [landmarks[0], *landmarks[1:3], landmarks[0], *landmarks[3:]]  # frame 3 is between the steps
    stranger_between = [FACE, FACE, FACE, other, FACE, FACE]
    burst, embedded = counted(frames_, stranger_between)
    assert check_burst(burst, steps).passed and 3 not in embedded
    stranger_held = [FACE, FACE, FACE, FACE, FACE, other]
    burst, embedded = counted(frames_, stranger_held)
    outcome = check_burst(burst, steps)
    assert outcome.reason == "not_same_face" and outcome.min_similarity == pytest.approx(0.0, abs=1e-6)
    assert embedded == [0, 1, 2, 4, 5]
