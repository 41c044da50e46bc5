"""Fuse face and finger scores into one decision that states its false-match rate.

::

    per-modality score -> log-likelihood ratio (ScoreModel) -> sum over the modalities present -> FusedDecision

Each modality's score is turned into a log-likelihood ratio (LLR, natural
log): how much more likely that score is between two captures of one person
than between two different people, ``log(p_genuine(s) / p_impostor(s))``.
Under independence the LLRs of several modalities add, and their sum is the
Bayes-optimal fused score (Neyman-Pearson); this is the likelihood-ratio
fusion of Nandakumar et al. [1]_, with the density step done
non-parametrically.

How a :class:`ScoreModel` is fitted (:func:`fit_score_model`)
    The genuine and impostor scores are counted on a fixed grid of equal
    bins over the algorithm's score range. The pool-adjacent-violators
    algorithm (PAV) merges neighbouring bins until the ratio
    ``(genuine share) / (impostor share)`` never falls as the score rises:
    the maximum-likelihood monotone likelihood ratio (isotonic regression
    of the bin posteriors, as in Zadrozny & Elkan [2]_ and Brümmer & du
    Preez [3]_), so that a more similar pair never counts as *less* likely
    the same person. Between the centres of the merged blocks the LLR is
    interpolated linearly (the smoothing); beyond the outermost centres it
    is constant.

Where the data run out, the LLR is clipped, and the file says where
    Above the highest impostor score no impostor was seen; that region is
    given the rule-of-three count of 3 impostors (the 95 % upper bound of a
    rate when none of ``n`` trials showed it), so its LLR is the largest the
    data can vouch for, ``llr_max``, not infinity. Below the lowest genuine
    score the region is given 3 genuine comparisons in the same way, which
    bounds ``llr_min``. Scores beyond either are worth exactly the clipped
    value.

What a fused LLR's false-match rate is (:func:`fused_impostor_distribution`)
    The impostor LLRs of each modality (its impostor scores pushed through
    its LLR, each bin at its upper edge's LLR and rounded *up* to a grid of
    ``FusionConfig.llr_step``) form a distribution; the distribution of the
    sum over the modalities used is their convolution. The rule-of-three
    mass ``3 / n_impostor`` is *added* at each modality's ``llr_max``, so
    every tail probability is an upper bound of the empirical one. The
    fused FMR at a threshold ``t`` is the mass of that convolution at or
    above ``t``.

    When that rate depends on the unobserved tails (it is more than twice
    what the observed scores alone give), or is below
    ``FusionConfig.min_fmr``, it is stated as an upper bound.

Independence, and where it is weak
    The convolution assumes that, between two different people, the scores
    of the modalities are independent. Face and finger are close to it
    (different traits, different sensors). Fingers of one person are not
    fully independent: fingers of one hand share pattern class tendencies
    and the same capture conditions (pressure, skin dryness, sensor), so
    impostor finger scores of one comparison are positively correlated and
    the stated FMR of several fingers is somewhat optimistic. Models fitted
    on chimeric or cross-database data cannot show this; a multi-finger
    database of real people is needed to measure it.

    Impostor comparisons that share a finger are not independent either:
    some fingers draw high impostor scores against everyone, so the far
    tail of a finger's impostor scores varies with *which* fingers were
    sampled, more than the count of comparisons suggests. Fitted on half of
    the fingers and checked on the other half
    (:mod:`tessera.evaluation.fusion_eval`), the fused FMR of four fingers
    at a stated 1e-6 was measured on the held-out fingers at 0 to 16 times
    that over five random splits (median 3; face + four fingers: 0 to 14,
    median 1.8): at that level the stated fused FMR is good to about an
    order of magnitude. ``FusionConfig.fmr_safety_factor`` scales it.

References
----------
.. [1] K. Nandakumar, Y. Chen, S. C. Dass, A. K. Jain, "Likelihood ratio-based
   biometric score fusion", IEEE Transactions on Pattern Analysis and Machine
   Intelligence 30(2):342-347, 2008.
.. [2] B. Zadrozny, C. Elkan, "Transforming classifier scores into accurate
   multiclass probability estimates", Proc. ACM SIGKDD 2002, pp. 694-699
   (isotonic regression by PAV).
.. [3] N. Brümmer, J. du Preez, "Application-independent evaluation of speaker
   detection", Computer Speech and Language 20(2-3):230-275, 2006, section 7.3
   (PAV for optimal monotone score-to-LLR maps).
.. [4] J. A. Hanley, A. Lippman-Hand, "If nothing goes wrong, is everything all
   right? Interpreting zero numerators", JAMA 249(13):1743-1745, 1983 (the
   rule of three).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast, overload

import numpy as np
import numpy.typing as npt

FORMAT_NAME = "tessera-fusion-model"
FORMAT_VERSION = 1
"""Version of the JSON layout :meth:`ScoreModel.save` writes; bump it on any incompatible change."""

CALIBRATIONS_DIR = Path(__file__).resolve().parent / "calibrations"
"""Where the shipped fusion models live, as ``fusion-<modality>-*.json``."""

FUSION_MODEL_FILES = {
    "face": CALIBRATIONS_DIR / "fusion-face-dlib-resnet-v1.json",
    "finger": CALIBRATIONS_DIR / "fusion-finger-mcc-v1.json",
}
"""The fitted model of each modality that Tessera ships (see :func:`load_fusion_models`)."""

RULE_OF_THREE = 3.0
"""Pseudo-count given to a region where no comparison of a kind was observed (95 % upper bound, -ln 0.05 = 2.996)."""

MAX_FINGERS = 10
"""A person has ten fingers: more finger scores in one comparison means one was counted twice."""

ESTIMATED = "estimated"
UPPER_BOUND = "upper_bound"

INDEPENDENCE_NOTE = (
    "fused FMR assumes the modalities' impostor scores are independent; for several fingers of one person "
    "(especially of one hand) they are positively correlated, so the stated FMR may be optimistic"
)


@dataclass(frozen=True)
class FusionConfig:
    """Every tuning value of the fusion.

    Attributes
    ----------
    bins : int
        Equal bins the observed scores are divided into when a model is fitted
        (the outer two reach the ends of the score range).
    llr_step : float
        Grid step, in nats, of the impostor LLR distributions that are
        convolved; each impostor LLR is rounded up to it, so the fused FMR
        is overstated, never understated, by the rounding (at most
        ``llr_step`` per modality).
    min_fmr : float
        Lowest fused FMR stated as an estimate. Below it the number would
        rest on the independence assumption more than on any data (no
        chimeric or multi-finger set here has that many impostor
        comparisons), so this floor is stated, as an upper bound.
    unobserved_factor : float
        A fused FMR is flagged an upper bound when the rule-of-three mass of
        unobserved tails makes it more than this many times the rate of the
        observed impostor scores alone.
    fmr_safety_factor : float
        At least 1: multiplies every fused FMR stated and used to find a
        threshold. 1 states the convolution as it is; the finger-split
        check in the module docstring suggests about 10 for decisions that
        rest on several fingers' tails at 1e-6.
    """

    bins: int = 400
    llr_step: float = 0.05
    min_fmr: float = 1e-9
    unobserved_factor: float = 2.0
    fmr_safety_factor: float = 1.0

    def __post_init__(self) -> None:
        if not self.fmr_safety_factor >= 1.0:
            raise ValueError(
                f"fmr_safety_factor must be >= 1 (it may only make a stated FMR larger); got {self.fmr_safety_factor}"
            )


DEFAULT_FUSION_CONFIG = FusionConfig()


@dataclass(frozen=True)
class ScoreModel:
    """What a score of one modality is worth: a monotone map from score to LLR, and the scores behind it.

    Build one with :func:`fit_score_model`, read one with :func:`load_score_model`.

    Attributes
    ----------
    modality : str
        ``"face"`` or ``"finger"`` (every finger position shares the finger model).
    algorithm : str
        Id of the comparison algorithm whose scores this describes; another
        algorithm's scores mean something else.
    score_range : tuple of float
        (lowest, highest) score the algorithm can produce.
    edges : tuple of float, length bins + 1
        Bin edges over ``score_range``, increasing.
    genuine_counts, impostor_counts : tuple of int, length bins
        Genuine and impostor scores observed in each bin.
    knot_scores, knot_llrs : tuple of float
        The LLR (nats) at the centre of each PAV block, non-decreasing;
        linear in between and constant beyond the ends (see :meth:`llr`).
    highest_impostor_score, lowest_genuine_score : float
        Where the data run out: above the first the LLR rests on the
        rule-of-three impostor count, below the second on the rule-of-three
        genuine count.
    data : dict
        What the scores were measured on.
    created : str
        ISO 8601 time of fitting, UTC.
    format_version : int
    """

    modality: str
    algorithm: str
    score_range: tuple[float, float]
    edges: tuple[float, ...]
    genuine_counts: tuple[int, ...]
    impostor_counts: tuple[int, ...]
    knot_scores: tuple[float, ...]
    knot_llrs: tuple[float, ...]
    highest_impostor_score: float
    lowest_genuine_score: float
    data: dict[str, Any] = field(default_factory=dict, compare=False)
    created: str = ""
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        bins = len(self.edges) - 1
        if bins < 1 or np.any(np.diff(self.edges) <= 0):
            raise ValueError(f"edges must be at least 2 strictly increasing values; got {len(self.edges)}")
        if len(self.genuine_counts) != bins or len(self.impostor_counts) != bins:
            raise ValueError(
                f"genuine_counts and impostor_counts must have {bins} entries (one per bin); got "
                f"{len(self.genuine_counts)} and {len(self.impostor_counts)}"
            )
        if len(self.knot_scores) != len(self.knot_llrs) or not self.knot_scores:
            raise ValueError("knot_scores and knot_llrs must be non-empty and of one length")
        if np.any(np.diff(self.knot_scores) <= 0) or np.any(np.diff(self.knot_llrs) < 0):
            raise ValueError("knot_scores must increase strictly and knot_llrs must never decrease (a monotone LLR)")
        if self.n_genuine < 1 or self.n_impostor < 1:
            raise ValueError(f"a model needs genuine and impostor scores; got {self.n_genuine} and {self.n_impostor}")

    @property
    def n_genuine(self) -> int:
        return int(sum(self.genuine_counts))

    @property
    def n_impostor(self) -> int:
        return int(sum(self.impostor_counts))

    @property
    def llr_max(self) -> float:
        """The largest LLR this model gives: where the data run out above (nats)."""
        return float(self.knot_llrs[-1])

    @property
    def llr_min(self) -> float:
        """The smallest LLR this model gives: where the data run out below (nats)."""
        return float(self.knot_llrs[0])

    @overload
    def llr(self, score: float) -> float: ...

    @overload
    def llr(self, score: np.ndarray) -> np.ndarray | float: ...

    def llr(self, score: float | np.ndarray) -> np.ndarray | float:
        """LLR (nats) of a score or array of scores: piecewise linear through the knots, clipped beyond them.

        Parameters
        ----------
        score : float or numpy.ndarray
            Scores of this model's algorithm, inside :attr:`score_range`.

        Returns
        -------
        float or numpy.ndarray of float64
        """
        values = np.interp(np.asarray(score, dtype=np.float64), self.knot_scores, self.knot_llrs)
        return float(values) if np.ndim(values) == 0 else values

    def impostor_pmf(
        self, step: float, scores: np.ndarray | None = None, rule_of_three: bool = True
    ) -> LlrDistribution:
        """Distribution of the LLR of impostor comparisons, on a grid of ``step`` nats, rounded up.

        Parameters
        ----------
        step : float
            Grid step in nats.
        scores : numpy.ndarray, optional
            Impostor scores to use instead of the model's own (e.g. a held-out
            set), each at its exact LLR rounded up to the grid.
        rule_of_three : bool
            Add the mass ``3 / n`` at :attr:`llr_max` (``n`` the impostor
            count), standing for the scores above the highest one observed.

        Returns
        -------
        LlrDistribution
        """
        if scores is None:
            counts = np.asarray(self.impostor_counts, dtype=np.float64)
            upper = np.asarray(self.llr(np.asarray(self.edges[1:])))
            values, weights = upper[counts > 0], counts[counts > 0]
        else:
            values = np.asarray(self.llr(np.asarray(scores, dtype=np.float64).ravel()))
            weights = np.ones_like(values)
        total = float(weights.sum())
        if total <= 0:
            raise ValueError("impostor scores must not be empty")
        observed = _grid_pmf(values, weights / total, step)
        if not rule_of_three:
            return observed
        return observed.add_mass(self.llr_max, RULE_OF_THREE / total)

    def as_dict(self) -> dict[str, Any]:
        """The model as JSON-ready values (the layout of :meth:`save`)."""
        return {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "modality": self.modality,
            "algorithm": self.algorithm,
            "created": self.created,
            "llr": "natural log of p(score | same person) / p(score | different people)",
            "method": (
                "PAV (isotonic) over equal score bins of the genuine/impostor counts, linear between block centres; "
                "the region above the highest impostor score counts 3 impostors and the region below the lowest "
                "genuine score counts 3 genuine comparisons (rule of three), so the LLR is clipped there"
            ),
            "score_range": list(self.score_range),
            "n_genuine": self.n_genuine,
            "n_impostor": self.n_impostor,
            "highest_impostor_score": self.highest_impostor_score,
            "lowest_genuine_score": self.lowest_genuine_score,
            "llr_min": self.llr_min,
            "llr_max": self.llr_max,
            "clipped_below_score": self.knot_scores[0],
            "clipped_above_score": self.knot_scores[-1],
            "data": self.data,
            "knots": {"score": list(self.knot_scores), "llr": list(self.knot_llrs)},
            "histogram": {
                "edges": list(self.edges),
                "genuine_counts": list(self.genuine_counts),
                "impostor_counts": list(self.impostor_counts),
            },
        }

    def save(self, path: Path | str) -> Path:
        """Write the model as JSON to ``path``; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        document = self.as_dict()
        # one line per list keeps the file readable and diffs short
        text = json.dumps(
            {key: value for key, value in document.items() if key not in ("knots", "histogram")}, indent=1
        )
        tail = ",\n".join(
            f' "{name}": {{\n' + ",\n".join(f'  "{key}": {json.dumps(value)}' for key, value in block.items()) + "\n }"
            for name, block in (("knots", document["knots"]), ("histogram", document["histogram"]))
        )
        path.write_text(text[:-2] + ",\n" + tail + "\n}\n")
        return path


