"""What a comparison score means: the false-match rate it stands for.

A :class:`Calibration` is a table "threshold → FMR, FNMR" measured on a named
data set with a named template algorithm, kept as a small versioned JSON
file beside the code (``calibrations/``). A comparison *matches* when its
score is at or above the threshold, so at threshold ``t``

- FMR (false-match rate) is the fraction of impostor comparisons (two
  different people) scoring ``>= t``;
- FNMR (false-non-match rate) is the fraction of genuine comparisons (one
  person) scoring ``< t``.

Every FMR the calibration states carries its *basis*:

``"measured"``
    At least :data:`MIN_OBSERVED_FALSE_MATCHES` (3) impostor scores were
    observed at or above the score: the value is their count over
    ``n_impostor``, interpolated log-linearly between table rows.
``"upper_bound"``
    Fewer than 3 were observed, and no trusted tail model speaks for the
    score. With no event in ``n`` trials, ``3 / n`` is the 95 % upper
    confidence bound on its rate (the "rule of three" [1]_); the calibration
    states ``3 / n_impostor`` and flags it as a bound. It never claims 0.
``"extrapolated"``
    Above the highest impostor score observed, a model of the upper tail of
    the impostor scores gives the rate where that is below
    ``3 / n_impostor``. Three tails are fitted to the highest 1 % of the
    scores: a generalised Pareto (peaks over threshold [2]_, parameters by
    probability-weighted moments [3]_), a Gaussian (a straight DET curve
    [4]_) and an exponential (the Pareto of shape 0). Any that the highest
    observed scores contradict is dropped; of the rest, the one that best
    predicted rates it was not fitted to (a hold-out check) is kept, and its
    rates are multiplied by a safety factor so that it understates none of
    the rates it was checked against (:func:`fit_tail`). It is trusted at
    most ``extrapolation_decades`` decades below ``3 / n_impostor``: below
    that floor the floor is stated, flagged as an upper bound. A *held-out
    allowance* (``tail_allowance`` of :func:`fit_calibration`) can widen the
    tail further: what people the fit never saw showed at the lowest levels
    they can check (:func:`tessera.evaluation.calibrate.tail_allowance`);
    the tail's ``validation`` keeps the fitted safety factor and the allowance.

Between the 3rd-highest and the highest impostor score (one or two
observed), only the bound is stated: a model that undercut observed false
matches would be contradicted by the data.

An *allowance* (``fmr_allowance``, 1 unless the file says otherwise) widens
every stated rate: the table keeps the counts observed, and the calibration
states ``fmr_allowance x`` what they give (at most 1), so that a threshold
for a target FMR is the table's threshold for ``target / fmr_allowance``.
It is for data that showed the counts understate the rate on data the fit
never saw (another sensor, same-position impostors); the file's
``data.fmr_allowance`` says how it was measured. A widened rate is stated as
an upper bound.

The 1:N threshold follows from the 1:1 table: a probe searched against a
gallery of ``N`` people has ``N`` chances of a false match, so about
``N × FMR(t)`` wrong candidates are expected
(:meth:`Calibration.identify_threshold`).

References
----------
.. [1] J. A. Hanley, A. Lippman-Hand, "If nothing goes wrong, is everything
   all right? Interpreting zero numerators", JAMA 249(13):1743-1745, 1983.
.. [2] J. Pickands, "Statistical inference using extreme order statistics",
   Annals of Statistics 3(1):119-131, 1975; A. C. Davison, R. L. Smith,
   "Models for exceedances over high thresholds", Journal of the Royal
   Statistical Society B 52(3):393-442, 1990.
.. [3] J. R. M. Hosking, J. R. Wallis, "Parameter and quantile estimation for
   the generalized Pareto distribution", Technometrics 29(3):339-349, 1987,
   section 3 (probability-weighted moments, plotting position
   ``(i - 0.35) / m``).
.. [4] A. Martin, G. Doddington, T. Kamm, M. Ordowski, M. Przybocki, "The DET
   curve in assessment of detection task performance", Proc. Eurospeech
   1997, pp. 1895-1898.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from tessera.match.tail import (
    BEST_PREDICTING_TAIL,
    RULE_OF_THREE,
    TAIL_CHOICES,
    TailModel,
    fit_tail,
    fmr_levels,
    is_number,
    short_rate,
    tail_from_dict,
    tail_to_dict,
    widen_tail,
)

FORMAT_NAME = "tessera-calibration"
FORMAT_VERSION = 1
"""Version of the JSON layout :meth:`Calibration.save` writes; bump it on any incompatible change."""

DEFAULT_FACE_CALIBRATION_PATH = Path(__file__).resolve().parent / "calibrations" / "face-dlib-resnet-v1.json"
"""The face calibration shipped with Tessera, fitted by :func:`tessera.evaluation.calibrate.calibrate_face_lfw`."""

MEASURED = "measured"
UPPER_BOUND = "upper_bound"
EXTRAPOLATED = "extrapolated"
BASES = (MEASURED, UPPER_BOUND, EXTRAPOLATED)

ROUNDING = 1e-9
"""Relative difference between two rates that is float rounding, not a difference
(:meth:`Calibration.operating_point`)."""
MIN_OBSERVED_FALSE_MATCHES = 3
"""Fewest impostor scores at or above a threshold for its FMR to count as measured.

