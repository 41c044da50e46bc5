"""The protocols on synthetic templates whose answers are known: folds, open-set search, the calibration check,
groups."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tessera.evaluation import protocols
from tessera.evaluation.calibrate import pair_scores
from tessera.evaluation.comparisons import Templates
from tessera.evaluation.datasets.dataset import PairList
from tessera.match.calibration import fit_calibration
from tessera.primitives import unit_vector


def _planar(angles: list[float]) -> np.ndarray:
    return np.array([[math.cos(angle), math.sin(angle)] for angle in angles], dtype=np.float32)


def _ten_folds(odd_impostor_fold: int = 3, refused_fold: int = 5):
    """10 folds of 10 genuine (score 0.9) and 10 impostor (score 0.1) pairs, each pair on its own images.

    In ``odd_impostor_fold`` one impostor pair scores 0.95; in ``refused_fold`` one genuine pair has a refused image.
    """
    angles, subject, a, b, same, fold = [], [], [], [], [], []
    templated = []
    for number in range(10):
        for kind in ("genuine", "impostor"):
            for index in range(10):
                score = 0.9 if kind == "genuine" else 0.1
                if kind == "impostor" and number == odd_impostor_fold and index == 0:
                    score = 0.95
                start = len(angles)
                base = 0.001 * start
                angles += [base, base + math.acos(score)]
                first = len(set(subject))
                subject += [first, first] if kind == "genuine" else [first, first + 1]
                refuse = kind == "genuine" and number == refused_fold and index == 0
                templated += [True, not refuse]
                a.append(start)
                b.append(start + 1)
                same.append(kind == "genuine")
                fold.append(number)
    embeddings = _planar(angles)
    templated = np.array(templated)
    embeddings[~templated] = 0.0
    _, subject_index = np.unique(subject, return_inverse=True)
    templates = Templates(embeddings, templated, subject_index.astype(np.int64), int(subject_index.max()) + 1)
    pairs = PairList("pairs.txt", np.array(a), np.array(b), np.array(same), np.array(fold))
    return templates, pairs


def test_view2_chooses_each_threshold_on_the_other_folds_and_counts_refused_pairs_as_errors():
    templates, pairs = _ten_folds()
    result = protocols.view2_accuracy(templates, pairs, replicates=50)
    expected = np.ones(10)
    expected[3] = 19 / 20  # the impostor scoring 0.95 is accepted
    expected[5] = 19 / 20  # the refused genuine pair gets no answer: an error
    assert result.accuracy == pytest.approx(expected)
    assert result.accuracy_refused_dropped[5] == pytest.approx(1.0)
    assert result.refused_pairs.tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert np.all((result.thresholds > 0.1) & (result.thresholds < 0.9))
    summary = result.as_dict()
    assert summary["accuracy_mean"] == pytest.approx(0.99)
    assert summary["accuracy_std"] == pytest.approx(float(np.std(expected, ddof=1)), rel=1e-5)
    assert summary["pairs_with_refused_image"] == 1
    assert set(summary["fnmr_at_fmr"]) == {"0.01", "0.001", "0.0001"}
    assert summary["fnmr_at_fmr"]["0.001"] is None and "cannot measure" in summary["not_supported"]["0.001"]


def test_a_threshold_chosen_on_other_folds_can_fail_on_this_one():
    # Fold 0's genuine pairs score 0.3, below every other fold's threshold (~0.5): fold 0 gets 50 %.
    templates, pairs = _ten_folds(odd_impostor_fold=-1, refused_fold=-1)
    scores = templates.pair_scores(pairs.a, pairs.b)
    lowered = templates.embeddings.copy()
    for a, b in zip(pairs.a[(pairs.fold == 0) & pairs.same], pairs.b[(pairs.fold == 0) & pairs.same]):
        angle = math.atan2(lowered[a, 1], lowered[a, 0]) + math.acos(0.3)
        lowered[b] = [math.cos(angle), math.sin(angle)]
    changed = Templates(lowered, templates.templated, templates.subject, templates.n_subjects)
    result = protocols.view2_accuracy(changed, pairs, replicates=20)
    assert result.accuracy[0] == pytest.approx(0.5)
    assert np.all(result.accuracy[1:] == 1.0)
    assert np.all(scores[pairs.same & (pairs.fold > 0)] > 0.89)


def _people(subjects: int, per_subject: np.ndarray, seed: int, noise: float = 0.05, dim: int = 64) -> Templates:
    rng = np.random.default_rng(seed)
    subject = np.repeat(np.arange(subjects), per_subject)
    centres = rng.normal(size=(subjects, dim))
    embeddings = np.stack([unit_vector(row) for row in centres[subject] + noise * rng.normal(size=(subject.size, dim))])
    return Templates(embeddings.astype(np.float32), np.ones(subject.size, dtype=bool), subject, subjects)


def test_open_set_search_with_well_separated_people_finds_every_mate():
    per_subject = np.array([3] * 40 + [1] * 40)
    templates = _people(80, per_subject, seed=0)
    result = protocols.identification(
        templates,
        calibration=None,
        verify_threshold=0.5,
        expected_false_candidates=0.01,
        max_candidates=10,
        verification_genuine=np.array([0.99]),
        seed=0,
    )
    summary = result.summary
    assert summary["gallery_size"] == 40 + 20  # every 3-image person, half of the 1-image people
    assert summary["mated_searches"] == 40 * 2
    assert summary["nonmated_searches"] == 20 + 80  # never enrolled + leave-one-out
    assert summary["rank1_identification_rate"] == 1.0
    assert summary["fnir_at_fpir"]["0.1"]["fnir"] == 0.0
    assert summary["fnir_at_fpir"]["0.001"]["fnir"] is None  # 100 non-mated searches cannot measure 1e-3
    assert (
        summary["at_service_threshold"]["threshold"] is None
        and "no calibration" in summary["at_service_threshold"]["note"]
    )
    assert [row["gallery_size"] for row in result.by_gallery_size] == [10, 30, 60]


def test_refused_probes_and_failed_enrolments_are_misses_not_dropped():
    per_subject = np.array([3] * 40 + [1] * 40)
    templates = _people(80, per_subject, seed=0)
    templated = templates.templated.copy()
    templated[1] = False  # a mated probe of person 0
    templated[3] = False  # the enrolment image of person 1: both of person 1's searches fail
    embeddings = templates.embeddings.copy()
    embeddings[~templated] = 0.0
    refused = Templates(embeddings, templated, templates.subject, templates.n_subjects)
    summary = protocols.identification(
        refused,
        calibration=None,
        verify_threshold=0.5,
        expected_false_candidates=0.01,
        max_candidates=10,
        verification_genuine=np.array([0.99]),
        seed=0,
    ).summary
    assert summary["failed_enrolments"] == 1 and summary["mated_searches_refused_probe"] == 1
    assert summary["mated_searches"] == 80  # nothing dropped
    assert summary["rank1_identification_rate"] == pytest.approx(77 / 80)
    assert summary["fnir_at_fpir"]["0.1"]["fnir"] == pytest.approx(3 / 80)


def _calibration(templates: Templates, shift: float = 0.0):
    scores = pair_scores(templates.embeddings, [str(s) for s in templates.subject])
    return fit_calibration(
        scores.genuine,
        np.clip(scores.impostor - shift, -1, 1),
        modality="face",
        algorithm="fake/1",
        data={"pairs_file": "synthetic"},
        score_range=(-1.0, 1.0),
    )


def test_the_calibration_check_passes_on_fresh_data_from_the_same_source():
    fitted = _people(600, np.full(600, 2), seed=1, noise=0.6, dim=16)
    fresh = _people(1500, np.full(1500, 2), seed=2, noise=0.6, dim=16)
    check = protocols.calibration_check(fresh, np.ones(3000, dtype=bool), _calibration(fitted), "fake/1", "all")
    assert check.summary["passed"], check.rows
    assert check.summary["levels_checked"] >= 3
    checked = [row for row in check.rows if row.get("checkable")]
    assert all(0.5 <= row["ratio_measured_to_claimed"] <= 2 for row in checked)


def test_the_calibration_check_fails_when_the_claims_are_too_optimistic():
    fitted = _people(600, np.full(600, 2), seed=1, noise=0.6, dim=16)
    fresh = _people(1500, np.full(1500, 2), seed=2, noise=0.6, dim=16)
    optimistic = _calibration(fitted, shift=0.08)
    check = protocols.calibration_check(fresh, np.ones(3000, dtype=bool), optimistic, "fake/1", "all")
    assert not check.summary["passed"]
    assert any(row.get("within_tolerance") is False for row in check.rows)


def test_the_calibration_check_refuses_another_algorithms_calibration():
    fresh = _people(50, np.full(50, 2), seed=2)
    check = protocols.calibration_check(fresh, np.ones(100, dtype=bool), _calibration(fresh), "other/2", "all")
    assert check.summary["passed"] is False and "another template algorithm" in check.summary["note"]


def test_group_rates_count_within_each_group():
    per_subject = np.full(20, 2)
    templates = _people(20, per_subject, seed=3, noise=0.05)
    groups = {"site": ["north" if s < 10 else "south" for s in templates.subject]}
    groups["site"][0] = None  # unlabelled: left out
    result = protocols.group_rates(templates, groups, threshold=0.5)
    north, south = result["site"]["north"], result["site"]["south"]
    assert north["images"] == 19 and south["images"] == 20
    assert north["n_genuine"] == 9 and south["n_genuine"] == 10
    assert south["n_impostor"] == 20 * 19 // 2 - 10
    assert north["fnmr"] == 0.0 and south["fmr"] == 0.0


def test_the_calibration_check_leaves_listed_label_errors_out_of_its_impostors_and_says_so(tmp_path):
    from tessera.evaluation.datasets.label_errors import read_label_errors

    fitted = _people(600, np.full(600, 2), seed=1, noise=0.6, dim=16)
    fresh = _people(300, np.full(300, 2), seed=2, noise=0.6, dim=16)
    names = [f"person_{number}" for number in range(fresh.n_subjects)]
    path = tmp_path / "errors.csv"
    path.write_text("name_a,name_b,kind,evidence\nperson_0,person_1,one person,test\n")
    calibration = _calibration(fitted)
    held_out = np.ones(600, dtype=bool)
    every = protocols.calibration_check(fresh, held_out, calibration, "fake/1", "all", subject_names=names)
    kept = protocols.calibration_check(
        fresh, held_out, calibration, "fake/1", "all", subject_names=names, label_errors=read_label_errors(path)
    )
    assert every.summary["impostor_exclusions"] is None
    assert kept.summary["impostor_exclusions"]["impostor_comparisons_left_out"] == 4  # 2 photos x 2 photos
    assert kept.summary["n_impostor"] == every.summary["n_impostor"] - 4
