"""``tessera bench index --backend milvus://...``: the Milvus face index timed beside numpy on the same matrix.

The same synthetic gallery as the in-process figures (:func:`tessera.bench_index.synthetic_gallery`: unit
vectors around a shared mean and a few dozen clusters, mates ~0.9, impostors ~0.35, as a face model's
embeddings of LFW score) is written through :class:`~tessera.index.milvus.MilvusIndex` (rotated, as the
service writes it) and searched probe by probe, each probe also through plain numpy (one matrix-vector
product and a partial selection) on the same gallery's rows, so that both share the machine's state.

Printed: search p50/p95 at each consistency level beside numpy's, recall@10 against the exact answer (each
subject's best template, computed with numpy), the fill time, the time the engine takes to load the
collection (what a restarted query node spends before it answers), the server's resident memory growth per
template (when its process can be read: ``--server-pid``, or Milvus Lite's own child process), an erasure
with the search right after it, and (on a server) how long an erased subject stays visible to ``Bounded`` reads
when Tessera's filter of recent erasures is off.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from tessera.bench_index import (
    MATCHER,
    PURPOSE,
    IndexBenchConfig,
    SyntheticGallery,
    bench_probes,
    figures_table,
    numpy_search,
    percentiles,
    synthetic_entries,
    synthetic_gallery,
    timed,
)
from tessera.index.base import FACE_PART
from tessera.index.milvus import MilvusConfig, MilvusIndex, milvus_config, open_milvus_client
from tessera.index.rotation import GalleryRotation, orthonormal_rotation

RECALL_AT = 10
"""Recall is measured on the first this-many subjects of each answer."""
CONSISTENCY_LEVELS = ("Session", "Bounded", "Strong")
"""Timed in this order (Tessera reads at ``Session``; ``Strong`` is the price of waiting for every write)."""


@dataclass(frozen=True)
class MilvusBenchConfig:
    """Which Milvus deployment and index ``tessera bench index --backend`` measures.

    Attributes
    ----------
    backend : str
        A ``TESSERA_INDEX`` value: ``milvus://host:port`` or ``milvus-lite:PATH``.
    index_type : str
        ``FLAT`` (exact) or ``HNSW``.
    hnsw_m, hnsw_ef_construction, hnsw_ef : int
        HNSW's graph degree, build-time and search-time candidate lists (``ef`` >= the rows a search asks for).
    server_pid : int or None
        The server's process, whose resident memory growth is reported (Milvus Lite's is found by itself).
    prefix : str
        Collection prefix of the run (a fresh collection: an existing one of that prefix is dropped first).
    """

    backend: str
    index_type: str = "FLAT"
    hnsw_m: int = 16
    hnsw_ef_construction: int = 200
    hnsw_ef: int = 512
    server_pid: int | None = None
    prefix: str = "tesserabench"

    def index_config(self) -> MilvusConfig:
        """The :class:`MilvusConfig` of the measured index."""
        base = replace(milvus_config(self.backend), collection_prefix=self.prefix)
        if self.index_type == "FLAT":
            return base
        if self.index_type == "HNSW":
            if base.is_lite:
                raise ValueError("Milvus Lite builds no HNSW index (FLAT, IVF_FLAT and AUTOINDEX only): use a server")
            return replace(
                base,
                index_type="HNSW",
                index_params={"M": self.hnsw_m, "efConstruction": self.hnsw_ef_construction},
                search_params={"ef": self.hnsw_ef},
            )
        raise ValueError(f"index_type must be 'FLAT' or 'HNSW'; got {self.index_type!r}")


@dataclass(frozen=True)
class MilvusBenchResult:
    """Milliseconds per search by consistency level beside numpy's, recall, fill, load and memory figures."""

    templates: int
    searched_templates: int
    engine: str
    milvus_ms: dict[str, list[float]]
    numpy_ms: list[float]
    recall_at_10: float
    same_first_subject: int
    fill_s: float
    flush_and_index_s: float
    load_s: float
    server_resident_bytes_per_template: float | None
    removal_ms: float
    search_after_removal_ms: float
    erased_returned: int
    stale_read_s: list[float]


@functools.lru_cache(maxsize=64)
def bench_rotation(gallery_id: str, dimension: int) -> GalleryRotation:
    """A fixed rotation per gallery (the service derives a secret one in the vault; the cost is the same)."""
    return GalleryRotation(0, orthonormal_rotation(gallery_id.encode().ljust(32, b"\0")[:32], dimension))