Below 3 a count says more about chance than about the rate, and at 3 the
measured curve meets the rule-of-three bound ``3 / n`` exactly, so the stated
FMR never rises with the threshold.
"""


TABLE_COLUMNS = ("threshold", "false_matches", "fmr", "fmr_basis", "false_non_matches", "fnmr")


class FmrBeyondCalibration(ValueError):
    """A false-match rate lower than the calibration can vouch for was asked of it.

    Attributes
    ----------
    target_fmr : float
        The rate asked for.
    lowest_fmr : float
        The lowest rate the calibration can vouch for (:attr:`Calibration.min_fmr`).
    """

    def __init__(self, message: str, *, target_fmr: float, lowest_fmr: float) -> None:
        super().__init__(message)
        self.target_fmr = target_fmr
        self.lowest_fmr = lowest_fmr


@dataclass(frozen=True)
class FmrEstimate:
    """The false-match rate a score stands for, and how far it can be trusted.

    Attributes
    ----------
    value : float
        The rate, in (0, 1]: the expected fraction of comparisons between two
        different people scoring at least this high. Never 0.
    upper_bound : bool
        True when ``value`` is a bound: the true rate is at most this, as far
        as the data (or the tail model) can tell.
    basis : str
        ``"measured"``, ``"upper_bound"`` or ``"extrapolated"`` (see the
        module docstring).
    """

    value: float
    upper_bound: bool
    basis: str


@dataclass(frozen=True)
class CalibrationRow:
    """One row of the calibration table.

    Attributes
    ----------
    threshold : float
        Score at or above which a comparison is declared a match.
    false_matches : int
        Impostor comparisons observed with a score ``>= threshold``.
    fmr : float
        The FMR stated at this threshold: ``false_matches / n_impostor`` when
        ``fmr_basis`` is ``"measured"``, otherwise the bound or the
        extrapolation.
    fmr_basis : str
        One of :data:`BASES`.
    false_non_matches : int
        Genuine comparisons observed with a score ``< threshold``.
    fnmr : float
        ``false_non_matches / n_genuine``.
    """

    threshold: float
    false_matches: int
    fmr: float
    fmr_basis: str
    false_non_matches: int
    fnmr: float


@dataclass(frozen=True)
class CalibrationConfig:
    """Every tuning value of :func:`fit_calibration`.

    Attributes
    ----------
    score_step : float
        Spacing of the evenly spaced table rows, in score units.
    rows_per_decade : int
        Rows added at FMR = 10^(-k / rows_per_decade), so that the tail, where
        the FMR changes fastest, is described as finely as the bulk.
    threshold_decimals : int
        Thresholds are rounded to this many decimals, keeping the file short.
    tail_fraction : float
        Fraction of the impostor scores, the highest, the tail model is fitted to.
    min_tail_exceedances : int
        Fewest scores in the tail for a model to be fitted at all; with fewer
        the calibration states upper bounds only.
    extrapolation_decades : float
        How far below ``3 / n_impostor`` the tail model is trusted, in
        decades of FMR.
    holdout_fractions : tuple of float
        Sizes of the random subsets of the impostor scores that hold-out tail
        models are fitted to; each predicts rates below what its subset can
        measure but all the scores can.
    holdout_repeats : int
        Random subsets drawn at each hold-out fraction.
    gaussian_points_per_decade : int
        FMR levels per decade the Gaussian tail is fitted through.
    seed : int
        Seed of the first hold-out draw (the others follow it), so that a
        calibration can be reproduced.
    tail_choice : str
        Which of the tail candidates no top score contradicts is kept:
        ``"best-predicting"`` (the smallest hold-out error) or ``"heaviest"``
        (the one stating the highest rates far out, for an upper bound where
        held-out people showed more false matches than the best predictor
        expects).
    """

    score_step: float = 0.005
    rows_per_decade: int = 20
    threshold_decimals: int = 6
    tail_fraction: float = 0.01
    min_tail_exceedances: int = 200
    extrapolation_decades: float = 2.0
    holdout_fractions: tuple[float, ...] = (0.01, 0.1)
    holdout_repeats: int = 3
    gaussian_points_per_decade: int = 8
    seed: int = 0
    tail_choice: str = BEST_PREDICTING_TAIL

    def __post_init__(self) -> None:
        if self.tail_choice not in TAIL_CHOICES:
            raise ValueError(f"tail_choice must be one of {list(TAIL_CHOICES)}; got {self.tail_choice!r}")


@dataclass(frozen=True)
class Calibration:
    """A measured mapping from comparison score to false-match rate.

    Build one with :func:`fit_calibration`, read one with
    :func:`load_calibration`. A comparison matches when its score is at or
    above the threshold.

    Attributes
    ----------
    modality : str
        ``"face"``, ``"finger"``, ...
    algorithm : str
        Id of the template algorithm whose scores this describes, e.g.
        ``"dlib-resnet-v1/5pt/1"``; another algorithm's scores mean something else.
    data : dict
        What the scores were measured on: data set, files, how pairs were
        formed, images refused, ...
    created : str
        When the calibration was fitted, ISO 8601 in UTC.
    n_genuine, n_impostor : int
        Genuine and impostor comparisons behind the table.
    highest_impostor_score : float
        The highest impostor score observed; the tail model speaks only above it.
    rows : tuple of CalibrationRow
        The table, thresholds strictly increasing.
    tail : TailModel or None
        The impostor tail model, if a trusted one was fitted.
    score_range : tuple of float or None
        (lowest, highest) score the algorithm can produce, e.g. (-1, 1) for a
        cosine; a threshold beyond the highest is never returned.
    format_version : int
        Version of the file layout.
    fmr_allowance : float
        Factor (``>= 1``) every stated FMR is multiplied by (see the module
        docstring); 1 states the table's rates as they are.
    """

    modality: str
    algorithm: str
    data: dict[str, Any]
    created: str
    n_genuine: int
    n_impostor: int
    highest_impostor_score: float
    rows: tuple[CalibrationRow, ...]
    tail: TailModel | None = None
    score_range: tuple[float, float] | None = None
    format_version: int = FORMAT_VERSION
    fmr_allowance: float = 1.0
    _thresholds: np.ndarray = field(init=False, repr=False, compare=False)
    _log_fmr: np.ndarray = field(init=False, repr=False, compare=False)
    _fnmr: np.ndarray = field(init=False, repr=False, compare=False)
    _measured_rows: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_table(self.rows, self.n_genuine, self.n_impostor, self.tail, self.highest_impostor_score)
        if not (is_number(self.fmr_allowance) and 1.0 <= self.fmr_allowance <= 1e6):
            raise ValueError(f"'fmr_allowance' must be a number in [1, 1e6]; got {self.fmr_allowance!r}")
        measured_rows = sum(1 for row in self.rows if row.fmr_basis == MEASURED)
        object.__setattr__(self, "_thresholds", np.array([row.threshold for row in self.rows], dtype=np.float64))
        object.__setattr__(self, "_log_fmr", np.log([row.fmr for row in self.rows[:measured_rows]]))
        object.__setattr__(self, "_fnmr", np.array([row.fnmr for row in self.rows], dtype=np.float64))
        object.__setattr__(self, "_measured_rows", measured_rows)

    @property
    def measured_limit(self) -> float:
        """Highest table threshold whose FMR is measured (at least 3 impostor scores at or above it)."""
        return float(self._thresholds[self._measured_rows - 1])

    @property
    def resolution(self) -> float:
        """``3 / n_impostor``: the lowest FMR this many comparisons measure, and the rule-of-three bound."""
        return RULE_OF_THREE / self.n_impostor

    @property
    def min_fmr(self) -> float:
        """The lowest FMR this calibration states: the tail model's floor, or :attr:`resolution` without one
        (times :attr:`fmr_allowance`)."""
        return min(1.0, (self.tail.min_fmr if self.tail is not None else self.resolution) * self.fmr_allowance)

    def fmr_at(self, score: float) -> FmrEstimate:
        """The false-match rate a comparison score stands for.

        Parameters
        ----------
        score : float
            A comparison score of :attr:`algorithm`.

        Returns
        -------
        FmrEstimate
            The FMR of a threshold set at ``score``, and its basis. Measured
            values are interpolated log-linearly between table rows.
        """
        score = _finite(score, "score")
        if score <= self.measured_limit:
            table = FmrEstimate(self._measured_fmr(score), upper_bound=False, basis=MEASURED)
        else:
            table = _unmeasured_fmr(score, self.tail, self.resolution, self.highest_impostor_score)
        if self.fmr_allowance == 1.0:
            return table
        # Widened: the counts are what was observed, the statement allows for what they did not see.
        return FmrEstimate(min(1.0, table.value * self.fmr_allowance), upper_bound=True, basis=table.basis)

    def fnmr_at(self, score: float) -> float:
        """Measured false-non-match rate of a threshold at ``score``, interpolated linearly between rows."""
        return float(np.interp(_finite(score, "score"), self._thresholds, self._fnmr))

    def threshold_for_fmr(self, target_fmr: float) -> float:
        """The lowest threshold whose FMR is at most ``target_fmr``.

        Parameters
        ----------
        target_fmr : float
            Acceptable false-match rate, in (0, 1].

        Returns
        -------
        float
            Threshold ``t`` with ``fmr_at(t).value <= target_fmr`` (up to
            float rounding); it rises as ``target_fmr`` falls.

        Raises
        ------
        ValueError
            ``target_fmr`` is not a number in (0, 1].
        FmrBeyondCalibration
            (a ``ValueError``) ``target_fmr`` is below :attr:`min_fmr`, the
            lowest rate the calibration can vouch for, or needs a threshold
            above the highest score the algorithm produces.
        """
        target_fmr = _finite(target_fmr, "target_fmr")
        if not 0.0 < target_fmr <= 1.0:
            raise ValueError(f"target_fmr must be in (0, 1]; got {target_fmr}")
        asked, target_fmr = target_fmr, target_fmr / self.fmr_allowance  # the table's rate that is stated as asked
        log_target = math.log(target_fmr)
        # log/exp rounding must not push a row whose FMR equals the target to the wrong side.
        slack = 1e-12
        if log_target >= self._log_fmr[-1] - slack:
            first = int(np.argmax(self._log_fmr <= log_target + slack))
            if first == 0:
                return float(self._thresholds[0])
            low, high = self._thresholds[first - 1], self._thresholds[first]
            log_low, log_high = self._log_fmr[first - 1], self._log_fmr[first]
            fraction = min(max((log_target - log_low) / (log_high - log_low), 0.0), 1.0)
            return float(low + fraction * (high - low))
        if target_fmr >= self.resolution:
            return float(np.nextafter(self.measured_limit, math.inf))
        if self.tail is None or target_fmr < self.tail.min_fmr:
            raise FmrBeyondCalibration(
                f"target_fmr={asked:.3g} is below {self.min_fmr:.3g}, the lowest false-match rate this "
                f"calibration can vouch for ({self.n_impostor:,} impostor comparisons, "
                + ("tail model trusted down to that rate" if self.tail is not None else "no trusted tail model")
                + (f", allowance x{self.fmr_allowance:g}" if self.fmr_allowance != 1.0 else "")
                + "); ask for a higher rate (fewer people or more expected false candidates), "
                "or calibrate on more comparisons",
                target_fmr=asked,
                lowest_fmr=self.min_fmr,
            )
        above_every_impostor = float(np.nextafter(self.highest_impostor_score, math.inf))
        threshold = max(self.tail.score_for_rate(target_fmr), above_every_impostor)
        if self.score_range is not None and threshold > self.score_range[1]:
            lowest = self.tail.rate(self.score_range[1]) * self.fmr_allowance
            raise FmrBeyondCalibration(
                f"target_fmr={asked:.3g} needs a threshold of {threshold:.6f}, above the highest score "
                f"{self.score_range[1]} the algorithm produces: no threshold reaches it (the tail model puts "
                f"{lowest:.3g} at {self.score_range[1]}); ask for a higher rate",
                target_fmr=asked,
                lowest_fmr=lowest,
            )
        return threshold

    def operating_point(self, target_fmr: float) -> tuple[float, FmrEstimate]:
        """The threshold for ``target_fmr`` and the rate an answer states at it: never above ``target_fmr``.

        :meth:`threshold_for_fmr` finds the threshold in log space and the allowance multiplies the table's rate,
        so :meth:`fmr_at` at that threshold can read a few units in the last place above the target (half of all
        targets did, e.g. 0.0030000000000000005 for 0.003): the rate stated is then the target itself. A
        difference larger than rounding is stated as it is.

        Raises
        ------
        ValueError, FmrBeyondCalibration
            As :meth:`threshold_for_fmr`.
        """
        threshold = self.threshold_for_fmr(target_fmr)
        estimate = self.fmr_at(threshold)
        if target_fmr < estimate.value <= target_fmr * (1.0 + ROUNDING):
            estimate = replace(estimate, value=float(target_fmr))
        return threshold, estimate

    def identify_threshold(self, gallery_size: int, expected_false_candidates: float) -> float:
        """Threshold for a 1:N search that keeps wrong candidates rare.

        A probe compared with ``gallery_size`` people has that many chances
        of a false match, so about ``gallery_size × FMR(t)`` wrong candidates
        are expected; the threshold holds that at or below
        ``expected_false_candidates``:
        ``threshold_for_fmr(expected_false_candidates / gallery_size)``.

        Parameters
        ----------
        gallery_size : int
            People searched (``>= 1``).
        expected_false_candidates : float
            Acceptable expected number of wrong candidates per search (``> 0``).

        Returns
        -------
        float
            The threshold; it rises with ``gallery_size``.

        Raises
        ------
        ValueError
            An argument out of range.
        FmrBeyondCalibration
            (a ``ValueError``) ``expected_false_candidates / gallery_size`` is
            a rate the calibration cannot vouch for (see
            :meth:`threshold_for_fmr`): the gallery is too large for the
            comparisons the calibration rests on.
        """
        if isinstance(gallery_size, bool) or not isinstance(gallery_size, (int, np.integer)) or gallery_size < 1:
            raise ValueError(f"gallery_size must be a positive integer; got {gallery_size!r}")
        expected_false_candidates = _finite(expected_false_candidates, "expected_false_candidates")
        if expected_false_candidates <= 0:
            raise ValueError(f"expected_false_candidates must be > 0; got {expected_false_candidates}")
        return self.threshold_for_fmr(min(expected_false_candidates / int(gallery_size), 1.0))

    def operating_points(self, target_fmrs: tuple[float, ...] = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)) -> list[dict[str, Any]]:
        """Threshold, stated FMR with its basis, and FNMR at each target FMR the calibration can reach."""
        points: list[dict[str, Any]] = []
        for target in target_fmrs:
            try:
                threshold = self.threshold_for_fmr(target)
            except ValueError as error:
                points.append({"target_fmr": target, "threshold": None, "note": str(error)})
                continue
            estimate = self.fmr_at(threshold)
            points.append(
                {
                    "target_fmr": target,
                    "threshold": round(threshold, 6),
                    "fmr": short_rate(estimate.value),
                    "fmr_basis": estimate.basis,
                    "upper_bound": estimate.upper_bound,
                    "fnmr": short_rate(self.fnmr_at(threshold)),
                }
            )
        return points

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form :meth:`save` writes and :func:`calibration_from_dict` reads."""
        return {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "modality": self.modality,
            "algorithm": self.algorithm,
            "created": self.created,
            "match_rule": "a comparison matches when its score is >= threshold",
            "score_range": None if self.score_range is None else list(self.score_range),
            "bases": {
                MEASURED: f"at least {MIN_OBSERVED_FALSE_MATCHES} impostor scores observed at or above the "
                "threshold: fmr = false_matches / n_impostor",
                UPPER_BOUND: "fewer observed and no tail model speaks for it: fmr = 3 / n_impostor, the "
                "rule-of-three 95 % upper bound",
                EXTRAPOLATED: "above highest_impostor_score: fmr = min(3 / n_impostor, tail_model), at least "
                "tail_model.min_fmr (a floor, stated as an upper bound)",
            },
            "data": self.data,
            "n_genuine": self.n_genuine,
            "n_impostor": self.n_impostor,
            "highest_impostor_score": self.highest_impostor_score,
            "measured_limit": self.measured_limit,
            "fmr_allowance": self.fmr_allowance,
            "operating_points": self.operating_points(),
            "tail_model": None if self.tail is None else tail_to_dict(self.tail),
            "table": {"columns": list(TABLE_COLUMNS), "rows": [_row_to_list(row) for row in self.rows]},
        }

    def save(self, path: Path | str) -> Path:
        """Write the calibration as JSON to ``path``, each table row and check point on one line; return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_json_text(self.to_dict()) + "\n", encoding="utf-8")
        return path

    def _measured_fmr(self, score: float) -> float:
        thresholds = self._thresholds[: self._measured_rows]
        below = int(np.searchsorted(thresholds, score, side="right")) - 1
        if below < 0:
            return float(math.exp(self._log_fmr[0]))
        if below == self._measured_rows - 1 or score == thresholds[below]:
            return float(math.exp(self._log_fmr[below]))
        fraction = (score - thresholds[below]) / (thresholds[below + 1] - thresholds[below])
        log_fmr = self._log_fmr[below] + fraction * (self._log_fmr[below + 1] - self._log_fmr[below])
        return float(math.exp(log_fmr))


def _unmeasured_fmr(score: float, tail: TailModel | None, resolution: float, highest_impostor: float) -> FmrEstimate:
    """FMR above the measured range: the rule-of-three bound, or the tail model where nothing was observed."""
    # One or two impostor scores were observed at or above any score up to the highest.
    if tail is None or score <= highest_impostor:
        return FmrEstimate(resolution, upper_bound=True, basis=UPPER_BOUND)
    modelled = tail.rate(score)
    if modelled >= resolution:
        return FmrEstimate(resolution, upper_bound=True, basis=UPPER_BOUND)
    if modelled <= tail.min_fmr:
        return FmrEstimate(tail.min_fmr, upper_bound=True, basis=EXTRAPOLATED)
    return FmrEstimate(modelled, upper_bound=False, basis=EXTRAPOLATED)


# --- fitting -------------------------------------------------------------------------------------


def fit_calibration(
    genuine_scores: np.ndarray,
    impostor_scores: np.ndarray,
    *,
    modality: str,
    algorithm: str,
    data: Mapping[str, Any],
    score_range: tuple[float, float] | None = None,
    config: CalibrationConfig = CalibrationConfig(),
    created: datetime | None = None,
    tail_allowance: float = 1.0,
    tail_allowance_record: dict[str, Any] | None = None,
) -> Calibration:
    """Measure FMR and FNMR at every table threshold from genuine and impostor scores.

    Parameters
    ----------
    genuine_scores : array_like, shape (n_genuine,)
        Scores of comparisons between two samples of one person.
    impostor_scores : array_like, shape (n_impostor,)
        Scores of comparisons between two different people, in any order;
        millions are fine (sorted once, in float64).
    modality, algorithm : str
        What the scores come from (see :class:`Calibration`).
    data : mapping
        JSON-serialisable description of the data and how pairs were formed.
    score_range : (float, float), optional
        Lowest and highest score the algorithm can produce, e.g. (-1, 1).
    config : CalibrationConfig
        Table layout and tail-model settings.
    created : datetime, optional
        Time stamp to record; default now.
    tail_allowance : float
        Factor (``>= 1``) the fitted tail model's rates are multiplied by
        (:func:`~tessera.match.tail.widen_tail`): what people the fit never
        saw showed beyond it. Only the extrapolated tail is widened; the
        measured rows keep their counts. 1: the tail as fitted.
    tail_allowance_record : dict, optional
        How ``tail_allowance`` was measured, kept in the tail model's
        ``validation``.

    Returns
    -------
    Calibration

    Raises
    ------
    ValueError
        Fewer than 1 genuine or 3 impostor scores, a non-finite score, a score
        outside ``score_range``, an empty ``modality`` or ``algorithm``, or a
        ``tail_allowance`` below 1.
    """
    genuine = np.sort(_scores(genuine_scores, "genuine_scores", 1, score_range))
    impostor = np.sort(_scores(impostor_scores, "impostor_scores", MIN_OBSERVED_FALSE_MATCHES, score_range))
    for name, value in (("modality", modality), ("algorithm", algorithm)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string; got {value!r}")
    data_copy: dict[str, Any] = json.loads(json.dumps(dict(data)))  # a private, JSON-clean copy
    highest_impostor = float(impostor[-1])
    tail = fit_tail(impostor, config)
    if tail is not None and (tail_allowance != 1.0 or tail_allowance_record is not None):
        tail = widen_tail(tail, tail_allowance, tail_allowance_record)
    resolution = RULE_OF_THREE / impostor.size
    thresholds = _table_thresholds(genuine, impostor, tail, score_range, config)
    false_matches = impostor.size - np.searchsorted(impostor, thresholds, side="left")
    false_non_matches = np.searchsorted(genuine, thresholds, side="left")
    rows = []
    for threshold, matches, non_matches in zip(thresholds.tolist(), false_matches.tolist(), false_non_matches.tolist()):
        if matches >= MIN_OBSERVED_FALSE_MATCHES:
            estimate = FmrEstimate(matches / impostor.size, upper_bound=False, basis=MEASURED)
        else:
            estimate = _unmeasured_fmr(threshold, tail, resolution, highest_impostor)
        fnmr = short_rate(non_matches / genuine.size)
        rows.append(CalibrationRow(threshold, matches, short_rate(estimate.value), estimate.basis, non_matches, fnmr))
    created = (created or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return Calibration(
        modality=modality,
        algorithm=algorithm,
        data=data_copy,
        created=created.isoformat().replace("+00:00", "Z"),
        n_genuine=int(genuine.size),
        n_impostor=int(impostor.size),
        highest_impostor_score=highest_impostor,
        rows=tuple(rows),
        tail=tail,
        score_range=None if score_range is None else (float(score_range[0]), float(score_range[1])),
    )


def _table_thresholds(
    genuine: np.ndarray,
    impostor: np.ndarray,
    tail: TailModel | None,
    score_range: tuple[float, float] | None,
    config: CalibrationConfig,
) -> np.ndarray:
    """Evenly spaced rows over the observed scores, plus rows at round FMR levels (denser in the tail)."""
    decimals = config.threshold_decimals
    step = config.score_step
    n = impostor.size
    low = math.floor(min(genuine[0], impostor[0]) / step) * step
    high = (math.floor(max(genuine[-1], impostor[-1]) / step) + 1) * step
    if score_range is not None:
        high = min(high, score_range[1])
    extra = []
    for level in fmr_levels(1.0, MIN_OBSERVED_FALSE_MATCHES / n, config.rows_per_decade):
        # Rounded down, so that at least ceil(level * n) scores stay at or above the row.
        extra.append(_floor(float(impostor[n - int(math.ceil(level * n))]), decimals))
    extra.append(_floor(float(impostor[n - MIN_OBSERVED_FALSE_MATCHES]), decimals))  # the measured limit
    extra.append(_ceil(float(np.nextafter(impostor[-1], math.inf)), decimals))  # first row above every impostor
    if tail is not None:
        for level in fmr_levels(RULE_OF_THREE / n, tail.min_fmr, config.rows_per_decade):
            extra.append(_ceil(tail.score_for_rate(level), decimals))
    even = np.round(low + step * np.arange(round((high - low) / step) + 1), decimals)
    thresholds = np.unique(np.concatenate([even, np.array(extra, dtype=np.float64)]))
    if score_range is not None:
        thresholds = thresholds[thresholds <= score_range[1]]
    from_lowest: np.ndarray = thresholds[thresholds >= low]
    return from_lowest


# --- reading -------------------------------------------------------------------------------------


def load_calibration(path: Path | str = DEFAULT_FACE_CALIBRATION_PATH) -> Calibration:
    """Read and validate a calibration file written by :meth:`Calibration.save`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not JSON, not a Tessera calibration, of another format
        version, or has a missing or out-of-range field; the message names
        the file and the field.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a calibration file: invalid JSON ({error})") from None
    try:
        return calibration_from_dict(document)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def calibration_from_dict(document: object) -> Calibration:
    """Build a :class:`Calibration` from what :meth:`Calibration.to_dict` produces, validating every field."""
    if not isinstance(document, dict):
        raise ValueError(f"expected a JSON object at the top level; got {type(document).__name__}")
    if document.get("format") != FORMAT_NAME:
        raise ValueError(f"'format' must be {FORMAT_NAME!r}; got {document.get('format')!r}")
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"'format_version' must be {FORMAT_VERSION} (the version this Tessera reads); got {version!r}")
    score_range = document.get("score_range")
    if score_range is not None:
        if not (
            isinstance(score_range, list)
            and len(score_range) == 2
            and all(is_number(v) for v in score_range)
            and score_range[0] < score_range[1]
        ):
            raise ValueError(
                f"'score_range' must be null or [lowest, highest] with lowest < highest; got {score_range!r}"
            )
        score_range = (float(score_range[0]), float(score_range[1]))
    table = _field(document, "table", dict)
    if table.get("columns") != list(TABLE_COLUMNS):
        raise ValueError(f"'table.columns' must be {list(TABLE_COLUMNS)}; got {table.get('columns')!r}")
    raw_rows = table.get("rows")
    if not isinstance(raw_rows, list) or not raw_rows:
        raise ValueError(f"'table.rows' must be a non-empty list of rows; got {raw_rows!r:.80}")
    highest = document.get("highest_impostor_score")
    if not is_number(highest):
        raise ValueError(f"'highest_impostor_score' must be a finite number; got {highest!r}")
    return Calibration(
        modality=_field(document, "modality", str),
        algorithm=_field(document, "algorithm", str),
        data=_field(document, "data", dict),
        created=_field(document, "created", str),
        n_genuine=_count(document, "n_genuine", minimum=1),
        n_impostor=_count(document, "n_impostor", minimum=MIN_OBSERVED_FALSE_MATCHES),
        highest_impostor_score=float(highest),
        rows=tuple(_row(raw, number) for number, raw in enumerate(raw_rows)),
        tail=tail_from_dict(document.get("tail_model")),
        score_range=score_range,
        format_version=version,
        fmr_allowance=_allowance(document.get("fmr_allowance", 1.0)),
    )


