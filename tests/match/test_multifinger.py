"""The multi-finger rule: a rate for several fingers that counts them in independent pairs, not one by one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tessera.match import multifinger
from tessera.match.calibration import DEFAULT_FACE_CALIBRATION_PATH, fit_calibration, load_calibration
from tessera.match.multifinger import binomial_upper_bound, decide_fingers, group_sizes, rule_bound


def calibration(n_impostor: int = 1_200, seed: int = 0):
    """A contactless-sized calibration: too few impostors for a single-finger FMR of 1e-3."""
    rng = np.random.default_rng(seed)
    return fit_calibration(
        rng.uniform(0.05, 0.5, 40),
        rng.beta(2.0, 80.0, n_impostor),
        modality="finger",
        algorithm="synthetic-for-tests",
        data={"capture": "contactless"},
        score_range=(0.0, 1.0),
    )


def test_the_binomial_bound_is_the_clopper_pearson_bound():
    # With no event in n trials the 95 % bound is 1 - 0.05^(1/n) (about 3 / n, the rule of three).
    assert binomial_upper_bound(0, 1_000) == pytest.approx(1 - 0.05 ** (1 / 1_000), rel=1e-6)
    # 10 of 1,000: the one-sided 95 % Clopper-Pearson bound is the beta quantile B(0.95; 11, 990) = 0.0169032.
    assert binomial_upper_bound(10, 1_000) == pytest.approx(0.0169032, rel=1e-5)
    assert binomial_upper_bound(5, 5) == 1.0
    with pytest.raises(ValueError, match="false_matches <= trials"):
        binomial_upper_bound(6, 5)


def test_fingers_are_counted_in_pairs_and_one_may_miss_from_four():
    assert group_sizes(1) == [] and group_sizes(2) == [2] and group_sizes(3) == [3]
    assert group_sizes(4) == [2, 2] and group_sizes(5) == [2, 3]
    assert rule_bound(0.01, 2) == pytest.approx(0.01)  # one group: no gain over one finger
    assert rule_bound(0.01, 4) == pytest.approx(4 * 0.01**2)  # two groups, one finger may miss
    assert rule_bound(0.01, 1) == 1.0


def test_one_or_two_contactless_fingers_cannot_be_decided_at_1e_3():
    fitted = calibration()
    assert fitted.min_fmr > 1e-3  # one finger: the data cannot vouch for 1e-3
    for scores in ({"finger:right-index": 0.9}, {"finger:right-index": 0.9, "finger:right-middle": 0.9}):
        decision = decide_fingers(fitted, scores, 1e-3)
        assert decision.match is None and decision.fmr is None
        assert decision.reason in ("too_few_fingers", "beyond_calibration")


def test_four_fingers_are_decided_at_1e_3_with_an_upper_bound():
    fitted = calibration()
    fingers = ["finger:right-index", "finger:right-middle", "finger:right-ring", "finger:right-little"]
    mates = decide_fingers(fitted, dict(zip(fingers, (0.4, 0.35, 0.3, 0.0))), 1e-3)  # one finger missed
    assert mates.match is True and mates.fmr <= 1e-3 and mates.fmr_basis == "upper_bound"
    assert mates.groups == 2 and mates.misses_allowed == 1 and mates.fingers_at_or_above == 3
    # The stated rate is the rule's bound at the per-finger bound of the threshold's table row.
    row = next(r for r in fitted.rows if r.threshold == mates.threshold)
    assert mates.per_finger_fmr_bound == pytest.approx(binomial_upper_bound(row.false_matches, fitted.n_impostor))
    assert mates.fmr == pytest.approx(4 * mates.per_finger_fmr_bound**2)
    two_missed = decide_fingers(fitted, dict(zip(fingers, (0.4, 0.35, 0.0, 0.0))), 1e-3)
    assert two_missed.match is False
    impostor = decide_fingers(fitted, dict.fromkeys(fingers, 0.02), 1e-3)
    assert impostor.match is False and impostor.threshold == mates.threshold


def test_the_rule_fails_a_check_when_fingers_are_taken_as_independent(monkeypatch):
    """Mutation check: with the groups replaced by single fingers (u^4, independence assumed), the rule's threshold
    falls, so a slap of impostor-level fingers that the pair rule refuses is accepted."""
    fitted = calibration()
    fingers = {f"finger:{k}": 0.045 for k in ("right-index", "right-middle", "right-ring", "right-little")}
    honest = decide_fingers(fitted, fingers, 1e-3)
    monkeypatch.setattr(multifinger, "group_sizes", lambda n: [1] * n if n >= 2 else [])
    independent = decide_fingers(fitted, fingers, 1e-3)
    assert independent.threshold < honest.threshold
    assert honest.match is False and independent.match is True
    assert math.isclose(independent.fmr, independent.per_finger_fmr_bound**4, rel_tol=1e-9)


def test_an_allowance_raises_the_multi_finger_threshold():
    import dataclasses

    fitted = calibration()
    scores = {f"finger:{k}": 0.1 for k in ("right-index", "right-middle", "right-ring", "right-little")}
    plain = decide_fingers(fitted, scores, 1e-3)
    widened = decide_fingers(dataclasses.replace(fitted, fmr_allowance=3.0), scores, 1e-3)
    assert widened.threshold > plain.threshold and widened.fmr <= 1e-3


SHIPPED_FINGER_CALIBRATIONS = (
    "finger-contactless-leader-mcc-v1.json",
    "finger-contact-leader-mcc-v1.json",
    "cross-contactless-contact-leader-mcc-v1.json",
)


@pytest.mark.parametrize("name", SHIPPED_FINGER_CALIBRATIONS)
def test_the_first_row_meeting_the_target_is_found_with_a_few_bounds(name, monkeypatch):
    # Each row's bound is a bisection over the binomial distribution, costly for a row of many false matches: taken
    # row by row from the top, a decision cost 0.35 s of CPU on the contactless calibration and 7.9 s on the contact
    # one. The rows' bounds only fall, so the first that meets the target is found by bisection.
    shipped = load_calibration(DEFAULT_FACE_CALIBRATION_PATH.parent / name)
    bounded = []
    monkeypatch.setattr(multifinger, "binomial_upper_bound", lambda *a: bounded.append(a) or binomial_upper_bound(*a))
    for fingers in (2, 3, 4, 5):
        for target in (1e-2, 1e-3, 1e-4):
            bounded.clear()
            decision = decide_fingers(shipped, {str(finger): 0.03 for finger in range(fingers)}, target)
            assert len(bounded) <= 2 * math.ceil(math.log2(len(shipped.rows))) + 2, (fingers, target, len(bounded))
            expected = row_by_row(shipped, fingers, target)  # the first row whose rule meets the target, or none
            if expected is None:
                assert decision.match is None and decision.reason == "beyond_calibration"
            else:
                assert (decision.threshold, decision.fmr) == expected


def row_by_row(shipped, fingers: int, target: float) -> tuple[float, float] | None:
    for row in shipped.rows:
        # A bound is never below the observed rate: rows whose observed rate misses are not bounded (a bound of a row
        # of thousands of false matches takes a second).
        if rule_bound(min(1.0, row.false_matches / shipped.n_impostor * shipped.fmr_allowance), fingers) > target:
            continue
        per_finger = min(1.0, binomial_upper_bound(row.false_matches, shipped.n_impostor) * shipped.fmr_allowance)
        if rule_bound(per_finger, fingers) <= target:
            return row.threshold, rule_bound(per_finger, fingers)
    return None


def test_the_rules_rate_at_the_fingers_own_scores_decides_as_the_rule_does():
    fitted = calibration()
    rng = np.random.default_rng(3)
    fingers = ("right-index", "right-middle", "right-ring", "right-little")
    decided = set()
    for count in (2, 3, 4):
        for _ in range(200):
            scores = dict(zip(fingers[:count], rng.uniform(0.0, 0.35, count)))
            rate = multifinger.rule_rate(fitted, scores)
            decision = decide_fingers(fitted, scores, 1e-2)
            assert (rate.fmr <= 1e-2) == decision.match, (scores, rate, decision)
            if decision.match:
                # a bound on how often impostors reach these scores: never above the rate at the decision's threshold
                assert rate.fmr <= decision.fmr
            decided.add(decision.match)
    assert decided == {True, False}


def test_the_rules_rate_of_one_finger_is_its_bound_and_below_every_row_is_one():
    fitted = calibration()
    row = fitted.rows[len(fitted.rows) // 2]
    one = multifinger.rule_rate(fitted, {"right-index": row.threshold})
    assert one.threshold == row.threshold
    assert one.fmr == one.per_finger_fmr_bound == binomial_upper_bound(row.false_matches, fitted.n_impostor)
    nothing = multifinger.rule_rate(fitted, {"right-index": fitted.rows[0].threshold - 1, "right-middle": 0.9})
    assert (nothing.fmr, nothing.threshold, nothing.statistic) == (1.0, None, fitted.rows[0].threshold - 1)
