"""Several fingers of one hand, one decision: a false-match rate that does not assume the fingers independent.

For a finger kind with too few impostor comparisons to vouch for the verify
target on one finger (contactless: ~1,200 comparisons, so no single-finger
rate below ~2.5e-3), a probe of several fingers can still be decided::

    per-finger scores -> every finger (all but one, from four) at or above t -> FMR <= C x u(t)^g

``u(t)``
    The 95 % upper confidence bound (Clopper-Pearson [1]_) of one finger's
    FMR at threshold ``t``, from the calibration table's false-match count
    and ``n_impostor`` (a count of 0 gives ``1 - 0.05^(1/n)``, about ``3 / n``),
    times the calibration's ``fmr_allowance``.

``g``: what is assumed about dependence, and why
    The impostor scores of the fingers of one pair of people are *not*
    assumed independent: fingers of one hand share pattern-class tendencies
    and one capture (light, focus, skin). The assumption made is weaker: the
    fingers fall into ``g = n // 2`` groups (pairs; with an odd count one
    group of three) such that fingers *within* a group may be dependent in
    any way, even identical, while the groups are independent. Then every
    finger at or above ``t`` needs every group to be, which has probability at
    most ``u^g``: four fingers are counted as two independent pieces of
    evidence, not four. A product over all ``n`` fingers (``u^n``) would be
    valid only with evidence of independence that the shared data cannot
    give (:mod:`tessera.evaluation.contactless` measures what it can: the
    joint exceedance of two fingers of the same two people on CrossMatch).

One finger may miss, from four fingers up
    A genuine slap often has one poor finger. With ``n >= 4`` the rule
    accepts when at most one finger is below ``t``; then every group still
    has a finger at or above ``t``, which for a group of ``s`` fingers has
    probability at most ``s x u`` (union bound), so the bound becomes
    ``C x u^g`` with ``C`` the product of the group sizes (4 for four fingers).

The stated rate is an upper bound under that assumption (basis
``upper_bound``); the threshold is the lowest calibration-table row whose
bound is at most the target. With fewer than two fingers no group can be
formed and the single-finger calibration decides alone.

References
----------
.. [1] C. J. Clopper, E. S. Pearson, "The use of confidence or fiducial limits
   illustrated in the case of the binomial", Biometrika 26(4):404-413, 1934.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from tessera.match.calibration import UPPER_BOUND, Calibration, CalibrationRow

CONFIDENCE = 0.95
"""One-sided confidence of the per-finger bound ``u(t)``."""

MIN_FINGERS = 2
"""Fewest fingers a multi-finger decision is made from (one group)."""

MISS_ALLOWED_FROM = 4
"""From this many fingers, one finger below the threshold is tolerated."""

ASSUMPTION = (
    "fingers are counted in independent groups of two (three when the count is odd): within a group they may be "
    "fully dependent; the rate is an upper bound from the per-finger 95 % Clopper-Pearson bound"
)


@dataclass(frozen=True)
class MultiFingerDecision:
    """The decision on several fingers' scores, and what its false-match rate rests on.

    Attributes
    ----------
    match : bool or None
        None when no threshold reaches ``target_fmr`` (``reason`` says why).
    threshold : float or None
        The score every finger (all but ``misses_allowed``) must reach.
    fmr : float or None
        The stated rate of this rule at this threshold: an upper bound.
    fmr_basis : str
        ``"upper_bound"``.
    fingers : int
    groups : int
        Independent groups the fingers are counted as (``fingers // 2``).
    misses_allowed : int
    per_finger_fmr_bound : float or None
        ``u(threshold)``.
    fingers_at_or_above : int
    target_fmr : float
    reason : str or None
    """

    match: bool | None
    threshold: float | None
    fmr: float | None
    fingers: int
    groups: int
    misses_allowed: int
    per_finger_fmr_bound: float | None
    fingers_at_or_above: int
    target_fmr: float
    reason: str | None = None
    fmr_basis: str = UPPER_BOUND
    assumption: str = ASSUMPTION

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": "multi_finger",
            "match": self.match,
            "threshold": self.threshold,
            "fmr": self.fmr,
            "fmr_basis": self.fmr_basis,
            "fingers": self.fingers,
            "groups": self.groups,
            "misses_allowed": self.misses_allowed,
            "per_finger_fmr_bound": self.per_finger_fmr_bound,
            "fingers_at_or_above": self.fingers_at_or_above,
            "target_fmr": self.target_fmr,
            "reason": self.reason,
            "assumption": self.assumption,
        }


def binomial_upper_bound(false_matches: int, trials: int, confidence: float = CONFIDENCE) -> float:
    """The one-sided Clopper-Pearson upper confidence bound of a rate observed ``false_matches`` times in ``trials``.

    The rate ``p`` at which seeing at most ``false_matches`` has probability ``1 - confidence``, found by
    bisection on the binomial distribution function (summed in log space: ``trials`` may be large).
    """
    if trials < 1 or not 0 <= false_matches <= trials:
        raise ValueError(f"need 0 <= false_matches <= trials and trials >= 1; got {false_matches} of {trials}")
    if false_matches == trials:
        return 1.0
    alpha = 1.0 - confidence
    low, high = false_matches / trials, 1.0
    for _ in range(80):
        middle = (low + high) / 2
        if _binomial_cdf(false_matches, trials, middle) > alpha:
            low = middle
        else:
            high = middle
    return high


def _binomial_cdf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0 if k < n else 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        for i in range(k + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(term - top) for term in terms))


def group_sizes(fingers: int) -> list[int]:
    """Pairs, the last a triple when ``fingers`` is odd: ``4 -> [2, 2]``, ``5 -> [2, 3]``, ``1 -> []``."""
    if fingers < MIN_FINGERS:
        return []
    sizes = [2] * (fingers // 2)
    sizes[-1] += fingers % 2
    return sizes


def rule_bound(per_finger: float, fingers: int) -> float:
    """The stated FMR of the rule for ``fingers`` fingers when one finger's FMR is at most ``per_finger``."""
    sizes = group_sizes(fingers)
    if not sizes:
        return 1.0
    factor = math.prod(sizes) if fingers >= MISS_ALLOWED_FROM else 1
    return min(1.0, factor * per_finger ** len(sizes))


def decide_fingers(calibration: Calibration, scores: Mapping[str, float], target_fmr: float) -> MultiFingerDecision:
    """Decide on the best score of each finger (``scores`` by finger name) at ``target_fmr``.

    Parameters
    ----------
    calibration : Calibration
        The single-finger calibration of these scores' kind.
    scores : mapping of str to float
        One score per finger position (several fingers; the best per position).
    target_fmr : float
        The rate the decision must hold, e.g. ``verify_target_fmr``.

    Returns
    -------
    MultiFingerDecision
        ``match`` None with ``reason`` ``"too_few_fingers"`` or ``"beyond_calibration"`` when no
        threshold of the table reaches ``target_fmr`` for this many fingers.
    """
    fingers = len(scores)
    misses = 1 if fingers >= MISS_ALLOWED_FROM else 0
    sizes = group_sizes(fingers)
    base = MultiFingerDecision(
        match=None,
        threshold=None,
        fmr=None,
        fingers=fingers,
        groups=len(sizes),
        misses_allowed=misses,
        per_finger_fmr_bound=None,
        fingers_at_or_above=0,
        target_fmr=target_fmr,
    )
    if not sizes:
        return replace(base, reason="too_few_fingers")
    # The table's rows run up the thresholds with ever fewer false matches, so their bounds only fall: the first row
    # whose rule meets the target is found by bisection, a dozen bounds (each a bisection over the binomial
    # distribution) instead of one per row (every row before it: 0.35 s of CPU for a contactless slap, 7.9 s for
    # contact prints, where a row holds up to 26,688 false matches).
    rows = calibration.rows
    first = bisect.bisect_left(range(len(rows)), True, key=lambda i: _meets(rows[i], calibration, fingers, target_fmr))
    if first < len(rows):
        row = rows[first]
        per_finger = _per_finger_bound(row, calibration)
        above = sum(1 for score in scores.values() if score >= row.threshold)
        return replace(
            base,
            match=above >= fingers - misses,
            threshold=row.threshold,
            fmr=rule_bound(per_finger, fingers),
            per_finger_fmr_bound=per_finger,
            fingers_at_or_above=above,
        )
    return replace(base, reason="beyond_calibration")


def _per_finger_bound(row: CalibrationRow, calibration: Calibration) -> float:
    """One finger's FMR at ``row``'s threshold, as the rule states it: the upper confidence bound of the row's count
    (:func:`binomial_upper_bound`), times the calibration's allowance."""
    per_finger = min(1.0, binomial_upper_bound(row.false_matches, calibration.n_impostor))
    return min(1.0, per_finger * calibration.fmr_allowance)


def _meets(row: CalibrationRow, calibration: Calibration, fingers: int, target_fmr: float) -> bool:
    """Whether the rule at ``row``'s threshold states at most ``target_fmr``."""
    observed = min(1.0, row.false_matches / calibration.n_impostor * calibration.fmr_allowance)
    if rule_bound(observed, fingers) > target_fmr:
        return False  # the bound is never below the observed rate: no need to compute it
    return rule_bound(_per_finger_bound(row, calibration), fingers) <= target_fmr


@dataclass(frozen=True)
class RuleRate:
    """The rate the multi-finger rule states for the scores it was given, whatever the target: a p-value.

    Attributes
    ----------
    statistic : float
        The score the rule needs every finger but the misses allowed to reach: the ``fingers - misses_allowed``-th
        highest score.
    threshold : float or None
        The highest calibration-table threshold at or below ``statistic`` (None: below every row).
    per_finger_fmr_bound : float
        ``u(threshold)`` (1 below every row).
    fmr : float
        The rule's bound at ``threshold`` (one finger: ``u`` itself); impostors reach ``statistic`` at most this
        often, under the rule's assumption.
    fingers : int
    misses_allowed : int
    """

    statistic: float
    threshold: float | None
    per_finger_fmr_bound: float
    fmr: float
    fingers: int
    misses_allowed: int

    def as_dict(self) -> dict[str, object]:
        return {
            "statistic": self.statistic,
            "threshold": self.threshold,
            "per_finger_fmr_bound": self.per_finger_fmr_bound,
            "fmr": self.fmr,
            "fingers": self.fingers,
            "misses_allowed": self.misses_allowed,
            "assumption": ASSUMPTION,
        }


def rule_rate(calibration: Calibration, scores: Mapping[str, float]) -> RuleRate:
    """The rate the rule states at these fingers' own scores (best score per finger position), as a p-value.

    The rule at threshold ``t`` accepts when every finger but the misses allowed reaches ``t``; for these scores
    that holds up to ``t = statistic``, and the rule's bound at the highest table row not above it is a bound on
    how often impostors reach that statistic (a lower threshold only admits more). One finger: the per-finger
    bound ``u`` of that row (the rule needs two, the bound is valid for one).

    Raises
    ------
    ValueError
        No scores.
    """
    if not scores:
        raise ValueError("the rule's rate needs at least one finger's score")
    fingers = len(scores)
    misses = 1 if fingers >= MISS_ALLOWED_FROM else 0
    statistic = sorted(scores.values(), reverse=True)[fingers - misses - 1]
    rows = calibration.rows
    below = bisect.bisect_right([row.threshold for row in rows], statistic)
    if below == 0:
        return RuleRate(statistic, None, 1.0, 1.0, fingers, misses)
    row = rows[below - 1]
    per_finger = _per_finger_bound(row, calibration)
    fmr = rule_bound(per_finger, fingers) if fingers >= MIN_FINGERS else per_finger
    return RuleRate(statistic, row.threshold, per_finger, fmr, fingers, misses)
