"""Fit the face calibration on LFW: what a face score means, measured.

::

    pair file -> unique images -> face pipeline (in parallel) -> all genuine and impostor scores -> fit -> JSON

The images are those the LFW View 1 training pairs (``pairsDevTrain.txt``)
refer to. Every image goes through the real pipeline
(:func:`tessera.capture.decode.decode_image`, then
:func:`tessera.face.pipeline.extract_face`); images it refuses are counted,
listed and recorded in the file, not dropped in silence. Then *every* pair of
templated images is compared, not only the listed pairs: all pairs of one
person are genuine, all pairs of two people are impostors, which turns 3,443
images into millions of impostor comparisons and pushes the measurable FMR
below 1e-6.

The impostor comparisons share images (each image is in thousands of them),
so they are not independent: the counts are exact, but the effective sample
behind a rate in the far tail is smaller than ``n_impostor`` suggests.

Below what the fit can count, the rates come from a tail model. With
``allowance_pairs_path`` (``tessera calibrate --allowance-pairs pairsDevTest.txt``)
the fitted calibration is first checked on the people of that file who are not
in the fit, and its tail is widened by what they showed (:func:`tail_allowance`),
so that the stated rate is an upper bound as far as people it never saw can
tell; ``tessera eval lfw`` then checks it on the people of neither file.

Fingers (:func:`calibrate_finger`, ``tessera calibrate --modality finger``):
the contact prints of FVC2004 DB1-3, FVC2002 DB1 and the CrossMatch sample go
through the finger pipeline (templates cached as for ``tessera eval fvc``);
every same-finger pair is genuine and the same-position pairs of two people
(every cross-finger pair where positions are unknown) of one database impostors; the table is widened by the
allowance that makes it hold on every database, and each database is left out in turn and checked
(:mod:`tessera.evaluation.finger_lodo`). The calibration goes to ``calibrations/finger-contact-*.json`` and the
scores behind it, for score fusion, to ``calibrations/scores-finger-contact-*.json``
(:func:`finger_scores_document`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import tessera
from tessera.evaluation.cache import TemplateCache
from tessera.evaluation.datasets.label_errors import LabelErrors
from tessera.evaluation.datasets.lfw import DEV_TRAIN_PAIRS, LfwImage, image_path, read_pairs, unique_images
from tessera.evaluation.templating import TemplateOutcome, rich_progress, template_algorithms, template_files
from tessera.face.config import DEFAULT_FACE_CONFIG
from tessera.match.calibration import DEFAULT_FACE_CALIBRATION_PATH, Calibration, CalibrationConfig, fit_calibration
from tessera.match.face import similarity_matrix

COSINE_RANGE = (-1.0, 1.0)
"""Scores of unit embeddings are cosines."""

DEFAULT_BLOCK_ROWS = 512
"""Rows of the similarity matrix computed at once: 512 x 3,443 float32 is 7 MB."""


@dataclass(frozen=True)
class ImageResult:
    """What the face pipeline made of one LFW image.

    Attributes
    ----------
    image : LfwImage
    outcome : TemplateOutcome
    """

    image: LfwImage
    outcome: TemplateOutcome

    @property
    def embedding(self) -> np.ndarray | None:
        return self.outcome.embedding

    @property
    def refusal(self) -> str | None:
        return self.outcome.refusal


@dataclass(frozen=True)
class PairScores:
    """Every genuine and impostor score among a set of templates, each sorted ascending (float32)."""

    genuine: np.ndarray
    impostor: np.ndarray
    n_excluded: int = 0
    """Impostor comparisons left out because their identity pair was excluded (a known label error)."""


def calibrate_face_lfw(
    lfw_dir: Path | str,
    out_path: Path | str = DEFAULT_FACE_CALIBRATION_PATH,
    workers: int = 2,
    progress: bool = True,
    *,
    pairs_path: Path | str | None = None,
    config: CalibrationConfig = CalibrationConfig(),
    cache: TemplateCache | None = None,
    algorithm: str | None = None,
    label_errors: LabelErrors | None = None,
    allowance_pairs_path: Path | str | None = None,
) -> Calibration:
    """Template every image of an LFW pair file, score all pairs, fit and save the face calibration.

    Parameters
    ----------
    lfw_dir : path
        LFW folder holding ``images/`` and the pair files.
    out_path : path
        Where the calibration JSON is written (default: the one Tessera ships).
    workers : int
        Processes running the face pipeline (``>= 1``; 1 runs in this process).
    progress : bool
        Show a progress bar while templating.
    pairs_path : path, optional
        The pair file whose images are used; default ``lfw_dir/pairsDevTrain.txt``.
    config : CalibrationConfig
        Table layout and tail-model settings.
    cache : TemplateCache, optional
        Template cache opened with the key of the pipeline in use (see
        :mod:`tessera.evaluation.cache`: ``pipeline_fingerprint`` of the
        default face configuration, or ``algorithm_fingerprint(algorithm)``);
        images already templated by ``tessera eval`` are then not templated again.
    algorithm : str, optional
        A registered face algorithm to calibrate with its own pipeline
        (:mod:`tessera.face.algorithms`); default dlib's
        :func:`~tessera.face.pipeline.extract_face` with the default
        :class:`~tessera.face.config.FaceConfig`.
    label_errors : LabelErrors, optional
        Identity pairs that are one person (LFW's documented label errors,
        :func:`~tessera.evaluation.datasets.label_errors.read_label_errors`):
        their comparisons are left out of the impostors, and the file's
        ``data.impostor_exclusions`` says which, how many and why. None: every
        pair of two names is an impostor.
    allowance_pairs_path : path, optional
        A pair file (e.g. ``lfw_dir/pairsDevTest.txt``) whose people, those not in ``pairs_path``, measure the
        tail's held-out allowance (:func:`tail_allowance`): every pair of two of them is an impostor comparison
        (less ``label_errors``), the calibration fitted without an allowance is checked on them, and its
        extrapolated tail is widened by what they showed. Recorded in the file's ``data.tail_allowance``; the
        evaluation then leaves these people out of its held-out check too. None: no allowance.

    Returns
    -------
    Calibration
        The fitted calibration, as saved.

    Raises
    ------
    ValueError
        ``workers`` below 1, a malformed pair file, fewer than two people
        templated, or templates of more than one algorithm.
    FileNotFoundError
        An image the pair file refers to is missing.
    concurrent.futures.process.BrokenProcessPool
        A worker could not start: call this under ``if __name__ == "__main__":``
        in a script (see :func:`~tessera.evaluation.templating.template_files`).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1; got {workers!r}")
    started = time.monotonic()
    lfw_dir = Path(lfw_dir)
    pairs_path = Path(pairs_path) if pairs_path is not None else lfw_dir / DEV_TRAIN_PAIRS
    pairs = read_pairs(pairs_path)
    images = unique_images(pairs)
    paths = [image_path(lfw_dir, image) for image in images]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image(s) listed in {pairs_path} are missing, e.g. {missing[0]}")
    run = template_files(
        paths,
        None if algorithm is not None else DEFAULT_FACE_CONFIG,
        workers=workers,
        cache=cache,
        progress=rich_progress("Templating LFW images") if progress else None,
        algorithm=algorithm,
    )
    results = [ImageResult(image, outcome) for image, outcome in zip(images, run.outcomes)]
    templated = [result for result in results if result.embedding is not None]
    algorithms = template_algorithms(result.outcome for result in templated)
    if len(algorithms) != 1:
        raise ValueError(f"templates must all come from one algorithm to be calibrated together; got {algorithms}")
    names = [result.image.name for result in templated]
    if len(set(names)) < 2:
        raise ValueError(f"at least two people must be templated to form impostor pairs; got {len(set(names))}")
    embeddings = [result.embedding for result in results if result.embedding is not None]  # in step with templated
    excluded = label_errors.excluded_identity_pairs(set(names)) if label_errors is not None else []
    scores = pair_scores(np.stack(embeddings), names, excluded_pairs=excluded)
    data = _run_record(pairs_path, images, results, workers, time.monotonic() - started, algorithm)
    data["impostor_exclusions"] = (
        None if label_errors is None else label_errors.report(len(excluded), scores.n_excluded)
    )
    created = datetime.now(UTC)

    def fit(allowance: float = 1.0, record: dict[str, Any] | None = None) -> Calibration:
        return fit_calibration(
            scores.genuine,
            scores.impostor,
            modality="face",
            algorithm=algorithms[0],
            data=data,
            score_range=COSINE_RANGE,
            config=config,
            created=created,
            tail_allowance=allowance,
            tail_allowance_record=record,
        )

    calibration = fit()
    if allowance_pairs_path is not None:
        record = _held_out_allowance(
            calibration,
            lfw_dir,
            Path(allowance_pairs_path),
            set(names),
            workers,
            cache,
            progress,
            algorithm,
            label_errors,
        )
        data["tail_allowance"] = record
        calibration = fit(record["factor"], {"see": "data.tail_allowance", "factor": record["factor"]})
    calibration.save(out_path)
    return calibration


