"""Error rates from comparison scores: FMR, FNMR, EER, DET, and their confidence intervals.

Conventions (ISO/IEC 19795-1): a comparison *matches* when its score is at or
above the threshold ``t``;

- FMR(t), the false-match rate, is the fraction of impostor comparisons
  (two different people) scoring ``>= t``;
- FNMR(t), the false-non-match rate, is the fraction of genuine comparisons
  (one person) scoring ``< t``.

A comparison that could not be made because the pipeline refused an image is
given the score ``-inf``: it never matches, so a refused genuine comparison
is a false non-match and a refused impostor comparison a correct rejection,
and both stay in the denominators (the *generalised* rates of ISO/IEC
19795-1, section 8.3). Nothing is dropped.

Comparisons in a biometric test share images and people, so they are not
independent. Confidence intervals here resample *subjects* with replacement
and recompute the rate from every comparison of the resampled subjects (the
"subsets bootstrap" of Bolle, Ratha and Pankanti, "Error analysis of pattern
recognition systems: the subsets bootstrap", Computer Vision and Image
Understanding 93(1), 2004), which keeps the correlation between comparisons
of one person.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import overload

import numpy as np
import numpy.typing as npt

MIN_EVENTS = 3
"""Fewest impostor comparisons a target FMR must allow (``n_impostor * target``) for the rate to be
measured at all; below it the threshold would sit above every impostor score and say nothing.
The same rule of three as the calibration (:data:`tessera.match.calibration.MIN_OBSERVED_FALSE_MATCHES`)."""

CONFIDENCE = 0.95
"""Level of every confidence interval reported."""

EXACT_TAIL = 50_000
"""Highest impostor scores each bootstrap replicate weighs one by one."""
THINNED_TAIL = 150_000
"""Beyond :data:`EXACT_TAIL`, about this many evenly spaced impostor scores stand for the rest in each
replicate (every k-th score counting k times): a 2,000,000-score tail costs a replicate what a
200,000-score one does, and moves a rate near FMR 1e-2 by a small fraction of its interval."""

EER_BRACKETS = 2001
"""Quantiles of the genuine and of the impostor scores between which :func:`equal_error_rate` first brackets
the crossing; it is then found exactly among the scores of the bracket. Any number gives the same EER."""

_NORMAL = NormalDist()


@dataclass(frozen=True)
class ScoreSet:
    """Genuine and impostor scores, each comparison tied to its subject(s).

    Attributes
    ----------
    genuine : numpy.ndarray, shape (g,), float64
        Genuine scores, ``-inf`` where an image was refused.
    genuine_subject : numpy.ndarray, shape (g,), int64
        Subject of each genuine comparison, in ``range(n_subjects)``.
    impostor : numpy.ndarray, shape (m,), float32, ascending
        Every impostor score, ``-inf`` where an image was refused.
    tail : numpy.ndarray, shape (k,), float64, descending
        The highest impostor scores (all of them when ``subject_images`` is None).
    tail_a, tail_b : numpy.ndarray, shape (k,), int64
        The two subjects of each ``tail`` comparison.
    n_subjects : int
    subject_images : numpy.ndarray, shape (n_subjects,), int64, or None
        When every pair of images of two different subjects is an impostor
        comparison (all-pairs protocols), the images of each subject, refused
        ones included: a bootstrap replicate's impostor total then has a
        closed form and ``tail`` need only hold the highest scores. None when
        the impostor comparisons are a list (``tail`` then holds them all).
    """

    genuine: np.ndarray
    genuine_subject: np.ndarray
    impostor: np.ndarray
    tail: np.ndarray
    tail_a: np.ndarray
    tail_b: np.ndarray
    n_subjects: int
    subject_images: np.ndarray | None = None

    @property
    def n_genuine(self) -> int:
        return int(self.genuine.size)

    @property
    def n_impostor(self) -> int:
        return int(self.impostor.size)


def score_set_from_pairs(
    scores: np.ndarray, same: np.ndarray, subject_a: np.ndarray, subject_b: np.ndarray, n_subjects: int
) -> ScoreSet:
    """A :class:`ScoreSet` from a list of pairs (e.g. LFW ``pairs.txt``).

    Parameters
    ----------
    scores : numpy.ndarray, shape (n,)
        Score of each pair, ``-inf`` where an image was refused.
    same : numpy.ndarray, shape (n,), bool
        True for genuine pairs.
    subject_a, subject_b : numpy.ndarray, shape (n,), int
        Subjects of the two sides.
    n_subjects : int
        Subjects indexed by ``subject_a`` and ``subject_b``.
    """
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    order = np.argsort(-scores[~same], kind="stable")
    impostor = scores[~same]
    return ScoreSet(
        genuine=scores[same],
        genuine_subject=np.asarray(subject_a)[same].astype(np.int64),
        impostor=np.sort(impostor).astype(np.float32),
        tail=impostor[order],
        tail_a=np.asarray(subject_a)[~same][order].astype(np.int64),
        tail_b=np.asarray(subject_b)[~same][order].astype(np.int64),
        n_subjects=int(n_subjects),
        subject_images=None,
    )


# --- point estimates -----------------------------------------------------------------------------


@overload
def at_or_above(sorted_scores: np.ndarray, thresholds: float) -> int: ...
@overload
def at_or_above(sorted_scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray: ...


def at_or_above(sorted_scores: np.ndarray, thresholds: float | np.ndarray) -> np.ndarray | int:
    """How many of ``sorted_scores`` (ascending) are ``>= threshold``, for each threshold.

    Exact whatever the two dtypes: a float64 threshold is rounded *up* to the
    scores' dtype (the smallest float32 not below it), so comparing does not
    convert a large float32 array to float64 on every call.
    """
    keys = np.asarray(thresholds, dtype=np.float64)
    if sorted_scores.dtype != np.float64:
        rounded = keys.astype(sorted_scores.dtype)
        keys = np.where(rounded < keys, np.nextafter(rounded, np.array(np.inf, dtype=rounded.dtype)), rounded)
    counts = sorted_scores.size - np.searchsorted(sorted_scores, keys, side="left")
    return int(counts) if np.ndim(counts) == 0 else counts


def error_rates(genuine: np.ndarray, impostor: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FMR and FNMR at each threshold.

    Parameters
    ----------
    genuine, impostor : numpy.ndarray
        Scores, each sorted ascending.
    thresholds : numpy.ndarray, shape (t,)

    Returns
    -------
    fmr, fnmr : numpy.ndarray, shape (t,), float64
    """
    thresholds = np.asarray(thresholds, dtype=np.float64)
    fmr = at_or_above(impostor, thresholds) / max(impostor.size, 1)
    fnmr = (genuine.size - at_or_above(genuine, thresholds)) / max(genuine.size, 1)
    return fmr.astype(np.float64), fnmr.astype(np.float64)


