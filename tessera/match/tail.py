"""Models of the upper tail of impostor scores: the false-match rates beyond what was observed.

Used by :mod:`tessera.match.calibration` where fewer than three impostor scores
were seen at or above a score (see its docstring for when a modelled rate is
stated, and the references [1]_-[4]_ cited there). Three tails are fitted to
the highest impostor scores: a generalised Pareto (peaks over threshold), a
Gaussian (a straight DET curve) and an exponential (the Pareto of shape 0);
:func:`fit_tail` drops any the highest observed scores contradict, keeps the
one that best predicts rates it was not fitted to, and sets a safety factor
so that it understates none of the rates it was checked against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np

if TYPE_CHECKING:
    from tessera.match.calibration import CalibrationConfig

RULE_OF_THREE = 3.0
"""95 % upper confidence bound on a Poisson mean when no event was observed (-ln 0.05 = 2.996)."""
MIN_AGREEMENT_COUNT = 10
"""Fewest observed scores at a level for it to be used to check a tail model: at 10 the
Poisson relative error of the measurement is about 30 %, so a disagreement is the model's."""
CONTRADICTION_P_VALUE = 0.01
"""A tail model is rejected when, under it, observing as many impostor scores as were observed at
or above one of the highest scores is this improbable (a Poisson tail probability)."""
GPD_KIND = "generalised-pareto"
GAUSSIAN_KIND = "gaussian"
TAIL_KINDS = (GPD_KIND, GAUSSIAN_KIND)
TAIL_CANDIDATES = (GPD_KIND, GAUSSIAN_KIND, "exponential")
"""Tail models :func:`fit_tail` fits and checks; ``"exponential"`` is a generalised Pareto of shape 0."""
BEST_PREDICTING_TAIL = "best-predicting"
"""``CalibrationConfig.tail_choice``: keep the candidate that best predicted rates it was not fitted to."""
HEAVIEST_TAIL = "heaviest"
"""``CalibrationConfig.tail_choice``: keep the candidate that states the highest rates far out (an upper bound)."""
TAIL_CHOICES = (BEST_PREDICTING_TAIL, HEAVIEST_TAIL)


@dataclass(frozen=True)
class TailModel:
    """A parametric model of the upper tail of the impostor scores.

    ``kind`` ``"generalised-pareto"`` (peaks over threshold [2]_), for a score
    ``s`` above ``location``::

        FMR(s) = safety_factor * exceedance_rate * (1 + shape * (s - location) / scale) ** (-1 / shape)

    which is ``... * exp(-(s - location) / scale)`` when ``shape`` is 0 (an
    exponential tail) and 0 beyond the end point ``location - scale / shape``
    when ``shape`` is negative (a bounded tail; the calibration states its
    floor there, never 0).

    ``kind`` ``"gaussian"``: the upper tail of a normal distribution fitted to
    the highest scores on the normal-deviate scale (where a DET curve [4]_ of
    Gaussian scores is straight)::

        FMR(s) = safety_factor * Q((s - location) / scale),  Q(z) = erfc(z / sqrt(2)) / 2

    Attributes
    ----------
    kind : str
        ``"generalised-pareto"`` or ``"gaussian"``.
    location : float
        Generalised Pareto: the tail threshold ``u``, a score. Gaussian: the
        normal's mean.
    scale : float
        Generalised Pareto: ``sigma``. Gaussian: the normal's standard
        deviation. In score units.
    shape : float or None
        Generalised Pareto shape ``xi`` (dimensionless); None for a Gaussian.
    exceedance_rate : float or None
        Generalised Pareto: the fraction of all impostor scores above
        ``location``; None for a Gaussian.
    safety_factor : float
        At least 1: multiplies the modelled rate so that the model does not
        understate any rate it was checked against.
    n_fitted : int
        Highest impostor scores the model was fitted to.
    min_fmr : float
        The lowest rate the calibration states from this model.
    method : str
        How the parameters were estimated, with a reference.
    validation : dict
        How well the model agreed with measured rates (see :func:`fit_tail`).
    """

    kind: str
    location: float
    scale: float
    shape: float | None
    exceedance_rate: float | None
    safety_factor: float
    n_fitted: int
    min_fmr: float
    method: str
    validation: dict[str, Any] = field(default_factory=dict, compare=False)

    def rate(self, score: float) -> float:
        """Modelled FMR at ``score``, before the calibration's cap at ``3 / n`` and its floor."""
        if self.kind == GAUSSIAN_KIND:
            return self.safety_factor * normal_survival((score - self.location) / self.scale)
        assert self.exceedance_rate is not None and self.shape is not None, "a generalised Pareto has both"
        excess = max(score - self.location, 0.0) / self.scale
        return self.safety_factor * self.exceedance_rate * _gpd_survival(excess, self.shape)

    def score_for_rate(self, fmr: float) -> float:
        """The score at which :meth:`rate` equals ``fmr`` (for a generalised Pareto, at least ``location``)."""
        if self.kind == GAUSSIAN_KIND:
            return self.location + self.scale * normal_inverse_survival(fmr / self.safety_factor)
        assert self.exceedance_rate is not None and self.shape is not None, "a generalised Pareto has both"
        tail_probability = fmr / (self.safety_factor * self.exceedance_rate)
        if tail_probability >= 1.0:
            return self.location
        if self.shape == 0.0:
            excess = -math.log(tail_probability)
        else:
            excess = (tail_probability ** (-self.shape) - 1.0) / self.shape
        return self.location + self.scale * excess