def _held_out_allowance(
    calibration: Calibration,
    lfw_dir: Path,
    pairs_path: Path,
    fitted_people: set[str],
    workers: int,
    cache: TemplateCache | None,
    progress: bool,
    algorithm: str | None,
    label_errors: LabelErrors | None,
) -> dict[str, Any]:
    """Template the images of ``pairs_path``'s people who are not in ``fitted_people``; measure the tail allowance."""
    images = [image for image in unique_images(read_pairs(pairs_path)) if image.name not in fitted_people]
    run = template_files(
        [image_path(lfw_dir, image) for image in images],
        None if algorithm is not None else DEFAULT_FACE_CONFIG,
        workers=workers,
        cache=cache,
        progress=rich_progress("Templating held-out LFW images") if progress else None,
        algorithm=algorithm,
    )
    kept = [
        (image.name, outcome.embedding) for image, outcome in zip(images, run.outcomes) if outcome.embedding is not None
    ]
    if len({name for name, _ in kept}) < 2:
        raise ValueError(f"{pairs_path.name}: fewer than two people outside the fitted ones were templated")
    names = [name for name, _ in kept]
    excluded = label_errors.excluded_identity_pairs(set(names)) if label_errors is not None else []
    scores = pair_scores(np.stack([embedding for _, embedding in kept]), names, excluded_pairs=excluded)
    measured = tail_allowance(
        calibration,
        scores.impostor,
        source=f"every pair of two people of {pairs_path.name} who are not in the fitted pair file",
    )
    return {
        "pairs_file": pairs_path.name,
        "pairs_file_sha256": hashlib.sha256(pairs_path.read_bytes()).hexdigest(),
        "n_images": len(images),
        "n_templated": len(kept),
        "n_people": len(set(names)),
        "impostor_exclusions": None if label_errors is None else label_errors.report(len(excluded), scores.n_excluded),
        **measured,
    }


