"""Face + finger fusion, measured on chimeric subjects: FNMR at FMR 1e-4 and 1e-6.

``python -m tessera.evaluation.fusion_eval --lfw ../shared/data/face/lfw --fingers ../shared/data/finger --out DIR``
writes ``DIR/report.json`` (under a ``"fusion"`` key) and ``DIR/fusion-det.png``;
``--fit-models`` also writes the shipped fusion models into ``tessera/match/calibrations/``.
``--algorithm ID`` fuses that face algorithm's scores (default: the first of ``TESSERA_FACE_ALGORITHMS``);
``--fit-face-model-only`` fits and writes only its face model, from its cached LFW templates.

::

    LFW templates (cache) --+-- fit part:  DevTrain images        -> face ScoreModel
                            +-- test part: people not in DevTrain --+
    FVC templates (cache) --+-- fit part:  half the fingers of each DB -> finger ScoreModel
                            +-- test part: the other half ------------+-> chimeric subjects -> FNMR, FMR, DET

Templates are read, not made: face templates from the evaluation cache that
``tessera eval lfw`` fills (:mod:`tessera.evaluation.cache`), finger templates
from the cache of :mod:`tessera.evaluation.fvc` (which extracts what is
missing, ~0.5 s per print).

The hold-out
    Face: the LLR model is fitted on every pair of the images that LFW
    ``pairsDevTrain.txt`` names (as the face calibration is); everything
    measured uses only people who appear nowhere in that file.
    Finger: within each real-finger database (FVC2004 DB1_B-DB3_B,
    FVC2002 DB1_B, CrossMatch; DB4_B is synthetic and the contactless set
    another capture, so both are left out) the fingers are shuffled (seed)
    and split in two halves; the model is fitted on one, the other is
    measured. Genuine = every pair of impressions of one finger; impostor =
    every pair of impressions of two different fingers of one database.

Chimeric subjects
    Each test LFW person with at least two images is one subject; it is
    given ``fingers_per_subject`` (4) *distinct* test fingers, drawn at
    random. There are ~40 test fingers for ~1,000 people, so a finger
    serves several subjects (never twice in one). A genuine comparison of a
    subject is its first two face images and, for each of its fingers, two
    different impressions drawn at random. Pairing a face with a finger of
    someone else is the usual chimeric construction in multimodal research;
    it assumes the modalities are independent, which for face and finger is
    plausible, and which says nothing about fingers of one hand (see
    :mod:`tessera.match.fusion`).

What the FMR rests on
    One modality: its held-out impostor comparisons, counted. Several: the
    convolution of the held-out impostor LLR distributions of each
    modality, i.e. every combination of held-out face and finger impostor
    comparisons, which assumes independence. No set of real multimodal
    impostor comparisons here is large enough to check 1e-6 directly
    (that needs at least 3 million), and the report says which figure rests
    on what.

Refusals
    A refused image is a missing modality: the fusion uses what is left (and
    its threshold for that set of modalities); a configuration with nothing
    left is a false non-match, so failures to acquire stay in the FNMR.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tessera.match.face import similarity
from tessera.match.fusion import (
    DEFAULT_FUSION_CONFIG,
    FUSION_MODEL_FILES,
    FusedThresholds,
    FusionConfig,
    LlrDistribution,
    ScoreModel,
    fit_score_model,
    fused_llrs,
)

FUSION_DATABASES = ("DB1_B", "DB2_B", "DB3_B", "FVC2002_DB1_B", "CrossMatch")
"""Real-finger contact databases the finger model and the chimeric subjects use."""

TARGET_FMRS = (1e-4, 1e-6)
TARGET: dict[str, Any] = {"fmr": 1e-6, "fnmr_max": 0.01, "configuration": "face + four fingers"}
COSINE_RANGE = (-1.0, 1.0)
MCC_RANGE = (0.0, 1.0)
FINGER_BINS = 1000
"""MCC impostor scores crowd into [0, 0.035] of a range that genuine ones stretch to ~0.85: fine bins keep ~40 of them
there."""

DET_LEVELS = np.logspace(-12, 0, 241)


# --- the data ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceSet:
    """Face templates of a dataset, in sample order.

    Attributes
    ----------
    keys : tuple of str
    subjects : tuple of str
    embeddings : numpy.ndarray, (n, d) float32
        Zero rows where ``templated`` is False.
    templated : numpy.ndarray, (n,) bool
    algorithm : str
    """

    keys: tuple[str, ...]
    subjects: tuple[str, ...]
    embeddings: np.ndarray
    templated: np.ndarray
    algorithm: str


@dataclass(frozen=True)
class FingerSet:
    """Finger comparisons of one database: every image against every other.

    Attributes
    ----------
    name : str
    fingers : tuple of str
        Finger id of each image.
    scores : numpy.ndarray, (n, n) float64
        MCC scores (row = probe); meaningless where an image was refused.
    usable : numpy.ndarray, (n,) bool
        Images with a template.
    """

    name: str
    fingers: tuple[str, ...]
    scores: np.ndarray
    usable: np.ndarray


def load_face_set(
    lfw_dir: Path | str,
    cache_dir: Path | str | None = None,
    pipeline_key: str | None = None,
    algorithm: str | None = None,
) -> tuple[FaceSet, int]:
    """LFW face templates from the evaluation cache, without templating anything.

    Parameters
    ----------
    lfw_dir : path
    cache_dir : path, optional
        Default :func:`tessera.evaluation.cache.default_cache_dir`.
    pipeline_key : str, optional
        Read the entries of this pipeline key (a run whose source differed only in ways known not to
        change a template); default the current key of ``algorithm``
        (:func:`~tessera.evaluation.cache.algorithm_fingerprint`).
    algorithm : str, optional
        The registered face algorithm whose templates are read (``tessera eval lfw --algorithm ID`` caches
        them); default the first of the ``TESSERA_FACE_ALGORITHMS`` setting.

    Returns
    -------
    (FaceSet, int)
        The images found in the cache (refused ones included, not
        templated) and how many images were not in the cache (left out).

    Raises
    ------
    ValueError
        Nothing in the cache for this pipeline, or more than one algorithm.
    """
    from tessera.evaluation.cache import TemplateCache, algorithm_fingerprint, default_cache_dir, file_digest
    from tessera.evaluation.datasets.lfw import load_lfw

    dataset = load_lfw(lfw_dir)
    algorithm = algorithm or default_face_algorithm()
    key = pipeline_key or algorithm_fingerprint(algorithm)["key"]
    cache = TemplateCache(cache_dir or default_cache_dir(), key)
    try:
        digests = [file_digest(sample.path) for sample in dataset.samples]
        found = cache.get_many(digests)
        keys = [row[0] for row in cache._connection.execute("SELECT DISTINCT pipeline FROM outcome")]
    finally:
        cache.close()
    if not found:
        raise ValueError(
            f"no face template of {lfw_dir} in the evaluation cache under pipeline key {key}: run `tessera eval lfw "
            f"--algorithm {algorithm} --data {lfw_dir}` first (keys in the cache: {keys})"
        )
    # images not in the cache are left out (and counted), not taken for refusals
    cached = [(sample, found[digest]) for sample, digest in zip(dataset.samples, digests) if digest in found]
    algorithms = sorted({outcome.algorithm for _, outcome in cached if outcome.templated})
    if len(algorithms) != 1:
        raise ValueError(f"face templates must come from one algorithm; got {algorithms}")
    return face_set(
        [sample.key for sample, _ in cached],
        [sample.subject for sample, _ in cached],
        [outcome.embedding for _, outcome in cached],
        algorithms[0],
    ), len(dataset.samples) - len(cached)


def default_face_algorithm() -> str:
    """The first face algorithm of the ``TESSERA_FACE_ALGORITHMS`` setting: the one whose scores are fused."""
    from tessera.settings import Settings

    return Settings().face_algorithms[0]


def face_set(
    keys: Sequence[str], subjects: Sequence[str], embeddings: Sequence[np.ndarray | None], algorithm: str
) -> FaceSet:
    """A :class:`FaceSet` from per-image embeddings (None for a refused or missing image)."""
    dim = next(len(embedding) for embedding in embeddings if embedding is not None)
    matrix = np.zeros((len(keys), dim), dtype=np.float32)
    templated = np.array([embedding is not None for embedding in embeddings], dtype=bool)
    for number, embedding in enumerate(embeddings):
        if embedding is not None:
            matrix[number] = embedding
    return FaceSet(tuple(keys), tuple(subjects), matrix, templated, algorithm)


def load_finger_sets(
    finger_dir: Path | str,
    cache_dir: Path | str | None = None,
    databases: Sequence[str] = FUSION_DATABASES,
    workers: int = 1,
    templates_dir: Path | str | None = None,
) -> list[FingerSet]:
    """Score every image against every other in each database of ``databases`` under ``finger_dir``.

    Parameters
    ----------
    finger_dir : path
        Folder holding ``fvc2004/``, ``fvc2002_db1/``, ``neurotech_crossmatch/``.
    cache_dir : path, optional
        The FVC template cache (default :func:`tessera.evaluation.fvc.default_cache_dir`); templates
        missing from it are extracted (and stored).
    databases : sequence of str
    workers : int
        Extraction processes.
    templates_dir : path, optional
        Read templates from this one cache folder (``<cache>/<pipeline key>``) instead, extracting
        nothing: for templates made by an earlier run whose pipeline key differs only by source changes
        known not to touch templates. A missing template is an error.
    """
    from tessera.evaluation import fvc

    found = [database for database in fvc.find_databases(finger_dir) if database.name in databases]
    if not found:
        raise FileNotFoundError(f"none of the databases {list(databases)} under {finger_dir}")
    jobs = [(path, database.capture, database.ppi) for database in found for path in database.files]
    if templates_dir is not None:
        extractions = _read_templates(Path(templates_dir), jobs)
    else:
        extractions = fvc.extract_all(
            jobs, Path(cache_dir) if cache_dir else fvc.default_cache_dir(), workers, progress=False
        )
    sets, start = [], 0
    for database in found:
        part = extractions[start : start + len(database.files)]
        start += len(database.files)
        usable = np.array([item.template is not None for item in part], dtype=bool)
        sets.append(FingerSet(database.name, database.fingers, fvc.score_matrix(part), usable))
    return sets


def _read_templates(folder: Path, jobs) -> list:
    from tessera.evaluation import fvc

    extractions, missing = [], []
    for path, capture, _ in jobs:
        digest = fvc._file_digest(path)
        template, refusal = folder / f"{digest}.{capture}.fmr", folder / f"{digest}.{capture}.refused"
        if template.is_file():
            extractions.append(fvc.Extraction(digest, template.read_bytes(), None, 0.0))
        elif refusal.is_file():
            extractions.append(fvc.Extraction(digest, None, refusal.read_text().strip(), 0.0))
        else:
            missing.append(str(path))
    if missing:
        raise FileNotFoundError(f"{len(missing)} finger template(s) not in {folder}, e.g. {missing[0]}")
    return extractions


# --- scores --------------------------------------------------------------------------------------


def face_pair_scores(faces: FaceSet, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) cosine scores of every pair of templated images in ``chosen`` (a boolean mask)."""
    from tessera.evaluation.calibrate import pair_scores

    mask = chosen & faces.templated
    labels = [subject for subject, keep in zip(faces.subjects, mask) if keep]
    scores = pair_scores(faces.embeddings[mask], labels)
    return scores.genuine.astype(np.float64), scores.impostor.astype(np.float64)