def fit_generalised_pareto(exceedances: np.ndarray) -> tuple[float, float]:
    """Shape and scale of a generalised Pareto distribution, by probability-weighted moments.

    Parameters
    ----------
    exceedances : array_like, shape (m,)
        Positive excesses ``x - u`` over a tail threshold ``u``; ``m >= 2``.

    Returns
    -------
    shape, scale : float
        ``xi`` and ``sigma`` of ``P(X > x) = (1 + xi x / sigma) ** (-1 / xi)``.

    Notes
    -----
    Hosking & Wallis (1987) [3]_, section 3: with the exceedances sorted
    ascending and ``p_i = (i - 0.35) / m``, ``a0 = mean(x)`` and
    ``a1 = mean((1 - p_i) x_(i))``; then ``k = a0 / (a0 - 2 a1) - 2`` and
    ``sigma = 2 a0 a1 / (a0 - 2 a1)``, where their ``k`` is ``-xi``. Unlike
    maximum likelihood it needs no iteration and is well behaved for the
    light, bounded tails of similarity scores (``xi`` near or below 0).
    """
    values = np.sort(np.asarray(exceedances, dtype=np.float64).ravel())
    if values.size < 2 or not np.all(np.isfinite(values)) or values[0] <= 0:
        smallest = values[0] if values.size else None
        raise ValueError(
            f"exceedances must be at least 2 positive finite numbers; got {values.size} value(s), smallest {smallest}"
        )
    plotting = (np.arange(1, values.size + 1) - 0.35) / values.size
    a0 = float(values.mean())
    a1 = float(np.mean((1.0 - plotting) * values))
    k = a0 / (a0 - 2.0 * a1) - 2.0
    return -k, 2.0 * a0 * a1 / (a0 - 2.0 * a1)


def fit_gaussian_tail(
    impostor_sorted: np.ndarray, tail_fraction: float, points_per_decade: int = 8
) -> tuple[float, float]:
    """Mean and standard deviation of the normal whose upper tail best matches the highest scores.

    Parameters
    ----------
    impostor_sorted : numpy.ndarray, shape (n,)
        Impostor scores, ascending.
    tail_fraction : float
        The fit uses FMR levels from this rate down to 10 / n observed scores.
    points_per_decade : int
        FMR levels per decade (evenly spaced in log FMR).

    Returns
    -------
    mean, std : float
        Least-squares line ``score = mean + std * z`` through the points
        (normal deviate ``z = Q^-1(FMR)``, score at that FMR), i.e. the tail
        of the DET curve [4]_ drawn straight; each decade weighs the same.
    """
    n = impostor_sorted.size
    levels = fmr_levels(tail_fraction * (1 + 1e-9), MIN_AGREEMENT_COUNT / n, points_per_decade)
    if len(levels) < 2:
        raise ValueError(
            f"impostor_sorted must be long enough for 2 FMR levels between tail_fraction={tail_fraction} and "
            f"{MIN_AGREEMENT_COUNT} / n; got n = {n}"
        )
    scores = np.array([impostor_sorted[n - int(math.ceil(level * n))] for level in levels])
    deviates = np.array([normal_inverse_survival(level) for level in levels])
    std, mean = np.polyfit(deviates, scores, 1)
    return float(mean), float(std)


