"""The face calibration run: every pair scored once, refusals recorded, the real pipeline on a few LFW images."""

from __future__ import annotations

import json
import math
import zlib
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from tessera.evaluation import templating
from tessera.evaluation.calibrate import calibrate_face_lfw, pair_scores
from tessera.evaluation.datasets.lfw import DEV_TRAIN_PAIRS
from tessera.evaluation.templating import TemplateOutcome
from tessera.match.calibration import load_calibration
from tessera.primitives import unit_vector


def _units(count: int, seed: int = 0) -> np.ndarray:
    return np.stack([unit_vector(row) for row in np.random.default_rng(seed).normal(size=(count, 16))])


def test_pair_scores_scores_every_pair_once_split_by_identity():
    embeddings = _units(9)
    labels = ["a", "b", "a", "c", "b", "a", "d", "c", "a"]
    expected_genuine, expected_impostor = [], []
    for i, j in combinations(range(9), 2):
        score = float(embeddings[i] @ embeddings[j])
        (expected_genuine if labels[i] == labels[j] else expected_impostor).append(score)
    for block_rows in (1, 4, 512):  # blocks must not change the answer
        scores = pair_scores(embeddings, labels, block_rows=block_rows)
        assert scores.genuine.dtype == scores.impostor.dtype == np.float32
        assert scores.genuine == pytest.approx(sorted(expected_genuine), abs=1e-6)
        assert scores.impostor == pytest.approx(sorted(expected_impostor), abs=1e-6)
    assert len(scores.genuine) == 6 + 1 + 1  # a: 4 images -> 6 pairs; b: 1; c: 1
    assert len(scores.genuine) + len(scores.impostor) == 9 * 8 // 2


def test_pair_scores_refuses_mismatched_labels():
    with pytest.raises(
        ValueError, match=r"embeddings must have shape \(m, d\) with m = len\(labels\) = 2; got shape \(3, 16\)"
    ):
        pair_scores(_units(3), ["a", "b"])


# --- the run's bookkeeping, with a stand-in for the face pipeline ---------------------------------

PEOPLE = {"Ann_Able": 0, "Bob_Baker": 1, "Cid_Cole": 2}


def _fake_lfw(tmp_path: Path) -> Path:
    lfw = tmp_path / "lfw"
    for name, count in (("Ann_Able", 3), ("Bob_Baker", 2), ("Cid_Cole", 2)):
        (lfw / "images" / name).mkdir(parents=True)
        for index in range(1, count + 1):
            (lfw / "images" / name / f"{name}_{index:04d}.jpg").write_bytes(b"")
    (lfw / DEV_TRAIN_PAIRS).write_text(
        "3\nAnn_Able\t1\t2\nAnn_Able\t2\t3\nBob_Baker\t1\t2\n"
        "Ann_Able\t1\tBob_Baker\t1\nCid_Cole\t1\tAnn_Able\t3\nBob_Baker\t2\tCid_Cole\t2\n"
    )
    return lfw


def _fake_template_file(path: str, config=None) -> TemplateOutcome:
    """One direction per person plus a little noise; Cid_Cole's second photo is refused."""
    name = Path(path).parent.name
    if Path(path).name == "Cid_Cole_0002.jpg":
        return TemplateOutcome(None, None, "too_blurred", {}, 0.0)
    rng = np.random.default_rng(zlib.crc32(Path(path).name.encode()))
    base = np.zeros(16)
    base[PEOPLE[name]] = 1.0
    return TemplateOutcome(unit_vector(base + 0.1 * rng.normal(size=16)), "fake/1", None, {}, 0.0)