def _allowance(value: object) -> float:
    # Files written before allowances existed have none: their rates are stated as counted.
    if not is_number(value) or not 1.0 <= value <= 1e6:
        raise ValueError(f"'fmr_allowance' must be a number in [1, 1e6] (1: none); got {value!r}")
    return float(value)


def _row(raw: object, number: int) -> CalibrationRow:
    where = f"'table.rows[{number}]'"
    if not isinstance(raw, list) or len(raw) != len(TABLE_COLUMNS):
        raise ValueError(f"{where} must be a list of {len(TABLE_COLUMNS)} values {list(TABLE_COLUMNS)}; got {raw!r}")
    threshold, false_matches, fmr, basis, false_non_matches, fnmr = raw
    for name, value in (("threshold", threshold), ("fmr", fmr), ("fnmr", fnmr)):
        if not is_number(value):
            raise ValueError(f"{where}: {name} must be a finite number; got {value!r}")
    for name, value in (("false_matches", false_matches), ("false_non_matches", false_non_matches)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{where}: {name} must be a non-negative integer; got {value!r}")
    if basis not in BASES:
        raise ValueError(f"{where}: fmr_basis must be one of {list(BASES)}; got {basis!r}")
    return CalibrationRow(float(threshold), false_matches, float(fmr), basis, false_non_matches, float(fnmr))


def _check_table(
    rows: tuple[CalibrationRow, ...], n_genuine: int, n_impostor: int, tail: TailModel | None, highest_impostor: float
) -> None:
    """The invariants of every calibration, fitted or read: monotone, honest about its basis, never 0."""
    if not rows:
        raise ValueError("'table.rows' must have at least one row")
    if rows[0].fmr_basis != MEASURED:
        raise ValueError(
            f"'table.rows[0]' must be measured (the lowest threshold); got fmr_basis {rows[0].fmr_basis!r}"
        )
    resolution = RULE_OF_THREE / n_impostor
    previous = None
    for number, row in enumerate(rows):
        where = f"'table.rows[{number}]'"
        if previous is not None and not row.threshold > previous.threshold:
            raise ValueError(
                f"{where}: thresholds must increase strictly; got {row.threshold} after {previous.threshold}"
            )
        if not 0.0 < row.fmr <= 1.0:
            raise ValueError(f"{where}: fmr must be in (0, 1] (a calibration never claims 0); got {row.fmr}")
        if not 0.0 <= row.fnmr <= 1.0:
            raise ValueError(f"{where}: fnmr must be in [0, 1]; got {row.fnmr}")
        if row.false_matches > n_impostor or row.false_non_matches > n_genuine:
            raise ValueError(
                f"{where}: false_matches {row.false_matches} and false_non_matches {row.false_non_matches} cannot "
                f"exceed n_impostor {n_impostor} and n_genuine {n_genuine}"
            )
        if previous is not None and (row.false_matches > previous.false_matches or row.fmr > previous.fmr * (1 + 1e-9)):
            raise ValueError(
                f"{where}: false_matches and fmr must not rise with the threshold; got fmr {row.fmr} after "
                f"{previous.fmr}"
            )
        if previous is not None and row.false_non_matches < previous.false_non_matches:
            raise ValueError(f"{where}: false_non_matches must not fall as the threshold rises")
        measured = row.false_matches >= MIN_OBSERVED_FALSE_MATCHES
        if (row.fmr_basis == MEASURED) != measured:
            raise ValueError(
                f"{where}: fmr_basis must be 'measured' exactly when false_matches >= {MIN_OBSERVED_FALSE_MATCHES}; "
                f"got {row.fmr_basis!r} with false_matches {row.false_matches}"
            )
        if measured and not math.isclose(row.fmr, row.false_matches / n_impostor, rel_tol=1e-5):
            raise ValueError(
                f"{where}: a measured fmr must be false_matches / n_impostor = "
                f"{row.false_matches / n_impostor:.6g}; got {row.fmr}"
            )
        if row.fmr_basis == UPPER_BOUND and not math.isclose(row.fmr, resolution, rel_tol=1e-5):
            raise ValueError(f"{where}: an upper_bound fmr must be 3 / n_impostor = {resolution:.6g}; got {row.fmr}")
        if row.fmr_basis == EXTRAPOLATED:
            if tail is None:
                raise ValueError(f"{where}: fmr_basis 'extrapolated' needs a 'tail_model'; the file has none")
            if row.false_matches != 0 or row.threshold <= highest_impostor:
                raise ValueError(
                    f"{where}: 'extrapolated' is only allowed above highest_impostor_score {highest_impostor}; "
                    f"got threshold {row.threshold} with false_matches {row.false_matches}"
                )
            if row.fmr > resolution * (1 + 1e-5) or row.fmr < tail.min_fmr * (1 - 1e-5):
                raise ValueError(
                    f"{where}: an extrapolated fmr must lie in [tail_model.min_fmr {tail.min_fmr:.6g}, "
                    f"3 / n_impostor {resolution:.6g}]; got {row.fmr}"
                )
        previous = row


def _row_to_list(row: CalibrationRow) -> list[float | int | str]:
    return [row.threshold, row.false_matches, row.fmr, row.fmr_basis, row.false_non_matches, row.fnmr]


FieldType = TypeVar("FieldType")
"""The type :func:`_field` checks a field against and returns it as."""


def _field(document: dict[str, Any], name: str, kind: type[FieldType]) -> FieldType:
    value = document.get(name)
    if not isinstance(value, kind) or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{name!r} must be a non-empty {'string' if kind is str else 'object'}; got {value!r}")
    return value


def _count(document: dict[str, Any], name: str, minimum: int) -> int:
    value = document.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name!r} must be an integer >= {minimum}; got {value!r}")
    return value