def fit_tail(impostor_sorted: np.ndarray, config: CalibrationConfig) -> TailModel | None:
    """Fit, check and choose the tail model of ascending-sorted impostor scores.

    Three candidates are fitted to the highest ``config.tail_fraction`` of
    the scores, from the lightest tail to the heaviest:

    ``"generalised-pareto"``
        shape and scale free, by probability-weighted moments
        (:func:`fit_generalised_pareto`); a negative shape bounds the tail.
    ``"gaussian"``
        a normal tail on the normal-deviate scale (:func:`fit_gaussian_tail`).
    ``"exponential"``
        a generalised Pareto with shape fixed at 0 and scale the mean excess
        (its maximum-likelihood estimate); it decays more slowly than the
        others, so it is the conservative fallback.

    Each is checked three ways, all kept in ``TailModel.validation``:

    - *in sample*: its rate against the measured rate at FMR levels from the
      tail threshold down to 10 observed scores;
    - *hold-out*: the same kind of model fitted to random subsets
      (``config.holdout_fractions``, ``config.holdout_repeats`` draws each)
      predicts rates below what its subset can measure, which all the scores
      still measure: the very situation the extrapolation is used in;
    - *extremes*: the highest observed scores must not be improbable under it
      (Poisson tail probability below :data:`CONTRADICTION_P_VALUE`), and no
      checked point may get a modelled rate of 0.

    Of the candidates that pass the extremes check, the one with the smallest
    largest hold-out error ``|log10(model / measured)|`` is chosen; its rates
    are then multiplied by the largest factor by which it, or its hold-out
    fits, understated a measured rate (``safety_factor``, at least 1).

    Returns
    -------
    TailModel or None
        None when the tail holds fewer than ``config.min_tail_exceedances``
        scores or every candidate is contradicted; the calibration then
        states upper bounds only.
    """
    n = impostor_sorted.size
    candidates: dict[str, dict[str, Any]] = {}
    for candidate in TAIL_CANDIDATES:
        model = _fit_candidate(impostor_sorted, config, candidate)
        if model is None:
            return None
        holdouts = [
            _holdout_check(impostor_sorted, config, candidate, fraction, config.seed + repeat)
            for fraction in config.holdout_fractions
            for repeat in range(config.holdout_repeats)
        ]
        in_sample = _agreement(model, impostor_sorted, below=config.tail_fraction)
        extremes = _extremes_check(model, impostor_sorted)
        holdout_points = [point for report in holdouts for point in report["points"]]
        checked = in_sample + holdout_points
        holdout_errors = [abs(point["log10_ratio"]) for point in holdout_points if point["log10_ratio"] is not None]
        candidates[candidate] = {
            "model": model,
            "in_sample": {"points": in_sample, "max_abs_log10_error": _max_abs_log10_error(in_sample)},
            "holdout": holdouts,
            "extremes": extremes,
            "contradicted": any(point["p_value"] < CONTRADICTION_P_VALUE for point in extremes)
            or any(point["log10_ratio"] is None for point in checked),
            "holdout_error": max(holdout_errors, default=math.inf),
            "understated": max(
                [1.0] + [point["measured_fmr"] / point["model_fmr"] for point in checked if point["model_fmr"] > 0]
            ),
        }
    summary = {
        candidate: {
            "location": entry["model"].location,
            "scale": entry["model"].scale,
            "shape": entry["model"].shape,
            "contradicted": entry["contradicted"],
            "in_sample_max_abs_log10_error": entry["in_sample"]["max_abs_log10_error"],
            "holdout_max_abs_log10_error": None if math.isinf(entry["holdout_error"]) else entry["holdout_error"],
            "largest_understatement": round(entry["understated"], 4),
        }
        for candidate, entry in candidates.items()
    }
    usable = [candidate for candidate, entry in candidates.items() if not entry["contradicted"]]
    if not usable:
        return None
    floor = RULE_OF_THREE / n * 10.0**-config.extrapolation_decades
    if config.tail_choice == HEAVIEST_TAIL:
        # An upper bound: the tail that reaches the floor latest, with its own safety factor.
        chosen = max(
            usable,
            key=lambda candidate: replace(
                candidates[candidate]["model"], safety_factor=candidates[candidate]["understated"]
            ).score_for_rate(floor),
        )
    else:
        chosen = min(usable, key=lambda candidate: candidates[candidate]["holdout_error"])
    entry = candidates[chosen]
    model = entry["model"]
    keep = (
        "the heaviest: the one whose floor rate is reached at the highest score (an upper bound)"
        if config.tail_choice == HEAVIEST_TAIL
        else "the smallest largest hold-out |log10(model / measured)|"
    )
    validation = {
        "chosen": chosen,
        "rule": (
            "fit generalised-pareto (free shape), gaussian and exponential tails; drop any under which a top "
            f"observed score is improbable (Poisson p < {CONTRADICTION_P_VALUE}) or a checked rate gets 0; keep "
            f"{keep}; safety_factor = largest measured / model over its in-sample and hold-out points, at least 1"
        ),
        "candidates": summary,
        "log10_ratio": "log10(model_fmr / measured_fmr) before the safety factor; negative: the model understated",
        "in_sample": entry["in_sample"],
        "holdout": entry["holdout"],
        "extremes": entry["extremes"],
    }
    return TailModel(
        kind=model.kind,
        location=model.location,
        scale=model.scale,
        shape=model.shape,
        exceedance_rate=model.exceedance_rate,
        safety_factor=math.ceil(entry["understated"] * 1e4) / 1e4,  # rounded up: the factor must not shrink
        n_fitted=model.n_fitted,
        min_fmr=float(f"{floor:.3g}"),
        method=model.method,
        validation=validation,
    )


