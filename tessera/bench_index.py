"""``tessera bench index``: how fast the in-process face index searches, beside plain numpy on the same matrix.

The gallery is synthetic but shaped like real face embeddings: unit vectors
grouped around a few dozen cluster centres (people who look alike), one
to a few templates per person close to that person's direction. A search's
cost does not depend on what the vectors hold, but the per-subject rule and
the partial selection do depend on how many close templates a subject has,
which is why subjects hold several.

Printed in one run, so that the figures share the machine's state: the
index's search p50/p95 and, alternating with it probe by probe, plain numpy
(one matrix-vector product and an ``argpartition`` over the same gallery's
rows, with the same single BLAS thread), their ratio, the index's memory per
template, its build time through ``upsert`` in batches, and one search right
after an upsert and right after an erasure.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from tessera.index.base import FACE, FACE_PART, Hit, IndexEntry, matcher_key
from tessera.index.matrix import BLAS_THREADS, MatrixIndex, blas_libraries

PURPOSE = "deduplicate"
MATCHER = matcher_key(FACE, "synthetic-embedding/1")


@dataclass(frozen=True)
class IndexBenchConfig:
    """What ``tessera bench index`` builds and times.

    Attributes
    ----------
    templates : int
        Templates in the index, over every gallery.
    dim : int
        Embedding length.
    galleries : int
        Galleries the subjects are spread over (searches run in the first).
    max_templates_per_subject : int
        Each subject holds 1 to this many templates (uniformly).
    clusters : int
        Cluster centres the subjects' directions are drawn around.
    batch : int
        Entries per ``upsert`` while building (as a start-up load would).
    searches : int
        Probes searched (each also run through plain numpy).
    limit : int
        Subjects asked for per search (numpy: rows).
    seed : int
    """

    templates: int = 1_000_000
    dim: int = 128
    galleries: int = 1
    max_templates_per_subject: int = 4
    clusters: int = 64
    batch: int = 50_000
    searches: int = 50
    limit: int = 100
    seed: int = 0


@dataclass(frozen=True)
class SyntheticGallery:
    """Unit vectors shaped like face embeddings, with the subject and gallery of each row.

    Attributes
    ----------
    vectors : numpy.ndarray, shape (n, dim), float32
    subjects : numpy.ndarray, shape (n,), int64
        Subject number of each row (a subject's rows are contiguous).
    galleries : numpy.ndarray, shape (n,), int64
        Gallery number of each row.
    """

    vectors: np.ndarray
    subjects: np.ndarray
    galleries: np.ndarray


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    unit: np.ndarray = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return unit


def synthetic_gallery(config: IndexBenchConfig) -> SyntheticGallery:
    """Clustered unit vectors, like a face model's embeddings: every direction shares a common mean (as embeddings
    of one model do), subjects gather around ``clusters`` centres (impostors score ~0.35 across clusters, ~0.55
    within one) and a subject's templates lie around its direction (mates score ~0.9)."""
    rng = np.random.default_rng(config.seed)
    per_subject = rng.integers(1, config.max_templates_per_subject + 1, size=config.templates)
    count = int(np.searchsorted(np.cumsum(per_subject), config.templates)) + 1
    subjects = np.repeat(np.arange(count), per_subject[:count])[: config.templates]
    mean = _unit_rows(rng.standard_normal(size=(1, config.dim), dtype=np.float32))
    centres = _unit_rows(rng.standard_normal(size=(config.clusters, config.dim), dtype=np.float32))
    directions = np.empty((count, config.dim), np.float32)
    chunk = 100_000
    for start in range(0, count, chunk):
        own = _unit_rows(rng.standard_normal(size=(min(chunk, count - start), config.dim), dtype=np.float32))
        cluster = np.arange(start, start + own.shape[0]) % config.clusters
        directions[start : start + chunk] = _unit_rows(0.6 * mean + 0.45 * centres[cluster] + 0.66 * own)
    vectors = np.empty((config.templates, config.dim), np.float32)
    for start in range(0, config.templates, chunk):
        rows = subjects[start : start + chunk]
        noise = rng.standard_normal(size=(rows.shape[0], config.dim), dtype=np.float32) * (0.35 / np.sqrt(config.dim))
        vectors[start : start + chunk] = _unit_rows(directions[rows] + noise)
    galleries = subjects % config.galleries
    return SyntheticGallery(vectors=vectors, subjects=subjects, galleries=galleries)