def finger_pair_scores(sets: Sequence[FingerSet], fingers: set[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) MCC scores of every pair of usable images, within each database, among ``fingers`` (default
    all).

    Each unordered pair is scored once, the lower-numbered image as probe (as :mod:`tessera.evaluation.fvc` does).
    """
    genuine, impostor = [], []
    for finger_set in sets:
        labels = np.array(finger_set.fingers)
        keep = finger_set.usable & (np.ones(len(labels), bool) if fingers is None else np.isin(labels, sorted(fingers)))
        index = np.flatnonzero(keep)
        upper = np.triu(np.ones((index.size, index.size), dtype=bool), 1)
        same = labels[index][:, None] == labels[index][None, :]
        block = finger_set.scores[np.ix_(index, index)]
        genuine.append(block[upper & same])
        impostor.append(block[upper & ~same])
    return np.clip(np.concatenate(genuine), *MCC_RANGE), np.clip(np.concatenate(impostor), *MCC_RANGE)


def split_fingers(sets: Sequence[FingerSet], seed: int = 0) -> tuple[set[str], set[str]]:
    """(fit fingers, test fingers): each database's fingers shuffled with ``seed`` and cut in half."""
    random = np.random.default_rng(seed)
    fit: set[str] = set()
    test: set[str] = set()
    for finger_set in sets:
        names = sorted(set(finger_set.fingers))
        order = random.permutation(len(names))
        half = len(names) // 2
        fit.update(names[number] for number in order[:half])
        test.update(names[number] for number in order[half:])
    return fit, test


def face_fit_mask(faces: FaceSet, lfw_dir: Path | str) -> np.ndarray:
    """The images ``pairsDevTrain.txt`` names (the data the face calibration and the face LLR model are fitted on)."""
    from tessera.evaluation.datasets.lfw import DEV_TRAIN_PAIRS, read_pairs, sample_key, unique_images

    wanted = {sample_key(image) for image in unique_images(read_pairs(Path(lfw_dir) / DEV_TRAIN_PAIRS))}
    return np.array([key in wanted for key in faces.keys], dtype=bool)


def fit_face_model(
    faces: FaceSet, fit_mask: np.ndarray, data: dict, config: FusionConfig = DEFAULT_FUSION_CONFIG
) -> ScoreModel:
    """The face :class:`ScoreModel` from every pair of the templated images in ``fit_mask``."""
    genuine, impostor = face_pair_scores(faces, fit_mask)
    data = {
        **data,
        "images": int((fit_mask & faces.templated).sum()),
        "refused_images_left_out": int((fit_mask & ~faces.templated).sum()),
        "pairs": "genuine: every pair of templated images of one person; impostor: every pair of two different people",
    }
    return fit_score_model(
        np.clip(genuine, *COSINE_RANGE),
        np.clip(impostor, *COSINE_RANGE),
        modality="face",
        algorithm=faces.algorithm,
        score_range=COSINE_RANGE,
        data=data,
        config=config,
    )


def fit_finger_model(
    sets: Sequence[FingerSet], fingers: set[str] | None, data: dict, config: FusionConfig | None = None
) -> ScoreModel:
    """The finger :class:`ScoreModel` from the comparisons of ``fingers`` (default every finger) within each
    database."""
    from tessera.finger.pipeline import ALGORITHM as EXTRACTOR
    from tessera.match.mcc import ALGORITHM as MATCHER

    genuine, impostor = finger_pair_scores(sets, fingers)
    chosen = [name for finger_set in sets for name in set(finger_set.fingers) if fingers is None or name in fingers]
    data = {
        **data,
        "databases": [finger_set.name for finger_set in sets],
        "fingers": len(chosen),
        "refused_images_left_out": int(
            sum((~finger_set.usable & np.isin(finger_set.fingers, chosen)).sum() for finger_set in sets)
        ),
        "pairs": (
            "genuine: every pair of impressions of one finger; impostor: every pair of impressions of two different "
            "fingers of the same database (no cross-database pairs); lower-numbered image as probe; refused images "
            "left out (a missing modality, not a score)"
        ),
        "extractor": EXTRACTOR,
    }
    return fit_score_model(
        genuine,
        impostor,
        modality="finger",
        algorithm=MATCHER,
        score_range=MCC_RANGE,
        data=data,
        config=config or FusionConfig(bins=FINGER_BINS),
    )


# --- chimeric subjects ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChimericGenuine:
    """Genuine comparisons of the chimeric subjects: one per subject.

    Attributes
    ----------
    face : numpy.ndarray, (m,) float64
        Face score, NaN when either image was refused.
    fingers : numpy.ndarray, (m, k) float64
        Score of each of the subject's ``k`` fingers, NaN when refused.
    subjects : tuple of str
    finger_ids : tuple of tuple of str
    """

    face: np.ndarray
    fingers: np.ndarray
    subjects: tuple[str, ...]
    finger_ids: tuple[tuple[str, ...], ...]


def chimeric_genuine(
    faces: FaceSet,
    test_subjects: Sequence[str],
    sets: Sequence[FingerSet],
    test_fingers: set[str],
    fingers_per_subject: int,
    seed: int,
) -> ChimericGenuine:
    """Pair each test person with ``fingers_per_subject`` distinct test fingers and score one genuine comparison
    each."""
    random = np.random.default_rng(seed + 1)
    by_subject: dict[str, list[int]] = {}
    for number, subject in enumerate(faces.subjects):
        by_subject.setdefault(subject, []).append(number)
    impressions: dict[str, tuple[FingerSet, list[int]]] = {}
    for finger_set in sets:
        for number, finger in enumerate(finger_set.fingers):
            if finger in test_fingers:
                impressions.setdefault(finger, (finger_set, []))[1].append(number)
    pool = sorted(finger for finger, (_, images) in impressions.items() if len(images) >= 2)
    if len(pool) < fingers_per_subject:
        raise ValueError(
            f"fingers_per_subject must be at most the {len(pool)} test fingers with two impressions; got "
            f"{fingers_per_subject}"
        )
    subjects = [subject for subject in test_subjects if len(by_subject.get(subject, ())) >= 2]
    face_scores = np.full(len(subjects), np.nan)
    finger_scores = np.full((len(subjects), fingers_per_subject), np.nan)
    finger_ids = []
    for row, subject in enumerate(subjects):
        first, second = by_subject[subject][:2]
        if faces.templated[first] and faces.templated[second]:
            face_scores[row] = similarity(faces.embeddings[first], faces.embeddings[second])
        chosen = [pool[number] for number in random.choice(len(pool), fingers_per_subject, replace=False)]
        finger_ids.append(tuple(chosen))
        for column, finger in enumerate(chosen):
            finger_set, images = impressions[finger]
            a, b = sorted(random.choice(images, 2, replace=False))
            if finger_set.usable[a] and finger_set.usable[b]:
                finger_scores[row, column] = float(np.clip(finger_set.scores[a, b], *MCC_RANGE))
    return ChimericGenuine(face_scores, finger_scores, tuple(subjects), tuple(finger_ids))


CONFIGURATIONS = {
    "face": (True, 0),
    "one_finger": (False, 1),
    "four_fingers": (False, 4),
    "face_four_fingers": (True, 4),
}
"""Configuration name -> (face used, fingers used)."""


def _genuine_llrs(genuine: ChimericGenuine, face: ScoreModel, finger: ScoreModel, use_face: bool, fingers: int):
    """Per comparison: summed LLR and the (faces, fingers) actually present; (0, 0) means nothing to fuse.

    The LLRs are summed by :func:`tessera.match.fusion.fused_llrs`, as a fused 1:N search sums them.
    """
    columns = {"face": genuine.face} if use_face else {}
    columns.update({f"finger:{column + 1}": genuine.fingers[:, column] for column in range(fingers)})
    total = fused_llrs(columns, {"face": face, "finger": finger}) if columns else np.zeros(len(genuine.subjects))
    present = {name: ~np.isnan(column) for name, column in columns.items()}
    faces_present = present["face"].astype(np.int64) if use_face else np.zeros(len(genuine.subjects), np.int64)
    fingers_present = np.zeros(len(genuine.subjects), dtype=np.int64)
    for name, mask in present.items():
        if name != "face":
            fingers_present += mask
    return total, faces_present, fingers_present


class _Thresholds:
    """Fused thresholds per set of modalities present, from the fitted models and from the held-out impostors."""

    def __init__(
        self,
        face: ScoreModel,
        finger: ScoreModel,
        face_test: LlrDistribution,
        finger_test: LlrDistribution,
        config: FusionConfig,
    ):
        self.face, self.finger, self.config = face, finger, config
        self.face_test, self.finger_test = face_test, finger_test
        self._model = FusedThresholds({"face": face, "finger": finger}, config)
        self._test: dict = {}
        self._test_threshold: dict = {}

    def model(self, faces: int, fingers: int, target: float) -> float | None:
        """The fitted models' threshold, from the same cache of thresholds a fused 1:N search uses."""
        names = ["face"] * faces + [f"finger:{number + 1}" for number in range(fingers)]
        return self._model.threshold(names, target) if names else None

    def test_distribution(self, faces: int, fingers: int) -> LlrDistribution:
        key = (faces, fingers)
        if key not in self._test:
            parts = [self.face_test] * faces + [self.finger_test] * fingers
            distribution = parts[0]
            for part in parts[1:]:
                distribution = distribution.convolve(part)
            self._test[key] = distribution
        return self._test[key]

    def test(self, faces: int, fingers: int, target: float) -> float | None:
        key = (faces, fingers, target)
        if key not in self._test_threshold:
            grid, survival = self.test_distribution(faces, fingers).survival_curve()
            allowed = np.flatnonzero(survival <= target)
            self._test_threshold[key] = float(grid[allowed[0]]) if allowed.size else None
        return self._test_threshold[key]


def _fnmr(llrs, faces_present, fingers_present, threshold_of) -> tuple[int, int]:
    """(false non-matches, comparisons): a comparison with nothing present, or no threshold for its modalities,
    fails."""
    errors = 0
    for llr, faces, fingers in zip(llrs, faces_present, fingers_present):
        threshold = threshold_of(int(faces), int(fingers)) if faces + fingers else None
        errors += bool(threshold is None or llr < threshold)
    return int(errors), len(llrs)


def evaluate_chimeric(
    faces: FaceSet,
    face_fit: np.ndarray,
    face_test_subjects: Sequence[str],
    sets: Sequence[FingerSet],
    seed: int = 0,
    fingers_per_subject: int = 4,
    config: FusionConfig = DEFAULT_FUSION_CONFIG,
    face_data: dict | None = None,
    figure_path: Path | None = None,
) -> dict:
    """Fit the LLR models on the fit parts and measure the four configurations on chimeric test subjects.

    Parameters
    ----------
    faces : FaceSet
    face_fit : numpy.ndarray, (n,) bool
        Images the face model is fitted on; none of their people may be in ``face_test_subjects``.
    face_test_subjects : sequence of str
        People measured (those with >= 2 images become chimeric subjects).
    sets : sequence of FingerSet
        Finger databases; their fingers are split in halves (``seed``).
    seed : int
    fingers_per_subject : int
    config : FusionConfig
    face_data : dict, optional
        Provenance written into the face model's ``data``.
    figure_path : Path, optional
        Where the DET figure is drawn.

    Returns
    -------
    dict
        The ``"fusion"`` section of ``report.json``.
    """
    started = time.monotonic()
    fit_people = {subject for subject, keep in zip(faces.subjects, face_fit) if keep}
    overlap = fit_people & set(face_test_subjects)
    if overlap:
        raise ValueError(
            f"face_test_subjects must not include people the face model is fitted on; {len(overlap)} do, e.g. "
            f"{sorted(overlap)[0]!r}"
        )
    fit_fingers, test_fingers = split_fingers(sets, seed)
    face_model = fit_face_model(faces, face_fit, face_data or {}, config)
    finger_model = fit_finger_model(
        sets, fit_fingers, {"split": f"fit half of the fingers of each database (seed {seed})"}
    )
    test_mask = np.isin(np.array(faces.subjects), list(face_test_subjects))
    face_test_genuine, face_test_impostor = face_pair_scores(faces, test_mask)
    finger_test_genuine, finger_test_impostor = finger_pair_scores(sets, test_fingers)
    step = config.llr_step
    thresholds = _Thresholds(
        face_model,
        finger_model,
        face_model.impostor_pmf(step, np.clip(face_test_impostor, *COSINE_RANGE), rule_of_three=False),
        finger_model.impostor_pmf(step, finger_test_impostor, rule_of_three=False),
        config,
    )
    genuine = chimeric_genuine(faces, face_test_subjects, sets, test_fingers, fingers_per_subject, seed)
    counts = {"face": face_test_impostor.size, "finger": finger_test_impostor.size}
    configurations, curves = {}, {}
    for name, (use_face, fingers) in CONFIGURATIONS.items():
        fingers = min(fingers, fingers_per_subject)
        llrs, faces_present, fingers_present = _genuine_llrs(genuine, face_model, finger_model, use_face, fingers)
        section: dict[str, Any] = {
            "modalities": (["face"] if use_face else []) + [f"finger {number + 1}" for number in range(fingers)],
            "genuine_comparisons": len(llrs),
            "comparisons_with_a_modality_missing": int(
                np.sum(faces_present + fingers_present < int(use_face) + fingers)
            ),
            "lowest_genuine_llr_all_present": _lowest(
                llrs[(faces_present == int(use_face)) & (fingers_present == fingers)]
            ),
            "at_fmr": {},
        }
        for target in TARGET_FMRS:
            point = _operating_point(
                target, use_face, fingers, llrs, faces_present, fingers_present, thresholds, counts
            )
            if int(use_face) + fingers == 1:
                # one modality needs no LLR: its raw score, thresholded on the held-out impostors, keeps the
                # resolution that clipping the LLR above the highest fitted impostor gives up
                point["at_score_threshold"] = _score_operating_point(
                    genuine.face if use_face else genuine.fingers[:, 0],
                    face_test_impostor if use_face else finger_test_impostor,
                    target,
                )
            section["at_fmr"][f"{target:g}"] = point
        configurations[name] = section
        curves[name] = _det_curve(llrs, faces_present, fingers_present, thresholds)
    headline = configurations["face_four_fingers"]["at_fmr"][f"{TARGET['fmr']:g}"]["at_model_threshold"]
    report = {
        "target": {
            **TARGET,
            "fnmr": headline["fnmr"],
            "fnmr_ci95": headline["fnmr_ci95"],
            "met": bool(headline["fnmr"] is not None and headline["fnmr"] <= TARGET["fnmr_max"]),
        },
        "configurations": configurations,
        "models": {"face": _model_summary(face_model), "finger": _model_summary(finger_model)},
        "held_out": {
            "face": {
                "fit": f"{int((face_fit & faces.templated).sum()):,} templated images named by "
                "pairsDevTrain.txt, every pair",
                "test_people": len(set(face_test_subjects)),
                "test_genuine_comparisons_all_pairs": int(face_test_genuine.size),
                "test_impostor_comparisons": int(face_test_impostor.size),
            },
            "finger": {
                "databases": [finger_set.name for finger_set in sets],
                "fit_fingers": len(fit_fingers),
                "test_fingers": len(test_fingers),
                "split": f"each database's fingers shuffled (seed {seed}) and halved; fit on one half, measure "
                "on the other",
                "test_genuine_comparisons_all_pairs": int(finger_test_genuine.size),
                "test_impostor_comparisons": int(finger_test_impostor.size),
            },
        },
        "chimeric": {
            "subjects": len(genuine.subjects),
            "fingers_per_subject": fingers_per_subject,
            "distinct_test_fingers_used": len({finger for ids in genuine.finger_ids for finger in ids}),
            "finger_reuse": dict(
                sorted(Counter(Counter(finger for ids in genuine.finger_ids for finger in ids).values()).items())
            ),
            "pairing": (
                f"each test LFW person with >= 2 images gets {fingers_per_subject} distinct test fingers drawn "
                "at random "
                f"(seed {seed}); a finger serves several people (never twice in one); one genuine comparison "
                "per subject: "
                "its first two face images and two random impressions of each finger"
            ),
            "assumption": (
                "chimeric subjects assume face and finger are independent given the person; fingers of one real person "
                "(one hand above all) are correlated, which chimeric data cannot show"
            ),
        },
        "what_the_fmr_rests_on": (
            "one modality: its held-out impostor comparisons, counted. Several: the convolution of each "
            "modality's held-out "
            "impostor LLR distribution (every combination of held-out impostor comparisons), which assumes "
            "independence. "
            "Thresholds are the fitted models' (what the service would use, rule-of-three tails included); "
            "'test_fmr' is "
            "what the held-out impostors give at that threshold."
        ),
        "fusion_config": {
            "llr_step": config.llr_step,
            "min_fmr": config.min_fmr,
            "face_bins": config.bins,
            "finger_bins": FINGER_BINS,
        },
        "seed": seed,
        "seconds": round(time.monotonic() - started, 1),
    }
    if figure_path is not None:
        report["figure"] = str(det_figure(curves, configurations, figure_path))
    return report


def _operating_point(
    target, use_face, fingers, llrs, faces_present, fingers_present, thresholds: _Thresholds, counts
) -> dict:
    from tessera.evaluation.metrics import wilson_interval

    full = (int(use_face), fingers)
    model_threshold = thresholds.model(*full, target)
    errors, trials = _fnmr(llrs, faces_present, fingers_present, lambda a, b: thresholds.model(a, b, target))
    test_threshold = thresholds.test(*full, target)
    test_errors, _ = _fnmr(llrs, faces_present, fingers_present, lambda a, b: thresholds.test(a, b, target))
    single = (int(use_face) + fingers) == 1
    if single:
        n_impostor = counts["face"] if use_face else counts["finger"]
        supported = 3.0 / n_impostor <= target
        rests_on = f"{n_impostor:,} held-out impostor comparisons, counted" + (
            ""
            if supported
            else f": too few to measure {target:g} (at least {math.ceil(3 / target):,} needed); an upper bound at best"
        )
    else:
        supported = True
        rests_on = (
            f"convolution of held-out impostor LLRs (face {counts['face']:,} comparisons, finger {counts['finger']:,}) "
            "under independence; not measured on real multimodal impostors"
        )
    test_fmr = None
    if model_threshold is not None:
        test_fmr = thresholds.test_distribution(*full).survival(model_threshold)
    low, high = wilson_interval(errors, trials)
    return {
        "at_model_threshold": {
            "threshold_llr": None if model_threshold is None else round(model_threshold, 3),
            "fnmr": None if model_threshold is None else round(errors / trials, 5),
            "false_non_matches": None if model_threshold is None else errors,
            "genuine_comparisons": trials,
            "fnmr_ci95": None if model_threshold is None else [round(low, 5), round(high, 5)],
            "test_fmr": None if test_fmr is None else float(f"{test_fmr:.3g}"),
            "test_fmr_over_target": None if test_fmr is None else round(test_fmr / target, 2),
            "note": (
                None
                if model_threshold is not None
                else f"the fitted model cannot vouch for FMR {target:g} with these modalities (rule-of-three "
                "tail is larger): no threshold"
            ),
        },
        "at_test_threshold": {
            "threshold_llr": None if test_threshold is None else round(test_threshold, 3),
            "fnmr": None if test_threshold is None else round(test_errors / trials, 5),
            "false_non_matches": None if test_threshold is None else test_errors,
        },
        "fmr_supported_by_data": bool(supported),
        "fmr_rests_on": rests_on,
    }


def _lowest(values: np.ndarray) -> float | None:
    return round(float(values.min()), 3) if values.size else None


def _score_operating_point(genuine_scores: np.ndarray, impostor_scores: np.ndarray, target: float) -> dict:
    """FNMR at the lowest raw-score threshold with at most ``target`` of the held-out impostors at or above it.

    A missing score (refused image) is a false non-match. With fewer than 3 false matches allowed the rate
    is not established by the data (the rule of three), and the entry says so.
    """
    from tessera.evaluation.metrics import wilson_interval

    impostor = np.sort(np.asarray(impostor_scores, dtype=np.float64))
    allowed = int(math.floor(target * impostor.size))
    # the threshold sits just above the (allowed + 1)-th highest impostor score
    threshold = float(np.nextafter(impostor[-(allowed + 1)], np.inf)) if allowed < impostor.size else float(impostor[0])
    false_matches = int(impostor.size - np.searchsorted(impostor, threshold, side="left"))
    errors = int(np.sum(np.isnan(genuine_scores) | (genuine_scores < threshold)))
    trials = int(genuine_scores.size)
    low, high = wilson_interval(errors, trials)
    return {
        "threshold_score": round(threshold, 6),
        "fnmr": round(errors / trials, 5),
        "false_non_matches": errors,
        "fnmr_ci95": [round(low, 5), round(high, 5)],
        "false_matches": false_matches,
        "impostor_comparisons": int(impostor.size),
        "fmr_established": allowed >= 3,
        "note": None
        if allowed >= 3
        else (
            f"{target:g} of {impostor.size:,} impostor comparisons is {target * impostor.size:.2g}: fewer than 3 false "
            "matches can be allowed, so the data cannot establish this rate (at most an upper bound)"
        ),
    }


def _det_curve(llrs, faces_present, fingers_present, thresholds: _Thresholds) -> tuple[np.ndarray, np.ndarray]:
    fnmr = []
    for level in DET_LEVELS:
        errors, trials = _fnmr(
            llrs, faces_present, fingers_present, lambda a, b, level=level: thresholds.test(a, b, level)
        )
        fnmr.append(errors / max(trials, 1))
    return DET_LEVELS.copy(), np.array(fnmr)


def _model_summary(model: ScoreModel) -> dict:
    return {
        "algorithm": model.algorithm,
        "n_genuine": model.n_genuine,
        "n_impostor": model.n_impostor,
        "llr_min": model.llr_min,
        "llr_max": model.llr_max,
        "clipped_above_score": model.knot_scores[-1],
        "clipped_below_score": model.knot_scores[0],
    }


def det_figure(curves: dict, configurations: dict, path: Path) -> Path:
    """DET curves of the configurations (FNMR against held-out FMR, normal-deviate axes), with the target marked."""
    from tessera.evaluation.figures import plt, save_figure
    from tessera.evaluation.metrics import probit

    ticks = np.array([1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 0.5])
    labels = ["1e-12", "1e-10", "1e-8", "1e-6", "1e-4", "1%", "50%"]
    figure, axis = plt.subplots(figsize=(6.4, 5.4))
    names = {
        "face": "face",
        "one_finger": "one finger",
        "four_fingers": "four fingers",
        "face_four_fingers": "face + four fingers",
    }
    for name, (fmr, fnmr) in curves.items():
        trials = configurations[name]["genuine_comparisons"]
        floor = 0.5 / max(trials, 1)  # zero errors drawn at half a comparison, not at minus infinity
        axis.plot(probit(fmr), probit(np.maximum(fnmr, floor)), label=f"{names.get(name, name)} ({trials:,} genuine)")
    trials = max(section["genuine_comparisons"] for section in configurations.values())
    axis.axhline(
        float(probit(0.5 / max(trials, 1))),
        color="grey",
        linestyle=":",
        linewidth=1,
        label="no error (drawn at 0.5 / n)",
    )
    axis.plot(
        probit(TARGET["fmr"]), probit(TARGET["fnmr_max"]), "k*", markersize=10, label="target: FNMR 1 % at FMR 1e-6"
    )
    axis.set_xticks(probit(ticks), labels)
    axis.set_yticks(probit(ticks[2:]), labels[2:])
    axis.set_xlim(float(probit(1e-12)), float(probit(0.5)))
    axis.set_ylim(float(probit(1e-4)), float(probit(0.6)))
    axis.set_xlabel("FMR on held-out impostors (several modalities: convolution, independence)")
    axis.set_ylabel("false non-match rate (chimeric genuine comparisons)")
    axis.set_title("Fusion DET (lower left is better)")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="upper right")
    return save_figure(figure, path)