def supported(n_impostor: int, target_fmr: float) -> bool:
    """Whether ``n_impostor`` comparisons can measure an FMR as low as ``target_fmr`` (:data:`MIN_EVENTS`)."""
    return n_impostor * target_fmr >= MIN_EVENTS


def threshold_at_fmr(
    impostor_descending: np.ndarray, target_fmr: float, weights: np.ndarray | None = None, total: float | None = None
) -> float:
    """The lowest threshold whose FMR is at most ``target_fmr``.

    Parameters
    ----------
    impostor_descending : numpy.ndarray, shape (k,)
        The highest impostor scores, sorted descending (all of them, or at
        least every one a threshold at ``target_fmr`` lets through).
    target_fmr : float
        In (0, 1].
    weights : numpy.ndarray, shape (k,), optional
        Weight of each comparison (a bootstrap replicate's multiplicity); 1 by default.
    total : float, optional
        Total weight of all impostor comparisons, those below the tail
        included; default the sum of ``weights`` (the tail holds them all).

    Returns
    -------
    float
        A threshold ``t`` such that the weighted share of impostor scores
        ``>= t`` is at most ``target_fmr``, and admitting the next lower
        score would exceed it: just above that score (ties stay out). NaN when
        the tail is too short to tell; ``-inf`` when every impostor may match.
    """
    weights = np.ones(impostor_descending.size) if weights is None else weights
    cumulative = np.cumsum(weights, dtype=np.float64)
    total = float(cumulative[-1]) if total is None and cumulative.size else float(total or 0.0)
    return _threshold_from_cumulative(impostor_descending, cumulative, target_fmr * total, total)


