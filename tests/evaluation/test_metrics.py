"""Error-rate arithmetic on synthetic scores with known answers: EER, DET, FNMR at FMR, intervals, the subject
bootstrap."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from tessera.evaluation.comparisons import Templates, all_pairs
from tessera.evaluation.metrics import (
    best_accuracy_threshold,
    det_curve,
    equal_error_rate,
    error_rates,
    fnmr_at,
    paired_difference_interval,
    poisson_interval,
    probit,
    score_set_from_pairs,
    supported,
    threshold_at_fmr,
    verification_rates,
    wilson_interval,
)
from tessera.primitives import unit_vector


def test_error_rates_match_at_or_above_the_threshold():
    genuine = np.array([0.5, 0.7, 0.9])
    impostor = np.array([0.1, 0.3, 0.5, 0.7])
    fmr, fnmr = error_rates(genuine, impostor, np.array([0.5, 0.6, 1.0]))
    assert fmr.tolist() == [0.5, 0.25, 0.0]  # 0.5 and 0.7 match at 0.5
    assert fnmr.tolist() == pytest.approx([0.0, 1 / 3, 1.0])


def test_eer_of_two_unit_gaussians_is_the_normal_tail_at_half_the_separation():
    rng = np.random.default_rng(0)
    separation = 2.0
    genuine = np.sort(rng.normal(separation, 1.0, 100_000))
    impostor = np.sort(rng.normal(0.0, 1.0, 400_000)).astype(np.float32)
    eer, threshold = equal_error_rate(genuine, impostor)
    assert eer == pytest.approx(NormalDist().cdf(-separation / 2), abs=0.003)  # 0.1587
    assert threshold == pytest.approx(separation / 2, abs=0.02)


def test_eer_by_hand():
    # Thresholds in (0.4, 0.6]: FMR 1/4 (0.6 matches), FNMR 1/4 (0.4 misses): they cross at 0.25.
    genuine = np.sort(np.array([0.4, 0.7, 0.8, 0.9]))
    impostor = np.sort(np.array([0.1, 0.2, 0.3, 0.6])).astype(np.float32)
    eer, threshold = equal_error_rate(genuine, impostor)
    assert eer == pytest.approx(0.25)
    assert 0.4 <= threshold <= np.float32(0.6)  # the threshold is a score: here the float32 impostor 0.6


def test_perfect_separation_has_zero_eer_and_refused_genuine_scores_raise_it():
    impostor = np.sort(np.linspace(0.0, 0.4, 1000)).astype(np.float32)
    genuine = np.linspace(0.6, 1.0, 100)
    assert equal_error_rate(np.sort(genuine), impostor)[0] == pytest.approx(0.0, abs=1e-3)
    with_refused = np.sort(np.concatenate([genuine, [-math.inf] * 5]))
    # Refused genuine comparisons never match: FNMR cannot fall below 5/105, so neither can the EER.
    assert equal_error_rate(with_refused, impostor)[0] == pytest.approx(5 / 105, abs=2e-3)
    assert fnmr_at(with_refused, 0.5) == pytest.approx(5 / 105)


def _eer_at_every_threshold(genuine, impostor, genuine_weights, impostor_weights):
    """FVC's definition written out over every distinct score: the reference the bracketed search must equal."""
    thresholds = np.unique(np.concatenate([genuine, impostor, [np.inf]]))
    fnmr = np.array([genuine_weights[genuine < t].sum() for t in thresholds]) / genuine_weights.sum()
    fmr = np.array([impostor_weights[impostor >= t].sum() for t in thresholds]) / impostor_weights.sum()
    first, second = np.flatnonzero(fnmr <= fmr)[-1], np.flatnonzero(fnmr >= fmr)[0]
    if fnmr[first] + fmr[first] <= fnmr[second] + fmr[second]:
        return (fnmr[first] + fmr[first]) / 2
    return (fmr[second] + fnmr[second]) / 2


@pytest.mark.parametrize("seed", range(5))
def test_the_eer_is_fvcs_over_every_score_whatever_the_weights_and_order(seed):
    rng = np.random.default_rng(seed)
    genuine = np.round(rng.normal(0.6, 0.15, 3_000), 3)  # rounded: ties between and within the classes
    impostor = np.round(rng.normal(0.2, 0.15, 30_000), 3)
    genuine_weights = rng.integers(0, 3, genuine.size).astype(float)
    impostor_weights = rng.integers(0, 3, impostor.size).astype(float)
    expected = _eer_at_every_threshold(genuine, impostor, genuine_weights, impostor_weights)
    assert equal_error_rate(genuine, impostor, genuine_weights, impostor_weights)[0] == pytest.approx(
        expected, abs=1e-12
    )
    ones = np.ones(genuine.size), np.ones(impostor.size)
    unweighted = _eer_at_every_threshold(genuine, impostor, *ones)
    assert equal_error_rate(genuine, impostor)[0] == pytest.approx(unweighted, abs=1e-12)
    # Sorted float32 impostors (as the LFW evaluation keeps its 41 M) against float64 genuine scores.
    single = np.sort(impostor).astype(np.float32)
    same_values = np.sort(genuine.astype(np.float32)).astype(np.float64)
    reference = _eer_at_every_threshold(same_values, single.astype(np.float64), *ones)
    assert equal_error_rate(same_values, single)[0] == pytest.approx(reference, abs=1e-12)