# --- the whole run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FusionData:
    """Everything the fusion evaluation and the model fit read, loaded once.

    Attributes
    ----------
    lfw_dir : Path
    faces : FaceSet
    face_fit : numpy.ndarray, (n,) bool
        Images named by ``pairsDevTrain.txt``.
    face_test_people : tuple of str
        People who appear nowhere in ``pairsDevTrain.txt``.
    finger_sets : list of FingerSet
    provenance : dict
        Where the templates came from, for the report.
    """

    lfw_dir: Path
    faces: FaceSet
    face_fit: np.ndarray
    face_test_people: tuple[str, ...]
    finger_sets: list
    provenance: dict


def load_fusion_data(
    lfw_dir: Path | str,
    finger_dir: Path | str,
    *,
    face_cache: Path | str | None = None,
    finger_cache: Path | str | None = None,
    workers: int = 1,
    finger_templates: Path | str | None = None,
    face_pipeline_key: str | None = None,
    algorithm: str | None = None,
) -> FusionData:
    """Read the face templates of ``algorithm`` (default: the first of the setting) from the evaluation cache and
    score the finger databases (see :func:`load_finger_sets`)."""
    from tessera.evaluation.datasets.lfw import load_lfw

    faces, uncached = load_face_set(lfw_dir, face_cache, face_pipeline_key, algorithm)
    sets = load_finger_sets(finger_dir, finger_cache, workers=workers, templates_dir=finger_templates)
    return FusionData(
        lfw_dir=Path(lfw_dir),
        faces=faces,
        face_fit=face_fit_mask(faces, lfw_dir),
        face_test_people=tuple(load_lfw(lfw_dir).held_out_from_calibration),
        finger_sets=sets,
        provenance={
            "face_images_not_in_cache": uncached,
            "face_pipeline_key": face_pipeline_key or "current",
            "face_images_refused": int((~faces.templated).sum()),
            "finger_templates": (
                f"FVC evaluation cache folder {Path(finger_templates).name}"
                if finger_templates
                else "the FVC evaluation cache, current pipeline key"
            ),
            "finger_images_refused": {finger_set.name: int((~finger_set.usable).sum()) for finger_set in sets},
        },
    )