def test_refused_images_are_counted_listed_and_left_out(tmp_path, monkeypatch):
    monkeypatch.setattr(templating, "_template_file", _fake_template_file)
    out = tmp_path / "out" / "face.json"
    calibration = calibrate_face_lfw(_fake_lfw(tmp_path), out, workers=1, progress=False)
    data = calibration.data
    assert data["n_images"] == 7 and data["n_people"] == 3
    assert data["n_templated"] == 6 and data["n_refused"] == 1
    assert data["refusals_by_reason"] == {"too_blurred": 1}
    assert data["refused_images"] == ["Cid_Cole_0002.jpg"]
    assert data["pairs_file"] == DEV_TRAIN_PAIRS and len(data["pairs_file_sha256"]) == 64
    # Templated: Ann x3, Bob x2, Cid x1 -> genuine 3 + 1, impostor 15 - 4.
    assert (calibration.n_genuine, calibration.n_impostor) == (4, 11)
    assert calibration.algorithm == "fake/1" and calibration.modality == "face"
    assert calibration.score_range == (-1.0, 1.0)
    assert load_calibration(out) == calibration
    assert json.loads(out.read_text())["data"]["refused_images"] == ["Cid_Cole_0002.jpg"]


def test_templates_of_two_algorithms_are_not_calibrated_together(tmp_path, monkeypatch):
    def mixed(path: str, config=None) -> TemplateOutcome:
        outcome = _fake_template_file(path)
        return TemplateOutcome(outcome.embedding, "other/2" if "Bob" in path else "fake/1", outcome.refusal, {}, 0.0)

    monkeypatch.setattr(templating, "_template_file", mixed)
    with pytest.raises(ValueError, match=r"templates must all come from one algorithm .*got \['fake/1', 'other/2'\]"):
        calibrate_face_lfw(_fake_lfw(tmp_path), tmp_path / "face.json", workers=1, progress=False)


def test_a_missing_image_is_reported(tmp_path, monkeypatch):
    lfw = _fake_lfw(tmp_path)
    (lfw / "images" / "Bob_Baker" / "Bob_Baker_0002.jpg").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"1 image\(s\) listed in .*pairsDevTrain.txt are missing, e.g. .*Bob_Baker_0002.jpg"
    ):
        calibrate_face_lfw(lfw, tmp_path / "face.json", workers=1, progress=False)


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_must_be_a_positive_integer(tmp_path, workers):
    with pytest.raises(ValueError, match=r"workers must be an integer >= 1; got"):
        calibrate_face_lfw(tmp_path, tmp_path / "face.json", workers=workers)


# --- the real pipeline on a dozen LFW images ------------------------------------------------------


@pytest.mark.lfw
def test_calibrating_a_dozen_lfw_images_with_the_real_pipeline(lfw_dir, tmp_path):
    from tessera.face.pipeline import ALGORITHM

    lines = (lfw_dir / DEV_TRAIN_PAIRS).read_text().splitlines()
    # The first 3 matched and the first 3 mismatched pairs: at most 12 images.
    pairs_path = tmp_path / "pairsTiny.txt"
    pairs_path.write_text("\n".join(["3", *lines[1:4], *lines[1101:1104]]) + "\n")
    out = tmp_path / "face-tiny.json"
    calibration = calibrate_face_lfw(lfw_dir, out, workers=2, progress=False, pairs_path=pairs_path)
    data = calibration.data
    assert data["n_images"] <= 12 and data["pairs_file"] == "pairsTiny.txt"
    assert data["n_templated"] + data["n_refused"] == data["n_images"]
    assert sum(data["refusals_by_reason"].values()) == data["n_refused"] == len(data["refused_images"])
    assert calibration.algorithm == ALGORITHM
    assert calibration.n_genuine + calibration.n_impostor == math.comb(data["n_templated"], 2)
    assert calibration.n_genuine >= 1
    # Mates score above non-mates on average, and far too few impostors for a tail model.
    assert calibration.fnmr_at(calibration.threshold_for_fmr(0.5)) < 0.5
    assert calibration.tail is None
    assert load_calibration(out) == calibration


