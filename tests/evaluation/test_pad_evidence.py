"""The passive evidence: LBP histograms, the logistic regression and leave-one-subject-out on hand-made inputs."""

from __future__ import annotations

import numpy as np

from tessera.evaluation.pad_evidence import FaceEvidence, fit_logistic, lbp_histograms, leave_one_subject_out


def test_lbp_of_a_flat_face_is_one_pattern_and_of_a_textured_one_many():
    flat = np.full((80, 80, 3), 128, dtype=np.uint8)
    histograms = lbp_histograms(flat).reshape(9, 59)
    assert np.allclose(histograms.sum(axis=1), 1.0)
    assert (histograms.max(axis=1) == 1.0).all()  # every neighbour >= centre: code 255, one uniform bin
    noisy = np.random.default_rng(0).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    assert (lbp_histograms(noisy).reshape(9, 59) > 0).sum(axis=1).min() > 30


def test_logistic_regression_separates_what_is_separable():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(200, 2))
    labels = (features[:, 0] + 0.5 * features[:, 1] > 0).astype(float)
    weights = fit_logistic(features, labels, penalty=0.01)
    predicted = np.column_stack([features, np.ones(200)]) @ weights > 0
    assert (predicted == labels.astype(bool)).mean() > 0.97


def face(subject: str, attack: bool, value: float) -> FaceEvidence:
    cues = {"chroma": value, "blur": 0.0, "specular": 0.0, "moire": 0.0}
    return FaceEvidence(
        f"{subject}-{attack}-{value}", "print" if attack else "live", subject, cues, 100, 0.0, np.zeros(1)
    )


def test_leave_one_subject_out_does_not_learn_who_is_who():
    """A feature that names the subject, where each subject is all live or all attack, separates perfectly when
    seen in training; held out by subject it tells nothing, so the DET shows chance or worse, never a pass."""
    faces = [face(f"s{n}", n % 2 == 1, float(n)) for n in range(12) for _ in range(5)]

    def subject_code(item: FaceEvidence) -> np.ndarray:
        return np.eye(12)[int(item.subject[1:])]

    held_out = leave_one_subject_out(faces, subject_code)
    assert held_out["subjects"] == 12 and held_out["auc_attack_above_live"] <= 0.6
    separable = [face(f"s{n}", attack, (5.0 if attack else 0.0) + n / 10) for n in range(6) for attack in (False, True)]

    def value(item: FaceEvidence) -> np.ndarray:
        assert item.cues is not None
        return np.array([item.cues["chroma"]])

    assert leave_one_subject_out(separable, value)["apcer_at_bpcer_5pct"] == 0.0
