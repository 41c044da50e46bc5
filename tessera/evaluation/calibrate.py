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
import multiprocessing
import platform
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import tessera
from tessera.evaluation.datasets.lfw import DEV_TRAIN_PAIRS, LfwImage, image_path, read_pairs, unique_images
from tessera.face.config import DEFAULT_FACE_CONFIG
from tessera.match.calibration import DEFAULT_FACE_CALIBRATION_PATH, Calibration, CalibrationConfig, fit_calibration

COSINE_RANGE = (-1.0, 1.0)
"""Scores of unit embeddings are cosines."""

DEFAULT_BLOCK_ROWS = 512
"""Rows of the similarity matrix computed at once: 512 x 3,443 float32 is 7 MB."""


@dataclass(frozen=True)
class ImageResult:
    """What the face pipeline made of one image.

    Attributes
    ----------
    image : LfwImage
    embedding : numpy.ndarray or None
        (128,) float32 unit vector, or None when refused.
    algorithm : str or None
        The template's algorithm id, or None when refused.
    refusal : str or None
        The refusal reason (or the decode error's code), or None when templated.
    """

    image: LfwImage
    embedding: np.ndarray | None
    algorithm: str | None
    refusal: str | None


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
        in a script (see :func:`template_images`).
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
    results = list(_track(template_images(images, paths, workers), len(images), progress))
    templated = [result for result in results if result.embedding is not None]
    algorithms = sorted({result.algorithm for result in templated})
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


def template_images(images: list[LfwImage], paths: list[Path], workers: int) -> Iterator[ImageResult]:
    """Run the face pipeline on every image, in ``workers`` processes; results in input order.

    Workers are started with "spawn": each begins clean and loads its own dlib
    models, whatever the calling process holds (loaded models, locks,
    threads). As with any spawning pool, a script that calls this must do so
    under ``if __name__ == "__main__":``; if it does not, the workers fail to
    start and ``BrokenProcessPool`` is raised rather than the run hanging.
    """
    jobs = [str(path) for path in paths]
    if workers == 1:
        for image, job in zip(images, jobs):
            yield _as_result(image, _template_file(job))
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for image, outcome in zip(images, pool.map(_template_file, jobs, chunksize=8)):
            yield _as_result(image, outcome)


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


def _template_file(path: str) -> tuple[np.ndarray | None, str | None, str | None]:
    """Worker: (embedding, algorithm, None) for a usable image, (None, None, reason) otherwise."""
    # Imported here, not at the top, so that importing this module (to score pairs, or in the
    # parent process) does not load dlib; each worker loads it, and its models, once.
    from tessera.capture.decode import decode_image
    from tessera.errors import TesseraError
    from tessera.face.pipeline import extract_face

    try:
        image = decode_image(Path(path).read_bytes())
    except TesseraError as error:
        return None, None, error.code
    result = extract_face(image)
    if not result:
        return None, None, result.reason
    return np.asarray(result.embedding, dtype=np.float32), result.algorithm, None


def _as_result(image: LfwImage, outcome: tuple[np.ndarray | None, str | None, str | None]) -> ImageResult:
    embedding, algorithm, refusal = outcome
    return ImageResult(image=image, embedding=embedding, algorithm=algorithm, refusal=refusal)


def _track(results: Iterable[ImageResult], total: int, show: bool) -> Iterator[ImageResult]:
    if not show:
        yield from results
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("refused {task.fields[refused]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("Templating LFW images", total=total, refused=0)
        refused = 0
        for result in results:
            refused += result.embedding is None
            bar.update(task, advance=1, refused=refused)
            yield result