def widen_tail(tail: TailModel, allowance: float, record: dict[str, Any] | None = None) -> TailModel:
    """``tail`` with its rates multiplied by ``allowance`` (>= 1): a held-out allowance on top of its safety factor.

    The safety factor of :func:`fit_tail` makes the model overstate none of the rates of the data it was fitted
    to; people the fit never saw can still show more false matches. ``allowance`` is what such people showed
    (see :func:`tessera.evaluation.calibrate.tail_allowance`); the widened model states ``allowance`` times the
    fitted rates, so it is an upper bound as far as they can tell. The fitted factor and the allowance are
    kept in ``validation`` (``fitted_safety_factor``, ``held_out_allowance``), with ``record`` (how the
    allowance was measured) under ``held_out_allowance_record``.

    Raises
    ------
    ValueError
        ``allowance`` is not a finite number >= 1.
    """
    if not (is_number(allowance) and allowance >= 1.0):
        raise ValueError(f"allowance must be a finite number >= 1; got {allowance!r}")
    fitted = tail.validation.get("fitted_safety_factor", tail.safety_factor)
    validation = {
        **tail.validation,
        "fitted_safety_factor": fitted,
        "held_out_allowance": allowance,
        "held_out_allowance_record": record,
    }
    return replace(
        tail,
        safety_factor=math.ceil(fitted * allowance * 1e4) / 1e4,  # rounded up: the factor must not shrink
        validation=validation,
    )


def _fit_candidate(impostor_sorted: np.ndarray, config: CalibrationConfig, candidate: str) -> TailModel | None:
    n = impostor_sorted.size
    in_tail = int(round(config.tail_fraction * n))
    if in_tail < config.min_tail_exceedances or in_tail >= n:
        return None
    location = float(impostor_sorted[n - in_tail - 1])
    exceedances = impostor_sorted[n - in_tail :] - location
    exceedances = exceedances[exceedances > 0]  # ties with the threshold are not above it
    if exceedances.size < config.min_tail_exceedances:
        return None
    fitted_to = f"the highest {config.tail_fraction:g} of impostor scores ({exceedances.size:,})"
    if candidate == "gaussian":
        mean, std = fit_gaussian_tail(impostor_sorted, config.tail_fraction, config.gaussian_points_per_decade)
        if std <= 0:
            return None
        return TailModel(
            kind=GAUSSIAN_KIND,
            location=mean,
            scale=std,
            shape=None,
            exceedance_rate=None,
            safety_factor=1.0,
            n_fitted=int(exceedances.size),
            min_fmr=0.0,
            method=(
                f"normal tail fitted to {fitted_to}: least-squares line of score on normal deviate Q^-1(FMR) at "
                f"{config.gaussian_points_per_decade} FMR levels per decade down to {MIN_AGREEMENT_COUNT} observed "
                "scores (a straight DET curve: Martin et al., Eurospeech 1997)"
            ),
        )
    if candidate == "generalised-pareto":
        shape, scale = fit_generalised_pareto(exceedances)
        how = "shape and scale by probability-weighted moments (Hosking & Wallis, Technometrics 29(3):339-349, 1987)"
    else:
        shape, scale = 0.0, float(exceedances.mean())
        how = "shape fixed at 0 (exponential tail), scale = mean excess (maximum likelihood)"
    if not scale > 0:
        return None
    return TailModel(
        kind=GPD_KIND,
        location=location,
        scale=float(scale),
        shape=float(shape),
        exceedance_rate=exceedances.size / n,
        safety_factor=1.0,
        n_fitted=int(exceedances.size),
        min_fmr=0.0,
        method=f"generalised Pareto over {fitted_to} (peaks over threshold); {how}",
    )


