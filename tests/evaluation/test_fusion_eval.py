"""The chimeric fusion evaluation on a tiny real subset: 8 LFW photos and 12 FVC2004 prints, templated here (~15 s)."""

from __future__ import annotations

import functools
import hashlib
import json

import numpy as np
import pytest

from tessera.evaluation import fvc
from tessera.evaluation.fusion_eval import (
    CONFIGURATIONS,
    FingerSet,
    chimeric_genuine,
    evaluate_chimeric,
    face_set,
    finger_pair_scores,
    main,
    split_fingers,
)

FIT_PEOPLE = ("Aaron_Peirsol", "Abdoulaye_Wade")
TEST_PEOPLE = ("Abel_Pacheco", "Adam_Sandler")
FINGERS = (101, 102, 103, 104)
IMPRESSIONS = (1, 2, 3)


@pytest.fixture(scope="module")
def faces(lfw_image):
    from tessera.capture.decode import decode_image
    from tessera.face.pipeline import extract_face

    keys, subjects, embeddings, algorithms = [], [], [], set()
    for person in FIT_PEOPLE + TEST_PEOPLE:
        for index in (1, 2):
            template = extract_face(decode_image(lfw_image(person, index)))
            keys.append(f"{person}/{person}_{index:04d}.jpg")
            subjects.append(person)
            embeddings.append(template.embedding if template else None)
            if template:
                algorithms.add(template.algorithm)
    assert len(algorithms) == 1
    return face_set(keys, subjects, embeddings, algorithms.pop())


@pytest.fixture(scope="module")
def finger_sets(finger_data):
    from tessera.finger.pipeline import extract_finger

    database = finger_data / "fvc2004" / "DB1_B"
    if not database.is_dir():
        pytest.skip(f"FVC2004 DB1_B not found at {database}")
    extractions, fingers = [], []
    for finger in FINGERS:
        for impression in IMPRESSIONS:
            path = database / f"{finger}_{impression}.png"
            result = extract_finger(fvc.read_image(path), "contact")
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            extractions.append(
                fvc.Extraction(digest, result.to_bytes() if result else None, None if result else result.reason, 0.0)
            )
            fingers.append(f"DB1_B:{finger}")
    usable = np.array([item.template is not None for item in extractions])
    return [FingerSet("DB1_B", tuple(fingers), fvc.score_matrix(extractions), usable)]


@functools.cache
def _fit_mask(subjects: tuple[str, ...]) -> np.ndarray:
    return np.array([subject in FIT_PEOPLE for subject in subjects])


def test_the_finger_split_halves_each_database_and_never_overlaps(finger_sets):
    fit, test = split_fingers(finger_sets, seed=0)
    assert len(fit) == len(test) == 2 and not fit & test
    assert split_fingers(finger_sets, seed=0) == (fit, test)


def test_finger_pairs_are_within_a_finger_or_between_two(finger_sets):
    genuine, impostor = finger_pair_scores(finger_sets)
    usable = int(finger_sets[0].usable.sum())
    assert genuine.size + impostor.size == usable * (usable - 1) // 2
    assert np.median(genuine) > np.median(impostor)


def test_a_chimeric_subject_has_distinct_fingers_and_a_refused_face_is_missing(faces, finger_sets):
    _, test_fingers = split_fingers(finger_sets, seed=0)
    genuine = chimeric_genuine(faces, TEST_PEOPLE, finger_sets, test_fingers, fingers_per_subject=2, seed=0)
    assert genuine.subjects == TEST_PEOPLE
    assert all(len(set(ids)) == 2 and set(ids) <= test_fingers for ids in genuine.finger_ids)
    assert not np.isnan(genuine.face).any()
    # Abel_Pacheco_0001 (image 4) refused: the subject's face is missing, its fingers are still there
    embeddings = [
        None if number == 4 or not faces.templated[number] else row for number, row in enumerate(faces.embeddings)
    ]
    refused = chimeric_genuine(
        face_set(faces.keys, faces.subjects, embeddings, faces.algorithm),
        TEST_PEOPLE,
        finger_sets,
        test_fingers,
        2,
        seed=0,
    )
    assert np.isnan(refused.face[0]) and not np.isnan(refused.face[1])
    assert np.array_equal(refused.fingers, genuine.fingers, equal_nan=True)


def test_the_evaluation_reports_every_configuration_held_out(faces, finger_sets, tmp_path):
    report = evaluate_chimeric(
        faces,
        _fit_mask(faces.subjects),
        TEST_PEOPLE,
        finger_sets,
        seed=0,
        fingers_per_subject=2,
        figure_path=tmp_path / "det.png",
    )
    json.dumps(report)  # ready for report.json
    assert set(report["configurations"]) == set(CONFIGURATIONS)
    assert report["chimeric"]["subjects"] == 2 and report["chimeric"]["fingers_per_subject"] == 2
    assert report["held_out"]["finger"]["fit_fingers"] == report["held_out"]["finger"]["test_fingers"] == 2
    for section in report["configurations"].values():
        for target in ("0.0001", "1e-06"):
            point = section["at_fmr"][target]
            assert point["at_model_threshold"]["genuine_comparisons"] == 2
            assert isinstance(point["fmr_supported_by_data"], bool) and point["fmr_rests_on"]
    # a handful of impostor comparisons cannot vouch for 1e-6 with one modality: no threshold, said so
    one_finger = report["configurations"]["one_finger"]["at_fmr"]["1e-06"]
    assert (
        one_finger["at_model_threshold"]["fnmr"] is None and "cannot vouch" in one_finger["at_model_threshold"]["note"]
    )
    assert not one_finger["fmr_supported_by_data"]
    assert (tmp_path / "det.png").stat().st_size > 10_000


def test_the_face_model_is_never_fitted_on_a_measured_person(faces, finger_sets):
    with pytest.raises(
        ValueError,
        match=r"face_test_subjects must not include people the face model is fitted on; 1 do, e.g. 'Aaron_Peirsol'",
    ):
        evaluate_chimeric(
            faces, _fit_mask(faces.subjects), ("Aaron_Peirsol",) + TEST_PEOPLE, finger_sets, fingers_per_subject=2
        )


def test_the_command_needs_its_folders(capsys):
    with pytest.raises(SystemExit):
        main(["--lfw", "x"])
    assert "--fingers" in capsys.readouterr().err


def test_a_raw_score_threshold_allows_at_most_the_target_share_of_impostors():
    from tessera.evaluation.fusion_eval import _score_operating_point

    impostor = np.linspace(0.0, 0.5, 100_000)
    genuine = np.array([0.2, 0.4999, 0.6, 0.9, np.nan])  # the NaN is a refused capture: a false non-match
    point = _score_operating_point(genuine, impostor, 1e-4)
    assert point["false_matches"] == 10 and point["fmr_established"]
    assert point["false_non_matches"] == 3 and point["fnmr"] == pytest.approx(0.6)
    sparse = _score_operating_point(genuine, impostor, 1e-6)
    assert sparse["false_matches"] == 0 and not sparse["fmr_established"]
    assert "cannot establish" in sparse["note"]