# --- small helpers -------------------------------------------------------------------------------


def _json_text(value: object, depth: int = 0) -> str:
    """JSON indented one space per level, but short objects and lists of plain values on one line."""
    flat = json.dumps(value, allow_nan=False)
    if not isinstance(value, (dict, list)):
        return flat
    items = value.values() if isinstance(value, dict) else value
    nested = any(isinstance(item, (dict, list)) for item in items)
    if not nested and (isinstance(value, list) or len(flat) <= 160):
        return flat
    inner = " " * (depth + 1)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(key)}: {_json_text(item, depth + 1)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    items = [inner + _json_text(item, depth + 1) for item in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * depth + "]"


def _scores(values: object, name: str, minimum: int, score_range: tuple[float, float] | None) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64).ravel()
    if scores.size < minimum:
        raise ValueError(f"{name} must hold at least {minimum} score(s); got {scores.size}")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{name} must be finite; {int(np.sum(~np.isfinite(scores)))} value(s) are NaN or infinite")
    if score_range is not None:
        outside = (scores < score_range[0]) | (scores > score_range[1])
        if np.any(outside):
            raise ValueError(
                f"{name} must lie in score_range {list(score_range)}; {int(outside.sum())} value(s) do not, "
                f"e.g. {float(scores[outside][0])}"
            )
    return scores


def _finite(value: float, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite; got {number}")
    return number


def _floor(value: float, decimals: int) -> float:
    scale = 10.0**decimals
    return math.floor(value * scale) / scale


def _ceil(value: float, decimals: int) -> float:
    scale = 10.0**decimals
    return math.ceil(value * scale) / scale