def _holdout_check(
    impostor_sorted: np.ndarray, config: CalibrationConfig, candidate: str, fraction: float, seed: int
) -> dict[str, Any]:
    """Fit on a random subset; compare its extrapolations with the rates all the scores measure."""
    n = impostor_sorted.size
    subset = impostor_sorted[np.random.default_rng(seed).random(n) < fraction]  # stays sorted
    report: dict[str, Any] = {"fraction": fraction, "seed": seed, "n_impostor": int(subset.size), "points": []}
    try:
        model = _fit_candidate(subset, config, candidate)
    except ValueError:
        model = None
    if model is None:
        report["note"] = "too few scores in the subset to fit a tail model"
        return report
    subset_resolution = RULE_OF_THREE / subset.size
    points = _agreement(model, impostor_sorted, below=subset_resolution)
    report.update(
        {
            "location": model.location,
            "scale": model.scale,
            "shape": model.shape,
            "subset_resolution": short_rate(subset_resolution),
            "points": points,
            "max_abs_log10_error": _max_abs_log10_error(points),
        }
    )
    return report


def _agreement(model: TailModel, impostor_sorted: np.ndarray, below: float) -> list[dict[str, Any]]:
    """Model rate against measured rate at round FMR levels under ``below`` with >= 10 scores observed."""
    n = impostor_sorted.size
    points = []
    for level in fmr_levels(below, MIN_AGREEMENT_COUNT / n, rows_per_decade=4):
        threshold = float(impostor_sorted[n - int(math.ceil(level * n))])
        if threshold <= model.location:
            continue
        measured = (n - int(np.searchsorted(impostor_sorted, threshold, side="left"))) / n
        modelled = model.rate(threshold)
        points.append(
            {
                "threshold": round(threshold, 6),
                "measured_fmr": short_rate(measured),
                "model_fmr": short_rate(modelled),
                # None: the model puts no probability where scores were observed (past a bounded tail's end).
                "log10_ratio": round(math.log10(modelled / measured), 3) if modelled > 0 else None,
            }
        )
    return points


def _extremes_check(model: TailModel, impostor_sorted: np.ndarray) -> list[dict[str, Any]]:
    """How probable the highest observed impostor scores are under ``model`` (Poisson tail probabilities)."""
    n = impostor_sorted.size
    points = []
    for count in range(1, min(MIN_AGREEMENT_COUNT, n) + 1):
        score = float(impostor_sorted[n - count])
        observed = n - int(np.searchsorted(impostor_sorted, score, side="left"))
        expected = n * model.rate(score)
        points.append(
            {
                "score": round(score, 6),
                "observed": observed,
                "expected": short_rate(expected),
                "p_value": short_rate(_poisson_at_least(observed, expected)),
            }
        )
    return points


def _poisson_at_least(count: int, mean: float) -> float:
    """P(N >= count) for N ~ Poisson(mean)."""
    if count <= 0:
        return 1.0
    if mean <= 0.0:
        return 0.0
    term = math.exp(-mean)
    below = term
    for j in range(1, count):
        term *= mean / j
        below += term
    return max(0.0, 1.0 - below)


def _max_abs_log10_error(points: list[dict[str, Any]]) -> float | None:
    """Largest |log10(model / measured)|; None without points or where the model gave 0 (no finite error)."""
    if not points or any(point["log10_ratio"] is None for point in points):
        return None
    largest: float = max(abs(point["log10_ratio"]) for point in points)
    return largest


def fmr_levels(top: float, bottom: float, rows_per_decade: int) -> list[float]:
    """FMR levels 10^(-k / rows_per_decade) with ``bottom <= level < top``, descending."""
    if top <= bottom:
        return []
    first = math.floor(-math.log10(top) * rows_per_decade + 1e-9) + 1
    last = math.floor(-math.log10(bottom) * rows_per_decade + 1e-9)
    return [10.0 ** (-k / rows_per_decade) for k in range(first, last + 1)]


