"""What a score means: checked on synthetic scores whose true FMR is known in closed form.

Impostor scores are drawn from N(0, 0.1), so the true FMR of threshold t is
Q(t / 0.1) (the normal survival function); genuine scores from N(0.6, 0.1),
so the true FNMR is Phi((t - 0.6) / 0.1).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from tessera.match.calibration import (
    DEFAULT_FACE_CALIBRATION_PATH,
    EXTRAPOLATED,
    MEASURED,
    UPPER_BOUND,
    Calibration,
    CalibrationConfig,
    FmrBeyondCalibration,
    FmrEstimate,
    calibration_from_dict,
    fit_calibration,
    load_calibration,
)
from tessera.match.tail import fit_gaussian_tail, fit_generalised_pareto

CALIBRATIONS = DEFAULT_FACE_CALIBRATION_PATH.parent
SHIPPED = (
    "face-dlib-resnet-v1.json",
    "face-yunet-sface-2021dec.json",
    "finger-contact-leader-mcc-v1.json",
    "finger-contactless-leader-mcc-v1.json",
    "cross-contactless-contact-leader-mcc-v1.json",
)
"""The score calibrations Tessera ships (the fusion models and the binned scores are other formats)."""
IMPOSTOR_SD = 0.1
N_IMPOSTOR = 1_000_000
FIXED_TIME = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def true_fmr(threshold: float) -> float:
    return 0.5 * math.erfc(threshold / IMPOSTOR_SD / math.sqrt(2))


def true_threshold(fmr: float) -> float:
    low, high = -1.0, 2.0
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if true_fmr(middle) > fmr else (low, middle)
    return (low + high) / 2


def synthetic_scores(seed: int = 0, n_impostor: int = N_IMPOSTOR, n_genuine: int = 10_000):
    rng = np.random.default_rng(seed)
    return rng.normal(0.6, 0.1, n_genuine), rng.normal(0.0, IMPOSTOR_SD, n_impostor)


def fit(genuine, impostor, **kwargs) -> Calibration:
    kwargs.setdefault("data", {"dataset": "synthetic normal scores"})
    return fit_calibration(genuine, impostor, modality="face", algorithm="test/1", created=FIXED_TIME, **kwargs)


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    return fit(*synthetic_scores())


@pytest.fixture(scope="module")
def small_calibration() -> Calibration:
    """1,000 impostor scores: too few for a tail model (resolution 3e-3)."""
    return fit(*synthetic_scores(n_impostor=1_000, n_genuine=1_000))


# --- what a score means --------------------------------------------------------------------------


@pytest.mark.parametrize("fmr", [1e-1, 1e-2, 1e-3, 1e-4])
def test_measured_fmr_matches_the_true_fmr(calibration, fmr):
    estimate = calibration.fmr_at(true_threshold(fmr))
    assert estimate.basis == MEASURED and not estimate.upper_bound
    # 1e-4 of 1e6 is 100 counts: a Poisson relative error of 10 %.
    assert estimate.value == pytest.approx(fmr, rel=0.25)


def test_fnmr_matches_the_true_fnmr(calibration):
    threshold = true_threshold(1e-3)
    expected = 0.5 * math.erfc((0.6 - threshold) / 0.1 / math.sqrt(2))
    assert calibration.fnmr_at(threshold) == pytest.approx(expected, abs=0.01)


def test_measured_basis_needs_three_impostor_scores_at_or_above(calibration):
    assert calibration.rows[-1].false_matches < 3
    limit_row = max((row for row in calibration.rows if row.fmr_basis == MEASURED), key=lambda row: row.threshold)
    assert limit_row.false_matches >= 3
    assert calibration.fmr_at(calibration.measured_limit).basis == MEASURED
    assert calibration.fmr_at(math.nextafter(calibration.measured_limit, 2.0)).basis != MEASURED


def test_extrapolated_fmr_is_close_to_the_true_fmr_and_errs_high(calibration):
    score = true_threshold(1e-7)  # 30 times below what 1e6 impostor scores can measure
    estimate = calibration.fmr_at(score)
    assert estimate == FmrEstimate(estimate.value, upper_bound=False, basis=EXTRAPOLATED)
    assert 1e-7 <= estimate.value <= 5e-7


def test_the_tail_model_is_validated_and_recorded(calibration):
    tail = calibration.tail
    assert tail is not None and tail.kind == "gaussian"  # the true tail is Gaussian
    assert tail.safety_factor >= 1.0
    validation = tail.validation
    assert validation["chosen"] == "gaussian"
    assert set(validation["candidates"]) == {"generalised-pareto", "gaussian", "exponential"}
    assert validation["in_sample"]["max_abs_log10_error"] < 0.2
    assert all(report["points"] for report in validation["holdout"] if report["fraction"] >= 0.1)


def test_fmr_never_claims_zero(calibration, small_calibration):
    for calib in (calibration, small_calibration):
        for score in (0.9, 0.999, 1.0, 5.0):
            estimate = calib.fmr_at(score)
            assert estimate.value > 0 and estimate.upper_bound


def test_far_beyond_the_model_the_floor_is_stated_as_an_upper_bound(calibration):
    estimate = calibration.fmr_at(0.99)
    assert estimate == FmrEstimate(calibration.tail.min_fmr, upper_bound=True, basis=EXTRAPOLATED)
    assert calibration.tail.min_fmr == pytest.approx(3 / N_IMPOSTOR / 100, rel=1e-3)


def test_fmr_falls_as_the_score_rises(calibration, small_calibration):
    for calib in (calibration, small_calibration):
        scores = np.linspace(-0.6, 1.0, 4001)
        values = [calib.fmr_at(score).value for score in scores]
        assert all(later <= earlier * (1 + 1e-12) for earlier, later in zip(values, values[1:]))
        assert values[0] == 1.0


def test_below_resolution_without_a_tail_model_the_rule_of_three_bound_is_stated(small_calibration):
    assert small_calibration.tail is None
    assert small_calibration.resolution == pytest.approx(3e-3)
    beyond = math.nextafter(small_calibration.measured_limit, 2.0)
    assert small_calibration.fmr_at(beyond) == FmrEstimate(3e-3, upper_bound=True, basis=UPPER_BOUND)
    assert small_calibration.fmr_at(10.0) == FmrEstimate(3e-3, upper_bound=True, basis=UPPER_BOUND)


def test_between_the_third_highest_and_the_highest_impostor_only_the_bound_is_stated():
    genuine, impostor = synthetic_scores()
    # One freak impostor at 6 sigma: no model may claim less than 3 / n below it.
    calibration = fit(genuine, np.append(impostor, 0.6))
    assert calibration.highest_impostor_score == 0.6
    assert calibration.measured_limit < 0.55
    assert calibration.fmr_at(0.55) == FmrEstimate(calibration.resolution, upper_bound=True, basis=UPPER_BOUND)
    assert calibration.tail is not None and calibration.tail.validation["chosen"] == "exponential"
    assert calibration.threshold_for_fmr(1e-7) > 0.6


def test_without_a_credible_tail_model_only_bounds_are_stated():
    genuine, impostor = synthetic_scores()
    # An impostor at 8 sigma is improbable under every candidate tail.
    calibration = fit(genuine, np.append(impostor, 0.8))
    assert calibration.tail is None
    assert calibration.fmr_at(0.9) == FmrEstimate(calibration.resolution, upper_bound=True, basis=UPPER_BOUND)
    with pytest.raises(ValueError, match=r"no trusted tail model"):
        calibration.threshold_for_fmr(1e-7)


def test_a_tail_model_contradicted_by_the_highest_scores_is_not_used():
    genuine, impostor = synthetic_scores()
    # Three impostors at 0.55 (5.5 sigma, expected 2e-2 times in a million) are improbable under the Gaussian
    # tail the bulk follows, but not under the exponential one: a tail model is kept, and it is not the Gaussian.
    calibration = fit(genuine, np.concatenate([impostor, [0.55, 0.55, 0.55]]))
    assert calibration.tail is not None, "a tail model must be kept for this test to say anything"
    validation = calibration.tail.validation
    assert validation["candidates"]["gaussian"]["contradicted"] is True
    assert (
        validation["chosen"] != "gaussian" and validation["candidates"][validation["chosen"]]["contradicted"] is False
    )
    assert calibration.tail.kind != "gaussian"


# --- thresholds ----------------------------------------------------------------------------------


def test_threshold_for_fmr_is_monotone(calibration):
    targets = np.logspace(0, -7.5, 200)
    thresholds = [calibration.threshold_for_fmr(target) for target in targets]
    assert all(later >= earlier for earlier, later in zip(thresholds, thresholds[1:]))
    assert thresholds[-1] > thresholds[0]


@pytest.mark.parametrize("target", [0.5, 1e-2, 3.3e-3, 1e-4, 2e-5, 1e-6, 1e-7])
def test_threshold_for_fmr_inverts_fmr_at(calibration, target):
    threshold = calibration.threshold_for_fmr(target)
    estimate = calibration.fmr_at(threshold)
    assert estimate.value <= target * (1 + 1e-9)
    if estimate.basis != UPPER_BOUND:
        assert estimate.value == pytest.approx(target, rel=1e-6)
    # The lowest such threshold: a little lower and the FMR is above the target.
    assert calibration.fmr_at(threshold - 1e-4).value > target


@pytest.mark.parametrize("name", sorted(path.name for path in CALIBRATIONS.glob("*.json") if path.name in SHIPPED))
def test_the_rate_stated_at_a_target_is_never_above_it(name):
    # At half of all targets, fmr_at(threshold_for_fmr(target)) read a few units in the last place above the
    # target (e.g. 0.0030000000000000005 for 0.003 on the contactless-contact calibration, its allowance x3.96):
    # an answer stated a rate above the one its gallery asked for. The operating point states at most the target.
    calibration = load_calibration(CALIBRATIONS / name)
    targets = [float(t) for t in np.geomspace(calibration.min_fmr * 1.001, 0.5, 400)] + [1e-2, 3e-3, 1e-3, 1e-4]
    read_above = 0
    for target in targets:
        try:
            threshold, stated = calibration.operating_point(target)
        except FmrBeyondCalibration:
            continue
        assert threshold == calibration.threshold_for_fmr(target)
        assert stated.value <= target, (target, stated)
        assert stated.value == pytest.approx(calibration.fmr_at(threshold).value, rel=1e-9)
        assert stated.basis == calibration.fmr_at(threshold).basis
        read_above += calibration.fmr_at(threshold).value > target
    assert read_above > 0  # the rounding this guards against happens on every shipped calibration


def test_threshold_for_fmr_is_close_to_the_true_threshold(calibration):
    for target in (1e-2, 1e-3, 1e-4):
        assert calibration.threshold_for_fmr(target) == pytest.approx(true_threshold(target), abs=0.005)


def test_threshold_for_fmr_of_one_is_the_lowest_threshold(calibration):
    assert calibration.threshold_for_fmr(1.0) == calibration.rows[0].threshold


@pytest.mark.parametrize("target", [0.0, -0.1, 1.5, float("nan")])
def test_threshold_for_fmr_refuses_an_impossible_target(calibration, target):
    with pytest.raises(ValueError, match=r"target_fmr must be"):
        calibration.threshold_for_fmr(target)


def test_threshold_for_fmr_below_the_floor_says_what_it_can_vouch_for(calibration):
    with pytest.raises(
        FmrBeyondCalibration,
        match=r"target_fmr=1e-09 is below 3e-08, the lowest false-match rate .*\(1,000,000 impostor",
    ) as caught:
        calibration.threshold_for_fmr(1e-9)
    assert (caught.value.target_fmr, caught.value.lowest_fmr) == (1e-9, 3e-8)
    assert isinstance(caught.value, ValueError)


def test_threshold_for_fmr_below_resolution_without_a_model(small_calibration):
    with pytest.raises(ValueError, match=r"target_fmr=0.0001 is below 0.003.*no trusted tail model"):
        small_calibration.threshold_for_fmr(1e-4)
    # At the resolution itself the bound is enough.
    threshold = small_calibration.threshold_for_fmr(3e-3)
    assert small_calibration.fmr_at(threshold).value <= 3e-3


def test_threshold_beyond_the_score_range_is_refused():
    genuine, impostor = synthetic_scores(n_impostor=100_000)
    # The tail model's floor (3e-7) lies at about 5 sigma = 0.5, past the top of this range.
    calibration = fit(np.clip(genuine, -1.0, 0.5), impostor, score_range=(-1.0, 0.5))
    with pytest.raises(
        FmrBeyondCalibration, match=r"target_fmr=3e-07 needs a threshold of 0\.5\d+, above the highest score 0.5"
    ):
        calibration.threshold_for_fmr(calibration.min_fmr)


def test_identify_threshold_rises_with_the_gallery(calibration):
    sizes = [1, 10, 100, 1_000, 10_000, 100_000]
    thresholds = [calibration.identify_threshold(size, 0.01) for size in sizes]
    assert all(later > earlier for earlier, later in zip(thresholds, thresholds[1:]))
    for size, threshold in zip(sizes, thresholds):
        assert size * calibration.fmr_at(threshold).value <= 0.01 * (1 + 1e-9)
    assert calibration.identify_threshold(10_000, 0.01) == calibration.threshold_for_fmr(1e-6)


def test_identify_threshold_caps_the_rate_at_one(calibration):
    assert calibration.identify_threshold(1, 5.0) == calibration.threshold_for_fmr(1.0)


@pytest.mark.parametrize(
    ("gallery_size", "expected", "message"),
    [
        (0, 0.01, r"gallery_size must be a positive integer; got 0"),
        (2.5, 0.01, r"gallery_size must be a positive integer; got 2.5"),
        (True, 0.01, r"gallery_size must be a positive integer; got True"),
        (10, 0.0, r"expected_false_candidates must be > 0; got 0.0"),
        (10, float("inf"), r"expected_false_candidates must be finite; got inf"),
    ],
)
def test_identify_threshold_names_a_bad_argument(calibration, gallery_size, expected, message):
    with pytest.raises(ValueError, match=message):
        calibration.identify_threshold(gallery_size, expected)


def test_identify_threshold_beyond_what_the_data_supports(calibration):
    with pytest.raises(FmrBeyondCalibration, match=r"below 3e-08"):
        calibration.identify_threshold(10_000_000, 0.01)


# --- fitting -------------------------------------------------------------------------------------


def test_the_table_is_compact_and_denser_in_the_tail(calibration):
    assert 100 <= len(calibration.rows) <= 600
    bases = {row.fmr_basis for row in calibration.rows}
    assert bases == {MEASURED, EXTRAPOLATED} or bases == {MEASURED, UPPER_BOUND, EXTRAPOLATED}
    # Rows at 20 per decade of FMR: at least 20 rows between FMR 1e-3 and 1e-4.
    assert sum(1 for row in calibration.rows if 1e-4 <= row.fmr < 1e-3) >= 20


def test_fit_records_what_it_was_fitted_on(calibration):
    assert calibration.n_impostor == N_IMPOSTOR and calibration.n_genuine == 10_000
    assert calibration.modality == "face" and calibration.algorithm == "test/1"
    assert calibration.data == {"dataset": "synthetic normal scores"}
    assert calibration.created == "2025-01-02T03:04:05Z"


def test_fit_does_not_keep_the_callers_data_dict():
    data = {"dataset": "x"}
    calibration = fit(*synthetic_scores(n_impostor=1_000, n_genuine=100), data=data)
    data["dataset"] = "changed"
    assert calibration.data == {"dataset": "x"}


@pytest.mark.parametrize(
    ("genuine", "impostor", "message"),
    [
        ([], [0.1, 0.2, 0.3], r"genuine_scores must hold at least 1 score\(s\); got 0"),
        ([0.9], [0.1, 0.2], r"impostor_scores must hold at least 3 score\(s\); got 2"),
        ([0.9], [0.1, float("nan"), 0.3], r"impostor_scores must be finite; 1 value\(s\) are NaN or infinite"),
    ],
)
def test_fit_refuses_bad_scores(genuine, impostor, message):
    with pytest.raises(ValueError, match=message):
        fit(genuine, impostor)


def test_fit_refuses_scores_outside_the_score_range():
    with pytest.raises(
        ValueError, match=r"genuine_scores must lie in score_range \[-1.0, 1.0\]; 1 value\(s\) do not, e.g. 1.5"
    ):
        fit([0.9, 1.5], [0.1, 0.2, 0.3], score_range=(-1.0, 1.0))


def test_fit_refuses_an_empty_algorithm():
    with pytest.raises(ValueError, match=r"algorithm must be a non-empty string; got ''"):
        fit_calibration([0.9], [0.1, 0.2, 0.3], modality="face", algorithm="", data={})


def test_generalised_pareto_fit_recovers_known_parameters():
    shape, scale = -0.2, 0.05
    uniform = np.random.default_rng(1).random(200_000)
    sample = scale / shape * ((1 - uniform) ** (-shape) - 1)  # inverse of the GPD distribution function
    fitted_shape, fitted_scale = fit_generalised_pareto(sample)
    assert fitted_shape == pytest.approx(shape, abs=0.01)
    assert fitted_scale == pytest.approx(scale, rel=0.02)


def test_generalised_pareto_fit_refuses_non_positive_excesses():
    with pytest.raises(
        ValueError, match=r"exceedances must be at least 2 positive finite numbers; got 3 value\(s\), smallest -1.0"
    ):
        fit_generalised_pareto([-1.0, 1.0, 2.0])


def test_gaussian_tail_fit_recovers_the_normal():
    scores = np.sort(np.random.default_rng(2).normal(0.3, 0.05, 1_000_000))
    mean, std = fit_gaussian_tail(scores, tail_fraction=0.01)
    # Fitted to the top 1 % only, so the mean is an extrapolation 2.3 standard deviations back.
    assert mean == pytest.approx(0.3, abs=0.01)
    assert std == pytest.approx(0.05, rel=0.1)


def test_a_different_config_changes_the_table():
    genuine, impostor = synthetic_scores(n_impostor=100_000)
    coarse = fit(genuine, impostor, config=CalibrationConfig(score_step=0.05, rows_per_decade=5))
    fine = fit(genuine, impostor)
    assert len(coarse.rows) < len(fine.rows)


# --- the file ------------------------------------------------------------------------------------


def test_save_and_load_round_trip(calibration, tmp_path):
    path = calibration.save(tmp_path / "sub" / "calibration.json")
    loaded = load_calibration(path)
    assert loaded == calibration
    assert loaded.tail.validation == calibration.tail.validation
    for score in (0.1, 0.3, 0.45, 0.5, 0.6):
        assert loaded.fmr_at(score) == calibration.fmr_at(score)
    assert loaded.identify_threshold(10_000, 0.01) == calibration.identify_threshold(10_000, 0.01)
    # Saving what was loaded writes the same bytes.
    assert loaded.save(tmp_path / "again.json").read_text() == path.read_text()


def test_the_file_is_small_and_reads_as_a_table(calibration, tmp_path):
    path = calibration.save(tmp_path / "calibration.json")
    assert path.stat().st_size < 100_000
    text = path.read_text()
    # One table row per line, so that a diff of two calibrations shows the rows that changed.
    rows = text[text.index('"rows": [') :].splitlines()[1 : 1 + len(calibration.rows)]
    assert all(line.startswith("   [") and line.rstrip(",").endswith("]") for line in rows)
    assert [json.loads(line.rstrip(",")) for line in rows] == json.loads(text)["table"]["rows"]
    document = json.loads(text)
    assert document["format"] == "tessera-calibration" and document["format_version"] == 1
    assert document["table"]["columns"] == [
        "threshold",
        "false_matches",
        "fmr",
        "fmr_basis",
        "false_non_matches",
        "fnmr",
    ]
    assert [point["target_fmr"] for point in document["operating_points"]] == [1e-2, 1e-3, 1e-4, 1e-5, 1e-6]


def test_save_and_load_without_a_tail_model(small_calibration, tmp_path):
    loaded = load_calibration(small_calibration.save(tmp_path / "small.json"))
    assert loaded == small_calibration and loaded.tail is None


def _document(calibration: Calibration) -> dict:
    return json.loads(json.dumps(calibration.to_dict()))


def _write(tmp_path, document) -> str:
    path = tmp_path / "broken.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def test_load_names_the_file_when_it_is_not_json(tmp_path):
    path = _write(tmp_path, "{not json")
    with pytest.raises(ValueError, match=r"broken.json: not a calibration file: invalid JSON"):
        load_calibration(path)


def test_load_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_calibration(tmp_path / "absent.json")


def _mutations():
    def set_(key, value):
        def change(document):
            document[key] = value

        return change

    def delete(key):
        def change(document):
            del document[key]

        return change

    def row(index, column, value):
        def change(document):
            document["table"]["rows"][index][column] = value

        return change

    def tail(key, value):
        def change(document):
            document["tail_model"][key] = value

        return change

    def swap_rows(document):
        rows = document["table"]["rows"]
        rows[3], rows[4] = rows[4], rows[3]

    return [
        (set_("format", "something-else"), r"'format' must be 'tessera-calibration'; got 'something-else'"),
        (set_("format_version", 2), r"'format_version' must be 1 \(the version this Tessera reads\); got 2"),
        (delete("n_impostor"), r"'n_impostor' must be an integer >= 3; got None"),
        (set_("n_genuine", "many"), r"'n_genuine' must be an integer >= 1; got 'many'"),
        (set_("algorithm", ""), r"'algorithm' must be a non-empty string; got ''"),
        (set_("score_range", [1, -1]), r"'score_range' must be null or \[lowest, highest\]"),
        (delete("highest_impostor_score"), r"'highest_impostor_score' must be a finite number; got None"),
        (set_("table", {"columns": ["threshold"], "rows": []}), r"'table.columns' must be \['threshold'"),
        (row(2, 0, "high"), r"'table.rows\[2\]': threshold must be a finite number; got 'high'"),
        (row(2, 1, -4), r"'table.rows\[2\]': false_matches must be a non-negative integer; got -4"),
        (
            row(2, 3, "guessed"),
            r"'table.rows\[2\]': fmr_basis must be one of \['measured', 'upper_bound', 'extrapolated'\]",
        ),
        (swap_rows, r"'table.rows\[4\]': thresholds must increase strictly"),
        (row(-1, 2, 0.0), r"'table.rows\[\d+\]': fmr must be in \(0, 1\] \(a calibration never claims 0\); got 0.0"),
        (row(5, 2, 0.5), r"'table.rows\[5\]': a measured fmr must be false_matches / n_impostor"),
        (row(-1, 3, "measured"), r"fmr_basis must be 'measured' exactly when false_matches >= 3"),
        (set_("tail_model", None), r"fmr_basis 'extrapolated' needs a 'tail_model'; the file has none"),
        (
            tail("kind", "weibull"),
            r"'tail_model.kind' must be one of \['generalised-pareto', 'gaussian'\]; got 'weibull'",
        ),
        (tail("scale", -1.0), r"'tail_model.scale' must be > 0; got -1.0"),
        (tail("safety_factor", 0.5), r"'tail_model.safety_factor' must be >= 1; got 0.5"),
    ]


@pytest.mark.parametrize(("mutate", "message"), _mutations())
def test_load_names_the_file_and_the_broken_field(calibration, tmp_path, mutate, message):
    document = _document(calibration)
    mutate(document)
    path = _write(tmp_path, document)
    with pytest.raises(ValueError, match=r"broken.json: (?:'table.rows\[\d+\]': )?" + message):
        load_calibration(path)


def test_calibration_from_dict_refuses_a_list():
    with pytest.raises(ValueError, match=r"expected a JSON object at the top level; got list"):
        calibration_from_dict([])


# --- the shipped face calibration ----------------------------------------------------------------


def test_the_shipped_face_calibration_loads_and_answers():
    if not DEFAULT_FACE_CALIBRATION_PATH.exists():
        pytest.skip(f"no face calibration at {DEFAULT_FACE_CALIBRATION_PATH}: run tessera.evaluation.calibrate")
    from tessera.face.pipeline import ALGORITHM

    calibration = load_calibration()
    assert calibration.modality == "face"
    assert calibration.algorithm == ALGORITHM  # the default pipeline's templates
    assert calibration.data["dataset"].startswith("LFW")
    assert calibration.n_impostor > 1_000_000
    verify = calibration.threshold_for_fmr(1e-3)
    assert calibration.fmr_at(verify).basis == MEASURED
    assert calibration.identify_threshold(10_000, 0.01) > verify


# --- an allowance widens what is stated, never what was counted ------------------------------------


def test_an_allowance_multiplies_every_stated_rate_and_moves_thresholds_up(small_calibration, tmp_path):
    import dataclasses

    widened = dataclasses.replace(small_calibration, fmr_allowance=2.0)
    for score in (0.05, 0.15, 0.25, 0.5):
        table, stated = small_calibration.fmr_at(score), widened.fmr_at(score)
        assert stated.value == pytest.approx(min(1.0, 2.0 * table.value))
        assert stated.upper_bound and stated.basis == table.basis
    # The threshold stated for 1e-2 is the table's threshold for 5e-3: higher, and its table rate is half.
    assert widened.threshold_for_fmr(1e-2) == small_calibration.threshold_for_fmr(5e-3)
    assert widened.threshold_for_fmr(1e-2) > small_calibration.threshold_for_fmr(1e-2)
    assert widened.min_fmr == pytest.approx(2.0 * small_calibration.min_fmr)
    with pytest.raises(FmrBeyondCalibration, match=r"allowance x2") as caught:
        widened.threshold_for_fmr(5e-3)  # the table can state 3e-3, widened 6e-3
    assert caught.value.target_fmr == 5e-3 and caught.value.lowest_fmr == pytest.approx(widened.min_fmr)
    # The rows keep the counts: the allowance is a statement about them, saved and read back.
    assert widened.rows == small_calibration.rows
    loaded = load_calibration(widened.save(tmp_path / "widened.json"))
    assert loaded.fmr_allowance == 2.0 and loaded.fmr_at(0.2) == widened.fmr_at(0.2)


def test_a_file_without_an_allowance_states_its_counts(small_calibration):
    document = small_calibration.to_dict()
    del document["fmr_allowance"]
    assert calibration_from_dict(document).fmr_allowance == 1.0


@pytest.mark.parametrize("value", [0.5, "2", True, float("nan"), -1])
def test_an_allowance_below_one_or_not_a_number_is_refused(small_calibration, value):
    document = small_calibration.to_dict()
    document["fmr_allowance"] = value
    with pytest.raises(ValueError, match="'fmr_allowance' must be a number in"):
        calibration_from_dict(document)


# --- a held-out allowance on the tail ------------------------------------------------------------


def test_a_tail_allowance_widens_the_extrapolated_tail_only(calibration):
    genuine, impostor = synthetic_scores()
    widened = fit(genuine, impostor, tail_allowance=4.0, tail_allowance_record={"source": "held-out people"})
    assert widened.tail is not None and calibration.tail is not None
    assert widened.tail.safety_factor == pytest.approx(4.0 * calibration.tail.safety_factor, rel=1e-3)
    assert widened.tail.validation["held_out_allowance"] == 4.0
    assert widened.tail.validation["fitted_safety_factor"] == calibration.tail.safety_factor
    assert widened.tail.validation["held_out_allowance_record"] == {"source": "held-out people"}
    # The measured table keeps its counts: the same rate and threshold at 1e-3.
    assert widened.threshold_for_fmr(1e-3) == calibration.threshold_for_fmr(1e-3)
    assert widened.fmr_at(0.3).value == calibration.fmr_at(0.3).value
    # In the tail the same score stands for 4 times the rate, so a low target needs a higher threshold.
    score = calibration.tail.score_for_rate(1e-7)
    assert widened.fmr_at(score).value == pytest.approx(4.0 * calibration.fmr_at(score).value, rel=1e-3)
    assert widened.threshold_for_fmr(1e-7) > calibration.threshold_for_fmr(1e-7)
    assert widened.fmr_at(widened.threshold_for_fmr(1e-7)).value <= 1e-7 * (1 + 1e-6)
    assert true_fmr(widened.threshold_for_fmr(1e-7)) < 1e-7  # the widened statement is an upper bound


@pytest.mark.parametrize("allowance", [0.5, float("nan"), float("inf")])
def test_a_tail_allowance_below_one_or_not_finite_is_refused(allowance):
    genuine, impostor = synthetic_scores(n_impostor=100_000)
    with pytest.raises(ValueError, match="allowance must be a finite number >= 1"):
        fit(genuine, impostor, tail_allowance=allowance)


def test_the_heaviest_tail_states_higher_rates_far_out_than_the_best_predicting_one(calibration):
    genuine, impostor = synthetic_scores()
    heaviest = fit(genuine, impostor, config=CalibrationConfig(tail_choice="heaviest"))
    assert heaviest.tail is not None and calibration.tail is not None
    assert "keep the heaviest" in heaviest.tail.validation["rule"]
    floor = heaviest.tail.min_fmr
    assert heaviest.tail.score_for_rate(floor) >= calibration.tail.score_for_rate(floor)
    # Where both extrapolate, the heaviest states at least the best-predicting rate: a higher 1e-7 threshold.
    assert heaviest.threshold_for_fmr(1e-7) >= calibration.threshold_for_fmr(1e-7)
    assert true_fmr(heaviest.threshold_for_fmr(1e-7)) <= 1e-7  # and it is still an upper bound here
    assert heaviest.threshold_for_fmr(1e-3) == calibration.threshold_for_fmr(1e-3)  # the measured rows agree


def test_an_unknown_tail_choice_is_refused():
    with pytest.raises(ValueError, match=r"tail_choice must be one of \['best-predicting', 'heaviest'\]; got 'mean'"):
        CalibrationConfig(tail_choice="mean")