TAIL_ALLOWANCE_CONFIDENCE = 0.95
"""One-sided confidence of the Poisson upper bound the tail allowance is read from."""


def tail_allowance(calibration: Calibration, impostor: np.ndarray, source: str) -> dict[str, Any]:
    """How much the calibration's rates may understate them on people it was not fitted on: the tail's allowance.

    At each claimed FMR of :data:`~tessera.evaluation.protocols.CALIBRATION_CHECK_FMRS` the calibration
    names a threshold; on ``impostor`` (comparisons of people the calibration never saw) it predicts
    ``expected = claimed FMR x n`` false matches and ``observed`` are counted. Where at least
    :data:`~tessera.evaluation.protocols.MIN_EXPECTED_FOR_CHECK` are expected (a level the held-out data
    can check, the evaluation's own rule), the one-sided 95 % Poisson upper bound on the mean count
    (Garwood, Biometrika 28, 1936) over ``expected`` is how far the claim may understate the rate there. The
    allowance is the largest such ratio, at least 1: the lowest checkable levels, nearest the tail, set it
    (their counts are smallest). It widens the extrapolated tail only (:func:`~tessera.match.tail.widen_tail`):
    below the lowest checkable level no data can say more, so the model is stated as an upper bound that
    allows for what the held-out people showed, as the contact-finger calibration allows for the database it
    never saw (:mod:`tessera.evaluation.finger_lodo`).

    Parameters
    ----------
    calibration : Calibration
        Fitted without an allowance.
    impostor : numpy.ndarray
        Impostor scores of people disjoint from the calibration's (label errors already left out).
    source : str
        What ``impostor`` is, for the record.

    Returns
    -------
    dict
        ``factor`` (>= 1), ``levels`` (per claimed FMR: threshold, expected, observed, upper bound, ratio,
        checkable), ``n_impostor``, ``source``, ``rule``.
    """
    from tessera.evaluation.metrics import poisson_interval
    from tessera.evaluation.protocols import CALIBRATION_CHECK_FMRS, MIN_EXPECTED_FOR_CHECK
    from tessera.match.calibration import FmrBeyondCalibration

    scores = np.sort(np.asarray(impostor, dtype=np.float64))
    if scores.size == 0:
        raise ValueError("impostor must hold at least one score to measure a tail allowance; got none")
    levels = []
    for target in CALIBRATION_CHECK_FMRS:
        try:
            threshold = calibration.threshold_for_fmr(target)
        except FmrBeyondCalibration:
            continue
        claimed = calibration.fmr_at(threshold).value
        expected = claimed * scores.size
        observed = int(scores.size - np.searchsorted(scores, threshold, side="left"))
        upper = poisson_interval(observed, confidence=1 - 2 * (1 - TAIL_ALLOWANCE_CONFIDENCE))[1]
        levels.append(
            {
                "target_fmr": target,
                "threshold": round(float(threshold), 6),
                "claimed_fmr": float(f"{claimed:.6g}"),
                "expected_false_matches": round(expected, 3),
                "false_matches": observed,
                "upper_bound_false_matches": round(upper, 3),
                "ratio_observed": round(observed / expected, 4),
                "ratio_upper_bound": round(upper / expected, 4),
                "checkable": expected >= MIN_EXPECTED_FOR_CHECK,
            }
        )
    checked = [level["ratio_upper_bound"] for level in levels if level["checkable"]]
    return {
        "factor": max([1.0, *checked]),
        "source": source,
        "n_impostor": int(scores.size),
        "rule": (
            f"largest one-sided {TAIL_ALLOWANCE_CONFIDENCE:.0%} Poisson upper bound on the false matches observed, "
            f"over the false matches the calibration predicts, at the claimed FMRs where it predicts at least "
            f"{MIN_EXPECTED_FOR_CHECK}; at least 1; multiplies the extrapolated tail only"
        ),
        "levels": levels,
    }