def _threshold_from_cumulative(descending: np.ndarray, cumulative: np.ndarray, allowed: float, total: float) -> float:
    """Threshold letting through the longest prefix of ``descending`` whose weight stays within ``allowed``.

    ``total`` is the weight of every impostor comparison; when the prefix is the whole tail and the
    tail holds less than that, what lies below it is unknown: NaN.
    """
    accepted = int(np.searchsorted(cumulative, allowed * (1 + 1e-12), side="right"))
    if accepted >= descending.size:
        complete = cumulative.size == 0 or cumulative[-1] >= total * (1 - 1e-12)
        return -math.inf if complete else math.nan
    return float(np.nextafter(descending[accepted], math.inf))


def fnmr_at(genuine_sorted: np.ndarray, threshold: float) -> float:
    """Share of genuine scores below ``threshold`` (``genuine_sorted`` ascending)."""
    return (genuine_sorted.size - at_or_above(genuine_sorted, threshold)) / max(genuine_sorted.size, 1)


def equal_error_rate(
    genuine: np.ndarray,
    impostor: np.ndarray,
    genuine_weights: np.ndarray | None = None,
    impostor_weights: np.ndarray | None = None,
    impostor_total: float | None = None,
) -> tuple[float, float]:
    """The equal error rate as FVC defines it, and the threshold it is read at.

    FNMR rises and FMR falls as the threshold rises. With ``t1`` the highest
    threshold where FNMR <= FMR and ``t2`` the lowest where FNMR >= FMR
    (thresholds: every distinct score, and above the highest), the EER lies
    in the interval between the two rates at whichever of ``t1``, ``t2`` has
    the smaller FNMR + FMR; the EER is its midpoint (Maio et al., "FVC2000:
    Fingerprint verification competition", IEEE TPAMI 24(3), 2002, section 3).
    Every evaluation in Tessera (LFW, FVC, the fusion) reads its EER here.

    Only the scores near the crossing are visited: FNMR - FMR never falls as
    the threshold rises, so the crossing is first bracketed between two of
    :data:`EER_BRACKETS` quantiles of each kind of score, then found exactly
    among the scores inside the bracket. Tens of millions of sorted impostor
    scores cost a few searches, not a sort.

    Parameters
    ----------
    genuine, impostor : numpy.ndarray
        Scores, ``-inf`` allowed (a refused comparison never matches). Sorted
        ascending or not; already sorted ones are not copied.
    genuine_weights, impostor_weights : numpy.ndarray, optional
        Weight of each score (a bootstrap replicate's multiplicity), >= 0; 1 by default.
    impostor_total : float, optional
        Total weight of *all* impostor comparisons when ``impostor`` holds only
        the highest of them (a tail); default: the weight of ``impostor``.
        Below the tail's lowest score the FMR is unknown.

    Returns
    -------
    eer : float
        In [0, 1]; NaN when the crossing lies below a tail's lowest score.
    threshold : float
        ``t1`` or ``t2``, whichever the EER was read at.
    """
    genuine, genuine_weights = _ascending(genuine, genuine_weights)
    impostor, impostor_weights = _ascending(impostor, impostor_weights)
    if genuine.size == 0 or impostor.size == 0:
        return 0.5, 0.0
    fnmr_of = _fnmr_function(genuine, genuine_weights)
    fmr_of = _fmr_function(impostor, impostor_weights, impostor_total)
    coarse = np.unique(
        np.concatenate([[-math.inf], _quantiles(genuine), _quantiles(impostor), [math.inf]]).astype(np.float64)
    )
    coarse_fnmr, coarse_fmr = fnmr_of(coarse), fmr_of(coarse)
    # Bracket the crossing: from the last coarse threshold before it (FNMR < FMR, or FMR unknown below a tail)
    # to the first past it (FNMR > FMR; +inf at the latest). t1 and t2 lie between, or are these two.
    before = np.isnan(coarse_fmr) | (coarse_fnmr < coarse_fmr)
    past = np.flatnonzero(coarse_fnmr > coarse_fmr)
    low = coarse[int(np.flatnonzero(before)[-1]) if before.any() else 0]
    high = coarse[int(past[0]) if past.size else -1]
    thresholds = np.unique(
        np.concatenate([[low, high], _between(genuine, low, high), _between(impostor, low, high)]).astype(np.float64)
    )
    fnmr, fmr = fnmr_of(thresholds), fmr_of(thresholds)
    known = ~np.isnan(fmr)
    at_most = np.flatnonzero(known & (fnmr <= fmr))
    at_least = np.flatnonzero(known & (fnmr >= fmr))
    if at_most.size == 0 or at_least.size == 0 or (not known[0] and at_least[0] == np.argmax(known)):
        return math.nan, math.nan  # the crossing lies below the tail's lowest score (or may)
    first, second = int(at_most[-1]), int(at_least[0])
    if fnmr[first] + fmr[first] <= fnmr[second] + fmr[second]:
        return float((fnmr[first] + fmr[first]) / 2.0), float(thresholds[first])
    return float((fmr[second] + fnmr[second]) / 2.0), float(thresholds[second])