def synthetic_entries(
    gallery: SyntheticGallery, expires: datetime, start: int, stop: int
) -> Iterator[IndexEntry[np.ndarray]]:
    """The index entries of rows ``start:stop``: UUID-like ids (36 characters, as the store makes them)."""
    for row in range(start, stop):
        yield IndexEntry(
            template_id=str(uuid.UUID(int=row + (1 << 64))),
            subject_id=str(uuid.UUID(int=int(gallery.subjects[row]))),
            gallery_id=f"g{int(gallery.galleries[row])}",
            matcher=MATCHER,
            part=FACE_PART,
            features=gallery.vectors[row],
            purposes=frozenset({PURPOSE}),
            consent_expires_at=expires,
        )


def resident_bytes() -> int | None:
    """This process's resident memory (Linux ``/proc``), or None where it cannot be read.

    Memory freed by the program but kept by the C allocator for reuse is
    handed back first (glibc's ``malloc_trim``), so that the figure is what
    is in use: the input batches of a build are freed, the index is not.
    """
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: the figure then includes the allocator's cache
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    status = Path("/proc/self/status")
    if not status.is_file():
        return None
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def bench_probes(config: IndexBenchConfig, gallery: SyntheticGallery, searched: np.ndarray) -> np.ndarray:
    """``config.searches`` probes, each a new capture of an enrolled template of the gallery searched (rows
    ``searched``): that template plus noise, as far from it as the subject's other templates are."""
    rng = np.random.default_rng(config.seed + 1)
    return _unit_rows(
        gallery.vectors[rng.choice(searched, config.searches)]
        + rng.normal(size=(config.searches, config.dim)) * (0.35 / np.sqrt(config.dim))
    )


def numpy_search(matrix: np.ndarray, probe: np.ndarray, limit: int) -> np.ndarray:
    """Plain numpy: one matrix-vector product and a partial selection of the ``limit`` best rows (unordered)."""
    with blas_libraries().limit(limits=BLAS_THREADS, user_api="blas"):
        scores = matrix @ probe
    best: np.ndarray = np.argpartition(-scores, limit - 1)[:limit]
    return best


@dataclass(frozen=True)
class IndexBenchResult:
    """Milliseconds per search, the build and memory figures (``None`` when RSS cannot be read)."""

    templates: int
    searched_templates: int
    index_ms: list[float]
    numpy_ms: list[float]
    build_s: float
    build_cpu_s: float
    allocated_bytes_per_template: float
    resident_bytes_per_template: float | None
    upsert_ms: float
    search_after_upsert_ms: float
    removal_ms: float
    search_after_removal_ms: float
    scores_for_ms: float
    same_first_subject: int

    @property
    def ratio(self) -> float:
        return statistics.median(self.index_ms) / statistics.median(self.numpy_ms)