def _run_record(
    pairs_path: Path,
    images: list[LfwImage],
    results: list[ImageResult],
    workers: int,
    seconds: float,
    algorithm: str | None = None,
) -> dict:
    """What the calibration was fitted on and how, for the file's ``data``: enough to reproduce it."""
    refused = [result for result in results if result.embedding is None]
    if algorithm is None:
        pipeline = (
            "tessera.capture.decode.decode_image, then tessera.face.pipeline.extract_face with the default FaceConfig"
        )
        face_config = dataclasses.asdict(DEFAULT_FACE_CONFIG)
    else:
        from tessera.face.algorithms import face_algorithm

        spec = face_algorithm(algorithm)
        pipeline = f"tessera.capture.decode.decode_image, then the registered pipeline of {algorithm} with its config"
        face_config = spec.config.as_dict()
    return {
        "dataset": "LFW, Labeled Faces in the Wild (Huang et al., UMass Amherst TR 07-49, 2007)",
        "pairs_file": pairs_path.name,
        "pairs_file_sha256": hashlib.sha256(pairs_path.read_bytes()).hexdigest(),
        "images": "every image the pair file refers to (both sides of its matched and mismatched pairs)",
        "pairs": (
            "genuine: every pair of templated images of one person; impostor: every pair of templated images "
            "of two different people (all pairs, not only those listed in the pair file)"
        ),
        "pipeline": pipeline,
        "face_config": face_config,
        "n_images": len(images),
        "n_people": len({image.name for image in images}),
        "n_templated": len(results) - len(refused),
        "n_refused": len(refused),
        "refusals_by_reason": dict(sorted(Counter(result.refusal for result in refused).items())),
        "refused_images": [image_path(".", result.image).name for result in refused],
        "tessera_version": tessera.__version__,
        "numpy_version": np.__version__,
        "python": platform.python_version(),
        "workers": workers,
        "templating_and_scoring_seconds": round(seconds, 1),
    }