def evaluate_fusion(
    data: FusionData, out_dir: Path | str, *, seed: int = 0, fingers_per_subject: int = 4, split_seeds: int = 4
) -> dict:
    """Run :func:`evaluate_chimeric` on loaded data; write ``out_dir/report.json`` and
    ``out_dir/fusion-det.png``.

    With ``split_seeds`` > 0 the evaluation is repeated with that many other finger splits and pairings
    (seeds ``seed + 1`` ...), and ``split_variation`` shows how much the figures move with them: the
    finger impostor tails depend on which fingers are sampled.

    Returns
    -------
    dict
        ``{"fusion": ...}`` as written.
    """
    from tessera.evaluation.figures import report_path

    out_dir = Path(out_dir)
    report = evaluate_chimeric(
        data.faces,
        data.face_fit,
        data.face_test_people,
        data.finger_sets,
        seed=seed,
        fingers_per_subject=fingers_per_subject,
        face_data=_face_provenance(data.lfw_dir, data.faces.algorithm),
        figure_path=out_dir / "fusion-det.png",
    )
    report["templates"] = data.provenance
    if split_seeds > 0:
        report["split_variation"] = _split_variation(
            data, report, [seed + number for number in range(1, split_seeds + 1)], fingers_per_subject
        )
    report["figure"] = report_path(report["figure"], out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps({"fusion": report}, indent=1, default=_json_value) + "\n")
    return {"fusion": report}


