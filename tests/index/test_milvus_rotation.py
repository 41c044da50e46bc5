"""Renewing a gallery's rotation in Milvus: every score unchanged, the stored vectors all new, other galleries kept.

Run on Milvus Lite and on a real local Milvus server (slow).
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import pytest

from tessera.index.milvus import MilvusConfig, MilvusIndex
from tessera.index.rotation import GalleryRotation, orthonormal_rotation
from tests.index.test_exact import FACE_MATCHER
from tests.index.test_milvus_erasure import NOW, entry, unit_rows


@functools.lru_cache(maxsize=64)
def rotation_of(name: str, renewal: int, dimension: int = 128) -> GalleryRotation:
    return GalleryRotation(
        renewal, orthonormal_rotation(hashlib.sha256(f"{name}|{renewal}".encode()).digest(), dimension)
    )


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.slow)])
def milvus(request):
    return request.getfixturevalue("milvus_lite" if request.param == "lite" else "milvus_server")


def stored_vectors(index: MilvusIndex, client, gallery_filter: str) -> dict[str, np.ndarray]:
    rows = client.query(
        index.collection, filter=gallery_filter, output_fields=["template_id", "vector"], consistency_level="Strong"
    )
    return {row["template_id"]: np.asarray(row["vector"], dtype=np.float64) for row in rows}


def scores(index: MilvusIndex, probes: np.ndarray, gallery: str) -> list[list[tuple[str, str, float]]]:
    return [
        [
            (hit.subject_id, hit.template_id, hit.score)
            for hit in index.search(probe, gallery_id=gallery, part=0, purpose="deduplicate", now=NOW, limit=20)
        ]
        for probe in probes
    ]


def test_a_renewal_moves_every_row_to_the_new_rotation_and_changes_no_score(milvus):
    rng = np.random.default_rng(21)
    in_use = {"g1": rotation_of("g1", 0), "g2": rotation_of("g2", 0)}
    config = MilvusConfig(uri=milvus.uri, collection_prefix=milvus.new_prefix())
    index = MilvusIndex(FACE_MATCHER, milvus.client, lambda gallery, _d: in_use[gallery], config)
    people = unit_rows(rng, 600)
    index.upsert([entry(f"t{k}", f"s{k // 2}", row, "g1") for k, row in enumerate(people)])  # 2 per subject
    index.upsert([entry(f"u{k}", f"r{k}", row, "g2") for k, row in enumerate(unit_rows(rng, 50))])
    probes = people[::60] + rng.normal(scale=0.02, size=(10, 128))
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    before = scores(index, probes, "g1")
    g2_before = stored_vectors(index, milvus.client, 'gallery_id == "g2"')

    renewed = rotation_of("g1", 1)
    assert index.renew_rotation("g1", in_use["g1"], renewed) == 600
    in_use["g1"] = renewed

    after = scores(index, probes, "g1")
    assert [[(s, t) for s, t, _ in answer] for answer in after] == [[(s, t) for s, t, _ in answer] for answer in before]
    np.testing.assert_allclose([[x for *_, x in a] for a in after], [[x for *_, x in a] for a in before], atol=1e-5)
    # Each stored vector is now the template under the new rotation, and no row is left under the old one.
    moved = stored_vectors(index, milvus.client, 'gallery_id == "g1#1"')
    assert len(moved) == 600 and stored_vectors(index, milvus.client, 'gallery_id == "g1"') == {}
    expected = people @ renewed.matrix.T
    np.testing.assert_allclose(np.stack([moved[f"t{k}"] for k in range(600)]), expected, atol=1e-5)
    assert index.size() == 650
    # The other gallery is untouched.
    g2_after = stored_vectors(index, milvus.client, 'gallery_id == "g2"')
    assert g2_after.keys() == g2_before.keys()
    assert all(np.array_equal(g2_after[t], g2_before[t]) for t in g2_before)

    # A process still holding the old rotation finds nothing in g1 (rows are named by rotation): no wrong score.
    stale = MilvusIndex(FACE_MATCHER, milvus.client, lambda gallery, _d: rotation_of(gallery, 0), config)
    assert stale.search(probes[0], gallery_id="g1", part=0, purpose="deduplicate", now=NOW, limit=5) == []
    # New enrolments go in under the new rotation and are found with it.
    index.upsert([entry("t-new", "newcomer", people[0], "g1")])
    hits = index.search(people[0], gallery_id="g1", part=0, purpose="deduplicate", now=NOW, limit=2)
    assert {hit.subject_id for hit in hits} == {"newcomer", "s0"} and hits[0].score == pytest.approx(1.0, abs=1e-5)


def test_a_renewal_refuses_the_same_rotation_and_a_wrong_shape(milvus):
    config = MilvusConfig(uri=milvus.uri, collection_prefix=milvus.new_prefix())
    index = MilvusIndex(FACE_MATCHER, milvus.client, lambda gallery, _d: rotation_of(gallery, 0), config)
    index.upsert([entry("t1", "s1", unit_rows(np.random.default_rng(3), 1)[0])])
    with pytest.raises(ValueError, match="new must be another renewal than old; both are 0"):
        index.renew_rotation("g1", rotation_of("g1", 0), rotation_of("g1", 0))
    with pytest.raises(ValueError, match=r"rotations must be \(128, 128\).*got \(64, 64\)"):
        index.renew_rotation("g1", rotation_of("g1", 0, 64), rotation_of("g1", 1, 64))
