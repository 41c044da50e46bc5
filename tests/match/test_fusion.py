"""Score fusion: monotone LLRs, clipping where the data run out, the fused FMR against brute force, files, real
samples."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from tessera.match.fusion import (
    FUSION_MODEL_FILES,
    RULE_OF_THREE,
    FusionConfig,
    fit_score_model,
    fuse,
    fused_fmr,
    fused_impostor_distribution,
    fused_threshold,
    load_fusion_models,
    load_score_model,
)


def face_like(seed: int = 0, genuine: int = 3000, impostor: int = 200_000):
    random = np.random.default_rng(seed)
    return (
        np.clip(random.normal(0.72, 0.08, genuine), -1, 1),
        np.clip(random.normal(0.05, 0.12, impostor), -1, 1),
    )


def finger_like(seed: int = 1, genuine: int = 2000, impostor: int = 50_000):
    random = np.random.default_rng(seed)
    return np.clip(random.gamma(4.0, 0.03, genuine), 0, 1), np.clip(random.gamma(2.0, 0.006, impostor), 0, 1)


@pytest.fixture(scope="module")
def models():
    face = fit_score_model(*face_like(), modality="face", algorithm="test-face", score_range=(-1.0, 1.0))
    finger = fit_score_model(*finger_like(), modality="finger", algorithm="test-mcc", score_range=(0.0, 1.0))
    return {"face": face, "finger": finger}


# -- the LLR ---------------------------------------------------------------------------------------


def test_the_llr_never_falls_as_the_score_rises(models):
    for model in models.values():
        low, high = model.score_range
        values = model.llr(np.linspace(low, high, 5001))
        assert np.all(np.diff(values) >= 0)
        assert np.all(np.isfinite(values))


def test_the_llr_is_monotone_even_when_the_data_are_not():
    # impostors with a bump at high scores would make a raw density ratio dip there
    random = np.random.default_rng(3)
    genuine = random.uniform(0.3, 1.0, 2000)
    impostor = np.concatenate([random.uniform(0.0, 0.5, 20_000), random.uniform(0.75, 0.8, 400)])
    model = fit_score_model(genuine, impostor, modality="finger", algorithm="t", score_range=(0.0, 1.0))
    assert np.all(np.diff(model.knot_llrs) >= 0)
    assert np.all(np.diff(model.llr(np.linspace(0, 1, 1001))) >= 0)


def test_the_llr_separates_the_classes(models):
    face = models["face"]
    assert face.llr(0.9) > 5 > 0 > -5 > face.llr(0.0)


def test_the_llr_is_clipped_where_the_data_run_out_with_the_rule_of_three():
    genuine = np.array([0.6] * 50 + [0.9] * 50)
    impostor = np.array([0.1] * 900 + [0.5] * 100)
    model = fit_score_model(
        genuine, impostor, modality="face", algorithm="t", score_range=(0.0, 1.0), config=FusionConfig(bins=10)
    )
    # above the highest impostor (0.5) every genuine score is: 100 of 100, against 3 pseudo-impostors of 1,000
    assert model.llr_max == pytest.approx(math.log((100 / 100) / (RULE_OF_THREE / 1000)), abs=1e-5)
    assert model.llr(1.0) == model.llr(0.95) == model.llr_max
    # below the lowest genuine (0.6) every impostor is: 3 pseudo-genuine of 100 against 1,000 of 1,000
    assert model.llr_min == pytest.approx(math.log((RULE_OF_THREE / 100) / 1.0), abs=1e-5)
    assert model.llr(0.0) == model.llr_min


# -- fusing ----------------------------------------------------------------------------------------


def test_a_mate_fuses_above_a_non_mate(models):
    mate = fuse({"face": 0.75, "finger:right-index": 0.12, "finger:left-index": 0.1}, models, target_fmr=1e-6)
    non_mate = fuse({"face": 0.3, "finger:right-index": 0.015, "finger:left-index": 0.01}, models, target_fmr=1e-6)
    assert mate.llr > non_mate.llr
    assert mate.fmr < non_mate.fmr
    assert mate.match is True and non_mate.match is False
    assert mate.threshold_llr == non_mate.threshold_llr
    assert mate.per_modality_llr["face"] == pytest.approx(models["face"].llr(0.75))
    assert mate.llr == pytest.approx(sum(mate.per_modality_llr.values()))


def test_a_missing_modality_is_left_out_and_reported(models):
    decision = fuse({"face": None, "finger:right-index": 0.12, "finger:right-thumb": None}, models, target_fmr=1e-4)
    assert decision.modalities == ("finger:right-index",)
    assert decision.missing == ("face", "finger:right-thumb")
    assert decision.llr == pytest.approx(models["finger"].llr(0.12))
    assert decision.threshold_llr == fused_threshold([models["finger"]], 1e-4)
    assert decision.fmr == fused_fmr(decision.llr, [models["finger"]])[0]


def test_nothing_to_fuse_is_refused_with_the_scores_named(models):
    with pytest.raises(ValueError, match=r"at least one modality with a score; got \{'face': None\}"):
        fuse({"face": None}, models)


def test_a_score_outside_its_range_is_refused(models):
    with pytest.raises(ValueError, match=r"score of 'finger:left-ring' must be a number in \[0.0, 1.0\]; got 1.5"):
        fuse({"finger:left-ring": 1.5}, models)


def test_a_modality_without_a_model_is_refused(models):
    with pytest.raises(ValueError, match=r"no fusion model for modality 'iris:left'"):
        fuse({"iris:left": 0.5}, models)


def test_a_target_no_data_can_vouch_for_gives_no_threshold_and_no_match(models):
    # one finger: 50,000 impostors cannot vouch for 1e-6 (the rule-of-three tail alone is 6e-5)
    assert fused_threshold([models["finger"]], 1e-6) is None
    decision = fuse({"finger:right-index": 0.9}, models, target_fmr=1e-6)
    assert decision.match is False and decision.threshold_llr is None
    # above every impostor score: the rule-of-three mass, plus the few highest impostors whose bins reach the top LLR
    n = models["finger"].n_impostor
    assert decision.fmr_upper_bound and RULE_OF_THREE / n <= decision.fmr <= (RULE_OF_THREE + 3) / n


def test_more_modalities_reach_lower_rates(models):
    thresholds = [fused_threshold([models["face"]] + [models["finger"]] * fingers, 1e-6) for fingers in (1, 2, 4)]
    assert all(threshold is not None for threshold in thresholds)


# -- the fused FMR against brute force -------------------------------------------------------------


def small_models():
    random = np.random.default_rng(7)
    a = fit_score_model(
        random.normal(0.7, 0.1, 60).clip(0, 1),
        random.normal(0.3, 0.1, 40).clip(0, 1),
        modality="face",
        algorithm="a",
        score_range=(0.0, 1.0),
        config=FusionConfig(bins=20),
    )
    b = fit_score_model(
        random.normal(0.6, 0.15, 50).clip(0, 1),
        random.normal(0.2, 0.1, 30).clip(0, 1),
        modality="finger",
        algorithm="b",
        score_range=(0.0, 1.0),
        config=FusionConfig(bins=20),
    )
    return a, b


def brute_force_fmr(models, threshold: float, step: float, rounded: bool) -> float:
    """P(sum of impostor LLRs >= threshold) over every combination of impostor scores (one per model)."""
    per_model = []
    for model in models:
        counts = np.asarray(model.impostor_counts, dtype=np.float64)
        values = np.asarray(model.llr(np.asarray(model.edges[1:])))  # each bin at its upper edge, as the model does
        if rounded:
            values = np.ceil(values / step - 1e-9) * step
        per_model.append([(value, count / counts.sum()) for value, count in zip(values, counts) if count > 0])
    total = 0.0
    for combination in itertools.product(*per_model):
        if sum(value for value, _ in combination) >= threshold - 1e-9:
            total += math.prod(mass for _, mass in combination)
    return total


@pytest.mark.parametrize("threshold", [-6.0, -2.0, 0.0, 1.5, 3.0])
def test_the_fused_fmr_is_the_brute_force_rate_of_every_impostor_combination(threshold):
    a, b = small_models()
    config = FusionConfig(llr_step=0.05)
    models = [a, b, b]
    observed = fused_impostor_distribution(models, config, rule_of_three=False).survival(threshold)
    assert observed == pytest.approx(brute_force_fmr(models, threshold, config.llr_step, rounded=True), abs=1e-12)
    # rounding every LLR up to the grid only ever overstates the rate, by at most one step per modality
    exact = brute_force_fmr(models, threshold, config.llr_step, rounded=False)
    assert exact <= observed + 1e-12
    assert (
        observed
        <= brute_force_fmr(models, threshold - len(models) * config.llr_step, config.llr_step, rounded=False) + 1e-12
    )
    # the rule-of-three tails only ever add to it
    assert fused_impostor_distribution(models, config).survival(threshold) >= observed


def test_the_threshold_is_the_lowest_llr_whose_fmr_is_within_the_target(models):
    chosen = [models["face"], models["finger"], models["finger"]]
    config = FusionConfig()
    threshold = fused_threshold(chosen, 1e-6, config)
    distribution = fused_impostor_distribution(chosen, config)
    assert distribution.survival(threshold) <= 1e-6 < distribution.survival(threshold - config.llr_step)


def test_a_rate_below_the_floor_is_stated_as_the_floor_and_a_bound(models):
    config = FusionConfig(min_fmr=1e-9)
    fmr, basis = fused_fmr(60.0, [models["face"]] + [models["finger"]] * 4, config)
    assert (fmr, basis) == (1e-9, "upper_bound")


# -- files -----------------------------------------------------------------------------------------


def test_a_model_survives_a_json_round_trip(models, tmp_path):
    model = models["finger"]
    path = model.save(tmp_path / "fusion-finger-test.json")
    document = json.loads(path.read_text())
    assert document["format"] == "tessera-fusion-model" and document["llr_max"] == model.llr_max
    loaded = load_score_model(path)
    assert loaded == model
    assert loaded.data == model.data and loaded.created == model.created
    scores = np.linspace(0, 1, 777)
    assert np.array_equal(loaded.llr(scores), model.llr(scores))
    assert load_fusion_models([path])["finger"] == model


def test_a_file_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"format": "tessera-calibration", "format_version": 1}))
    with pytest.raises(ValueError, match=r"is not a tessera-fusion-model file"):
        load_score_model(path)


# -- the shipped models, on real samples -----------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    missing = [str(path) for path in FUSION_MODEL_FILES.values() if not path.is_file()]
    if missing:
        pytest.skip(f"shipped fusion models not fitted yet: {missing}")
    return load_fusion_models()


def test_the_shipped_models_describe_the_shipped_algorithms(shipped):
    from tessera.match.calibration import DEFAULT_FACE_CALIBRATION_PATH, load_calibration
    from tessera.match.mcc import ALGORITHM

    assert shipped["face"].algorithm == load_calibration(DEFAULT_FACE_CALIBRATION_PATH).algorithm
    assert shipped["finger"].algorithm == ALGORITHM
    assert shipped["face"].data["pairs_file"] == "pairsDevTrain.txt"


def test_real_finger_mates_fuse_above_non_mates_with_the_shipped_models(shipped, fvc_template):
    from tessera.match.mcc import mcc_score, mcc_template

    def score(a, b):
        return mcc_score(
            mcc_template(fvc_template("DB1_B", *a).minutiae), mcc_template(fvc_template("DB1_B", *b).minutiae)
        )

    mate = {"finger:1": score((103, 1), (103, 3)), "finger:2": score((106, 1), (106, 2))}
    non_mate = {"finger:1": score((103, 1), (104, 1)), "finger:2": score((106, 1), (105, 1))}
    mate_decision = fuse(mate, shipped, target_fmr=1e-4)
    non_mate_decision = fuse(non_mate, shipped, target_fmr=1e-4)
    assert mate_decision.llr > 0 > non_mate_decision.llr
    assert mate_decision.match and not non_mate_decision.match
    assert mate_decision.fmr < 1e-4 < non_mate_decision.fmr


def test_more_than_ten_fingers_are_refused(models):
    scores = {f"finger:{number}": 0.1 for number in range(11)}
    with pytest.raises(ValueError, match=r"at most 10 fingers; got 11"):
        fuse(scores, models)


def test_a_safety_factor_only_ever_raises_the_stated_rate_and_the_threshold(models):
    chosen = [models["face"], models["finger"], models["finger"]]
    plain, safe = FusionConfig(), FusionConfig(fmr_safety_factor=10.0)
    assert fused_threshold(chosen, 1e-6, safe) >= fused_threshold(chosen, 1e-6, plain)
    assert fused_fmr(5.0, chosen, safe)[0] == pytest.approx(10 * fused_fmr(5.0, chosen, plain)[0])
    with pytest.raises(ValueError, match=r"fmr_safety_factor must be >= 1 .*; got 0.5"):
        FusionConfig(fmr_safety_factor=0.5)


# -- ranking many subjects (the fused 1:N search and the fusion evaluation share it) -----------------


def test_a_fused_ranking_holds_each_subject_to_the_threshold_of_the_modalities_it_has(models):
    from tessera.match.fusion import FusedThresholds, rank_fused

    thresholds = FusedThresholds(models)
    target = 1e-4
    both = thresholds.threshold(["face", "finger:right-index"], target)
    face_only = thresholds.threshold(["face"], target)
    assert both is not None and face_only is not None and both != face_only
    scores = {
        "b-both-high": {"face": 0.95, "finger:right-index": 0.4},  # far above the two-modality threshold
        "a-face-only-high": {"face": 0.99},  # one modality: judged against the face-only threshold
        "c-both-low": {"face": 0.05, "finger:right-index": 0.005},
        "d-finger-only-low": {"finger:right-index": 0.004},
    }
    ranking = rank_fused(scores, ["face", "finger:right-index"], thresholds, target_fmr=target, limit=10)

    llrs = {s.subject_id: s.llr for s in ranking.ranked}
    assert llrs["b-both-high"] == pytest.approx(models["face"].llr(0.95) + models["finger"].llr(0.4))
    assert llrs["a-face-only-high"] == pytest.approx(float(models["face"].llr(0.99)))
    assert [s.llr for s in ranking.ranked] == sorted(llrs.values(), reverse=True)
    by_id = {s.subject_id: s for s in ranking.ranked}
    assert by_id["a-face-only-high"].threshold == face_only
    assert by_id["b-both-high"].threshold == both
    assert ranking.threshold == both
    chosen = {s.subject_id for s in ranking.candidates}
    assert chosen == {s.subject_id for s in ranking.ranked if s.llr >= s.threshold}
    assert "b-both-high" in chosen and "c-both-low" not in chosen and "d-finger-only-low" not in chosen
    expected = sum(
        row["subjects"] * fused_fmr(row["threshold_llr"], [models[m.split(":")[0]] for m in row["modalities"]])[0]
        for row in ranking.thresholds_by_modalities
        if row["threshold_llr"] is not None
    )
    assert ranking.expected_false_candidates == pytest.approx(expected)
    assert sorted(row["subjects"] for row in ranking.thresholds_by_modalities) == [1, 1, 2]


def test_a_fused_ranking_breaks_ties_by_subject_id_and_stops_at_the_limit(models):
    from tessera.match.fusion import FusedThresholds, rank_fused

    scores = {name: {"face": 0.97} for name in ("s3", "s1", "s2")}
    ranking = rank_fused(scores, ["face"], FusedThresholds(models), target_fmr=1e-3, limit=2)
    assert [s.subject_id for s in ranking.ranked] == ["s1", "s2", "s3"]
    assert [s.subject_id for s in ranking.candidates] == ["s1", "s2"]


def test_fused_thresholds_are_the_same_whatever_the_order_of_the_modalities(models):
    from tessera.match.fusion import FusedThresholds

    thresholds = FusedThresholds(models)
    forward = thresholds.threshold(["face", "finger:left-thumb", "finger:right-index"], 1e-5)
    backward = thresholds.threshold(["finger:right-index", "finger:left-thumb", "face"], 1e-5)
    assert forward == backward == fused_threshold([models["face"], models["finger"], models["finger"]], 1e-5)
