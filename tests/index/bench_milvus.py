"""Measure the Milvus index beside numpy on the same synthetic face templates (docs/scale.md, "Milvus").

``python -m tests.index.bench_milvus --n 100000`` starts a local Milvus
server (the ``milvus`` package) in a temporary folder, fills one gallery with
``n`` random 128-d unit vectors through :class:`~tessera.index.milvus.MilvusIndex`
(rotated, FLAT), and prints for a series of probes: search p50/p95 for each
consistency level, the same for Milvus Lite, numpy's exact matvec +
argpartition on the same matrix, recall@10 against numpy, and how long a
deleted row stays visible to a ``Bounded`` read without Tessera's filter of
recent erasures.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tessera.index.base import IndexEntry
from tessera.index.milvus import MilvusConfig, MilvusIndex
from tessera.index.rotation import GalleryRotation, orthonormal_rotation
from tests.milvus_fixtures import start_local_server

MATCHER = "face:bench/1"
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def rotation(gallery_id: str, dimension: int) -> GalleryRotation:
    return GalleryRotation(0, orthonormal_rotation(hashlib.sha256(gallery_id.encode()).digest(), dimension))


def fill(index: MilvusIndex, vectors: np.ndarray) -> float:
    started = time.perf_counter()
    for start in range(0, len(vectors), 20_000):
        index.upsert(
            [
                IndexEntry(
                    f"t{k}", f"s{k}", "g1", MATCHER, 0, vectors[k], frozenset({"deduplicate"}), NOW + timedelta(days=9)
                )
                for k in range(start, min(start + 20_000, len(vectors)))
            ]
        )
    return time.perf_counter() - started


def timed(search, probes: np.ndarray) -> tuple[float, float, list[list[str]]]:
    seconds, answers = [], []
    for probe in probes:
        started = time.perf_counter()
        answers.append(search(probe))
        seconds.append(time.perf_counter() - started)
    return float(np.percentile(seconds, 50) * 1000), float(np.percentile(seconds, 95) * 1000), answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=40)
    parser.add_argument("--hnsw", action="store_true", help="also measure an HNSW index (M=16, ef=128)")
    parser.add_argument("--lite", action="store_true", help="also measure Milvus Lite")
    arguments = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(arguments.n, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # Probes near enrolled people (a mate at cosine ~0.8), like real searches.
    mates = rng.choice(arguments.n, arguments.probes, replace=False)
    probes = vectors[mates] + rng.normal(scale=0.04, size=(arguments.probes, 128)).astype(np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)

    def numpy_top10(probe: np.ndarray) -> list[str]:
        scores = vectors @ probe
        best = np.argpartition(-scores, 10)[:10]
        return [f"s{k}" for k in best[np.argsort(-scores[best])]]

    p50, p95, truth = timed(numpy_top10, probes)
    print(f"n={arguments.n}  numpy matvec+argpartition: p50 {p50:.1f} ms  p95 {p95:.1f} ms")

    def report(label: str, index: MilvusIndex) -> None:
        def search(probe: np.ndarray) -> list[str]:
            hits = index.search(probe, gallery_id="g1", part=0, purpose="deduplicate", now=NOW, limit=10)
            return [hit.subject_id for hit in hits]

        search(probes[0])  # warm
        p50, p95, answers = timed(search, probes)
        recall = np.mean([len(set(a) & set(t)) / 10 for a, t in zip(answers, truth)])
        print(f"  {label}: p50 {p50:.1f} ms  p95 {p95:.1f} ms  recall@10 {recall:.3f}")

    with tempfile.TemporaryDirectory() as folder:
        server, uri = start_local_server(Path(folder) / "server")
        try:
            from pymilvus import MilvusClient

            client = MilvusClient(uri=uri)
            index = MilvusIndex(MATCHER, client, rotation, MilvusConfig(uri=uri, collection_prefix="bench"))
            print(f"Milvus server 2.3.5 (FLAT), filled in {fill(index, vectors):.0f} s")
            client.flush(index.collection)
            for level in ("Bounded", "Session", "Strong"):
                index._config = replace(index._config, consistency=level)
                report(f"server, {level}", index)
            stale_reads(index, vectors)
            if arguments.hnsw:
                config = MilvusConfig(
                    uri=uri,
                    collection_prefix="benchhnsw",
                    index_type="HNSW",
                    index_params={"M": 16, "efConstruction": 200},
                    search_params={"ef": 128},
                    consistency="Bounded",
                )
                hnsw = MilvusIndex(MATCHER, client, rotation, config)
                print(f"Milvus server 2.3.5 (HNSW M=16 ef=128), filled in {fill(hnsw, vectors):.0f} s")
                client.flush(hnsw.collection)
                time.sleep(5)
                report("server HNSW, Bounded", hnsw)
        finally:
            server.stop()
        if arguments.lite:
            from pymilvus import MilvusClient

            uri = str(Path(folder) / "lite.db")
            lite = MilvusIndex(MATCHER, MilvusClient(uri=uri), rotation, MilvusConfig(uri=uri))
            print(f"Milvus Lite 2.5.1 (FLAT), filled in {fill(lite, vectors):.0f} s")
            report("lite", lite)
    p50, p95, _ = timed(numpy_top10, probes)
    print(f"n={arguments.n}  numpy again (after): p50 {p50:.1f} ms  p95 {p95:.1f} ms")


def stale_reads(index: MilvusIndex, vectors: np.ndarray, rounds: int = 5) -> None:
    """How long a deleted row is still returned by Bounded reads when Tessera does not filter it out."""
    index._config = replace(index._config, consistency="Bounded", erased_filter_seconds=0.0)
    visible = []
    for k in range(rounds):
        subject = f"s{k}"
        index.remove_subject(subject)
        started = time.perf_counter()
        while True:
            hits = index.search(vectors[k], gallery_id="g1", part=0, purpose="deduplicate", now=NOW, limit=3)
            if subject not in {hit.subject_id for hit in hits}:
                break
        visible.append(time.perf_counter() - started)
    print(
        f"  a deleted row stayed visible to Bounded reads for {min(visible):.2f}-{max(visible):.2f} s "
        f"over {rounds} deletes (Tessera's filter of recent erasures hides it meanwhile)"
    )


if __name__ == "__main__":
    main()
