"""Run the face pipeline over many image files, in worker processes, with an on-disk cache.

::

    files -> SHA-256 -> cache hits | misses -> worker pool (decode -> extract_face) -> cache -> outcomes

Used by both the evaluation harness and the calibration fit, so that both
see exactly what the service would make of each file: bytes decoded by
:func:`tessera.capture.decode.decode_image`, then
:func:`tessera.face.pipeline.extract_face`. Nothing is dropped: a file the
pipeline refuses comes back as an outcome with its reason.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tessera.evaluation.cache import TemplateCache, file_digest
from tessera.workflows.budget import as_the_service_runs, work_on_calling_threads

CHUNK_SIZE = 8
"""Files sent to a worker at once: large enough to amortise the hand-over, small enough to keep both busy."""
CACHE_WRITE_EVERY = 64
"""Outcomes stored per cache transaction while templating, so an interrupted run keeps its work."""


@dataclass(frozen=True)
class TemplateOutcome:
    """What the face pipeline made of one file.

    Attributes
    ----------
    embedding : numpy.ndarray or None
        (d,) float32 unit vector, or None when refused.
    algorithm : str or None
        The template's algorithm id, or None when refused.
    refusal : str or None
        The refusal reason (or the decoder's error code), or None when templated.
    detail : dict or None
        The template's quality figures (``FaceQuality.as_dict()``) when
        templated; the refusal's ``detail`` when refused.
    cpu_seconds : float
        CPU time of decoding and templating this file, when it was templated
        (cached outcomes keep the time of the run that made them).
    """

    embedding: np.ndarray | None
    algorithm: str | None
    refusal: str | None
    detail: dict | None
    cpu_seconds: float

    @property
    def templated(self) -> bool:
        return self.embedding is not None


def template_algorithms(outcomes: Iterable[TemplateOutcome]) -> list[str]:
    """The algorithm ids of the templated ``outcomes``, each once, sorted."""
    algorithms = set()
    for outcome in outcomes:
        if outcome.templated:
            assert outcome.algorithm is not None  # a template always names its algorithm
            algorithms.add(outcome.algorithm)
    return sorted(algorithms)


@dataclass(frozen=True)
class TemplatingRun:
    """Outcomes of :func:`template_files`, in input order, and how they were obtained.

    Attributes
    ----------
    outcomes : list of TemplateOutcome
    cache_hits : int
        Outcomes read from the cache rather than computed.
    wall_seconds : float
        Time the whole call took, hashing included.
    workers : int
        Processes that ran the pipeline.
    """

    outcomes: list[TemplateOutcome]
    cache_hits: int
    wall_seconds: float
    workers: int


def template_files(
    paths: Sequence[Path | str],
    config=None,
    *,
    workers: int = 2,
    cache: TemplateCache | None = None,
    progress: Callable[[Iterable[TemplateOutcome], int], Iterator[TemplateOutcome]] | None = None,
    algorithm: str | None = None,
) -> TemplatingRun:
    """Template every file with the face pipeline; outcomes in input order.

    Parameters
    ----------
    paths : sequence of path
        Image files (JPEG, PNG or WebP, as the service accepts).
    config : FaceConfig or SFaceConfig, optional
        dlib's pipeline (no ``algorithm``): default
        :data:`~tessera.face.config.DEFAULT_FACE_CONFIG`. With ``algorithm``:
        a config under study in place of its registered one
        (:meth:`~tessera.face.algorithms.FaceAlgorithm.configured`). The
        cache, if any, must have been opened with this configuration's key.
    workers : int
        Processes running the pipeline (``>= 1``; 1 runs in this process).
    cache : TemplateCache, optional
        Where outcomes are looked up first and stored afterwards.
    progress : callable, optional
        ``progress(outcomes, total)`` wraps the iterator of computed
        outcomes (e.g. :func:`rich_progress`); cache hits are not shown.
    algorithm : str, optional
        A registered face algorithm (:mod:`tessera.face.algorithms`) whose
        own pipeline (with its registered config unless ``config`` is given)
        templates the files instead of dlib's
        :func:`~tessera.face.pipeline.extract_face`. A cache must then have
        been opened with the key of
        :func:`~tessera.evaluation.cache.algorithm_fingerprint` for it (and ``config``).

    Raises
    ------
    ValueError
        ``workers`` is not a positive integer.
    concurrent.futures.process.BrokenProcessPool
        A worker could not start: call this under ``if __name__ == "__main__":``
        in a script (workers are started with "spawn": each begins clean and
        loads its own dlib models, whatever the calling process holds).
    """
    from tessera.face.config import DEFAULT_FACE_CONFIG

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1; got {workers!r}")
    if algorithm is None and config is None:
        config = DEFAULT_FACE_CONFIG
    started = time.monotonic()
    jobs = [str(path) for path in paths]
    digests: Sequence[str | None]
    if cache is not None:
        file_digests = [file_digest(job) for job in jobs]
        known = cache.get_many(file_digests)
        digests = file_digests
    else:
        known, digests = {}, [None] * len(jobs)
    missing = [number for number, digest in enumerate(digests) if digest not in known]
    computed = _run([jobs[number] for number in missing], (config, algorithm), workers)
    if progress is not None:
        computed = progress(computed, len(missing))
    outcomes: list[TemplateOutcome | None] = [known.get(digest) for digest in digests]
    pending = {}
    for number, outcome in zip(missing, computed):
        outcomes[number] = outcome
        if cache is not None:
            pending[digests[number]] = outcome
            if len(pending) >= CACHE_WRITE_EVERY:
                cache.put_many(pending)
                pending = {}
    if cache is not None and pending:
        cache.put_many(pending)
    filled = [outcome for outcome in outcomes if outcome is not None]
    assert len(filled) == len(outcomes)  # every slot is filled above
    return TemplatingRun(
        outcomes=filled,
        cache_hits=len(jobs) - len(missing),
        wall_seconds=time.monotonic() - started,
        workers=workers,
    )


def _run(jobs: list[str], pipeline: tuple, workers: int) -> Iterator[TemplateOutcome]:
    if not jobs:
        return
    if workers == 1:
        for job in jobs:
            with as_the_service_runs():
                outcome = _template_file(job, pipeline)
            yield outcome
        return
    with ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(pipeline,),
    ) as pool:
        yield from pool.map(_template_in_worker, jobs, chunksize=CHUNK_SIZE)


_WORKER_PIPELINE: tuple = (None, None)


def _start_worker(pipeline: tuple) -> None:
    # Each worker process is given its (config, algorithm) once, not with every file, and works as the service
    # does: the libraries on its own thread (the workers are the parallelism), so a photo's CPU time is a request's.
    global _WORKER_PIPELINE
    _WORKER_PIPELINE = pipeline
    work_on_calling_threads()


def _template_in_worker(path: str) -> TemplateOutcome:
    return _template_file(path, _WORKER_PIPELINE)


def _template_file(path: str, pipeline: tuple) -> TemplateOutcome:
    """Decode and template one file, as the service does with an upload; ``pipeline`` is (config, algorithm)."""
    # Imported here, not at the top, so that importing this module (to score pairs, or in the
    # parent process) does not load dlib; each worker loads it, and its models, once.
    from tessera.capture.decode import decode_image
    from tessera.errors import TesseraError
    from tessera.face.pipeline import extract_face
    from tessera.face.refusal import FaceRefusal
    from tessera.primitives import NO_TRACE

    config, algorithm = pipeline
    started = time.process_time()
    try:
        image = decode_image(Path(path).read_bytes())
    except TesseraError as error:
        return TemplateOutcome(None, None, error.code, {"message": error.message}, time.process_time() - started)
    if algorithm is None:
        result = extract_face(image, config)
    else:
        from tessera.face.algorithms import face_algorithm

        spec = face_algorithm(algorithm)
        result = (spec if config is None else spec.configured(config)).extract(image, NO_TRACE)
    seconds = time.process_time() - started
    if isinstance(result, FaceRefusal):
        return TemplateOutcome(None, None, result.reason, dict(result.detail), seconds)
    return TemplateOutcome(
        np.asarray(result.embedding, dtype=np.float32), result.algorithm, None, result.quality_record(), seconds
    )


def rich_progress(description: str) -> Callable[[Iterable[TemplateOutcome], int], Iterator[TemplateOutcome]]:
    """A ``progress`` for :func:`template_files`: a rich bar with the count refused so far."""

    def track(outcomes: Iterable[TemplateOutcome], total: int) -> Iterator[TemplateOutcome]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if total == 0:
            return
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("refused {task.fields[refused]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns) as bar:
            task = bar.add_task(description, total=total, refused=0)
            refused = 0
            for outcome in outcomes:
                refused += not outcome.templated
                bar.update(task, advance=1, refused=refused)
                yield outcome

    return track
