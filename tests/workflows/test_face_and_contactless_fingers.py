"""A face with contactless fingers (no fusion model for them) is decided on the product of the rates each states."""

from __future__ import annotations

import pytest

from tessera.match.multifinger import rule_rate
from tessera.match.pvalues import product_fmr
from tessera.settings import Settings
from tessera.workflows.comparisons import Comparison, combine
from tessera.workflows.instance import Instance

FINGERS = (2, 3, 4, 5)


@pytest.fixture
def instance(tmp_path):
    opened = Instance.open(Settings(data_dir=tmp_path / "var"))
    yield opened
    opened.close()


def matchers(instance):
    face = instance.matchers.of("face", None)[0]
    fingers = instance.matchers.of("finger", "contactless")[0]
    assert face.calibration is not None and fingers.calibration is not None and fingers.fusion_model is None
    return face, fingers


def face_at(face, fmr: float) -> Comparison:
    score = face.calibration.threshold_for_fmr(fmr)
    decision = "match" if fmr <= 1e-3 else "no_match"
    return Comparison("face", decision, score, None, fmr, None, True, face.score_algorithm, matcher=face.key)


def fingers_at(fingers, score: float, positions=FINGERS) -> list[Comparison]:
    return [
        Comparison(
            "finger",
            "no_match",
            score,
            None,
            None,
            None,
            True,
            fingers.score_algorithm,
            finger_position=position,
            capture="contactless",
            matcher=fingers.key,
        )
        for position in positions
    ]


def a_score_whose_rule_rate_is_about(fingers, wanted: float) -> float:
    """The lowest table threshold at which four fingers state at most ``wanted``."""
    for row in fingers.calibration.rows:
        if rule_rate(fingers.calibration, dict.fromkeys("abcd", row.threshold)).fmr <= wanted:
            return row.threshold
    raise AssertionError(f"four contactless fingers never state {wanted}")


def test_a_face_and_a_slap_neither_enough_alone_are_decided_together(instance):
    face, fingers = matchers(instance)
    score = a_score_whose_rule_rate_is_about(fingers, 2e-2)
    slap = fingers_at(fingers, score)
    alone = combine(slap, instance)
    assert alone.multi_finger is not None and alone.decision == "no_match"  # the slap alone: not at 1e-3
    answer = combine([face_at(face, 4e-3), *slap], instance)
    assert answer.fused is True and answer.decision == "match"
    fusion = answer.fusion
    assert fusion["rule"] == "product_of_rates" and fusion["modalities"][0] == "face"
    face_rate = face.calibration.fmr_at(face.calibration.threshold_for_fmr(4e-3)).value
    slap_rate = rule_rate(fingers.calibration, fusion["fingers"]["scores"]).fmr
    assert fusion["p_values"] == pytest.approx({"face": face_rate, "fingers": slap_rate})
    assert answer.fmr == pytest.approx(product_fmr(face_rate * slap_rate, 2)) and answer.fmr <= 1e-3
    assert answer.fmr_detail["value"] == answer.fmr


def test_a_slap_at_impostor_level_beside_a_borderline_face_is_no_match(instance):
    face, fingers = matchers(instance)
    answer = combine([face_at(face, 1e-3), *fingers_at(fingers, 0.0)], instance)
    assert answer.fused is True and answer.decision == "no_match"
    assert answer.fusion["p_values"]["fingers"] == 1.0
    assert answer.fmr == pytest.approx(product_fmr(answer.fusion["p_values"]["face"], 2))


def test_a_strong_face_with_one_contactless_finger_is_decided_by_that_fingers_bound(instance):
    face, fingers = matchers(instance)
    answer = combine([face_at(face, 1e-5), *fingers_at(fingers, 0.0, positions=(2,))], instance)
    assert answer.fused is True and answer.decision == "match"
    assert answer.fusion["fingers"]["fingers"] == 1


def test_contact_fingers_beside_a_face_keep_the_likelihood_ratio_fusion(instance):
    face = instance.matchers.of("face", None)[0]
    contact = instance.matchers.of("finger", "contact")[0]
    comparison = Comparison(
        "finger", "match", 0.2, None, None, None, True, contact.score_algorithm, 2, "contact", matcher=contact.key
    )
    answer = combine([face_at(face, 1e-3), comparison], instance)
    assert answer.fused is True and "rule" not in answer.fusion and answer.fusion["llr"] is not None