def _quantiles(sorted_scores: np.ndarray) -> np.ndarray:
    """:data:`EER_BRACKETS` evenly spaced order statistics of an ascending array (all of it when shorter)."""
    if sorted_scores.size <= EER_BRACKETS:
        return sorted_scores
    return sorted_scores[np.linspace(0, sorted_scores.size - 1, EER_BRACKETS).round().astype(np.int64)]


def _ascending(scores: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """``scores`` sorted ascending (not copied when they already are), with their weights in the same order."""
    scores = np.asarray(scores)
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != scores.shape:
            raise ValueError(f"weights must have one entry per score, shape {scores.shape}; got shape {weights.shape}")
    if scores.size > 1 and not bool(np.all(scores[1:] >= scores[:-1])):
        order = np.argsort(scores, kind="stable")
        scores = scores[order]
        weights = None if weights is None else weights[order]
    return scores, weights


def _between(sorted_scores: np.ndarray, low: float, high: float) -> np.ndarray:
    """The scores in [low, high] of an ascending array."""
    start = sorted_scores.size - at_or_above(sorted_scores, low)
    stop = sorted_scores.size - at_or_above(sorted_scores, np.nextafter(high, math.inf))
    return sorted_scores[start:stop]


def _fnmr_function(genuine: np.ndarray, weights: np.ndarray | None):
    """FNMR(t): the (weighted) share of ``genuine`` (ascending) below each threshold."""
    if weights is None:
        count = max(genuine.size, 1)
        return lambda thresholds: (genuine.size - at_or_above(genuine, thresholds)) / count
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    total = max(float(cumulative[-1]), 1e-12)
    return lambda thresholds: cumulative[genuine.size - at_or_above(genuine, thresholds)] / total


def _fmr_function(impostor: np.ndarray, weights: np.ndarray | None, total: float | None):
    """FMR(t): the (weighted) share of impostor comparisons at or above each threshold; NaN where a tail cannot tell."""
    if weights is None:
        cumulative = None
        given = float(impostor.size)
    else:
        cumulative = np.concatenate([[0.0], np.cumsum(weights)])
        given = float(cumulative[-1])
    total = given if total is None else float(total)
    complete = given >= total * (1 - 1e-12)
    lowest = impostor[0] if impostor.size else math.inf

    def fmr(thresholds: np.ndarray) -> np.ndarray:
        below = impostor.size - at_or_above(impostor, thresholds)
        weight_below = below if cumulative is None else cumulative[below]
        # Written as FVC writes it (1 - below / total) so that FVC figures stay what they were, bit for bit.
        rates = 1.0 - (weight_below + (total - given)) / max(total, 1e-12)
        if not complete:
            rates = np.where(thresholds > lowest, rates, math.nan)
        return np.asarray(rates, dtype=np.float64)

    return fmr


def fnmr_at_fmr(genuine: np.ndarray, impostor: np.ndarray, target_fmr: float) -> float:
    """The lowest FNMR among thresholds whose FMR is at most ``target_fmr`` (FVC's FMR100 at 0.01, FMR1000 at 0.001).

    The threshold is :func:`threshold_at_fmr`'s (ties kept out); with fewer than ``1 / target_fmr`` impostor
    comparisons it sits above the highest impostor score, so the FNMR is the one at zero false matches.

    Parameters
    ----------
    genuine, impostor : numpy.ndarray
        Every genuine and every impostor score, in any order.
    target_fmr : float
        In (0, 1].
    """
    genuine_sorted = np.sort(np.asarray(genuine, dtype=np.float64))
    impostor_descending = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    return float(fnmr_at(genuine_sorted, threshold_at_fmr(impostor_descending, target_fmr)))


def det_curve(
    genuine: np.ndarray, impostor: np.ndarray, points: int = 400
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points of the DET curve (Martin et al., Eurospeech 1997): FMR and FNMR as the threshold sweeps.

    Thresholds are the impostor scores at FMR = 10^-x for ``points`` values
    of x spread evenly from 0 down to the lowest measurable FMR, plus every
    genuine score, so both ends of the curve are resolved.

    Returns
    -------
    thresholds, fmr, fnmr : numpy.ndarray, shape (p,)
        Ascending thresholds; FMR falling, FNMR rising.
    """
    finite = impostor[int(np.searchsorted(impostor, -math.inf, side="right")) :]  # sorted: refused come first
    lowest = 1.0 / max(impostor.size, 1)
    levels = np.logspace(0, math.log10(lowest), points)
    positions = np.clip(np.round((1 - levels) * (finite.size - 1)).astype(np.int64), 0, max(finite.size - 1, 0))
    impostor_points = finite[positions] if finite.size else np.array([])
    thresholds = np.unique(np.concatenate([impostor_points, genuine[np.isfinite(genuine)]]).astype(np.float64))
    fmr, fnmr = error_rates(genuine, impostor, thresholds)
    return thresholds, fmr, fnmr


def probit(probability: npt.ArrayLike) -> np.ndarray:
    """The normal deviate of each probability (the axes of a DET plot); clipped to [1e-12, 1 - 1e-12]."""
    values = np.clip(np.asarray(probability, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.vectorize(_NORMAL.inv_cdf, otypes=[np.float64])(values)


def best_accuracy_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold that classifies the most pairs right (genuine ``>= t``, impostor ``< t``).

    Candidates are midpoints between consecutive distinct scores, and one
    below the lowest and one above the highest; among equally good ones the
    middle one is taken, so the choice does not lean towards either class.

    Parameters
    ----------
    scores : numpy.ndarray, shape (n,)
        Finite scores.
    same : numpy.ndarray, shape (n,), bool
        True for genuine pairs.
    """
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    if scores.size == 0:
        return 0.0
    distinct = np.unique(scores)
    candidates = np.concatenate([[distinct[0] - 1.0], (distinct[:-1] + distinct[1:]) / 2, [distinct[-1] + 1.0]])
    genuine = np.sort(scores[same])
    impostor = np.sort(scores[~same])
    correct = (genuine.size - np.searchsorted(genuine, candidates, side="left")) + np.searchsorted(
        impostor, candidates, side="left"
    )
    best = np.flatnonzero(correct == correct.max())
    return float(candidates[best[len(best) // 2]])


# --- intervals -----------------------------------------------------------------------------------


def wilson_interval(events: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson, JASA 22(158), 1927).

    Treats the trials as independent: for comparisons that share people,
    the interval is too narrow; use the subject bootstrap where it matters.
    """
    if trials <= 0:
        return 0.0, 1.0
    z = _NORMAL.inv_cdf(0.5 + confidence / 2)
    share = events / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_difference_interval(
    only_first: int, only_second: int, both: int, trials: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Interval for the difference of two rates measured on the same trials (Newcombe's method 10: Newcombe,
    Statistics in Medicine 17(22), 1998, pp. 2635-2650, from Wilson intervals of each rate).

    Parameters
    ----------
    only_first : int
        Trials with the event under the first method only (e.g. searches the prefilter misses and the exact
        scan does not)...
    only_second : int
        ... under the second only...
    both : int
        ... under both.
    trials : int
        Every trial (those with the event under neither too).

    Returns
    -------
    (float, float)
        Bounds of ``rate_first - rate_second`` at ``confidence``. Treats the trials as independent.
    """
    neither = trials - only_first - only_second - both
    if min(only_first, only_second, both, neither) < 0:
        raise ValueError(
            f"counts must be >= 0 and add up to at most trials; got {only_first}, {only_second}, {both} of {trials}"
        )
    if trials == 0:
        return -1.0, 1.0
    first, second = (both + only_first) / trials, (both + only_second) / trials
    low_first, high_first = wilson_interval(both + only_first, trials, confidence)
    low_second, high_second = wilson_interval(both + only_second, trials, confidence)
    margins = (both + only_first) * (only_second + neither) * (both + only_second) * (only_first + neither)
    # The correlation of the two methods' events, with Newcombe's continuity correction of a positive one.
    association = float(both * neither - only_first * only_second)
    association = association - trials / 2 if association > trials / 2 else min(association, 0.0)
    phi = association / math.sqrt(margins) if margins else 0.0
    difference = first - second
    below = (
        (first - low_first) ** 2 - 2 * phi * (first - low_first) * (high_second - second) + (high_second - second) ** 2
    )
    above = (
        (high_first - first) ** 2 - 2 * phi * (high_first - first) * (second - low_second) + (second - low_second) ** 2
    )
    return max(-1.0, difference - math.sqrt(max(below, 0.0))), min(1.0, difference + math.sqrt(max(above, 0.0)))


def poisson_interval(events: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact (Garwood, Biometrika 28, 1936) confidence interval for a Poisson mean, given ``events`` observed.

    Found by bisection on the Poisson distribution function, so it needs no
    statistics library; above 10,000 events the normal approximation is used.
    """
    if events < 0:
        raise ValueError(f"events must be >= 0; got {events}")
    tail = (1 - confidence) / 2
    if events > 10_000:
        z = _NORMAL.inv_cdf(1 - tail)
        return events - z * math.sqrt(events), events + z * math.sqrt(events)
    lower = 0.0 if events == 0 else _bisect(lambda mean: 1 - _poisson_cdf(events - 1, mean) - tail, 0.0, events)
    upper = _bisect(lambda mean: tail - _poisson_cdf(events, mean), events, events + 20 + 10 * math.sqrt(events + 1))
    return lower, upper


def _poisson_cdf(k: int, mean: float) -> float:
    if mean <= 0:
        return 1.0
    terms = [i * math.log(mean) - mean - math.lgamma(i + 1) for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(term - top) for term in terms))


def _bisect(increasing, low: float, high: float) -> float:
    for _ in range(200):
        middle = (low + high) / 2
        if increasing(middle) < 0:
            low = middle
        else:
            high = middle
    return (low + high) / 2


# --- the subject bootstrap -----------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval (NaN bounds when the bootstrap could not tell)."""

    value: float
    low: float
    high: float

    def as_dict(self) -> dict:
        return {"value": json_float(self.value), "ci95": [json_float(self.low), json_float(self.high)]}


@dataclass(frozen=True)
class VerificationRates:
    """EER and FNMR at each target FMR with their subject-bootstrap intervals.

    Attributes
    ----------
    eer : Interval
    eer_threshold : float
    fnmr_at_fmr : dict of float to Interval or None
        None where the impostor count cannot support the target (:func:`supported`).
    thresholds : dict of float to float or None
        The threshold chosen at each supported target.
    replicates : int
        Bootstrap replicates drawn.
    """

    eer: Interval
    eer_threshold: float
    fnmr_at_fmr: dict[float, Interval | None]
    thresholds: dict[float, float | None]
    replicates: int


def verification_rates(
    scores: ScoreSet, targets: Sequence[float], replicates: int = 500, seed: int = 0
) -> VerificationRates:
    """EER and FNMR at each FMR target, with 95 % intervals from the subject bootstrap.

    Each replicate draws ``n_subjects`` subjects with replacement; a subject
    drawn ``w`` times weighs ``w`` in its genuine comparisons and an
    impostor comparison of subjects ``a`` and ``b`` weighs ``w_a * w_b``.
    The threshold for each target FMR is re-chosen inside each replicate,
    so the interval covers the uncertainty of the threshold as well as of
    the FNMR. The interval is the 2.5th to 97.5th percentile of the replicates.
    Point estimates use every score; replicates weigh the highest
    :data:`EXACT_TAIL` impostor scores one by one and a systematic
    subsample of the rest (:data:`THINNED_TAIL`).
    """
    genuine_sorted = np.sort(scores.genuine)
    eer, eer_threshold = equal_error_rate(genuine_sorted, scores.impostor)
    descending = scores.tail
    point_thresholds: dict[float, float | None] = {}
    point_fnmr: dict[float, float] = {}
    for target in targets:
        if not supported(scores.n_impostor, target):
            point_thresholds[target] = None
            continue
        threshold = threshold_at_fmr(descending, target, np.ones(descending.size), total=scores.n_impostor)
        point_thresholds[target] = threshold
        point_fnmr[target] = fnmr_at(genuine_sorted, threshold)
    samples: dict[float, list[float]] = {target: [] for target in point_fnmr}
    eer_samples: list[float] = []
    rng = np.random.default_rng(seed)
    kept, multiplicity = _thinned(descending.size)
    descending = descending[kept]
    tail_a, tail_b = scores.tail_a[kept], scores.tail_b[kept]
    genuine_order = np.argsort(scores.genuine, kind="stable")
    genuine_by_score = scores.genuine[genuine_order]
    genuine_subject = scores.genuine_subject[genuine_order]
    per_subject_genuine = np.bincount(scores.genuine_subject, minlength=scores.n_subjects)
    for _ in range(replicates):
        weight = np.bincount(rng.integers(0, scores.n_subjects, scores.n_subjects), minlength=scores.n_subjects)
        weight = weight.astype(np.float64)
        genuine_weight = weight[genuine_subject]
        genuine_total = float(weight @ per_subject_genuine)
        if genuine_total == 0:
            continue
        tail_weight = weight[tail_a] * weight[tail_b] * multiplicity
        impostor_total = 0.0
        if scores.subject_images is not None:
            mass = weight * scores.subject_images
            impostor_total = float((mass.sum() ** 2 - (mass**2).sum()) / 2)
        cumulative_genuine = np.concatenate([[0.0], np.cumsum(genuine_weight)])
        cumulative_impostor = np.cumsum(tail_weight)
        if scores.subject_images is None:  # the tail holds every impostor comparison
            impostor_total = float(cumulative_impostor[-1]) if cumulative_impostor.size else 0.0
        if impostor_total == 0:
            continue
        for target in point_fnmr:
            threshold = _threshold_from_cumulative(
                descending, cumulative_impostor, target * impostor_total, impostor_total
            )
            if math.isnan(threshold):
                continue
            below = int(np.searchsorted(genuine_by_score, threshold, side="left"))
            samples[target].append(cumulative_genuine[below] / genuine_total)
        eer_samples.append(
            equal_error_rate(genuine_by_score, descending[::-1], genuine_weight, tail_weight[::-1], impostor_total)[0]
        )
    fnmr: dict[float, Interval | None] = {}
    for target in targets:
        if target not in point_fnmr:
            fnmr[target] = None
            continue
        low, high = _percentiles(samples[target])
        fnmr[target] = Interval(point_fnmr[target], low, high)
    low, high = _percentiles([value for value in eer_samples if not math.isnan(value)])
    return VerificationRates(
        eer=Interval(eer, low, high),
        eer_threshold=eer_threshold,
        fnmr_at_fmr=fnmr,
        thresholds=point_thresholds,
        replicates=replicates,
    )


def _thinned(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the tail each replicate weighs, and how many scores each stands for."""
    if size <= EXACT_TAIL + THINNED_TAIL:
        return np.arange(size), np.ones(size)
    step = math.ceil((size - EXACT_TAIL) / THINNED_TAIL)
    kept = np.concatenate([np.arange(EXACT_TAIL), np.arange(EXACT_TAIL, size, step)])
    multiplicity = np.ones(kept.size)
    multiplicity[EXACT_TAIL:] = step
    multiplicity[-1] = size - kept[-1]
    return kept, multiplicity


def _percentiles(values) -> tuple[float, float]:
    if len(values) < 20:
        return math.nan, math.nan
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(np.asarray(values, dtype=np.float64), [tail, 100 - tail])
    return float(low), float(high)


def json_float(value: float | None) -> float | None:
    """A float for JSON: None for NaN, rounded to 6 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(f"{value:.6g}")
