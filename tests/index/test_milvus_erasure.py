"""Erasure in a real Milvus server: an erased person is never returned, and erased vectors are compacted away.

Milvus Lite ignores consistency levels, so these run on the local server
only (``milvus_server``): with Milvus's default ``Bounded`` reads a deleted
vector can still be returned for about a second after its delete.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tessera.index.base import IndexEntry
from tessera.index.milvus import MilvusConfig, MilvusIndex
from tests.index.test_exact import FACE_MATCHER
from tests.index.test_milvus import test_rotation

pytestmark = pytest.mark.slow  # starts a Milvus server (about 25 s)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def entry(template_id: str, subject_id: str, vector: np.ndarray, gallery: str = "g1") -> IndexEntry[np.ndarray]:
    return IndexEntry(
        template_id=template_id,
        subject_id=subject_id,
        gallery_id=gallery,
        matcher=FACE_MATCHER,
        part=0,
        features=vector,
        purposes=frozenset({"deduplicate"}),
        consent_expires_at=NOW + timedelta(days=365),
    )


def unit_rows(rng: np.random.Generator, count: int) -> np.ndarray:
    rows = rng.normal(size=(count, 128))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def new_index(milvus) -> MilvusIndex:
    config = MilvusConfig(uri=milvus.uri, collection_prefix=milvus.new_prefix())
    return MilvusIndex(FACE_MATCHER, milvus.client, test_rotation, config)


def search(index: MilvusIndex, probe: np.ndarray, limit: int = 5) -> list[str]:
    hits = index.search(probe, gallery_id="g1", part=0, purpose="deduplicate", now=NOW, limit=limit)
    return [hit.subject_id for hit in hits]


def test_an_erased_person_is_never_returned_by_any_later_search(milvus_server):
    rng = np.random.default_rng(11)
    index = new_index(milvus_server)
    crowd = unit_rows(rng, 3000)
    index.upsert([entry(f"t-crowd-{k}", f"crowd-{k}", row) for k, row in enumerate(crowd)])
    returned_after_erasure: list[str] = []
    for round_number in range(12):
        victim = unit_rows(rng, 1)[0]
        subject_id = f"victim-{round_number}"
        index.upsert([entry(f"t-{subject_id}-a", subject_id, victim), entry(f"t-{subject_id}-b", subject_id, victim)])
        assert search(index, victim)[0] == subject_id  # enrolled: found at once
        assert index.remove_subject(subject_id) == 2
        if subject_id in search(index, victim, limit=50):  # the very next search, same thread
            returned_after_erasure.append(f"{subject_id} (same thread)")
        seen_elsewhere: list[list[str]] = []
        reader = threading.Thread(target=lambda v=victim, seen=seen_elsewhere: seen.append(search(index, v, limit=50)))
        reader.start()
        reader.join()
        if subject_id in seen_elsewhere[0]:
            returned_after_erasure.append(f"{subject_id} (another thread)")
    assert returned_after_erasure == []
    assert index.size() == 3000


def test_erased_vectors_are_compacted_out_of_the_segments(milvus_server):
    rng = np.random.default_rng(12)
    index = new_index(milvus_server)
    rows = unit_rows(rng, 200)
    index.upsert([entry(f"t{k}", f"s{k}", row) for k, row in enumerate(rows)])
    client = milvus_server.client
    client.flush(index.collection)  # sealed segments on storage, as after any while in service
    assert index.remove_subject("s7") == 1
    job = index._compaction
    assert job is not None  # the erasure started a compaction
    deadline = time.monotonic() + 60
    while str(client.get_compaction_state(job)) != "Completed":
        assert time.monotonic() < deadline, "the compaction after an erasure did not complete within 60 s"
        time.sleep(0.5)
    # Every row left is one that was not erased; the erased one is in no segment (Strong: all writes applied).
    held = client.query(
        index.collection, filter='template_id != ""', output_fields=["subject_id"], consistency_level="Strong"
    )
    assert len(held) == 199 and "s7" not in {row["subject_id"] for row in held}


def test_the_engine_holds_each_gallery_s_rotation_of_a_template_never_the_template(milvus_server):
    rng = np.random.default_rng(13)
    index = new_index(milvus_server)
    template = unit_rows(rng, 1)[0]
    index.upsert([entry("t-g1", "alice", template, "g1"), entry("t-g2", "alice-elsewhere", template, "g2")])
    stored = {
        row["template_id"]: np.asarray(row["vector"], dtype=np.float64)
        for row in milvus_server.client.query(
            index.collection,
            filter='template_id != ""',
            output_fields=["template_id", "vector"],
            consistency_level="Strong",
        )
    }
    assert abs(float(stored["t-g1"] @ template)) < 0.5 and abs(float(stored["t-g2"] @ template)) < 0.5
    assert abs(float(stored["t-g1"] @ stored["t-g2"])) < 0.5  # the two galleries' copies cannot be linked
    hits = index.search(template, gallery_id="g2", part=0, purpose="deduplicate", now=NOW, limit=1)
    assert hits[0].subject_id == "alice-elsewhere" and abs(hits[0].score - 1.0) < 1e-5  # cosine unchanged