def tail_to_dict(tail: TailModel) -> dict[str, Any]:
    formula = {
        GPD_KIND: "fmr(s) = safety_factor * exceedance_rate * (1 + shape * (s - location) / scale) ** (-1 / shape)",
        GAUSSIAN_KIND: "fmr(s) = safety_factor * erfc((s - location) / scale / sqrt(2)) / 2",
    }[tail.kind]
    return {
        "kind": tail.kind,
        "formula": formula,
        "method": tail.method,
        "location": tail.location,
        "scale": tail.scale,
        "shape": tail.shape,
        "exceedance_rate": tail.exceedance_rate,
        "safety_factor": tail.safety_factor,
        "n_fitted": tail.n_fitted,
        "min_fmr": tail.min_fmr,
        "validation": tail.validation,
    }


def tail_from_dict(raw: object) -> TailModel | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError(f"'tail_model' must be an object or null; got {type(raw).__name__}")
    kind = raw.get("kind")
    if kind not in TAIL_KINDS:
        raise ValueError(f"'tail_model.kind' must be one of {list(TAIL_KINDS)}; got {kind!r}")
    # A Gaussian tail has no shape or exceedance rate; a generalised Pareto needs both.
    needed: tuple[str, ...] = ("location", "scale", "safety_factor", "min_fmr")
    if kind == GPD_KIND:
        needed += ("shape", "exceedance_rate")
    numbers = {}
    for name in needed:
        value = raw.get(name)
        if not is_number(value):
            raise ValueError(f"'tail_model.{name}' must be a finite number for kind {kind!r}; got {value!r}")
        numbers[name] = float(value)
    if kind == GPD_KIND and not 0.0 < numbers["exceedance_rate"] <= 1.0:
        raise ValueError(f"'tail_model.exceedance_rate' must be in (0, 1]; got {numbers['exceedance_rate']}")
    if numbers["scale"] <= 0.0:
        raise ValueError(f"'tail_model.scale' must be > 0; got {numbers['scale']}")
    if numbers["safety_factor"] < 1.0:
        raise ValueError(f"'tail_model.safety_factor' must be >= 1; got {numbers['safety_factor']}")
    if not 0.0 < numbers["min_fmr"] < 1.0:
        raise ValueError(f"'tail_model.min_fmr' must be in (0, 1); got {numbers['min_fmr']}")
    n_fitted = raw.get("n_fitted")
    if isinstance(n_fitted, bool) or not isinstance(n_fitted, int) or n_fitted < 2:
        raise ValueError(f"'tail_model.n_fitted' must be an integer >= 2; got {n_fitted!r}")
    validation = raw.get("validation", {})
    if not isinstance(validation, dict):
        raise ValueError(f"'tail_model.validation' must be an object; got {type(validation).__name__}")
    return TailModel(
        kind=kind,
        location=numbers["location"],
        scale=numbers["scale"],
        shape=numbers.get("shape"),
        exceedance_rate=numbers.get("exceedance_rate"),
        safety_factor=numbers["safety_factor"],
        n_fitted=n_fitted,
        min_fmr=numbers["min_fmr"],
        method=str(raw.get("method", "")),
        validation=validation,
    )


def _gpd_survival(excess: float, shape: float) -> float:
    """P(X > excess) for a unit-scale generalised Pareto variable; 0 past a bounded tail's end."""
    if shape == 0.0:
        return math.exp(-excess)
    base = 1.0 + shape * excess
    if base <= 0.0:
        return 0.0
    return math.exp(-math.log(base) / shape)


def normal_survival(z: float) -> float:
    """Q(z) = P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def normal_inverse_survival(probability: float) -> float:
    """The z with Q(z) = ``probability``, by bisection (Q is monotone; 200 halvings reach float precision)."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability must be in (0, 1); got {probability}")
    low, high = -40.0, 40.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if normal_survival(middle) > probability:
            low = middle
        else:
            high = middle
        if high - low < 1e-15:
            break
    return 0.5 * (low + high)


def is_number(value: object) -> TypeGuard[float]:
    """True for a finite ``int`` or ``float`` that is not a ``bool`` (what JSON calls a number, bar NaN)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def short_rate(rate: float) -> float:
    """A rate to 6 significant digits: all the precision a count of comparisons supports."""
    return float(f"{rate:.6g}")