@dataclass(frozen=True)
class LlrDistribution:
    """A distribution of LLR values on a grid: mass ``pmf[j]`` at ``(offset + j) * step`` nats.

    Attributes
    ----------
    step : float
    offset : int
        Grid index of ``pmf[0]``.
    pmf : numpy.ndarray, float64
        Masses (may sum to slightly more than 1 when rule-of-three mass was added).
    """

    step: float
    offset: int
    pmf: np.ndarray

    def survival(self, llr: float) -> float:
        """Mass at or above ``llr``: P(LLR >= llr)."""
        first = math.ceil(llr / self.step - 1e-9) - self.offset
        if first <= 0:
            return float(self.pmf.sum())
        if first >= self.pmf.size:
            return 0.0
        return float(self.pmf[first:].sum())

    def survival_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(grid LLRs, P(LLR >= each)), both (n,) float64."""
        grid = (self.offset + np.arange(self.pmf.size)) * self.step
        return grid, np.cumsum(self.pmf[::-1])[::-1]

    def convolve(self, other: LlrDistribution) -> LlrDistribution:
        """The distribution of the sum of independent draws from ``self`` and ``other``."""
        if not math.isclose(self.step, other.step):
            raise ValueError(f"distributions must share a grid step; got {self.step} and {other.step}")
        return LlrDistribution(self.step, self.offset + other.offset, np.convolve(self.pmf, other.pmf))

    def add_mass(self, llr: float, mass: float) -> LlrDistribution:
        """A copy with ``mass`` added at ``llr`` (rounded up to the grid)."""
        index = math.ceil(llr / self.step - 1e-9)
        low, high = min(self.offset, index), max(self.offset + self.pmf.size - 1, index)
        pmf = np.zeros(high - low + 1)
        pmf[self.offset - low : self.offset - low + self.pmf.size] = self.pmf
        pmf[index - low] += mass
        return LlrDistribution(self.step, low, pmf)


@dataclass(frozen=True)
class FusedDecision:
    """One fused comparison: the summed LLR and the false-match rate it stands for.

    Attributes
    ----------
    llr : float
        Sum of the per-modality LLRs (nats).
    fmr : float
        Fused false-match rate of a threshold at ``llr``: the expected
        fraction of comparisons of two different people, with the same
        modalities, whose fused LLR is at least this high. Never 0.
    fmr_upper_bound : bool
        True when ``fmr`` is a bound (see ``fmr_basis``).
    fmr_basis : str
        ``"estimated"``: from the convolution of the observed impostor LLRs;
        ``"upper_bound"``: the rate rests on tails where no impostor was seen
        (rule of three) or is below ``FusionConfig.min_fmr``.
    modalities : tuple of str
        The modalities fused, in the order given (e.g. ``("face", "finger:right-index")``).
    missing : tuple of str
        Modalities passed with no score (None): not fused, not counted.
    per_modality_llr : dict of str to float
        Each fused modality's LLR.
    threshold_llr : float or None
        The fused threshold for ``target_fmr`` with these modalities.
    target_fmr : float or None
    match : bool or None
        ``llr >= threshold_llr`` when a target was given.
    assumption : str
        The independence assumption the FMR rests on.
    """

    llr: float
    fmr: float
    fmr_upper_bound: bool
    fmr_basis: str
    modalities: tuple[str, ...]
    missing: tuple[str, ...]
    per_modality_llr: dict[str, float]
    threshold_llr: float | None = None
    target_fmr: float | None = None
    match: bool | None = None
    assumption: str = INDEPENDENCE_NOTE

    def as_dict(self) -> dict[str, Any]:
        return {
            "llr": round(self.llr, 4),
            "fmr": float(f"{self.fmr:.3g}"),
            "fmr_upper_bound": self.fmr_upper_bound,
            "fmr_basis": self.fmr_basis,
            "modalities": list(self.modalities),
            "missing": list(self.missing),
            "per_modality_llr": {name: round(value, 4) for name, value in self.per_modality_llr.items()},
            "threshold_llr": None if self.threshold_llr is None else round(self.threshold_llr, 4),
            "target_fmr": self.target_fmr,
            "match": self.match,
            "assumption": self.assumption,
        }


# --- fitting -------------------------------------------------------------------------------------


def fit_score_model(
    genuine: npt.ArrayLike,
    impostor: npt.ArrayLike,
    *,
    modality: str,
    algorithm: str,
    score_range: tuple[float, float],
    data: Mapping[str, Any] | None = None,
    config: FusionConfig = DEFAULT_FUSION_CONFIG,
    created: datetime | None = None,
) -> ScoreModel:
    """Fit the monotone score-to-LLR map of one modality from its genuine and impostor scores.

    Parameters
    ----------
    genuine, impostor : array_like of float
        Scores of comparisons of one person and of two different people.
    modality : str
        ``"face"`` or ``"finger"``.
    algorithm : str
        The comparison algorithm's id.
    score_range : (float, float)
        Lowest and highest score the algorithm can produce; the bins span it.
    data : mapping, optional
        What the scores were measured on (written into the file).
    config : FusionConfig
    created : datetime, optional
        Default: now.

    Returns
    -------
    ScoreModel

    Raises
    ------
    ValueError
        Empty or non-finite scores, or scores outside ``score_range``.
    """
    low, high = float(score_range[0]), float(score_range[1])
    if not high > low:
        raise ValueError(f"score_range must be (low, high) with high > low; got {score_range!r}")
    genuine = _scores(genuine, "genuine", (low, high))
    impostor = _scores(impostor, "impostor", (low, high))
    # equal bins over the scores observed, the outer two stretched to the ends of the range: a matcher whose
    # scores crowd into a small part of its range (MCC's into [0, 0.3]) is not described by a handful of bins
    observed_low = min(float(genuine.min()), float(impostor.min()))
    observed_high = max(float(genuine.max()), float(impostor.max()))
    if observed_high > observed_low:
        edges = np.linspace(observed_low, observed_high, config.bins + 1)
        edges[0], edges[-1] = low, high
    else:
        edges = np.linspace(low, high, config.bins + 1)
    genuine_counts = np.histogram(genuine, edges)[0]
    impostor_counts = np.histogram(impostor, edges)[0]
    knot_scores, knot_llrs = _pav_knots(
        edges, genuine_counts, impostor_counts, float(impostor.max()), float(genuine.min())
    )
    return ScoreModel(
        modality=modality,
        algorithm=algorithm,
        score_range=(low, high),
        edges=tuple(float(edge) for edge in edges),
        genuine_counts=tuple(int(count) for count in genuine_counts),
        impostor_counts=tuple(int(count) for count in impostor_counts),
        knot_scores=tuple(round(float(score), 6) for score in knot_scores),
        knot_llrs=tuple(round(float(value), 6) for value in knot_llrs),
        highest_impostor_score=float(impostor.max()),
        lowest_genuine_score=float(genuine.min()),
        data=dict(data or {}),
        created=(created or datetime.now(UTC)).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    )


def _pav_knots(
    edges: np.ndarray,
    genuine_counts: np.ndarray,
    impostor_counts: np.ndarray,
    highest_impostor: float,
    lowest_genuine: float,
) -> tuple[np.ndarray, np.ndarray]:
    """PAV blocks of the bins, with the rule-of-three regions at both ends, as (centre scores, LLRs)."""
    n_genuine, n_impostor = float(genuine_counts.sum()), float(impostor_counts.sum())
    lower, upper = edges[:-1], edges[1:]
    top = lower > highest_impostor  # bins wholly above every impostor score
    bottom = upper <= lowest_genuine  # bins wholly below every genuine score (a genuine on an edge counts above it)
    blocks = []  # [genuine, impostor, first score, last score]
    if bottom.any():
        last = np.flatnonzero(bottom)[-1]
        blocks.append([RULE_OF_THREE, float(impostor_counts[bottom].sum()), float(lower[0]), float(upper[last])])
    for bin_number in np.flatnonzero(~top & ~bottom):
        if genuine_counts[bin_number] + impostor_counts[bin_number] > 0:
            blocks.append(
                [
                    float(genuine_counts[bin_number]),
                    float(impostor_counts[bin_number]),
                    float(lower[bin_number]),
                    float(upper[bin_number]),
                ]
            )
    if top.any():
        first = np.flatnonzero(top)[0]
        blocks.append([float(genuine_counts[top].sum()), RULE_OF_THREE, float(lower[first]), float(upper[-1])])
    pooled: list[list[float]] = []
    for block in blocks:
        pooled.append(block)
        # merge while the ratio falls: g1 / i1 > g2 / i2, compared by cross-multiplying (zeros allowed)
        while len(pooled) > 1 and pooled[-2][0] * pooled[-1][1] >= pooled[-1][0] * pooled[-2][1]:
            second = pooled.pop()
            first_block = pooled[-1]
            first_block[0] += second[0]
            first_block[1] += second[1]
            first_block[3] = second[3]
    centres: list[float] = []
    llrs: list[float] = []
    for number, (genuine, impostor, start, stop) in enumerate(pooled):
        # the clipped regions reach their LLR where the data run out, not half-way through them
        if number == len(pooled) - 1 and top.any() and stop == edges[-1]:
            centre = max(start, min(float(lower[np.flatnonzero(top)[0]]), (start + stop) / 2))
        elif number == 0 and bottom.any() and start == edges[0]:
            centre = min(stop, max(float(upper[np.flatnonzero(bottom)[-1]]), (start + stop) / 2))
        else:
            centre = (start + stop) / 2
        if centres and centre <= centres[-1]:
            # two clipped regions that touch (classes fully separated): fall back to the middle of each
            previous = pooled[number - 1]
            centres[-1], centre = (previous[2] + previous[3]) / 2, (start + stop) / 2
        centres.append(centre)
        llrs.append(math.log((genuine / n_genuine) / (impostor / n_impostor)))
    return np.array(centres), np.maximum.accumulate(np.array(llrs))


def _scores(values: npt.ArrayLike, name: str, score_range: tuple[float, float]) -> np.ndarray:
    scores = np.asarray(values, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError(f"{name} scores must not be empty")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{name} scores must be finite; {int(np.sum(~np.isfinite(scores)))} are NaN or infinite")
    outside = (scores < score_range[0]) | (scores > score_range[1])
    if outside.any():
        raise ValueError(
            f"{name} scores must lie in score_range {list(score_range)}; {int(outside.sum())} do not, e.g. "
            f"{scores[outside][0]}"
        )
    return scores


def _grid_pmf(values: np.ndarray, weights: np.ndarray, step: float) -> LlrDistribution:
    if not step > 0:
        raise ValueError(f"step must be > 0 nats; got {step}")
    index = np.ceil(values / step - 1e-9).astype(np.int64)
    offset = int(index.min())
    return LlrDistribution(step, offset, np.bincount(index - offset, weights=weights).astype(np.float64))


# --- fusing --------------------------------------------------------------------------------------


def model_kind(modality: str) -> str:
    """The model a modality name uses: ``"finger:right-index"`` -> ``"finger"``, ``"face"`` -> ``"face"``."""
    return modality.split(":", 1)[0]


def fused_impostor_distribution(
    models: Sequence[ScoreModel], config: FusionConfig = DEFAULT_FUSION_CONFIG, rule_of_three: bool = True
) -> LlrDistribution:
    """Distribution of the summed impostor LLR of the given modalities (one model per modality, repeats allowed).

    Each model's impostor LLRs are rounded up to the grid and convolved, assuming independence.

    Raises
    ------
    ValueError
        No model given.
    """
    if not models:
        raise ValueError("models must name at least one modality to fuse")
    return _convolved(tuple(models), config.llr_step, rule_of_three)


def _convolved(models: tuple[ScoreModel, ...], step: float, rule_of_three: bool) -> LlrDistribution:
    distribution = models[0].impostor_pmf(step, rule_of_three=rule_of_three)
    for model in models[1:]:
        distribution = distribution.convolve(model.impostor_pmf(step, rule_of_three=rule_of_three))
    return distribution


def fused_fmr(
    llr: float, models: Sequence[ScoreModel], config: FusionConfig = DEFAULT_FUSION_CONFIG
) -> tuple[float, str]:
    """False-match rate of a fused threshold at ``llr`` with these modalities, and its basis.

    Returns
    -------
    (float, str)
        The rate (never 0) and ``"estimated"`` or ``"upper_bound"``.
    """
    bounded = config.fmr_safety_factor * fused_impostor_distribution(models, config, rule_of_three=True).survival(llr)
    observed = config.fmr_safety_factor * fused_impostor_distribution(models, config, rule_of_three=False).survival(llr)
    if bounded <= config.min_fmr:
        return config.min_fmr, UPPER_BOUND
    if bounded > config.unobserved_factor * observed:
        return bounded, UPPER_BOUND
    return bounded, ESTIMATED


def fused_threshold(
    models: Sequence[ScoreModel], target_fmr: float, config: FusionConfig = DEFAULT_FUSION_CONFIG
) -> float | None:
    """The lowest fused LLR whose FMR (with the rule-of-three tails) is at most ``target_fmr``.

    Returns None when no threshold reaches it: the data behind the models
    cannot vouch for so low a rate with these modalities (a single finger
    at 1e-6, say). A target below ``config.min_fmr`` also gives None.
    """
    if not 0.0 < target_fmr < 1.0:
        raise ValueError(f"target_fmr must be in (0, 1); got {target_fmr}")
    if target_fmr < config.min_fmr:
        return None
    grid, survival = fused_impostor_distribution(models, config).survival_curve()
    allowed = np.flatnonzero(config.fmr_safety_factor * survival <= target_fmr)
    if allowed.size == 0:
        return None
    return float(grid[allowed[0]])


def fuse(
    scores: Mapping[str, float | None],
    models: Mapping[str, ScoreModel],
    target_fmr: float | None = None,
    config: FusionConfig = DEFAULT_FUSION_CONFIG,
) -> FusedDecision:
    """Fuse the scores of one comparison (face and up to 10 fingers) into a decision that states its FMR.

    Parameters
    ----------
    scores : mapping of str to float or None
        Score per modality: ``"face"`` and ``"finger:<position>"`` (e.g.
        ``"finger:right-index"``). None marks a modality that could not be
        compared (not captured, refused): it is left out and listed in
        :attr:`FusedDecision.missing`.
    models : mapping of str to ScoreModel
        By model kind (``"face"``, ``"finger"``), e.g. :func:`load_fusion_models`.
    target_fmr : float, optional
        When given, the fused threshold for this rate is found and the
        decision says whether the comparison matches.
    config : FusionConfig

    Returns
    -------
    FusedDecision

    Raises
    ------
    ValueError
        No modality has a score, a modality has no model, or a score is
        outside its model's score range.
    """
    used = [(name, float(value)) for name, value in scores.items() if value is not None]
    missing = tuple(name for name, value in scores.items() if value is None)
    if not used:
        raise ValueError(f"scores must hold at least one modality with a score; got {dict(scores)!r}")
    fingers = [name for name in scores if model_kind(name) == "finger"]
    if len(fingers) > MAX_FINGERS:
        raise ValueError(f"scores may hold at most {MAX_FINGERS} fingers; got {len(fingers)}: {fingers}")
    chosen, per_modality = [], {}
    for name, value in used:
        kind = model_kind(name)
        if kind not in models:
            raise ValueError(f"no fusion model for modality {name!r} (kind {kind!r}); models are for {sorted(models)}")
        model = models[kind]
        low, high = model.score_range
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(f"score of {name!r} must be a number in {[low, high]}; got {value!r}")
        chosen.append(model)
        per_modality[name] = model.llr(value)
    total = float(sum(per_modality.values()))
    fmr, basis = fused_fmr(total, chosen, config)
    threshold = None if target_fmr is None else fused_threshold(chosen, target_fmr, config)
    match = None
    if target_fmr is not None:
        match = threshold is not None and total >= threshold
    return FusedDecision(
        llr=total,
        fmr=fmr,
        fmr_upper_bound=basis == UPPER_BOUND,
        fmr_basis=basis,
        modalities=tuple(name for name, _ in used),
        missing=missing,
        per_modality_llr=per_modality,
        threshold_llr=threshold,
        target_fmr=target_fmr,
        match=match,
    )


# --- ranking many subjects ----------------------------------------------------------------------


class FusedThresholds:
    """Fused LLR thresholds and FMRs by the modalities present, each convolution computed once.

    A 1:N search or an evaluation meets the same few sets of modalities over
    and over (face + 2 fingers, face alone, ...); the convolution behind each
    threshold is costly, so it is cached by the set of model kinds present
    (face first, then fingers), which is all it depends on.
    """

    def __init__(self, models: Mapping[str, ScoreModel], config: FusionConfig = DEFAULT_FUSION_CONFIG) -> None:
        self.models = models
        self.config = config
        self._thresholds: dict[tuple[tuple[str, ...], float], float | None] = {}

    def chosen(self, names: Iterable[str]) -> list[ScoreModel]:
        """The models of ``names`` (modality names such as ``face``, ``finger:right-index``), face first."""
        kinds = sorted((model_kind(name) for name in names), key=lambda kind: (kind != "face", kind))
        return [self.models[kind] for kind in kinds]

    def threshold(self, names: Iterable[str], target_fmr: float) -> float | None:
        """The fused threshold for ``target_fmr`` with the modalities ``names`` (see :func:`fused_threshold`)."""
        kinds = tuple(sorted((model_kind(name) for name in names), key=lambda kind: (kind != "face", kind)))
        key = (kinds, target_fmr)
        if key not in self._thresholds:
            self._thresholds[key] = fused_threshold([self.models[kind] for kind in kinds], target_fmr, self.config)
        return self._thresholds[key]

    def fmr(self, names: Iterable[str], llr: float) -> tuple[float, str]:
        """The fused FMR of a threshold at ``llr`` with the modalities ``names``, and its basis (:func:`fused_fmr`)."""
        return fused_fmr(llr, self.chosen(names), self.config)


def fused_llrs(scores: Mapping[str, np.ndarray], models: Mapping[str, ScoreModel]) -> np.ndarray:
    """Summed LLR of many comparisons at once.

    Parameters
    ----------
    scores : mapping of str to numpy.ndarray, shape (n,)
        Raw scores per modality name (``face``, ``finger:right-index``), one
        row per comparison; NaN marks a modality that comparison lacks (it
        adds nothing).
    models : mapping of str to ScoreModel
        By model kind.

    Returns
    -------
    numpy.ndarray, shape (n,), float64
        The sum of each comparison's present modalities' LLRs (nats), added
        in the order of ``scores``.
    """
    columns = [np.asarray(column, dtype=np.float64) for column in scores.values()]
    total = np.zeros(columns[0].shape[0] if columns else 0)
    for name, column in zip(scores, columns):
        present = ~np.isnan(column)
        if present.any():
            total[present] += np.atleast_1d(models[model_kind(name)].llr(column[present]))
    return total


@dataclass(frozen=True)
class FusedSubject:
    """One subject of a fused 1:N search: its raw score per modality it has, its fused LLR and threshold."""

    subject_id: str
    scores: Mapping[str, float]
    """Raw score per modality name, only for the modalities the subject has a reference of."""
    llr: float
    threshold: float | None
    """The fused threshold at the ranking's target for the modalities this subject has; None: no threshold
    the models can vouch for."""

    @property
    def reaches_threshold(self) -> bool:
        return self.threshold is not None and self.llr >= self.threshold


@dataclass(frozen=True)
class FusedRanking:
    """Every subject of a fused 1:N search ranked by fused LLR, and those that are candidates."""

    names: tuple[str, ...]
    """The modalities searched, in probe order."""
    target_fmr: float
    threshold: float | None
    """The fused threshold with every modality present; None: the models cannot vouch for ``target_fmr``."""
    ranked: tuple[FusedSubject, ...]
    """Every subject that any probe scored, highest LLR first (ties: subject id)."""
    candidates: tuple[FusedSubject, ...]
    """The ranked subjects that reach their own threshold, at most ``limit``."""
    thresholds_by_modalities: tuple[dict[str, object], ...]
    """Per set of modalities present: how many subjects have just those, and their threshold."""
    expected_false_candidates: float
    """Sum over subjects of the FMR of their threshold: the wrong candidates a search of this gallery expects."""


def rank_fused(
    scores: Mapping[str, Mapping[str, float]],
    names: Sequence[str],
    thresholds: FusedThresholds,
    *,
    target_fmr: float,
    limit: int,
    population: Mapping[tuple[str, ...], int] | None = None,
) -> FusedRanking:
    """Rank the subjects of a 1:N search by fused LLR, each against the threshold of the modalities it has.

    Parameters
    ----------
    scores : mapping of str to mapping of str to float
        Per subject id, its best raw score per modality name (a subject
        with no reference of a modality has no entry for it).
    names : sequence of str
        The modalities searched (every name used in ``scores``).
    thresholds : FusedThresholds
        The fusion models and the cache of their thresholds.
    target_fmr : float
        False-match rate per comparison that a candidate's threshold is set at.
    limit : int
        At most this many candidates.
    population : mapping of tuple of str to int, optional
        How many subjects of the whole gallery hold each combination of the
        modalities (in ``names`` order), as the store counts them; the
        expected false candidates and ``thresholds_by_modalities`` are then
        of the gallery, not only of the subjects in ``scores`` (a search that
        scores only each probe's best subjects needs this).

    Returns
    -------
    FusedRanking
    """
    names = tuple(dict.fromkeys(names))
    subject_ids = list(scores)
    columns = {name: np.array([scores[s].get(name, np.nan) for s in subject_ids], dtype=np.float64) for name in names}
    llrs = fused_llrs(columns, thresholds.models) if subject_ids else np.zeros(0)
    subjects = []
    combos: dict[tuple[str, ...], int] = {}
    for subject_id, llr in zip(subject_ids, llrs):
        present = tuple(name for name in names if name in scores[subject_id])
        combos[present] = combos.get(present, 0) + 1
        subject_scores = {name: float(scores[subject_id][name]) for name in present}
        subjects.append(FusedSubject(subject_id, subject_scores, float(llr), thresholds.threshold(present, target_fmr)))
    ranked = tuple(sorted(subjects, key=lambda s: (-s.llr, s.subject_id)))
    expected = 0.0
    by_modalities = []
    for present, count in (combos if population is None else population).items():
        threshold = thresholds.threshold(present, target_fmr)
        by_modalities.append({"modalities": list(present), "subjects": count, "threshold_llr": threshold})
        if threshold is not None:
            expected += count * thresholds.fmr(present, threshold)[0]
    return FusedRanking(
        names=names,
        target_fmr=target_fmr,
        threshold=thresholds.threshold(names, target_fmr),
        ranked=ranked,
        candidates=tuple(s for s in ranked if s.reaches_threshold)[:limit],
        thresholds_by_modalities=tuple(by_modalities),
        expected_false_candidates=expected,
    )


# --- files ---------------------------------------------------------------------------------------


def load_score_model(path: Path | str) -> ScoreModel:
    """Read a model written by :meth:`ScoreModel.save`.

    Raises
    ------
    ValueError
        Not a fusion model file, or an unknown format version.
    """
    document = json.loads(Path(path).read_text())
    return score_model_from_dict(document, str(path))


def score_model_from_dict(document: Mapping[str, Any], where: str = "document") -> ScoreModel:
    """The :class:`ScoreModel` of a dict in the :meth:`ScoreModel.as_dict` layout."""
    if not isinstance(document, Mapping) or document.get("format") != FORMAT_NAME:
        raise ValueError(f"{where} is not a {FORMAT_NAME} file (its 'format' must be {FORMAT_NAME!r})")
    if document.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{where}: format_version must be {FORMAT_VERSION}; got {document.get('format_version')!r}")
    histogram, knots = document["histogram"], document["knots"]
    return ScoreModel(
        modality=str(document["modality"]),
        algorithm=str(document["algorithm"]),
        score_range=cast(tuple[float, float], tuple(float(value) for value in document["score_range"])),
        edges=tuple(float(value) for value in histogram["edges"]),
        genuine_counts=tuple(int(value) for value in histogram["genuine_counts"]),
        impostor_counts=tuple(int(value) for value in histogram["impostor_counts"]),
        knot_scores=tuple(float(value) for value in knots["score"]),
        knot_llrs=tuple(float(value) for value in knots["llr"]),
        highest_impostor_score=float(document["highest_impostor_score"]),
        lowest_genuine_score=float(document["lowest_genuine_score"]),
        data=dict(document.get("data") or {}),
        created=str(document.get("created", "")),
        format_version=int(document["format_version"]),
    )


def load_fusion_models(paths: Iterable[Path | str] | None = None) -> dict[str, ScoreModel]:
    """The fusion models by kind (``{"face": ..., "finger": ...}``).

    Parameters
    ----------
    paths : iterable of path, optional
        Model files; default :data:`FUSION_MODEL_FILES` (those that exist).

    Raises
    ------
    ValueError
        Two files for one modality.
    """
    chosen = (
        [Path(path) for path in paths]
        if paths is not None
        else [path for path in FUSION_MODEL_FILES.values() if path.is_file()]
    )
    models: dict[str, ScoreModel] = {}
    for path in chosen:
        model = load_score_model(path)
        if model.modality in models:
            raise ValueError(f"two fusion models for modality {model.modality!r}: {path} and an earlier file")
        models[model.modality] = model
    return models
