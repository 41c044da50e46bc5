"""The evaluation protocols: what is compared with what, and which rates come out.

Each protocol is one function of the templates (and, where it needs them, the
dataset's pair lists, the shipped calibration and the service's settings),
returning a frozen result whose ``as_dict()`` is its part of ``report.json``
and whose arrays feed the figures.

``view2_accuracy``
    LFW View 2: ten folds, the threshold chosen on the other nine, mean
    accuracy and standard deviation (Huang et al. 2007, section 3).
``verification``
    1:1 over every genuine and impostor comparison: EER, DET, FNMR at fixed
    FMRs with subject-bootstrap intervals (ISO/IEC 19795-1; Bolle et al. 2004).
``listed_pairs_verification``
    The same rates over a dataset's listed pairs only (LFW ``pairs.txt``).
``identification``
    1:N open set: FNIR at fixed FPIR, rank-1, FPIR against gallery size, and
    the projection to large galleries (ISO/IEC 19795-1 section 8.5; the
    FNIR/FPIR definitions of NIST IR 8271, FRVT Part 2: Identification).
``calibration_check``
    Does the shipped score -> FMR calibration hold on data it was not fitted on?
``group_rates``
    Per-group failure, false non-match and false match rates, when the
    dataset comes with labels.

Every protocol counts refused images (ISO/IEC 19795-1 FTE and FTA) as
failures where they would hurt: a refused image in a genuine comparison is a
false non-match; a refused probe of an enrolled person is not found; a
refused enrolment leaves its person out of the gallery, so that person's
searches fail too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tessera.evaluation.comparisons import Templates, all_pairs
from tessera.evaluation.datasets.dataset import PairList
from tessera.evaluation.metrics import (
    ScoreSet,
    VerificationRates,
    at_or_above,
    best_accuracy_threshold,
    det_curve,
    fnmr_at,
    json_float,
    poisson_interval,
    score_set_from_pairs,
    supported,
    threshold_at_fmr,
    verification_rates,
    wilson_interval,
)
from tessera.match.face import similarity_matrix

FMR_TARGETS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
"""FMRs at which the FNMR is reported (each only where the impostor count supports it)."""
REQUIRED_FMR_TARGETS = (1e-2, 1e-3, 1e-4)
"""FMRs always listed in ``report.json``, with a note when the data cannot support them."""
FPIR_TARGETS = (1e-1, 1e-2, 1e-3)
"""FPIRs at which the FNIR is reported."""
GALLERY_SIZES = (10, 30, 100, 300, 1_000, 3_000)
"""Gallery sizes (besides the full gallery) at which FPIR and FNIR are measured, on random sub-galleries."""
PROJECTED_GALLERY_SIZES = (10**4, 10**5, 10**6, 10**7, 10**8, 10**9)
"""Gallery sizes the expected false candidates per search are projected to."""
SUBGALLERY_DRAWS = 10
"""Most random sub-galleries drawn at a size smaller than the full gallery (about full / size of them, at least one)."""
CALIBRATION_CHECK_FMRS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
"""Claimed FMRs at which the calibration is checked (each where the held-out data can test it)."""
MIN_EXPECTED_FOR_CHECK = 10
"""Fewest false matches the claimed FMR must predict on the held-out data for the factor-2 check to be
meaningful: with 10 expected, the Poisson 95 % range (about 5 to 18) already spans most of [x0.5, x2]."""
CALIBRATION_TOLERANCE = 2.0
"""The calibration holds when the measured FMR is within this factor of the claimed one."""


def fmr_key(rate: float) -> str:
    """A rate as a ``report.json`` key: ``"0.01"``, ``"0.001"``, ``"1e-05"`` (Python's shortest float text)."""
    return repr(float(rate))


# --- LFW View 2 ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class View2Result:
    """Ten-fold accuracy on a listed-pairs benchmark.

    Attributes
    ----------
    accuracy : numpy.ndarray, shape (folds,)
        Per fold, refused pairs counted as errors.
    accuracy_refused_dropped : numpy.ndarray, shape (folds,)
        Per fold, over the pairs both of whose images were templated (as
        published figures are usually computed; for comparison only).
    thresholds : numpy.ndarray, shape (folds,)
        Threshold each fold was classified with, chosen on the other folds.
    refused_pairs : numpy.ndarray, shape (folds,), int
        Pairs with a refused image, per fold.
    pairs_per_fold : numpy.ndarray, shape (folds,), int
    verification : VerificationRates
        FNMR at fixed FMR over all the listed pairs, with subject-bootstrap intervals.
    scores : numpy.ndarray, shape (n,)
        Every pair's score (``-inf`` where refused), for the figures.
    same : numpy.ndarray, shape (n,), bool
    operating_threshold : float or None
        The service's 1:1 threshold, if known.
    """

    accuracy: np.ndarray
    accuracy_refused_dropped: np.ndarray
    thresholds: np.ndarray
    refused_pairs: np.ndarray
    pairs_per_fold: np.ndarray
    verification: VerificationRates
    scores: np.ndarray
    same: np.ndarray
    operating_threshold: float | None

    def as_dict(self) -> dict:
        genuine = self.scores[self.same]
        result: dict[str, Any] = {
            "protocol": (
                "LFW View 2 (pairs.txt): 10 folds of 300 matched + 300 mismatched pairs; each fold classified with "
                "the threshold that maximises accuracy on the other 9 folds; a pair with a refused image is an error"
            ),
            "accuracy_mean": json_float(float(self.accuracy.mean())),
            "accuracy_std": json_float(float(self.accuracy.std(ddof=1))) if self.accuracy.size > 1 else None,
            "accuracy_per_fold": [json_float(float(value)) for value in self.accuracy],
            "threshold_per_fold": [json_float(float(value)) for value in self.thresholds],
            "pairs": int(self.pairs_per_fold.sum()),
            "pairs_with_refused_image": int(self.refused_pairs.sum()),
            "accuracy_refused_pairs_dropped_mean": json_float(float(self.accuracy_refused_dropped.mean())),
            "accuracy_refused_pairs_dropped_std": (
                json_float(float(self.accuracy_refused_dropped.std(ddof=1))) if self.accuracy.size > 1 else None
            ),
            "std_note": "sample standard deviation over the folds (ddof = 1)",
        }
        result.update(_rates_dict(self.verification, len(genuine), self.scores.size - len(genuine)))
        if self.operating_threshold is not None:
            misses = int(np.sum(genuine < self.operating_threshold))
            low, high = wilson_interval(misses, len(genuine))
            result["fnmr_at_operating_threshold"] = {
                "threshold": json_float(self.operating_threshold),
                "fnmr": json_float(misses / len(genuine)),
                "ci95": [json_float(low), json_float(high)],
                "ci_method": "Wilson score interval over the genuine pairs",
                "false_non_matches": misses,
                "genuine_pairs": len(genuine),
            }
        return result


def view2_accuracy(
    templates: Templates,
    pairs: PairList,
    *,
    replicates: int = 500,
    seed: int = 0,
    operating_threshold: float | None = None,
) -> View2Result:
    """Ten-fold accuracy on ``pairs`` (LFW View 2), refused pairs counted as errors.

    For each fold, the threshold maximising accuracy on the pairs of the
    other folds whose images were both templated is chosen
    (:func:`~tessera.evaluation.metrics.best_accuracy_threshold`), then the
    fold is classified with it. A pair with a refused image is wrong whatever
    the threshold: the pipeline gave no answer.
    """
    scores = templates.pair_scores(pairs.a, pairs.b)
    folds = view2_folds(scores, pairs)
    score_set = score_set_from_pairs(
        scores, pairs.same, templates.subject[pairs.a], templates.subject[pairs.b], templates.n_subjects
    )
    return View2Result(
        accuracy=folds.accuracy,
        accuracy_refused_dropped=folds.accuracy_refused_dropped,
        thresholds=folds.thresholds,
        refused_pairs=folds.refused_pairs,
        pairs_per_fold=folds.pairs_per_fold,
        verification=verification_rates(score_set, FMR_TARGETS, replicates, seed),
        scores=scores,
        same=pairs.same,
        operating_threshold=operating_threshold,
    )


@dataclass(frozen=True)
class View2Folds:
    """Per-fold figures of :func:`view2_folds`, each a (folds,) array (see :class:`View2Result`)."""

    accuracy: np.ndarray
    accuracy_refused_dropped: np.ndarray
    thresholds: np.ndarray
    refused_pairs: np.ndarray
    pairs_per_fold: np.ndarray


def view2_folds(scores: np.ndarray, pairs: PairList) -> View2Folds:
    """Classify each fold of ``pairs`` with the threshold chosen on the other folds (the whole of
    :func:`view2_accuracy`'s accuracy).

    Parameters
    ----------
    scores : numpy.ndarray, shape (n,)
        Each listed pair's score, ``-inf`` where an image was refused (always an error).
    pairs : PairList
        With its folds; a single fold is classified with its own best threshold.
    """
    usable = np.isfinite(scores)
    folds = pairs.folds
    accuracy, dropped, thresholds, refused, sizes = [], [], [], [], []
    for fold in range(folds):
        inside = pairs.fold == fold
        train = ~inside & usable if folds > 1 else inside & usable
        threshold = best_accuracy_threshold(scores[train], pairs.same[train])
        correct = usable & ((scores >= threshold) == pairs.same)
        accuracy.append(correct[inside].sum() / inside.sum())
        dropped.append(correct[inside].sum() / max((inside & usable).sum(), 1))
        thresholds.append(threshold)
        refused.append(int((inside & ~usable).sum()))
        sizes.append(int(inside.sum()))
    return View2Folds(
        accuracy=np.array(accuracy),
        accuracy_refused_dropped=np.array(dropped),
        thresholds=np.array(thresholds),
        refused_pairs=np.array(refused),
        pairs_per_fold=np.array(sizes),
    )


# --- 1:1 over all comparisons --------------------------------------------------------------------


@dataclass(frozen=True)
class VerificationResult:
    """1:1 rates over every pair of images.

    Attributes
    ----------
    scores : ScoreSet
    rates : VerificationRates
    det : tuple of numpy.ndarray
        (thresholds, fmr, fnmr) of the DET curve.
    operating_threshold : float
        The service's 1:1 threshold (or, without a matching calibration, the
        threshold at the service's target FMR measured here).
    operating_threshold_source : str
    genuine_with_refused, impostor_with_refused : int
        Comparisons that could not be made because an image was refused.
    """

    scores: ScoreSet
    rates: VerificationRates
    det: tuple
    operating_threshold: float
    operating_threshold_source: str
    genuine_with_refused: int
    impostor_with_refused: int

    @property
    def fnmr_at_operating_threshold(self) -> float:
        return fnmr_at(np.sort(self.scores.genuine), self.operating_threshold)

    @property
    def fmr_at_operating_threshold(self) -> float:
        impostor = self.scores.impostor
        return at_or_above(impostor, self.operating_threshold) / impostor.size

    def as_dict(self) -> dict:
        result = {
            "protocol": (
                "every unordered pair of images: genuine if one person, impostor if two; a comparison with a refused "
                "image scores -inf (a false non-match if genuine), and stays in the denominators (ISO/IEC 19795-1 "
                "generalised rates)"
            ),
            "n_subjects": self.scores.n_subjects,
        }
        result.update(_rates_dict(self.rates, self.scores.n_genuine, self.scores.n_impostor))
        result["genuine_with_refused_image"] = self.genuine_with_refused
        result["impostor_with_refused_image"] = self.impostor_with_refused
        result["operating_threshold"] = {
            "threshold": json_float(self.operating_threshold),
            "source": self.operating_threshold_source,
            "fnmr": json_float(self.fnmr_at_operating_threshold),
            "fmr": json_float(self.fmr_at_operating_threshold),
        }
        return result


def verification(
    templates: Templates,
    operating_threshold: float | None,
    operating_threshold_source: str,
    target_fmr: float,
    *,
    replicates: int = 500,
    seed: int = 0,
) -> VerificationResult:
    """1:1 over every pair of images (see the module docstring).

    ``operating_threshold`` None: use the threshold at ``target_fmr`` measured on these comparisons.
    """
    scores = all_pairs(templates)
    rates = verification_rates(scores, FMR_TARGETS, replicates, seed)
    if operating_threshold is None:
        operating_threshold = threshold_at_fmr(scores.tail, target_fmr, np.ones(scores.tail.size), scores.n_impostor)
    return VerificationResult(
        scores=scores,
        rates=rates,
        det=det_curve(np.sort(scores.genuine), scores.impostor),
        operating_threshold=operating_threshold,
        operating_threshold_source=operating_threshold_source,
        genuine_with_refused=int(np.sum(~np.isfinite(scores.genuine))),
        impostor_with_refused=int(np.sum(~np.isfinite(scores.impostor))),
    )


def without_label_errors(scores: ScoreSet, subject_names: Sequence[str], label_errors) -> dict:
    """FNMR at each of :data:`FMR_TARGETS` over every pair, with the listed label errors left out of the impostors.

    ``scores`` is an all-pairs :class:`ScoreSet` (its ``subject_images`` set); the identity pairs of
    ``label_errors`` (a :class:`~tessera.evaluation.datasets.label_errors.LabelErrors`) whose two names are
    among ``subject_names`` are no impostor comparisons: every comparison of their images leaves the impostor
    total, and those among the highest scores leave the tail the thresholds are read from. Genuine comparisons
    and refusals count as in :func:`verification`. Reported beside the every-pair figures, never instead of them.
    """
    if scores.subject_images is None:
        raise ValueError("without_label_errors needs an all-pairs ScoreSet (subject_images set)")
    excluded = label_errors.excluded_identity_pairs(set(subject_names))
    index = {name: number for number, name in enumerate(subject_names)}
    left_out = {frozenset((index[a], index[b])) for a, b in excluded}
    kept = np.array([frozenset((a, b)) not in left_out for a, b in zip(scores.tail_a, scores.tail_b)], dtype=bool)
    n_left_out = sum(int(scores.subject_images[index[a]]) * int(scores.subject_images[index[b]]) for a, b in excluded)
    total = scores.n_impostor - n_left_out
    genuine = np.sort(scores.genuine)
    thresholds = {fmr_key(rate): threshold_at_fmr(scores.tail[kept], rate, None, total) for rate in FMR_TARGETS}
    return {
        "protocol": "as 'verification', with the listed label errors' comparisons left out of the impostors",
        "impostor_exclusions": label_errors.report(len(excluded), n_left_out),
        "n_impostor": total,
        "fnmr_at_fmr": {
            key: None if math.isnan(threshold) else json_float(fnmr_at(genuine, threshold))
            for key, threshold in thresholds.items()
        },
        "threshold_at_fmr": {key: json_float(threshold) for key, threshold in thresholds.items()},
    }


def _rates_dict(rates: VerificationRates, n_genuine: int, n_impostor: int) -> dict:
    targets = sorted(
        set(REQUIRED_FMR_TARGETS) | {t for t, v in rates.fnmr_at_fmr.items() if v is not None}, reverse=True
    )
    fnmr: dict[str, float | None] = {}
    intervals: dict[str, list[float | None]] = {}
    thresholds: dict[str, float | None] = {}
    not_supported: dict[str, str] = {}
    for target in targets:
        value = rates.fnmr_at_fmr.get(target)
        key = fmr_key(target)
        if value is None:
            fnmr[key] = None
            not_supported[key] = (
                f"{n_impostor:,} impostor comparisons cannot measure an FMR of {target:g}: it needs at least "
                f"{math.ceil(3 / target):,} (3 false matches expected)"
            )
            continue
        fnmr[key] = json_float(value.value)
        intervals[key] = [json_float(value.low), json_float(value.high)]
        thresholds[key] = json_float(rates.thresholds[target])
    result: dict[str, Any] = {
        "n_genuine": n_genuine,
        "n_impostor": n_impostor,
        "eer": json_float(rates.eer.value),
        "eer_ci95": [json_float(rates.eer.low), json_float(rates.eer.high)],
        "eer_threshold": json_float(rates.eer_threshold),
        "fnmr_at_fmr": fnmr,
        "fnmr_at_fmr_ci95": intervals,
        "threshold_at_fmr": thresholds,
        "ci_method": (
            f"percentile bootstrap over subjects, {rates.replicates} replicates, threshold re-chosen in each "
            "(Bolle, Ratha & Pankanti 2004, subsets bootstrap)"
        ),
    }
    if not_supported:
        result["not_supported"] = not_supported
    return result


# --- 1:N open set --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdentificationResult:
    """1:N open-set rates.

    Attributes
    ----------
    summary : dict
        The ``report.json`` part.
    nonmated_top : numpy.ndarray
        Highest gallery score of each non-mated search (``-inf`` if refused), for the figures.
    tradeoff : tuple of numpy.ndarray
        (fpir, fnir) as the threshold sweeps, for the figures.
    by_gallery_size : list of dict
        FPIR and FNIR at the service's and at the fixed 1:1 threshold, per gallery size.
    projection : list of dict
        Per projected gallery size: the service's threshold, its claimed
        FMR, expected false candidates per search, and the projected FNIR.
    """

    summary: dict
    nonmated_top: np.ndarray
    tradeoff: tuple
    by_gallery_size: list = field(default_factory=list)
    projection: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {**self.summary, "by_gallery_size": self.by_gallery_size, "projection": self.projection}


def identification(
    templates: Templates,
    *,
    calibration,
    verify_threshold: float,
    expected_false_candidates: float,
    max_candidates: int,
    verification_genuine: np.ndarray,
    seed: int = 0,
) -> IdentificationResult:
    """1:N open-set search rates.

    Gallery: one image per enrolled person, the first in key order.
    Enrolled: every person with two or more images, and a random half
    (``seed``) of those with one (as distractors). Mated searches: every
    other image of an enrolled person. Non-mated searches: the other half of
    the one-image people, plus every mated probe searched again with its own
    person removed from the gallery (a leave-one-out search, which triples
    the non-mated searches without new images).

    A search *finds* its mate at threshold ``T`` when the mate scores
    ``>= T`` and ranks within ``max_candidates`` (the candidate list the
    service returns). FNIR is the share of mated searches that do not find
    it; FPIR the share of non-mated searches returning any candidate.

    Parameters
    ----------
    calibration : Calibration or None
        The shipped calibration, for the service's gallery-size-dependent
        threshold (None when it does not match the templates' algorithm).
    verify_threshold : float
        The fixed 1:1 threshold, to show why a 1:N threshold must rise.
    expected_false_candidates : float
        The service's target of wrong candidates per search.
    max_candidates : int
        Length of the candidate list.
    verification_genuine : numpy.ndarray
        Genuine 1:1 scores (``-inf`` if refused), for the projected FNIR.
    """
    rng = np.random.default_rng(seed)
    subject = templates.subject
    first = _first_sample_of_each_subject(subject, templates.n_subjects)
    counts = np.bincount(subject, minlength=templates.n_subjects)
    multi = np.flatnonzero(counts >= 2)
    single = rng.permutation(np.flatnonzero(counts == 1))
    distractors, never_enrolled = single[: len(single) // 2], single[len(single) // 2 :]
    enrolled = np.sort(np.concatenate([multi, distractors]))
    enrolment = first[enrolled]
    failed_enrolment = ~templates.templated[enrolment]
    gallery_subject = enrolled[~failed_enrolment]
    gallery_sample = enrolment[~failed_enrolment]
    column_of = np.full(templates.n_subjects, -1)
    column_of[gallery_subject] = np.arange(gallery_subject.size)

    is_multi = np.zeros(templates.n_subjects, dtype=bool)
    is_multi[multi] = True
    sample = np.arange(subject.size)
    mated = sample[is_multi[subject] & (sample != first[subject])]
    nonmated = first[never_enrolled]
    probes = np.concatenate([mated, nonmated])
    matrix = similarity_matrix(
        templates.embeddings[probes], templates.embeddings[gallery_sample], a_present=templates.templated[probes]
    ).astype(np.float64)
    mate_column = column_of[subject[probes]]
    has_mate = mate_column >= 0
    mate_score = np.full(probes.size, -np.inf)
    mate_score[has_mate] = matrix[np.flatnonzero(has_mate), mate_column[has_mate]]
    masked = matrix.copy()
    masked[np.flatnonzero(has_mate), mate_column[has_mate]] = -np.inf
    top_nonmate = masked.max(axis=1) if masked.shape[1] else np.full(probes.size, -np.inf)
    rank = 1 + np.sum(masked > mate_score[:, None], axis=1)

    n_mated = mated.size
    mated_score, mated_rank = mate_score[:n_mated], rank[:n_mated]
    # Non-mated searches: the never-enrolled people, and every mated probe without its mate.
    nonmated_top = np.concatenate([top_nonmate[n_mated:], top_nonmate[:n_mated]])
    nonmated_descending = np.sort(nonmated_top)[::-1]

    def fnir(threshold: float) -> tuple[float, int]:
        misses = int(np.sum(~((mated_score >= threshold) & (mated_rank <= max_candidates))))
        return misses / max(n_mated, 1), misses

    at_fpir: dict[str, dict[str, Any]] = {}
    for target in FPIR_TARGETS:
        key = fmr_key(target)
        if not supported(nonmated_top.size, target):
            at_fpir[key] = {
                "fnir": None,
                "note": f"{nonmated_top.size:,} non-mated searches cannot measure an FPIR of {target:g} "
                f"(at least {math.ceil(3 / target):,} needed)",
            }
            continue
        threshold = threshold_at_fmr(nonmated_descending, target)
        rate, misses = fnir(threshold)
        low, high = wilson_interval(misses, n_mated)
        at_fpir[key] = {
            "fnir": json_float(rate),
            "ci95": [json_float(low), json_float(high)],
            "threshold": json_float(threshold),
            "fpir": json_float(float(np.mean(nonmated_top >= threshold))),
        }
    gallery_size = int(gallery_subject.size)
    service_threshold, service_note = _service_threshold(calibration, gallery_size, expected_false_candidates)
    rank_one = int(np.sum(np.isfinite(mated_score) & (mated_rank == 1)))
    summary = {
        "protocol": (
            "open-set 1:N. Gallery: the first image (key order) of every person with 2+ images and of a random half "
            "of the one-image people. Mated searches: every other image of a person with 2+ images. Non-mated: the "
            "other half of the one-image people, plus every mated probe searched again with its own person removed "
            "from the gallery (leave-one-out). A mate is found at threshold T when it scores >= T within the first "
            f"{max_candidates} candidates. Refused probes and failed enrolments count as not found."
        ),
        "gallery_size": gallery_size,
        "enrolments_attempted": int(enrolled.size),
        "failed_enrolments": int(failed_enrolment.sum()),
        "mated_searches": int(n_mated),
        "mated_searches_refused_probe": int(np.sum(~templates.templated[mated])),
        "mated_searches_mate_not_enrolled": int(np.sum(~has_mate[:n_mated])),
        "nonmated_searches": int(nonmated_top.size),
        "nonmated_searches_never_enrolled": int(nonmated.size),
        "nonmated_searches_leave_one_out": int(n_mated),
        "nonmated_searches_refused_probe": int(np.sum(~np.isfinite(nonmated_top))),
        "candidate_list_length": max_candidates,
        "rank1_identification_rate": json_float(rank_one / max(n_mated, 1)),
        "rank1_ci95": [json_float(v) for v in wilson_interval(rank_one, n_mated)],
        "fnir_at_fpir": at_fpir,
        "ci_method": "Wilson score interval over the mated searches, at the threshold chosen on the non-mated ones",
    }
    if service_threshold is not None:
        rate, misses = fnir(service_threshold)
        false_positive = int(np.sum(nonmated_top >= service_threshold))
        summary["at_service_threshold"] = {
            "threshold": json_float(service_threshold),
            "claimed_fmr": json_float(calibration.fmr_at(service_threshold).value),
            "expected_false_candidates_per_search": json_float(
                gallery_size * calibration.fmr_at(service_threshold).value
            ),
            "fnir": json_float(rate),
            "fnir_ci95": [json_float(v) for v in wilson_interval(misses, n_mated)],
            "fpir": json_float(false_positive / nonmated_top.size),
            "fpir_ci95": [json_float(v) for v in wilson_interval(false_positive, nonmated_top.size)],
        }
    else:
        summary["at_service_threshold"] = {"threshold": None, "note": service_note}
    by_size = _by_gallery_size(
        templates,
        matrix,
        probes,
        mate_column,
        gallery_size,
        rng,
        calibration=calibration,
        verify_threshold=verify_threshold,
        expected_false_candidates=expected_false_candidates,
        max_candidates=max_candidates,
    )
    projection = _projection(calibration, verify_threshold, expected_false_candidates, verification_genuine)
    levels = np.unique(
        np.concatenate([nonmated_descending[np.isfinite(nonmated_descending)], mated_score[np.isfinite(mated_score)]])
    )
    fpir_curve = at_or_above(np.sort(nonmated_top), levels) / nonmated_top.size
    fnir_curve = np.array([fnir(level)[0] for level in levels[:: max(1, levels.size // 600)]])
    return IdentificationResult(
        summary=summary,
        nonmated_top=nonmated_top,
        tradeoff=(fpir_curve[:: max(1, levels.size // 600)], fnir_curve),
        by_gallery_size=by_size,
        projection=projection,
    )


def _first_sample_of_each_subject(subject: np.ndarray, n_subjects: int) -> np.ndarray:
    first = np.full(n_subjects, -1)
    for index in range(subject.size - 1, -1, -1):
        first[subject[index]] = index
    return first


def _service_threshold(calibration, gallery_size: int, expected_false_candidates: float) -> tuple[float | None, str]:
    from tessera.match.calibration import FmrBeyondCalibration

    if calibration is None:
        return None, "no calibration for these templates' algorithm: the service's 1:N threshold is unknown"
    try:
        return calibration.identify_threshold(max(gallery_size, 1), expected_false_candidates), ""
    except FmrBeyondCalibration as error:
        return None, f"beyond the calibration: {error}"


def _by_gallery_size(
    templates,
    matrix,
    probes,
    mate_column,
    full_size,
    rng,
    *,
    calibration,
    verify_threshold,
    expected_false_candidates,
    max_candidates,
) -> list[dict]:
    """FPIR and FNIR at the service's threshold for N, and at the fixed 1:1 threshold, on random sub-galleries."""
    rows = []
    sizes = [size for size in GALLERY_SIZES if size < full_size] + [full_size]
    for size in sizes:
        # Sub-galleries near the full size overlap anyway: fewer draws there.
        draws = max(1, min(SUBGALLERY_DRAWS, round(full_size / size))) if size < full_size else 1
        service, _ = _service_threshold(calibration, size, expected_false_candidates)
        tallies = {"service": [0, 0, 0, 0], "fixed": [0, 0, 0, 0]}  # false positives, non-mated, misses, mated
        for _ in range(draws):
            chosen = np.sort(rng.choice(full_size, size, replace=False)) if size < full_size else np.arange(full_size)
            inside = np.zeros(full_size, dtype=bool)
            inside[chosen] = True
            is_mated = (mate_column >= 0) & inside[np.maximum(mate_column, 0)]
            mated_rows, nonmated_rows = np.flatnonzero(is_mated), np.flatnonzero(~is_mated)
            nonmated_top = matrix[np.ix_(nonmated_rows, chosen)].max(axis=1) if nonmated_rows.size else np.zeros(0)
            mated_sub = matrix[np.ix_(mated_rows, chosen)]
            position = np.searchsorted(chosen, mate_column[mated_rows])
            mate_score = mated_sub[np.arange(mated_rows.size), position]
            mated_sub[np.arange(mated_rows.size), position] = -np.inf
            rank = 1 + np.sum(mated_sub > mate_score[:, None], axis=1)
            for name, threshold in (("service", service), ("fixed", verify_threshold)):
                if threshold is None:
                    continue
                tally = tallies[name]
                tally[0] += int(np.sum(nonmated_top >= threshold))
                tally[1] += int(nonmated_rows.size)
                tally[2] += int(np.sum(~((mate_score >= threshold) & (rank <= max_candidates))))
                tally[3] += int(mated_rows.size)
        row = {"gallery_size": int(size), "draws": draws}
        for name, threshold in (("service", service), ("fixed", verify_threshold)):
            false_positive, nonmated, misses, mated = tallies[name]
            if threshold is None or nonmated == 0:
                row[name] = None
                continue
            claimed = calibration.fmr_at(threshold).value if calibration is not None else None
            row[name] = {
                "threshold": json_float(threshold),
                "fpir": json_float(false_positive / nonmated),
                "fpir_ci95": [json_float(v) for v in wilson_interval(false_positive, nonmated)],
                "expected_fpir": None if claimed is None else json_float(1 - (1 - claimed) ** size),
                "nonmated_searches": nonmated,
                "fnir": json_float(misses / mated) if mated else None,
                "mated_searches": mated,
            }
        rows.append(row)
    return rows


def _projection(calibration, verify_threshold, expected_false_candidates, genuine) -> list[dict]:
    """Expected wrong candidates per search in galleries of 10^4 ... 10^9 people."""
    genuine_sorted = np.sort(genuine)
    rows = []
    for size in PROJECTED_GALLERY_SIZES:
        row: dict = {"gallery_size": size}
        if calibration is not None:
            fixed_fmr = calibration.fmr_at(verify_threshold)
            row["at_fixed_1to1_threshold"] = {
                "threshold": json_float(verify_threshold),
                "expected_false_candidates_per_search": json_float(size * fixed_fmr.value),
            }
        threshold, note = _service_threshold(calibration, size, expected_false_candidates)
        if threshold is None:
            row["at_service_threshold"] = {"threshold": None, "note": note}
        else:
            estimate = calibration.fmr_at(threshold)
            row["at_service_threshold"] = {
                "threshold": json_float(threshold),
                "claimed_fmr": json_float(estimate.value),
                "fmr_basis": estimate.basis,
                "expected_false_candidates_per_search": json_float(size * estimate.value),
                "projected_fnir": json_float(fnmr_at(genuine_sorted, threshold)),
                "projected_fnir_note": "the 1:1 FNMR measured here at that threshold (a mate below it is not found)",
            }
        rows.append(row)
    return rows


# --- the calibration check -----------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationCheck:
    """Claimed against measured FMR on comparisons the calibration was not fitted on."""

    summary: dict
    rows: list

    def as_dict(self) -> dict:
        return {**self.summary, "levels": self.rows}


def calibration_check(
    templates: Templates,
    held_out: np.ndarray,
    calibration,
    algorithm: str | None,
    held_out_note: str,
    *,
    subject_names: Sequence[str] | None = None,
    label_errors=None,
) -> CalibrationCheck:
    """Measure the FMR at the thresholds the shipped calibration gives for each claimed FMR.

    Only templated images of held-out subjects are compared (an FMR claim is
    about two templates), every pair of two different people. At each claimed
    FMR of :data:`CALIBRATION_CHECK_FMRS` the calibration names a threshold;
    the false matches observed there are counted, with an exact Poisson
    interval. The check applies where the claim predicts at least
    :data:`MIN_EXPECTED_FOR_CHECK` false matches; it passes when every such
    measured FMR is within a factor :data:`CALIBRATION_TOLERANCE` of the claim.

    With ``label_errors`` (a :class:`~tessera.evaluation.datasets.label_errors.LabelErrors`)
    and ``subject_names`` (the name of each subject index), the listed identity
    pairs are left out of the impostors and the summary's ``impostor_exclusions``
    says how many comparisons and why; without, every pair of two subjects counts.
    """
    from tessera.evaluation.calibrate import pair_scores
    from tessera.match.calibration import FmrBeyondCalibration

    summary = {
        "calibration_algorithm": None if calibration is None else calibration.algorithm,
        "templates_algorithm": algorithm,
        "held_out": held_out_note,
        "tolerance_factor": CALIBRATION_TOLERANCE,
    }
    if calibration is None or calibration.algorithm != algorithm:
        summary.update(passed=False, note="the shipped calibration is for another template algorithm: it cannot apply")
        return CalibrationCheck(summary, [])
    chosen = held_out & templates.templated
    if subject_names is not None:
        labels = [str(subject_names[value]) for value in templates.subject[chosen]]
    else:
        labels = [str(value) for value in templates.subject[chosen]]
    excluded = [] if label_errors is None else label_errors.excluded_identity_pairs(set(labels))
    scores = pair_scores(templates.embeddings[chosen], labels, excluded_pairs=excluded)
    impostor = scores.impostor
    summary["impostor_exclusions"] = (
        None if label_errors is None else label_errors.report(len(excluded), scores.n_excluded)
    )
    summary.update(
        calibration_created=calibration.created,
        calibration_fitted_on=calibration.data.get("pairs_file"),
        held_out_images=int(chosen.sum()),
        held_out_subjects=int(len(set(labels))),
        n_impostor=int(impostor.size),
        n_genuine=int(scores.genuine.size),
    )
    rows: list[dict[str, Any]] = []
    verdicts: list[bool] = []
    for claimed_target in CALIBRATION_CHECK_FMRS:
        try:
            threshold = calibration.threshold_for_fmr(claimed_target)
        except FmrBeyondCalibration as error:
            rows.append({"target_fmr": claimed_target, "threshold": None, "note": str(error)})
            continue
        estimate = calibration.fmr_at(threshold)
        false_matches = at_or_above(impostor, threshold)
        low, high = poisson_interval(false_matches)
        measured = false_matches / impostor.size
        expected = estimate.value * impostor.size
        checkable = expected >= MIN_EXPECTED_FOR_CHECK
        ratio = measured / estimate.value
        within = 1 / CALIBRATION_TOLERANCE <= ratio <= CALIBRATION_TOLERANCE
        if checkable:
            verdicts.append(within)
        rows.append(
            {
                "target_fmr": claimed_target,
                "threshold": json_float(threshold),
                "claimed_fmr": json_float(estimate.value),
                "claimed_basis": estimate.basis,
                "false_matches": false_matches,
                "expected_false_matches": json_float(expected),
                "measured_fmr": json_float(measured),
                "measured_fmr_ci95": [json_float(low / impostor.size), json_float(high / impostor.size)],
                "ratio_measured_to_claimed": json_float(ratio),
                "checkable": checkable,
                "within_tolerance": within if checkable else None,
                "claimed_fnmr": json_float(calibration.fnmr_at(threshold)),
                "measured_fnmr": json_float(fnmr_at(scores.genuine.astype(np.float64), threshold)),
            }
        )
    summary["passed"] = bool(verdicts) and all(verdicts)
    summary["levels_checked"] = len(verdicts)
    return CalibrationCheck(summary, rows)


# --- per group -----------------------------------------------------------------------------------


def group_rates(templates: Templates, groups: Mapping[str, Sequence[str | None]], threshold: float) -> dict:
    """FTA, FNMR and FMR per group, at ``threshold``, for each labelled attribute.

    Parameters
    ----------
    groups : dict of str to sequence
        Per attribute, the group of each sample (None when unlabelled).
    threshold : float
        The operating threshold.

    Returns
    -------
    dict
        Per attribute, per group: images, subjects, refused share, FNMR over
        genuine pairs within the group and FMR over impostor pairs within the
        group, each with a Wilson interval (which treats comparisons as
        independent, so it is too narrow when they share people).
    """
    result = {}
    for attribute, labels in groups.items():
        group_of = np.array([label if label is not None else "" for label in labels], dtype=object)
        table = {}
        for group in sorted({label for label in group_of if label}):
            member = group_of == group
            sub = Templates(
                templates.embeddings[member],
                templates.templated[member],
                templates.subject[member],
                templates.n_subjects,
            )
            scores = all_pairs(sub, min_tail_fraction=0.0)
            false_non_matches = int(np.sum(scores.genuine < threshold))
            false_matches = at_or_above(scores.impostor, threshold)
            refused = int(np.sum(~sub.templated))
            table[group] = {
                "images": int(member.sum()),
                "subjects": int(np.unique(sub.subject).size),
                "refused": refused,
                "refused_rate": json_float(refused / max(int(member.sum()), 1)),
                "n_genuine": scores.n_genuine,
                "fnmr": json_float(false_non_matches / scores.n_genuine) if scores.n_genuine else None,
                "fnmr_ci95": [json_float(v) for v in wilson_interval(false_non_matches, scores.n_genuine)],
                "n_impostor": scores.n_impostor,
                "fmr": json_float(false_matches / scores.n_impostor) if scores.n_impostor else None,
                "fmr_ci95": [json_float(v) for v in wilson_interval(false_matches, scores.n_impostor)],
            }
        result[attribute] = table
    return result