def resident_bytes_of(pid: int) -> int | None:
    """Resident memory of process ``pid`` and its children (Linux ``/proc``), or None where it cannot be read."""
    total, found = 0, False
    for candidate in [pid, *_children(pid)]:
        status = Path(f"/proc/{candidate}/status")
        try:
            lines = status.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
                found = True
    return total if found else None


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux ``/proc``; empty elsewhere)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def exact_subjects(gallery: SyntheticGallery, matrix: np.ndarray, rows: np.ndarray, probe: np.ndarray) -> list[str]:
    """The :data:`RECALL_AT` best subjects by their best template, exactly (numpy over every row searched)."""
    scores = matrix @ probe
    candidates = np.argpartition(-scores, 4 * RECALL_AT)[: 4 * RECALL_AT + 1]  # a subject holds at most 4 rows
    best: list[str] = []
    for row in candidates[np.argsort(-scores[candidates], kind="stable")]:
        subject = str(uuid.UUID(int=int(gallery.subjects[rows[row]])))
        if subject not in best:
            best.append(subject)
    return best[:RECALL_AT]


def run_milvus_bench(
    config: IndexBenchConfig, milvus: MilvusBenchConfig, console: Console | None = None
) -> MilvusBenchResult:
    """Fill a fresh Milvus collection with ``config``'s synthetic gallery and time it beside numpy; prints a table."""
    console = console or Console()
    gallery = synthetic_gallery(config)
    index_config = milvus.index_config()
    client = open_milvus_client(index_config.uri)
    index = MilvusIndex(MATCHER, client, bench_rotation, index_config)
    if client.has_collection(index.collection):
        client.drop_collection(index.collection)
        index = MilvusIndex(MATCHER, client, bench_rotation, index_config)
    resident_before = _server_resident(milvus, index_config)

    now = datetime.now(UTC)
    expires = now + timedelta(days=365)
    began = time.perf_counter()
    for start in range(0, config.templates, config.batch):
        index.upsert(list(synthetic_entries(gallery, expires, start, min(start + config.batch, config.templates))))
    fill_s = time.perf_counter() - began
    began = time.perf_counter()
    client.flush(index.collection)
    _wait_for_index(client, index.collection)
    flush_and_index_s = time.perf_counter() - began
    began = time.perf_counter()
    if not index_config.is_lite:
        client.release_collection(index.collection)
    client.load_collection(index.collection)
    load_s = time.perf_counter() - began

    searched = np.flatnonzero(gallery.galleries == 0)
    matrix = np.ascontiguousarray(gallery.vectors[searched])
    probes = bench_probes(config, gallery, searched)

    def search(probe: np.ndarray) -> list[str]:
        hits = index.search(probe, gallery_id="g0", part=FACE_PART, purpose=PURPOSE, now=now, limit=config.limit)
        return [hit.subject_id for hit in hits]

    search(probes[0])  # the first search after a load pays for warming caches
    levels = ("Session",) if index_config.is_lite else CONSISTENCY_LEVELS  # Lite ignores consistency levels
    milvus_ms: dict[str, list[float]] = {level: [] for level in levels}
    numpy_ms: list[float] = []
    recalls: list[float] = []
    same_first = 0
    for probe in probes:
        began = time.perf_counter()
        numpy_search(matrix, probe, config.limit)
        numpy_ms.append((time.perf_counter() - began) * 1000)
        truth = exact_subjects(gallery, matrix, searched, probe)
        for level in levels:
            index._config = replace(index_config, consistency=level)
            began = time.perf_counter()
            found = search(probe)
            milvus_ms[level].append((time.perf_counter() - began) * 1000)
            if level == levels[0]:
                recalls.append(len(set(found[:RECALL_AT]) & set(truth)) / RECALL_AT)
                same_first += found[0] == truth[0]
    index._config = index_config

    resident_after = _server_resident(milvus, index_config)
    resident = (
        None
        if resident_before is None or resident_after is None
        else (resident_after - resident_before) / config.templates
    )

    removals, after_removals, erased_returned = [], [], 0
    for probe in probes[:5]:  # erase the first subject found, then search for them at once
        victim = search(probe)[0]
        removals.append(timed(lambda: index.remove_subject(victim)))  # noqa: B023 - run at once
        began = time.perf_counter()
        erased_returned += victim in search(probe)
        after_removals.append((time.perf_counter() - began) * 1000)
    stale_read_s = [] if index_config.is_lite else stale_reads(index, index_config, probes[5:10], search)

    result = MilvusBenchResult(
        templates=config.templates,
        searched_templates=int(searched.shape[0]),
        engine=_engine(index_config, milvus),
        milvus_ms=milvus_ms,
        numpy_ms=numpy_ms,
        recall_at_10=float(np.mean(recalls)),
        same_first_subject=same_first,
        fill_s=fill_s,
        flush_and_index_s=flush_and_index_s,
        load_s=load_s,
        server_resident_bytes_per_template=resident,
        removal_ms=statistics.median(removals),
        search_after_removal_ms=statistics.median(after_removals),
        erased_returned=erased_returned,
        stale_read_s=stale_read_s,
    )
    console.print(milvus_table(result, config))
    return result