def _split_variation(data: FusionData, report: dict, seeds: list[int], fingers_per_subject: int) -> dict:
    runs = [report] + [
        evaluate_chimeric(
            data.faces,
            data.face_fit,
            data.face_test_people,
            data.finger_sets,
            seed=other,
            fingers_per_subject=fingers_per_subject,
        )
        for other in seeds
    ]
    variation: dict = {"seeds": [report["seed"], *seeds], "by_configuration": {}}
    for name in CONFIGURATIONS:
        variation["by_configuration"][name] = {
            target: {
                "test_fmr_over_target": [
                    run["configurations"][name]["at_fmr"][target]["at_model_threshold"]["test_fmr_over_target"]
                    for run in runs
                ],
                "false_non_matches_at_model_threshold": [
                    run["configurations"][name]["at_fmr"][target]["at_model_threshold"]["false_non_matches"]
                    for run in runs
                ],
                "false_non_matches_at_test_threshold": [
                    run["configurations"][name]["at_fmr"][target]["at_test_threshold"]["false_non_matches"]
                    for run in runs
                ],
            }
            for target in report["configurations"][name]["at_fmr"]
        }
    variation["note"] = (
        "each seed draws another finger split and chimeric pairing (the face split is fixed by pairsDevTrain.txt); "
        "test_fmr_over_target is the held-out FMR at the fitted models' threshold over the target: above 1 the "
        "fitted models understated the rate"
    )
    return variation