def pair_scores(
    embeddings: np.ndarray,
    labels: list[str],
    block_rows: int = DEFAULT_BLOCK_ROWS,
    *,
    excluded_pairs: list[tuple[str, str]] | tuple = (),
) -> PairScores:
    """Score every unordered pair of embeddings, split by whether the labels agree.

    Parameters
    ----------
    embeddings : numpy.ndarray, shape (m, d)
        Unit embeddings, one per row.
    labels : list of str, length m
        Identity of each row.
    block_rows : int
        Rows of the (m, m) similarity matrix computed at once; memory is
        ``block_rows x m`` floats, whatever ``m``.
    excluded_pairs : list of (str, str)
        Identity pairs whose comparisons are neither genuine nor impostor
        (known label errors, :mod:`tessera.evaluation.datasets.label_errors`):
        left out and counted in ``n_excluded``.

    Returns
    -------
    PairScores
        ``m (m - 1) / 2 - n_excluded`` scores in all, each pair once (row < column).
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] != len(labels):
        raise ValueError(
            f"embeddings must have shape (m, d) with m = len(labels) = {len(labels)}; got shape {embeddings.shape}"
        )
    names, identity = np.unique(np.asarray(labels), return_inverse=True)
    code = {str(name): number for number, name in enumerate(names)}
    excluded = [(code[a], code[b]) for a, b in excluded_pairs if a in code and b in code and a != b]
    count = embeddings.shape[0]
    genuine, impostor = [], []
    n_excluded = 0
    columns = np.arange(count)
    for start in range(0, count, block_rows):
        stop = min(start + block_rows, count)
        similarity = similarity_matrix(embeddings[start:stop], embeddings)
        upper = columns[None, :] > np.arange(start, stop)[:, None]
        rows = identity[start:stop]
        same = rows[:, None] == identity[None, :]
        cross = upper & ~same
        for a, b in excluded:
            drop = ((rows == a)[:, None] & (identity == b)[None, :]) | ((rows == b)[:, None] & (identity == a)[None, :])
            n_excluded += int(np.count_nonzero(drop & cross))
            cross &= ~drop
        genuine.append(similarity[upper & same])
        impostor.append(similarity[cross])
    return PairScores(
        genuine=np.sort(np.concatenate(genuine)).astype(np.float32),
        impostor=np.sort(np.concatenate(impostor)).astype(np.float32),
        n_excluded=n_excluded,
    )


# -- fingers -----------------------------------------------------------------------------------

FINGER_CALIBRATION_DATABASES = ("DB1_B", "DB2_B", "DB3_B", "DB4_B", "FVC2002_DB1_B", "CrossMatch")
"""The contact databases the finger calibration is fitted on: every shared one (FVC2004 DB1-3, real fingers; DB4,
synthetic SFinGe prints, kept because a new sensor may stray as far; FVC2002 DB1; the Neurotechnology CrossMatch
sample). Each is also left out in turn and checked (:mod:`tessera.evaluation.finger_lodo`)."""

FINGER_SCORE_RANGE = (0.0, 1.0)
"""MCC scores lie in [0, 1]."""

FINGER_SCORES_FORMAT = "tessera-finger-scores"
FINGER_HISTOGRAM_BINS = 10_000
"""The scores file's histograms count scores in 10,000 bins of width 0.0001 over [0, 1]: MCC LSS-R impostor
scores lie almost all below 0.05, where the FMR 1e-2 ... 1e-6 thresholds sit 0.005-0.01 apart."""

CALIBRATIONS_DIR = DEFAULT_FACE_CALIBRATION_PATH.parent
DEFAULT_FINGER_CALIBRATION_PATH = CALIBRATIONS_DIR / "finger-contact-leader-mcc-v1.json"
"""Where ``tessera calibrate --modality finger`` writes the contact-finger calibration (loaded by the
service from every ``finger-*.json`` in this folder)."""
DEFAULT_FINGER_SCORES_PATH = CALIBRATIONS_DIR / "scores-finger-contact-leader-mcc-v1.json"
"""Where it writes the genuine and impostor scores behind it, for score fusion. Not named ``finger-*.json``:
the service reads every such file as a calibration."""


def calibrate_finger(
    data: Path | str,
    out_path: Path | str = DEFAULT_FINGER_CALIBRATION_PATH,
    scores_path: Path | str | None = DEFAULT_FINGER_SCORES_PATH,
    workers: int = 2,
    progress: bool = True,
    *,
    cache_dir: Path | None = None,
    config: CalibrationConfig = CalibrationConfig(),
) -> Calibration:
    """Fit the contact-finger calibration on every database of :data:`FINGER_CALIBRATION_DATABASES`, widened by the
    allowance that makes it hold on each of them, and check it by leaving each database out.

    Every print goes through :func:`tessera.finger.pipeline.extract_finger` (templates cached as for
    ``tessera eval fvc``); within each database every pair of impressions of one finger is genuine, and the
    impostors are the same-position pairs of two people where positions are known (CrossMatch), every
    cross-finger pair otherwise (:func:`tessera.evaluation.finger_lodo.contact_sets`). Databases are never
    compared with each other. The table is fitted on the pooled comparisons; the allowance
    (:func:`~tessera.evaluation.finger_lodo.fit_contact_calibration`) counts each database once, whatever its
    size; the leave-one-database-out result is recorded in ``data["leave_one_database_out"]``.

    Parameters
    ----------
    data : path
        The finger root (``../shared/data/finger``) holding ``fvc2004/``, ``fvc2002_db1/`` and
        ``neurotech_crossmatch/``.
    out_path : path
        Where the calibration JSON is written.
    scores_path : path or None
        Where the genuine and impostor scores are written (:func:`finger_scores_document`); None: not written.
    workers : int
        Extraction processes.
    progress : bool
    cache_dir : path, optional
        Template cache (default :func:`tessera.evaluation.fvc.default_cache_dir`).
    config : CalibrationConfig

    Returns
    -------
    Calibration

    Raises
    ------
    FileNotFoundError
        ``data`` lacks one of the databases.
    """
    from tessera.evaluation.finger_lodo import contact_sets, fit_contact_calibration, leave_one_database_out
    from tessera.evaluation.fvc import DatabaseScores, default_cache_dir, pipeline_key
    from tessera.finger.pipeline import ALGORITHM as FINGER_ALGORITHM
    from tessera.finger.pipeline import DEFAULT_FINGER_CONFIG
    from tessera.match.mcc import ALGORITHM as MATCHER

    started = time.monotonic()
    sets = contact_sets(data, cache_dir or default_cache_dir(), workers, progress, names=FINGER_CALIBRATION_DATABASES)
    algorithm = f"{FINGER_ALGORITHM}+{MATCHER}"
    lodo = leave_one_database_out(sets, algorithm=algorithm, config=config)
    record: dict[str, Any] = {
        "capture": "contact",
        "dataset": "contact fingerprints: FVC2004 DB1_B, DB2_B, DB3_B, DB4_B (synthetic) (Maio et al., ICBA 2004), "
        "FVC2002 DB1_B (Maio et al., ICPR 2002), Neurotechnology CrossMatch sample database",
        "databases": {
            entry.name: {
                "n_genuine": int(entry.genuine.size),
                "n_impostor": int(entry.impostor.size),
                "impostor_kind": entry.impostor_kind,
                "n_any_finger_impostor": int(entry.any_finger_impostor.size),
            }
            for entry in sets
        },
        "pairs": (
            "within each database, genuine: every pair of impressions of one finger; impostor: every pair of images "
            "of two people's fingers at one position where positions are known (CrossMatch), every pair of images of "
            "two different fingers otherwise; pairs with a refused print are left out; databases are not compared "
            "with each other"
        ),
        "pipeline": "tessera.evaluation.fvc.read_image, then tessera.finger.pipeline.extract_finger(capture='contact', "
        "ppi=500, 512 for FVC2004 DB3)",
        "matcher": f"tessera.match.mcc.mcc_score ({MATCHER}), default MccConfig",
        "template_cache_key": pipeline_key(),
        "finger_config": DEFAULT_FINGER_CONFIG.as_dict(),
        "leave_one_database_out": {
            "command": "tessera eval finger-lodo --data ../shared/data/finger --out DIR",
            "worst": lodo["worst"],
            "rows": [row for row in lodo["rows"] if row["procedure"] == "allowance"],
        },
        "tessera_version": tessera.__version__,
        "numpy_version": np.__version__,
        "python": platform.python_version(),
    }
    created = datetime.now(UTC)
    calibration = fit_contact_calibration(sets, algorithm=algorithm, data=record, config=config, created=created)
    record = {**calibration.data, "templating_and_scoring_seconds": round(time.monotonic() - started, 1)}
    calibration = dataclasses.replace(calibration, data=record)
    calibration.save(out_path)
    if scores_path is not None:
        collected = {
            entry.name: DatabaseScores(
                name=entry.name,
                capture="contact",
                genuine=entry.genuine,
                impostor=entry.impostor,
                impostor_fvc=np.zeros(0),
                genuine_templated=np.ones(entry.genuine.size, dtype=bool),
                impostor_templated=np.ones(entry.impostor.size, dtype=bool),
            )
            for entry in sets
        }
        document = finger_scores_document(collected, algorithm=algorithm, created=created, source=Path(out_path).name)
        Path(scores_path).write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
    return calibration


def held_out_check(calibration: Calibration, entry) -> dict:
    """The FMR and FNMR measured on a held-out database at the calibration's thresholds for FMR 1 % and 0.1 %."""
    genuine = entry.genuine[entry.genuine_templated]
    impostor = entry.impostor[entry.impostor_templated]
    rows = []
    for target in (1e-2, 1e-3):
        threshold = calibration.threshold_for_fmr(target)
        rows.append(
            {
                "target_fmr": target,
                "threshold": round(float(threshold), 6),
                "measured_fmr": round(float(np.mean(impostor >= threshold)), 6),
                "false_matches": int(np.sum(impostor >= threshold)),
                "measured_fnmr": round(float(np.mean(genuine < threshold)), 6),
            }
        )
    return {"database": entry.name, "n_genuine": int(genuine.size), "n_impostor": int(impostor.size), "rows": rows}


