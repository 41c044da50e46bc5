"""The burst checks on real photos: ORL people turning their heads against synthetic replays of their own photo,
and the passive score on NUAA (skipped without the shared data)."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.evaluation.pad_challenge import orl_people, read_orl_photo
from tessera.evaluation.pad_replay import SPECIES, replay_burst
from tessera.liveness.burst import FrameReading, check_burst, pose_change
from tessera.liveness.frames import read_frame
from tessera.liveness.geometry import pose
from tests.conftest import SHARED_DATA, _require

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def orl():
    return orl_people(_require(SHARED_DATA / "face" / "orl", "ORL (face/orl)"))


def turn_burst(paths):
    """The person's most frontal photo and their two photos turned furthest one way, with that turn's step."""
    readings = [(path, read_frame(read_orl_photo(path))) for path in paths]
    readings = [(path, r) for path, r in readings if isinstance(r, FrameReading)]
    poses = [pose(r.landmarks) for _, r in readings]
    start = min(range(len(readings)), key=lambda n: abs(poses[n].yaw))

    def second_best(step):
        return sorted(pose_change(step, poses[start], p) for p in poses)[-2]

    step = max(("turn_left", "turn_right"), key=second_best)
    turned = sorted(range(len(readings)), key=lambda n: pose_change(step, poses[start], poses[n]))[-2:]
    return readings[start], [readings[n][1] for n in turned], step, second_best(step)


@pytest.mark.parametrize("person", ["s1", "s26"])  # ORL people with two photos turned one way by 0.18
def test_a_real_head_turn_passes_and_replays_of_the_same_photo_fail(orl, person):
    (front_path, front), turned, step, change = turn_burst(orl[person])
    if change < 0.18:
        pytest.skip(f"{person} has fewer than two photos turned one way by 0.18")  # pragma: no cover
    outcome = check_burst([front, *turned], [step])
    assert outcome.passed, (person, step, outcome)
    assert outcome.steps[0].parallax > 0.12
    still = read_orl_photo(front_path)
    rng = np.random.default_rng(11)
    for attempt in range(6):
        burst = replay_burst(still, 8, SPECIES[attempt % 2], rng)
        replayed = check_burst([read_frame(image) for image in burst], [step])
        assert not replayed.passed, (person, step, attempt, replayed)


def test_another_persons_photo_midway_fails_same_face(orl):
    (_, front), turned, step, _ = turn_burst(orl["s1"])
    (_, stranger), _, _, _ = turn_burst(orl["s26"])
    outcome = check_burst([front, stranger, *turned], [step])
    assert outcome.reason == "not_same_face"
