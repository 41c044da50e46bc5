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
"""
from __future__ import annotations

import dataclasses
import hashlib
import platform
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import tessera
from tessera.evaluation.cache import TemplateCache
from tessera.evaluation.datasets.lfw import DEV_TRAIN_PAIRS, LfwImage, image_path, read_pairs, unique_images
from tessera.evaluation.templating import TemplateOutcome, rich_progress, template_files
from tessera.face.config import DEFAULT_FACE_CONFIG
from tessera.match.calibration import DEFAULT_FACE_CALIBRATION_PATH, Calibration, CalibrationConfig, fit_calibration

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


def calibrate_face_lfw(
    lfw_dir: Path | str,
    out_path: Path | str = DEFAULT_FACE_CALIBRATION_PATH,
    workers: int = 2,
    progress: bool = True,
    *,
    pairs_path: Path | str | None = None,
    config: CalibrationConfig = CalibrationConfig(),
    cache: TemplateCache | None = None,
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
        Template cache for the default face configuration (see
        :mod:`tessera.evaluation.cache`); images already templated by
        ``tessera eval`` are then not templated again.

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
        DEFAULT_FACE_CONFIG,
        workers=workers,
        cache=cache,
        progress=rich_progress("Templating LFW images") if progress else None,
    )
    results = [ImageResult(image, outcome) for image, outcome in zip(images, run.outcomes)]
    templated = [result for result in results if result.embedding is not None]
    algorithms = sorted({result.outcome.algorithm for result in templated})
    if len(algorithms) != 1:
        raise ValueError(f"templates must all come from one algorithm to be calibrated together; got {algorithms}")
    names = [result.image.name for result in templated]
    if len(set(names)) < 2:
        raise ValueError(f"at least two people must be templated to form impostor pairs; got {len(set(names))}")
    scores = pair_scores(np.stack([result.embedding for result in templated]), names)
    data = _run_record(pairs_path, images, results, workers, seconds=time.monotonic() - started)
    calibration = fit_calibration(
        scores.genuine,
        scores.impostor,
        modality="face",
        algorithm=algorithms[0],
        data=data,
        score_range=COSINE_RANGE,
        config=config,
        created=datetime.now(timezone.utc),
    )
    calibration.save(out_path)
    return calibration


def _run_record(
    pairs_path: Path, images: list[LfwImage], results: list[ImageResult], workers: int, seconds: float
) -> dict:
    """What the calibration was fitted on and how, for the file's ``data``: enough to reproduce it."""
    refused = [result for result in results if result.embedding is None]
    return {
        "dataset": "LFW, Labeled Faces in the Wild (Huang et al., UMass Amherst TR 07-49, 2007)",
        "pairs_file": pairs_path.name,
        "pairs_file_sha256": hashlib.sha256(pairs_path.read_bytes()).hexdigest(),
        "images": "every image the pair file refers to (both sides of its matched and mismatched pairs)",
        "pairs": (
            "genuine: every pair of templated images of one person; impostor: every pair of templated images "
            "of two different people (all pairs, not only those listed in the pair file)"
        ),
        "pipeline": (
            "tessera.capture.decode.decode_image, then tessera.face.pipeline.extract_face with the default FaceConfig"
        ),
        "face_config": dataclasses.asdict(DEFAULT_FACE_CONFIG),
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


def pair_scores(embeddings: np.ndarray, labels: list[str], block_rows: int = DEFAULT_BLOCK_ROWS) -> PairScores:
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

    Returns
    -------
    PairScores
        ``m (m - 1) / 2`` scores in all, each pair once (row < column).
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or embeddings.shape[0] != len(labels):
        raise ValueError(
            f"embeddings must have shape (m, d) with m = len(labels) = {len(labels)}; got shape {embeddings.shape}"
        )
    _, identity = np.unique(np.asarray(labels), return_inverse=True)
    count = embeddings.shape[0]
    genuine, impostor = [], []
    columns = np.arange(count)
    for start in range(0, count, block_rows):
        stop = min(start + block_rows, count)
        similarity = np.clip(embeddings[start:stop] @ embeddings.T, -1.0, 1.0)
        upper = columns[None, :] > np.arange(start, stop)[:, None]
        same = identity[start:stop, None] == identity[None, :]
        genuine.append(similarity[upper & same])
        impostor.append(similarity[upper & ~same])
    return PairScores(
        genuine=np.sort(np.concatenate(genuine)).astype(np.float32),
        impostor=np.sort(np.concatenate(impostor)).astype(np.float32),
    )