def stale_reads(
    index: MilvusIndex, index_config: MilvusConfig, probes: np.ndarray, search: Callable[[np.ndarray], list[str]]
) -> list[float]:
    """Seconds a subject erased without Tessera's filter of recent erasures is still returned by ``Bounded``
    reads (Milvus acknowledges a delete before its query nodes apply it): one figure per probe's first subject."""
    index._config = replace(index_config, consistency="Bounded", erased_filter_seconds=0.0)
    visible = []
    try:
        for probe in probes:
            victim = search(probe)[0]
            index.remove_subject(victim)
            began = time.perf_counter()
            while victim in search(probe) and time.perf_counter() - began < 60.0:
                pass
            visible.append(time.perf_counter() - began)
    finally:
        index._config = index_config
    return visible


def _server_resident(milvus: MilvusBenchConfig, index_config: MilvusConfig) -> int | None:
    """The engine's resident memory: the given server process, or Milvus Lite's child processes of this one."""
    if milvus.server_pid is not None:
        return resident_bytes_of(milvus.server_pid)
    if not index_config.is_lite:
        return None
    sizes = [resident_bytes_of(child) for child in _children(os.getpid())]
    known = [size for size in sizes if size is not None]
    return sum(known) if known else None


def _wait_for_index(client: Any, collection: str, timeout_s: float = 3600.0) -> None:
    """Until the vector index covers every row (an ANN index is built after the flush, in the background)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        described = client.describe_index(collection, index_name="vector")
        if int(described.get("pending_index_rows", 0)) == 0 and described.get("state", "Finished") == "Finished":
            return
        time.sleep(1.0)
    raise TimeoutError(f"the index of {collection} was not built within {timeout_s:.0f} s")


def _engine(index_config: MilvusConfig, milvus: MilvusBenchConfig) -> str:
    engine = "Milvus Lite" if index_config.is_lite else "Milvus server"
    if index_config.index_type == "HNSW":
        return f"{engine}, HNSW M={milvus.hnsw_m} efConstruction={milvus.hnsw_ef_construction} ef={milvus.hnsw_ef}"
    return f"{engine}, FLAT"


def milvus_table(result: MilvusBenchResult, config: IndexBenchConfig) -> Table:
    """The figures of one Milvus run, as printed."""
    title = (
        f"1:N face index in {result.engine}: {result.templates:,} templates ({result.searched_templates:,} in "
        f"the gallery searched), {config.dim}-d, {config.searches} searches, top {config.limit}"
    )
    numpy_p50 = statistics.median(result.numpy_ms)
    rows = [("numpy matvec + argpartition p50 / p95, ms (same probes, alternated)", percentiles(result.numpy_ms))]
    for level, times in result.milvus_ms.items():
        rows.append((f"Milvus search, {level} reads, p50 / p95, ms", percentiles(times)))
        rows.append((f"ratio of the p50s (Milvus {level} / numpy)", f"{statistics.median(times) / numpy_p50:.2f}"))
    resident = result.server_resident_bytes_per_template
    rows += [
        (f"recall@{RECALL_AT} against the exact answer", f"{result.recall_at_10:.3f}"),
        ("same first subject as the exact answer", f"{result.same_first_subject} of {config.searches}"),
        (f"fill: upsert in batches of {config.batch:,}, s", f"{result.fill_s:.1f}"),
        ("flush and index build, s", f"{result.flush_and_index_s:.1f}"),
        ("load of the collection (start-up of a query node), s", f"{result.load_s:.1f}"),
        ("server resident growth per template (RSS), bytes", "n/a" if resident is None else f"{resident:.0f}"),
        ("erasure of one subject, ms (median of 5)", f"{result.removal_ms:.1f}"),
        ("search right after it, ms", f"{result.search_after_removal_ms:.1f}"),
        ("erased subjects returned by that search", f"{result.erased_returned} of 5"),
    ]
    if result.stale_read_s:
        rows.append(
            (
                f"unfiltered: erased subject still returned by Bounded reads, s ({len(result.stale_read_s)} erasures)",
                f"{min(result.stale_read_s):.2f} - {max(result.stale_read_s):.2f}",
            )
        )
    return figures_table(title, rows)
