from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tessera.index.base import IndexEntry
from tessera.index.exact import ExactIndex
from tessera.primitives import unit_vector

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LATER = NOW + timedelta(days=365)


def entry(template, subject, vector, gallery="g1", purposes=("deduplicate",), expires=LATER):
    return IndexEntry(template, subject, gallery, "face", unit_vector(vector), frozenset(purposes), expires)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def brute_force(vectors: dict[str, np.ndarray], probe: np.ndarray) -> list[tuple[str, float]]:
    scores = {subject: float(unit_vector(v) @ probe) for subject, v in vectors.items()}
    return sorted(scores.items(), key=lambda item: -item[1])


def test_search_equals_brute_force(rng):
    index = ExactIndex()
    vectors = {f"s{i}": rng.normal(size=128) for i in range(300)}
    for subject, vector in vectors.items():
        index.add(entry(f"t-{subject}", subject, vector))
    probe = unit_vector(vectors["s42"] + rng.normal(scale=0.3, size=128))
    result = index.search(probe, gallery_id="g1", modality="face", purpose="deduplicate", now=NOW, limit=5)
    expected = brute_force(vectors, probe)[:5]
    assert [hit.subject_id for hit in result.hits] == [subject for subject, _ in expected]
    assert result.hits[0].subject_id == "s42"
    np.testing.assert_allclose([hit.score for hit in result.hits], [score for _, score in expected], rtol=1e-5)
    assert result.searched_subjects == 300


def test_best_template_per_subject_and_threshold(rng):
    index = ExactIndex()
    base = rng.normal(size=128)
    index.add(entry("t1", "alice", base))
    index.add(entry("t2", "alice", base + rng.normal(scale=0.5, size=128)))
    index.add(entry("t3", "bob", rng.normal(size=128)))
    result = index.search(
        unit_vector(base), gallery_id="g1", modality="face", purpose="deduplicate", now=NOW, threshold=0.5
    )
    assert [(hit.subject_id, hit.template_id) for hit in result.hits] == [("alice", "t1")]
    assert result.searched_subjects == 2


def test_filters_by_gallery_purpose_and_expiry(rng):
    index = ExactIndex()
    vector = rng.normal(size=128)
    index.add(entry("t1", "in-gallery", vector))
    index.add(entry("t2", "other-gallery", vector, gallery="g2"))
    index.add(entry("t3", "verify-only", vector, purposes=("verify",)))
    index.add(entry("t4", "expired", vector, expires=NOW - timedelta(seconds=1)))
    result = index.search(unit_vector(vector), gallery_id="g1", modality="face", purpose="deduplicate", now=NOW)
    assert [hit.subject_id for hit in result.hits] == ["in-gallery"]
    assert result.searched_subjects == 1
    assert index.searchable_subjects(gallery_id="g1", modality="face", purpose="deduplicate", now=NOW) == 1


def test_removal_takes_effect_at_once(rng):
    index = ExactIndex()
    vector = rng.normal(size=128)
    index.add(entry("t1", "alice", vector))
    index.add(entry("t2", "alice", -vector))
    index.add(entry("t3", "bob", rng.normal(size=128)))
    assert index.remove_subject("alice") == 2
    assert index.remove_subject("alice") == 0
    result = index.search(unit_vector(vector), gallery_id="g1", modality="face", purpose="deduplicate", now=NOW)
    assert [hit.subject_id for hit in result.hits] == ["bob"]
    assert index.size() == 1


def test_empty_gallery_and_bad_arguments(rng):
    index = ExactIndex()
    empty = index.search(
        unit_vector(rng.normal(size=128)), gallery_id="none", modality="face", purpose="deduplicate", now=NOW
    )
    assert empty.hits == [] and empty.searched_subjects == 0
    index.add(entry("t1", "alice", rng.normal(size=128)))
    with pytest.raises(ValueError, match="shape"):
        index.add(entry("t2", "bob", rng.normal(size=64)))
    with pytest.raises(ValueError, match="limit must be at least 1"):
        index.search(
            unit_vector(rng.normal(size=128)), gallery_id="g1", modality="face", purpose="deduplicate", now=NOW, limit=0
        )


def test_score_all_gives_every_eligible_subject_its_best_score(rng):
    index = ExactIndex()
    vectors = {f"s{i}": rng.normal(size=128) for i in range(40)}
    for subject, vector in vectors.items():
        index.add(entry(f"t-{subject}", subject, vector))
    index.add(entry("t-s0-b", "s0", vectors["s0"] + rng.normal(scale=2.0, size=128)))  # a second, worse reference
    index.add(entry("t-out", "not-consented", vectors["s1"], purposes=("verify",)))
    probe = unit_vector(vectors["s0"])
    every = index.score_all(probe, gallery_id="g1", modality="face", purpose="deduplicate", now=NOW)
    assert len(every.hits) == every.searched_subjects == 40  # no limit, no threshold: all of them
    assert every.hits[0].subject_id == "s0" and every.hits[0].template_id == "t-s0"  # best reference per subject
    assert "not-consented" not in {hit.subject_id for hit in every.hits}
    np.testing.assert_allclose(
        [hit.score for hit in every.hits], [score for _, score in brute_force(vectors, probe)], rtol=1e-5
    )
    top = index.search(probe, gallery_id="g1", modality="face", purpose="deduplicate", now=NOW, limit=5)
    assert top.hits == every.hits[:5]  # search keeps its behaviour