def finger_scores_document(scores: dict, *, algorithm: str, created: datetime, source: str) -> dict:
    """The genuine and impostor scores behind the finger calibration, for score fusion.

    Shape (JSON)::

        {"format": "tessera-finger-scores", "format_version": 1, "modality": "finger", "capture": "contact",
         "algorithm": ..., "created": ..., "calibration": "<calibration file name>",
         "bins": {"low": 0.0, "high": 1.0, "count": 10000},
         "genuine": {"n": ..., "histogram": [[bin, count], ...], "scores": [every genuine score, ascending]},
         "impostor": {"n": ..., "histogram": [[bin, count], ...], "highest": [the 100 highest, descending]},
         "per_database": {"DB1_B": {"genuine": {"n", "histogram"}, "impostor": {"n", "histogram"}}, ...}}

    Histograms are sparse: only bins holding a score are listed, as ``[bin, count]`` with bin ``k``
    counting scores in ``[k / 10000, (k + 1) / 10000)`` (the last bin also 1.0). Scores are rounded to
    6 decimals. Only comparisons of two templated prints are counted (the calibration's).
    """
    edges = np.linspace(*FINGER_SCORE_RANGE, FINGER_HISTOGRAM_BINS + 1)

    def histogram(values: np.ndarray) -> dict:
        counts = np.histogram(values, bins=edges)[0]
        return {"n": int(values.size), "histogram": [[int(k), int(counts[k])] for k in np.flatnonzero(counts)]}

    genuine = np.sort(np.concatenate([entry.genuine[entry.genuine_templated] for entry in scores.values()]))
    impostor = np.sort(np.concatenate([entry.impostor[entry.impostor_templated] for entry in scores.values()]))
    return {
        "format": FINGER_SCORES_FORMAT,
        "format_version": 1,
        "modality": "finger",
        "capture": "contact",
        "algorithm": algorithm,
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "calibration": source,
        "bins": {"low": FINGER_SCORE_RANGE[0], "high": FINGER_SCORE_RANGE[1], "count": FINGER_HISTOGRAM_BINS},
        "genuine": {**histogram(genuine), "scores": [round(float(value), 6) for value in genuine]},
        "impostor": {**histogram(impostor), "highest": [round(float(value), 6) for value in impostor[::-1][:100]]},
        "per_database": {
            name: {
                "genuine": histogram(entry.genuine[entry.genuine_templated]),
                "impostor": histogram(entry.impostor[entry.impostor_templated]),
            }
            for name, entry in scores.items()
        },
    }