def test_a_tail_of_the_highest_impostors_gives_the_same_eer_or_says_it_cannot():
    rng = np.random.default_rng(0)
    genuine = np.sort(rng.normal(0.6, 0.1, 2_000))
    impostor = np.sort(rng.normal(0.2, 0.1, 50_000))
    whole = equal_error_rate(genuine, impostor)
    tail = impostor[-5_000:]  # 10 %: the EER (~2 %) lies inside it
    assert equal_error_rate(genuine, tail, impostor_total=impostor.size) == whole
    # Only the highest 0.5 %: the crossing lies below the tail, where the FMR is unknown.
    eer, threshold = equal_error_rate(genuine, impostor[-250:], impostor_total=impostor.size)
    assert math.isnan(eer) and math.isnan(threshold)


def test_weights_must_match_their_scores():
    with pytest.raises(ValueError, match=r"weights must have one entry per score, shape \(3,\); got shape \(2,\)"):
        equal_error_rate(np.array([0.5, 0.6, 0.7]), np.array([0.1, 0.2]), genuine_weights=np.ones(2))


def test_threshold_at_fmr_is_the_lowest_one_allowed_and_keeps_ties_out():
    descending = np.array([0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    # 10 impostors, FMR 0.1 allows one: the threshold sits just above 0.8.
    threshold = threshold_at_fmr(descending, 0.1)
    assert 0.8 < threshold <= 0.9 and threshold == pytest.approx(0.8)
    # FMR 0.2 would allow two, but the tie at 0.8 cannot be split: still one.
    assert threshold_at_fmr(descending, 0.2) == threshold
    assert threshold_at_fmr(descending, 0.3) == pytest.approx(0.7)
    # A tail of the highest 3 of 1,000 impostors is not enough to find FMR 0.01 (10 allowed).
    assert math.isnan(threshold_at_fmr(descending[:3], 0.01, total=1000))
    assert threshold_at_fmr(descending, 1.0) == -math.inf


def test_supported_follows_the_rule_of_three():
    assert supported(3000, 1e-3)
    assert not supported(2999, 1e-3)
    assert not supported(3000, 1e-4)


def test_det_curve_is_monotone_and_spans_both_rates():
    rng = np.random.default_rng(1)
    genuine = np.sort(rng.normal(2, 1, 2000))
    impostor = np.sort(rng.normal(0, 1, 20000)).astype(np.float32)
    thresholds, fmr, fnmr = det_curve(genuine, impostor)
    assert np.all(np.diff(thresholds) > 0)
    assert np.all(np.diff(fmr) <= 0) and np.all(np.diff(fnmr) >= 0)
    assert fmr[0] > 0.5 and fnmr[-1] > 0.5
    assert probit(np.array([0.5]))[0] == pytest.approx(0.0) and probit(0.975) == pytest.approx(1.959964, abs=1e-5)


def test_best_accuracy_threshold_takes_the_middle_of_the_best_gap():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    same = np.array([False, False, False, True, True, True])
    assert best_accuracy_threshold(scores, same) == pytest.approx(0.5)
    # One genuine pair below an impostor: best is to give that one up, either side is one error.
    scores = np.array([0.1, 0.25, 0.4, 0.6, 0.8, 0.9])
    same = np.array([False, True, False, False, True, True])
    threshold = best_accuracy_threshold(scores, same)
    correct = ((scores >= threshold) == same).sum()
    assert correct == 5 and 0.6 < threshold < 0.8


def test_the_paired_difference_interval_holds_the_difference_and_narrows_with_more_searches():
    """Newcombe's interval for two rates on the same trials (e.g. FNIR of the prefilter and of the exact scan)."""
    # No search told the methods apart: the interval is symmetric about 0.
    low, high = paired_difference_interval(0, 0, 6, 700)
    assert low == pytest.approx(-high) and 0 < high < 0.01
    # 3 searches lost, none recovered, out of 700: +0.43 point, the interval above -0.5 point and around it.
    low, high = paired_difference_interval(3, 0, 6, 700)
    assert low < 3 / 700 < high and -0.005 < low < 0 and high < 0.02
    wider = paired_difference_interval(3, 0, 6, 350)
    assert wider[1] - wider[0] > high - low
    assert paired_difference_interval(0, 0, 0, 0) == (-1.0, 1.0)
    with pytest.raises(ValueError, match=r"counts must be >= 0 and add up to at most trials; got 5, 0, 6 of 10"):
        paired_difference_interval(5, 0, 6, 10)


def test_wilson_and_poisson_intervals_match_published_values():
    # Wilson (1927) interval for 5/100 at 95 %: 2.15 % to 11.18 % (Newcombe, Stat. Med. 1998, table I).
    low, high = wilson_interval(5, 100)
    assert (low, high) == pytest.approx((0.0215, 0.1118), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    # Garwood exact Poisson limits: 0 -> [0, 3.689]; 3 -> [0.619, 8.767]; 10 -> [4.795, 18.39].
    assert poisson_interval(0) == pytest.approx((0.0, 3.6889), abs=1e-3)
    assert poisson_interval(3) == pytest.approx((0.6187, 8.7673), abs=1e-3)
    assert poisson_interval(10) == pytest.approx((4.7954, 18.3904), abs=1e-3)
    with pytest.raises(ValueError, match="events must be >= 0; got -1"):
        poisson_interval(-1)


def _templates(subjects: int = 60, seed: int = 0, noise: float = 0.55, refused: int = 3) -> Templates:
    rng = np.random.default_rng(seed)
    per_subject = rng.integers(1, 5, subjects)
    subject = np.repeat(np.arange(subjects), per_subject)
    centres = rng.normal(size=(subjects, 24))
    embeddings = np.stack([unit_vector(row) for row in centres[subject] + noise * rng.normal(size=(subject.size, 24))])
    templated = np.ones(subject.size, dtype=bool)
    templated[rng.choice(subject.size, refused, replace=False)] = False
    embeddings[~templated] = 0.0
    return Templates(embeddings.astype(np.float32), templated, subject, subjects)


def _listed(templates: Templates):
    """The same comparisons as all_pairs, written out as a list of pairs."""
    a, b = np.triu_indices(templates.subject.size, k=1)
    scores = templates.pair_scores(a, b)
    same = templates.subject[a] == templates.subject[b]
    return score_set_from_pairs(scores, same, templates.subject[a], templates.subject[b], templates.n_subjects)


def test_all_pairs_counts_every_pair_once_and_refused_ones_as_minus_infinity():
    templates = _templates()
    scores = all_pairs(templates)
    n = templates.subject.size
    assert scores.n_genuine + scores.n_impostor == n * (n - 1) // 2
    per_subject = np.bincount(templates.subject)
    assert scores.n_genuine == int((per_subject * (per_subject - 1) // 2).sum())
    refused_pairs = n * (n - 1) // 2 - math.comb(int(templates.templated.sum()), 2)
    assert int(np.sum(np.isinf(scores.genuine))) + int(np.sum(np.isinf(scores.impostor))) == refused_pairs
    assert np.all(np.diff(scores.tail) <= 0) and scores.tail[0] == scores.impostor[-1]


def test_the_closed_form_bootstrap_equals_the_explicit_one():
    # All-pairs keeps only the impostor tail and computes each replicate's impostor total in closed
    # form; a list of every pair weighs every comparison explicitly. Same seed, same answer.
    templates = _templates()
    closed = verification_rates(all_pairs(templates, min_tail_fraction=0.3), (1e-2, 1e-3), replicates=200, seed=7)
    explicit = verification_rates(_listed(templates), (1e-2, 1e-3), replicates=200, seed=7)
    for target in (1e-2, 1e-3):
        assert closed.fnmr_at_fmr[target].value == pytest.approx(explicit.fnmr_at_fmr[target].value)
        assert closed.fnmr_at_fmr[target].low == pytest.approx(explicit.fnmr_at_fmr[target].low)
        assert closed.fnmr_at_fmr[target].high == pytest.approx(explicit.fnmr_at_fmr[target].high)
    assert closed.eer.value == pytest.approx(explicit.eer.value)
    assert closed.eer.low == pytest.approx(explicit.eer.low, abs=1e-9)


def test_bootstrap_intervals_bracket_the_estimate_and_narrow_with_more_subjects():
    small = verification_rates(all_pairs(_templates(subjects=60, noise=0.8)), (1e-2,), replicates=300, seed=0)
    large = verification_rates(all_pairs(_templates(subjects=600, noise=0.8)), (1e-2,), replicates=300, seed=0)
    for rates in (small, large):
        interval = rates.fnmr_at_fmr[1e-2]
        assert interval.low <= interval.value <= interval.high
        assert rates.eer.low <= rates.eer.value <= rates.eer.high
    width = lambda rates: rates.fnmr_at_fmr[1e-2].high - rates.fnmr_at_fmr[1e-2].low  # noqa: E731
    assert width(large) < width(small)


def test_unsupported_targets_are_none_not_a_number():
    rates = verification_rates(all_pairs(_templates(subjects=20)), (1e-2, 1e-6), replicates=50)
    assert rates.fnmr_at_fmr[1e-6] is None and rates.thresholds[1e-6] is None
    assert rates.fnmr_at_fmr[1e-2] is not None
