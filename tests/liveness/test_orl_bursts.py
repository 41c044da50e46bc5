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


def test_another_persons_face_in_an_evidence_frame_fails_same_face(orl):
    """The burst's face is its first frame's: a real turn by someone else after another person's frontal photo is
    refused, however well it turns."""
    (_, front), turned, step, _ = turn_burst(orl["s1"])
    (_, stranger), _, _, _ = turn_burst(orl["s26"])
    assert check_burst([front, *turned], [step]).passed
    outcome = check_burst([stranger, *turned], [step])
    assert outcome.reason == "not_same_face" and outcome.checks["motion_as_asked"] is True
    assert outcome.min_similarity < 0.45


def test_a_frame_is_read_as_the_face_pipeline_reads_it(orl):
    """read_frame calls the face pipeline's steps one by one so that the embedding can wait: the same landmarks,
    refusals and embeddings as extract_face_sface with the frame settings, on real photos (ORL enlarged, and one
    shrunk below the face-size limit so that a refusal is compared too)."""
    from tessera.face.sface import extract_face_sface
    from tessera.liveness.frames import FRAME_CONFIG
    from tessera.primitives import DictTrace

    images = [read_orl_photo(path) for path in orl["s1"][:4] + orl["s26"][:2]]
    images.append(images[0][::6, ::6].copy())  # a face too small to use
    reasons = []
    for image in images:
        trace = DictTrace()
        expected = extract_face_sface(image, FRAME_CONFIG, trace)
        reading = read_frame(image)
        if not expected:
            assert reading == expected.reason  # type: ignore[union-attr]
            reasons.append(reading)
            continue
        assert isinstance(reading, FrameReading)
        assert np.array_equal(reading.landmarks, trace.items["face-landmarks"])
        assert np.allclose(reading.embedding, expected.embedding, atol=1e-6)  # type: ignore[union-attr]
    assert reasons, "no photo was refused: the refusal path was not compared"
