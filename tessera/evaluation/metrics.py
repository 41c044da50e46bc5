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

import numpy as np

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


def at_or_above(sorted_scores: np.ndarray, thresholds) -> np.ndarray | int:
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


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """The equal error rate and the threshold where FMR and FNMR cross.

    FNMR rises and FMR falls as the threshold rises. Both are evaluated at
    every genuine score and at 2,001 impostor quantiles; between the two
    thresholds where FNMR - FMR changes sign, the rates are interpolated
    linearly to the crossing, and the EER is the rate there.

    Parameters
    ----------
    genuine, impostor : numpy.ndarray
        Scores, each sorted ascending; ``-inf`` allowed.

    Returns
    -------
    eer : float
        In [0, 1].
    threshold : float
    """
    finite_genuine = genuine[np.isfinite(genuine)]
    # Sorted ascending, so the refused (-inf) come first and quantiles are positions.
    finite_impostor = impostor[int(np.searchsorted(impostor, -math.inf, side="right")) :]
    positions = np.linspace(0, finite_impostor.size - 1, 2001).round().astype(np.int64)
    candidates = np.concatenate(
        [
            finite_genuine,
            finite_impostor[positions] if finite_impostor.size else [],
            np.nextafter(finite_genuine, math.inf),
        ]
    )
    thresholds = np.unique(candidates.astype(np.float64))
    if thresholds.size == 0:
        return 0.5, 0.0
    fmr, fnmr = error_rates(genuine, impostor, thresholds)
    difference = fnmr - fmr
    after = int(np.argmax(difference >= 0)) if np.any(difference >= 0) else thresholds.size - 1
    if after == 0 or difference[after] < 0:
        return float((fmr[after] + fnmr[after]) / 2), float(thresholds[after])
    before = after - 1
    span = difference[after] - difference[before]
    fraction = 0.0 if span == 0 else -difference[before] / span
    eer = fmr[before] + fraction * (fmr[after] - fmr[before])
    threshold = thresholds[before] + fraction * (thresholds[after] - thresholds[before])
    return float(eer), float(threshold)


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


def probit(probability: np.ndarray | float) -> np.ndarray:
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
    fnmr_at_fmr: dict
    thresholds: dict
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
    point_thresholds, point_fnmr = {}, {}
    for target in targets:
        if not supported(scores.n_impostor, target):
            point_thresholds[target] = None
            continue
        threshold = threshold_at_fmr(descending, target, np.ones(descending.size), total=scores.n_impostor)
        point_thresholds[target] = threshold
        point_fnmr[target] = fnmr_at(genuine_sorted, threshold)
    samples = {target: [] for target in point_fnmr}
    eer_samples = []
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
        if scores.subject_images is None:
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
            _weighted_eer(
                genuine_by_score,
                cumulative_genuine / genuine_total,
                descending,
                cumulative_impostor / impostor_total,
                scores.subject_images is None,
            )
        )
    fnmr = {}
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


def _weighted_eer(genuine_by_score, genuine_cdf, tail_descending, tail_fmr, complete: bool) -> float:
    """EER of one replicate, at the genuine scores as thresholds; NaN when the tail ends before the crossing."""
    finite = genuine_by_score[np.isfinite(genuine_by_score)]
    if finite.size == 0:
        return math.nan
    # FNMR just below each genuine score, and FMR at it (weighted share of impostors >= it).
    fnmr = genuine_cdf[np.searchsorted(genuine_by_score, finite, side="left")]
    admitted = np.searchsorted(-tail_descending, -finite, side="right")  # tail ascending when negated
    covered = np.full(admitted.shape, True) if complete else admitted < tail_descending.size
    fmr = np.where(admitted > 0, tail_fmr[np.maximum(admitted - 1, 0)], 0.0)
    difference = fnmr - fmr
    crossing = np.flatnonzero((difference >= 0) & covered)
    if crossing.size == 0:
        return math.nan
    after = int(crossing[0])
    if after == 0:
        return float((fmr[0] + fnmr[0]) / 2)
    before = after - 1
    span = difference[after] - difference[before]
    fraction = 0.0 if span == 0 else -difference[before] / span
    return float(fmr[before] + fraction * (fmr[after] - fmr[before]))


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