def _json_value(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def fit_shipped_models(data: FusionData, paths: dict | None = None) -> dict[str, Path]:
    """Fit the face model (every pair of the pairsDevTrain images) and the finger model (every finger of
    :data:`FUSION_DATABASES`) and write them (default: the face algorithm's registered ``fusion_model_file`` and
    :data:`~tessera.match.fusion.FUSION_MODEL_FILES`'s finger file)."""
    paths = paths or {"face": face_model_file(data.faces.algorithm), "finger": FUSION_MODEL_FILES["finger"]}
    face_model = fit_face_model(data.faces, data.face_fit, _face_provenance(data.lfw_dir, data.faces.algorithm))
    finger_model = fit_finger_model(
        data.finger_sets,
        None,
        {
            "dataset": "FVC2004 DB1_B-DB3_B, FVC2002 DB1_B, Neurotechnology CrossMatch sample: every finger",
            **{key: value for key, value in data.provenance.items() if key.startswith("finger")},
        },
    )
    return {"face": face_model.save(paths["face"]), "finger": finger_model.save(paths["finger"])}


def fit_face_model_file(
    lfw_dir: Path | str,
    algorithm: str | None = None,
    path: Path | str | None = None,
    cache_dir: Path | str | None = None,
) -> Path:
    """Fit and write one face algorithm's fusion model from its cached LFW templates alone (no finger data needed).

    Parameters
    ----------
    lfw_dir : path
    algorithm : str, optional
        Default: the first of the ``TESSERA_FACE_ALGORITHMS`` setting.
    path : path, optional
        Default: the algorithm's registered ``fusion_model_file``.
    cache_dir : path, optional
        The evaluation cache (default :func:`tessera.evaluation.cache.default_cache_dir`).
    """
    faces, _ = load_face_set(lfw_dir, cache_dir, algorithm=algorithm)
    model = fit_face_model(faces, face_fit_mask(faces, lfw_dir), _face_provenance(lfw_dir, faces.algorithm))
    return model.save(Path(path) if path is not None else face_model_file(faces.algorithm))


def face_model_file(algorithm: str) -> Path:
    """Where the face algorithm's fusion model is shipped (its registered ``fusion_model_file``)."""
    from tessera.face.algorithms import face_algorithm

    path = face_algorithm(algorithm).fusion_model_file
    if path is None:
        raise ValueError(f"face algorithm {algorithm!r} registers no fusion_model_file to write its fusion model to")
    return path


def _face_provenance(lfw_dir, algorithm: str) -> dict:
    import hashlib

    from tessera.evaluation.datasets.lfw import DEV_TRAIN_PAIRS

    path = Path(lfw_dir) / DEV_TRAIN_PAIRS
    return {
        "dataset": "LFW, Labeled Faces in the Wild (Huang et al., UMass Amherst TR 07-49, 2007)",
        "pairs_file": DEV_TRAIN_PAIRS,
        "pairs_file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "pipeline": f"templates of face algorithm {algorithm} (its registered pipeline and config) from the "
        "evaluation cache",
    }


def summary_lines(report: dict) -> list[str]:
    """The fusion report in a few lines of text, as ``tessera eval fusion`` prints it."""
    lines: list[str] = []
    lines.append(
        f"chimeric subjects: {report['chimeric']['subjects']:,} ({report['chimeric']['fingers_per_subject']} "
        "fingers each)"
    )
    lines.append(
        "FNMR at the fitted models' fused threshold (held-out genuine); held-out FMR there; FNMR at the "
        "held-out threshold"
    )
    for name, section in report["configurations"].items():
        for target, point in section["at_fmr"].items():
            model, test = point["at_model_threshold"], point["at_test_threshold"]
            held_out = (
                ""
                if test["fnmr"] is None
                else f"; at held-out threshold {test['fnmr'] * 100:.2f} % ({test['false_non_matches']})"
            )
            if model["fnmr"] is None:
                line = f"{name:18s} FMR {target:>6s}: LLR: no threshold (the model cannot vouch for it){held_out}"
            else:
                low, high = model["fnmr_ci95"]
                line = (
                    f"{name:18s} FMR {target:>6s}: FNMR {model['fnmr'] * 100:6.2f} % "
                    f"({model['false_non_matches']}/{model['genuine_comparisons']}, "
                    f"95 % CI {low * 100:.2f}-{high * 100:.2f} %), held-out FMR there {model['test_fmr']:.2g}{held_out}"
                )
            score = point.get("at_score_threshold")
            if score is not None:
                line += (
                    f"; raw score >= {score['threshold_score']:.4f}: FNMR {score['fnmr'] * 100:.2f} % "
                    f"({score['false_non_matches']}), "
                    f"{score['false_matches']}/{score['impostor_comparisons']:,} false matches"
                    f"{'' if score['fmr_established'] else ' [too few impostors to establish the rate]'}"
                )
            lines.append(line)
    for name, by_target in report.get("split_variation", {}).get("by_configuration", {}).items():
        for target, spread in by_target.items():
            ratios = [value for value in spread["test_fmr_over_target"] if value is not None]
            if ratios and name in ("four_fingers", "face_four_fingers"):
                lines.append(
                    f"over seeds {report['split_variation']['seeds']}: {name} at {target}: held-out FMR / "
                    f"target {ratios}, "
                    f"false non-matches at the model threshold {spread['false_non_matches_at_model_threshold']}"
                )
    target = report["target"]
    lines.append(
        f"target face + four fingers FNMR <= 1 % at FMR 1e-6: {'met' if target['met'] else 'NOT met'} (FNMR "
        f"{target['fnmr']})"
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tessera.evaluation.fusion_eval", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--lfw", required=True, type=Path, help="LFW folder (images/ and the pair files)")
    parser.add_argument(
        "--fingers",
        type=Path,
        help="folder holding fvc2004/, fvc2002_db1/, neurotech_crossmatch/ (required unless --fit-face-model-only)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder to write report.json and its figure into (required unless --fit-face-model-only)",
    )
    parser.add_argument("--face-cache", type=Path, default=None, help="face template cache (default: tessera eval's)")
    parser.add_argument(
        "--finger-cache", type=Path, default=None, help="finger template cache (default: the FVC evaluation's)"
    )
    parser.add_argument(
        "--finger-templates",
        type=Path,
        default=None,
        help="read finger templates from this cache folder (<cache>/<pipeline key>) and extract nothing",
    )
    parser.add_argument(
        "--face-pipeline-key",
        default=None,
        help="read face templates cached under this pipeline key (default: the current one)",
    )
    parser.add_argument(
        "--algorithm",
        default=None,
        help="the face algorithm whose cached LFW templates are fused (default: the first of TESSERA_FACE_ALGORITHMS)",
    )
    parser.add_argument(
        "--fit-face-model-only",
        action="store_true",
        help="only fit and write the face algorithm's fusion model (its registered file) from its cached templates",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the finger split and the chimeric pairing")
    parser.add_argument(
        "--split-seeds",
        type=int,
        default=4,
        help="other finger splits to repeat the evaluation with, to show the spread (default: %(default)s)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes extracting finger templates missing from the cache"
    )
    parser.add_argument(
        "--fit-models",
        action="store_true",
        help="also fit and write the shipped fusion models (tessera/match/calibrations/fusion-*.json)",
    )
    arguments = parser.parse_args(argv)
    if arguments.fit_face_model_only:
        path = fit_face_model_file(arguments.lfw, arguments.algorithm, cache_dir=arguments.face_cache)
        print(f"wrote face model {path}")
        return 0
    if arguments.fingers is None or arguments.out is None:
        parser.error("--fingers and --out are required (unless --fit-face-model-only)")
    data = load_fusion_data(
        arguments.lfw,
        arguments.fingers,
        face_cache=arguments.face_cache,
        finger_cache=arguments.finger_cache,
        workers=arguments.workers,
        finger_templates=arguments.finger_templates,
        face_pipeline_key=arguments.face_pipeline_key,
        algorithm=arguments.algorithm,
    )
    if arguments.fit_models:
        for name, path in fit_shipped_models(data).items():
            print(f"wrote {name} model {path}")
    report = evaluate_fusion(data, arguments.out, seed=arguments.seed, split_seeds=arguments.split_seeds)["fusion"]
    for line in summary_lines(report):
        print(line)
    print(f"wrote {arguments.out / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