def run_index_bench(config: IndexBenchConfig, console: Console | None = None) -> IndexBenchResult:
    """Build an index of ``config.templates`` synthetic templates and time it beside numpy; prints a table."""
    console = console or Console()
    began = time.perf_counter()
    gallery = synthetic_gallery(config)
    console.print(
        f"Synthetic gallery: {config.templates:,} templates of {int(gallery.subjects[-1]) + 1:,} subjects, "
        f"{config.dim}-d, {config.galleries} galleries ({time.perf_counter() - began:.1f} s to make)"
    )
    now = datetime.now(UTC)
    expires = now + timedelta(days=365)
    before = resident_bytes()
    index = MatrixIndex(MATCHER)
    build = build_cpu = 0.0
    for start in range(0, config.templates, config.batch):
        batch = list(synthetic_entries(gallery, expires, start, min(start + config.batch, config.templates)))
        began, began_cpu = time.perf_counter(), time.process_time()
        index.upsert(batch)
        build += time.perf_counter() - began
        build_cpu += time.process_time() - began_cpu
    del batch
    after = resident_bytes()
    resident = None if before is None or after is None else (after - before) / config.templates

    searched = np.flatnonzero(gallery.galleries == 0)
    matrix = np.ascontiguousarray(gallery.vectors[searched])
    probes = bench_probes(config, gallery, searched)
    index_ms, numpy_ms, same_first = [], [], 0

    def search(probe: np.ndarray) -> list[Hit]:
        return index.search(probe, gallery_id="g0", part=FACE_PART, purpose=PURPOSE, now=now, limit=config.limit)

    for probe in probes:
        began = time.perf_counter()
        best = numpy_search(matrix, probe, config.limit)
        numpy_ms.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        hits = search(probe)
        index_ms.append((time.perf_counter() - began) * 1000)
        top_row = searched[best[np.argmax(matrix[best] @ probe)]]
        same_first += hits[0].subject_id == str(uuid.UUID(int=int(gallery.subjects[top_row])))

    listed = [hit.subject_id for hit in hits]
    scores_for_ms = timed(
        lambda: index.scores_for(
            probes[-1], gallery_id="g0", part=FACE_PART, subject_ids=listed, purpose=PURPOSE, now=now
        )
    )
    upserts, after_upserts, removals, after_removals = [], [], [], []
    for k in range(5):  # one change, then one search, five times: the median of each is printed
        newcomer = IndexEntry(
            f"bench-newcomer-{k}",
            f"bench-newcomer-{k}",
            "g0",
            MATCHER,
            FACE_PART,
            probes[k % len(probes)],
            frozenset({PURPOSE}),
            expires,
        )
        upserts.append(timed(lambda: index.upsert([newcomer])))  # noqa: B023 - run at once, in this iteration
        after_upserts.append(timed(lambda: search(probes[0])))
        removals.append(timed(lambda: index.remove_subject(listed[k])))  # noqa: B023
        after_removals.append(timed(lambda: search(probes[0])))
    upsert_ms, after_upsert = statistics.median(upserts), statistics.median(after_upserts)
    removal_ms, after_removal = statistics.median(removals), statistics.median(after_removals)

    result = IndexBenchResult(
        templates=config.templates,
        searched_templates=int(searched.shape[0]),
        index_ms=index_ms,
        numpy_ms=numpy_ms,
        build_s=build,
        build_cpu_s=build_cpu,
        allocated_bytes_per_template=index.nbytes() / config.templates,
        resident_bytes_per_template=resident,
        upsert_ms=upsert_ms,
        search_after_upsert_ms=after_upsert,
        removal_ms=removal_ms,
        search_after_removal_ms=after_removal,
        scores_for_ms=scores_for_ms,
        same_first_subject=same_first,
    )
    console.print(index_table(result, config))
    return result


def timed(work: Callable[[], object]) -> float:
    """Milliseconds ``work()`` takes."""
    began = time.perf_counter()
    work()
    return (time.perf_counter() - began) * 1000


def percentiles(values: Sequence[float]) -> str:
    """The median and 95th percentile of ``values``, as the tables print them (``p50 / p95``)."""
    return f"{np.percentile(values, 50):.1f} / {np.percentile(values, 95):.1f}"


def figures_table(title: str, rows: Sequence[tuple[str, str]]) -> Table:
    """A run's figures as printed: one row per figure, its value right-aligned."""
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table


def index_table(result: IndexBenchResult, config: IndexBenchConfig) -> Table:
    """The figures of one run, as printed."""
    title = (
        f"1:N face index, {result.templates:,} templates ({result.searched_templates:,} in the gallery "
        f"searched), {config.dim}-d, {config.searches} searches, top {config.limit}, {BLAS_THREADS} BLAS thread"
    )
    resident = result.resident_bytes_per_template
    rows = [
        ("Tessera search p50 / p95, ms", percentiles(result.index_ms)),
        ("numpy matvec + argpartition p50 / p95, ms", percentiles(result.numpy_ms)),
        ("ratio of the p50s (Tessera / numpy)", f"{result.ratio:.2f}"),
        ("same first subject as numpy", f"{result.same_first_subject} of {len(result.index_ms)}"),
        (
            f"build: upsert in batches of {config.batch:,}, s (CPU s)",
            f"{result.build_s:.1f} ({result.build_cpu_s:.1f})",
        ),
        ("allocated by the index per template, bytes", f"{result.allocated_bytes_per_template:.0f}"),
        ("resident growth per template (RSS), bytes", "n/a" if resident is None else f"{resident:.0f}"),
        ("upsert of one template, ms (median of 5)", f"{result.upsert_ms:.1f}"),
        ("search right after it, ms", f"{result.search_after_upsert_ms:.1f}"),
        ("erasure of one subject, ms (median of 5)", f"{result.removal_ms:.1f}"),
        ("search right after it, ms", f"{result.search_after_removal_ms:.1f}"),
        (f"scores_for {config.limit} listed subjects (fusion), ms", f"{result.scores_for_ms:.1f}"),
    ]
    return figures_table(title, rows)