@pytest.mark.lfw
def test_another_registered_algorithm_is_calibrated_with_its_own_pipeline(lfw_dir, tmp_path):
    from tessera.face.sface import SFACE_ALGORITHM
    from tessera.face.sface_config import DEFAULT_SFACE_CONFIG

    lines = (lfw_dir / DEV_TRAIN_PAIRS).read_text().splitlines()
    pairs_path = tmp_path / "pairsTiny.txt"
    pairs_path.write_text("\n".join(["3", *lines[1:4], *lines[1101:1104]]) + "\n")
    calibration = calibrate_face_lfw(
        lfw_dir,
        tmp_path / "face-sface.json",
        workers=1,
        progress=False,
        pairs_path=pairs_path,
        algorithm=SFACE_ALGORITHM,
    )
    assert calibration.algorithm == SFACE_ALGORITHM
    assert calibration.data["face_config"] == DEFAULT_SFACE_CONFIG.as_dict()
    assert SFACE_ALGORITHM in calibration.data["pipeline"]
    assert calibration.fnmr_at(calibration.threshold_for_fmr(0.5)) < 0.5


def test_each_algorithm_has_its_own_template_cache_key():
    from tessera.evaluation.cache import algorithm_fingerprint, pipeline_fingerprint
    from tessera.face.config import DEFAULT_FACE_CONFIG
    from tessera.face.sface_config import DEFAULT_SFACE_CONFIG

    dlib = algorithm_fingerprint("dlib-resnet-v1/5pt-flip/1")
    sface = algorithm_fingerprint("yunet-sface-2021dec/1")
    assert dlib == pipeline_fingerprint(DEFAULT_FACE_CONFIG)  # dlib's templates cached by tessera eval are found
    assert sface["algorithm"] == "yunet-sface-2021dec/1" and sface["key"] != dlib["key"]
    assert sface["face_config"] == DEFAULT_SFACE_CONFIG.as_dict()
    with pytest.raises(ValueError, match=r"face algorithm 'nope/1' is not registered; registered: dlib-resnet"):
        algorithm_fingerprint("nope/1")


def _normal_calibration(seed: int = 0):
    from tessera.match.calibration import fit_calibration

    rng = np.random.default_rng(seed)
    genuine, impostor = rng.normal(0.6, 0.1, 10_000), rng.normal(0.0, 0.1, 1_000_000)
    return fit_calibration(genuine, impostor, modality="face", algorithm="test/1", data={"dataset": "synthetic"})


def test_the_tail_allowance_is_the_poisson_upper_bound_where_the_held_out_scores_can_check():
    from tessera.evaluation.calibrate import tail_allowance
    from tessera.evaluation.metrics import poisson_interval
    from tessera.evaluation.protocols import MIN_EXPECTED_FOR_CHECK

    calibration = _normal_calibration()
    rng = np.random.default_rng(7)
    alike = tail_allowance(calibration, rng.normal(0.0, 0.1, 2_000_000), source="same distribution")
    wider = tail_allowance(calibration, rng.normal(0.0, 0.115, 2_000_000), source="a heavier tail")
    for measured in (alike, wider):
        checkable = [level for level in measured["levels"] if level["checkable"]]
        assert checkable and all(level["expected_false_matches"] >= MIN_EXPECTED_FOR_CHECK for level in checkable)
        lowest = checkable[-1]
        upper = poisson_interval(lowest["false_matches"], confidence=0.90)[1]  # one-sided 95 %
        assert lowest["ratio_upper_bound"] == pytest.approx(upper / lowest["expected_false_matches"], rel=1e-3)
        assert measured["factor"] == max(1.0, *(level["ratio_upper_bound"] for level in checkable))
        # Levels expecting fewer than the check's minimum are listed but do not set the factor.
        assert any(not level["checkable"] for level in measured["levels"])
    assert 1.0 <= alike["factor"] < 2.0  # the same people's rates: only the count's uncertainty
    assert wider["factor"] > 2.0 * alike["factor"]  # more false matches than the fit predicts: a wider allowance
    assert wider["n_impostor"] == 2_000_000 and wider["source"] == "a heavier tail"


def test_a_tail_allowance_needs_scores():
    from tessera.evaluation.calibrate import tail_allowance

    with pytest.raises(ValueError, match="at least one score"):
        tail_allowance(_normal_calibration(), np.array([]), source="nothing")
