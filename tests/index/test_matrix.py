"""The columnar face index meets the index contract, and its changes touch only their own rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from tessera.index import matrix as matrix_module
from tessera.index.base import IndexEntry
from tessera.index.exact import ExactIndex
from tessera.index.matrix import EntryColumns, MatrixIndex
from tessera.match.face import CosineScorer
from tessera.match.matchers import build_matchers
from tessera.primitives import unit_vector
from tests.index.contract import GALLERY, PURPOSE, Backend, IndexContract, make_entry
from tests.index.test_exact import COSINE, FACE_MATCHER, random_vector, vector_variant

MATRIX = replace(COSINE, new_index=lambda: MatrixIndex(FACE_MATCHER))


class TestMatrixIndex(IndexContract):
    @pytest.fixture
    def backend(self) -> Backend:
        return MATRIX


# -- what made the old index slow must not come back: changes touch their own rows, fusion only its subjects -----

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def entry(template_id: str, subject_id: str, vector: np.ndarray, **fields: Any) -> IndexEntry[np.ndarray]:
    return make_entry(MATRIX, template_id, subject_id, vector, **fields)


def filled(rng: np.random.Generator, subjects: int, per_subject: int = 2) -> MatrixIndex:
    index = MatrixIndex(FACE_MATCHER)
    index.upsert([entry(f"t{s}-{k}", f"s{s}", random_vector(rng)) for s in range(subjects) for k in range(per_subject)])
    return index


def test_an_upsert_appends_its_rows_and_a_removal_moves_at_most_one_row_per_template():
    rng = np.random.default_rng(1)
    index = filled(rng, 500)
    start = index.counters()
    assert start.rows_written == 1000 and start.rows_moved == 0

    index.upsert([entry("t-new", "s-new", random_vector(rng))])
    index.upsert([entry("t3-0", "s3", random_vector(rng))])  # a replacement: the old row goes, the new one is added
    assert index.counters().rows_written == 1002  # two rows written, not a shard of 1,002 re-packed
    assert index.counters().rows_moved <= 1

    moved = index.counters().rows_moved
    assert index.remove_subject("s7") == 2
    assert index.counters().rows_moved - moved <= 2
    assert index.size() == 999


def test_a_small_upsert_copies_only_the_recent_ids_and_merges_are_amortised(monkeypatch):
    monkeypatch.setattr(matrix_module, "MERGE_MIN", 100)
    rng = np.random.default_rng(8)
    index = filled(rng, 1000, per_subject=1)  # one batch of 1,000: merged at once into the main run
    assert index.counters().id_merges == 2  # template ids and subject ids
    for k in range(100):  # 100 more, one by one: they stay in the recent run (up to 1/8 of 1,000)
        index.upsert([entry(f"t-late{k}", f"s-late{k}", random_vector(rng))])
    assert index.counters().id_merges == 2
    for k in range(100, 130):  # beyond it: one merge per table, not one per upsert
        index.upsert([entry(f"t-late{k}", f"s-late{k}", random_vector(rng))])
    assert index.counters().id_merges == 4
    assert index.size() == 1130 and index.remove_subject("s-late3") == 1 and index.remove_subject("s5") == 1


def test_columns_grow_geometrically_when_templates_arrive_one_by_one():
    rng = np.random.default_rng(2)
    index = MatrixIndex(FACE_MATCHER)
    for k in range(3000):
        index.upsert([entry(f"t{k}", f"s{k}", random_vector(rng))])
    # Three tables (templates, subjects, one shard), each growing by half from 256 rows (8 growths to 3,000), and
    # the two id columns widening as ids grow from 2 to 5 characters (4 each): logarithmic, not one per upsert.
    assert index.counters().reallocations <= 3 * 8 + 2 * 4
    assert index.counters().rows_written == 3000


def test_a_search_scores_its_shard_once_and_scores_for_only_the_listed_subjects():
    rng = np.random.default_rng(3)
    index = filled(rng, 400, per_subject=3)
    index.upsert([entry("t-g2", "s-g2", random_vector(rng), gallery="g2")])
    probe = random_vector(rng)
    before = index.counters().rows_scored
    hits = index.search(probe, gallery_id=GALLERY, part=0, purpose=PURPOSE, now=NOW, limit=5)
    assert index.counters().rows_scored - before == 1200
    before = index.counters().rows_scored
    listed = index.scores_for(
        probe, gallery_id=GALLERY, part=0, subject_ids=[h.subject_id for h in hits[:2]], purpose=PURPOSE, now=NOW
    )
    assert index.counters().rows_scored - before == 6  # their 3 templates each, not a scan of 1,200
    assert listed == hits[:2]


@pytest.mark.parametrize("merge_min", [8, matrix_module.MERGE_MIN], ids=["merging", "recent-only"])
def test_it_answers_like_the_exact_index_through_random_changes(monkeypatch, merge_min):
    """Random subjects (1-4 templates, 3 galleries, mixed consent and expiry), replacements, moves, erasures:
    every search and every ``scores_for`` agrees with :class:`ExactIndex` on the same changes."""
    monkeypatch.setattr(matrix_module, "MERGE_MIN", merge_min)
    rng = np.random.default_rng(4)
    matrix, exact = MatrixIndex(FACE_MATCHER), ExactIndex(FACE_MATCHER, CosineScorer())
    centre = random_vector(rng)
    scopes = [(PURPOSE,), ("verify",), (PURPOSE, "verify")]

    def random_entry(template_id: str, subject_id: str) -> IndexEntry[np.ndarray]:
        return entry(
            template_id,
            subject_id,
            vector_variant(rng, centre, float(rng.uniform(0.1, 0.9))),
            gallery=f"g{rng.integers(3)}",
            purposes=scopes[rng.integers(3)],
            expires=NOW + timedelta(hours=float(rng.normal(0, 24 * 30))),
        )

    batch = [random_entry(f"t{s}-{k}", f"s{s}") for s in range(300) for k in range(int(rng.integers(1, 5)))]
    for step in range(6):
        replaced = [random_entry(f"t{s}-0", f"s{s}") for s in rng.choice(300, 20)]
        erased = [f"s{s}" for s in rng.choice(300, 10)] if step else []
        for index in (matrix, exact):
            index.upsert(batch if step == 0 else replaced)
            for subject_id in erased:
                index.remove_subject(subject_id)
        assert matrix.size() == exact.size()
        probe = vector_variant(rng, centre, 0.3)
        for gallery in ("g0", "g1", "g2"):
            for purpose, when in ((PURPOSE, NOW), ("verify", NOW + timedelta(days=20))):
                for limit, threshold in ((1, None), (7, None), (500, None), (500, 0.5)):
                    arguments = {"gallery_id": gallery, "part": 0, "purpose": purpose, "now": when}
                    mine = matrix.search(probe, limit=limit, threshold=threshold, **arguments)
                    theirs = exact.search(probe, limit=limit, threshold=threshold, **arguments)
                    assert [(h.subject_id, h.template_id) for h in mine] == [
                        (h.subject_id, h.template_id) for h in theirs
                    ]
                    np.testing.assert_allclose([h.score for h in mine], [h.score for h in theirs], atol=1e-5)
                listed = [f"s{s}" for s in rng.choice(300, 40)]
                mine = matrix.scores_for(probe, subject_ids=listed, **arguments)
                theirs = exact.scores_for(probe, subject_ids=listed, **arguments)
                assert [(h.subject_id, h.template_id) for h in mine] == [(h.subject_id, h.template_id) for h in theirs]


@pytest.mark.parametrize("merge_min", [2, matrix_module.MERGE_MIN], ids=["merging", "recent-only"])
def test_colliding_id_hashes_are_told_apart_by_the_ids_themselves(monkeypatch, merge_min):
    """Every id given the same hash: ids are still found, replaced and removed by comparing the ids."""
    monkeypatch.setattr(matrix_module, "_hashes", lambda ids: np.zeros(ids.shape[0], np.uint64))
    monkeypatch.setattr(matrix_module, "MERGE_MIN", merge_min)
    rng = np.random.default_rng(5)
    probe = random_vector(rng)
    index = MatrixIndex(FACE_MATCHER)
    index.upsert([entry(f"t{k}", f"s{k % 5}", vector_variant(rng, probe, 0.1 + 0.05 * k)) for k in range(12)])
    index.upsert([entry("t3", "s3", probe)])  # replaces t3
    assert index.size() == 12
    hits = index.search(probe, gallery_id=GALLERY, part=0, purpose=PURPOSE, now=NOW, limit=10)
    assert [(h.subject_id, h.template_id) for h in hits[:1]] == [("s3", "t3")] and len(hits) == 5
    assert index.remove_subject("s0") == 3 and index.size() == 9
    assert index.remove_subject("s0") == 0
    hits = index.search(probe, gallery_id=GALLERY, part=0, purpose=PURPOSE, now=NOW, limit=10)
    assert sorted(h.subject_id for h in hits) == ["s1", "s2", "s3", "s4"]


def test_an_id_hash_does_not_depend_on_the_width_of_its_column():
    ids = [b"t-1", b"a much longer template id, longer than a uuid's 36 characters"]
    narrow = matrix_module._hashes(np.array(ids[:1]))
    wide = matrix_module._hashes(np.array(ids))
    assert narrow[0] == wide[0] and wide[0] != wide[1]


def test_longer_ids_arriving_later_are_held_whole():
    rng = np.random.default_rng(6)
    index = MatrixIndex(FACE_MATCHER)
    probe = random_vector(rng)
    index.upsert([entry("t", "s", vector_variant(rng, probe, 0.5))])
    long_subject, long_template = "s-" + "x" * 100, "t-" + "é" * 60
    index.upsert([entry(long_template, long_subject, probe)])
    hits = index.search(probe, gallery_id=GALLERY, part=0, purpose=PURPOSE, now=NOW, limit=5)
    assert [(h.subject_id, h.template_id) for h in hits] == [(long_subject, long_template), ("s", "t")]
    assert index.remove_subject(long_subject) == 1 and index.size() == 1


def test_bad_ids_probes_and_too_many_purposes_are_refused_naming_them():
    rng = np.random.default_rng(7)
    index = MatrixIndex(FACE_MATCHER)
    vector = random_vector(rng)
    with pytest.raises(ValueError, match=r"entry\.template_id must be a non-empty string without NUL"):
        index.upsert([entry("t\x00", "s", vector)])
    with pytest.raises(
        ValueError, match=r"entry\.subject_id must be a non-empty string without NUL characters; got ''"
    ):
        index.upsert([entry("t", "", vector)])
    with pytest.raises(ValueError, match=r"entry\.purposes would name 33 distinct purposes; an index tells at most 32"):
        index.upsert([entry("t", "s", vector, purposes=[f"p{k}" for k in range(33)])])
    assert index.size() == 0
    index.upsert([entry("t", "s", vector)])
    with pytest.raises(ValueError, match=r"probe must have length 128 like the indexed embeddings; got \(64,\)"):
        index.search(unit_vector(rng.normal(size=64)), gallery_id=GALLERY, part=0, purpose=PURPOSE, now=NOW, limit=1)
    with pytest.raises(ValueError, match="probe must be a unit vector"):
        index.search(vector * 2, gallery_id=GALLERY, part=0, purpose=PURPOSE, now=NOW, limit=1)


def test_the_instance_indexes_faces_in_columns_and_fingers_exactly():
    matchers = build_matchers(["dlib-resnet-v1/5pt-flip/1"])
    assert all(isinstance(m.index, MatrixIndex) for m in matchers.faces)
    assert all(isinstance(m.index, ExactIndex) for m in matchers.of_modality("finger"))


def test_erased_ids_are_marked_then_compacted_and_can_come_back(monkeypatch):
    """Erasures mark ids in the sorted hash runs (no copy per erasure) and compact them once they are many; an
    erased subject enrolled again is found again, the others are never lost."""
    monkeypatch.setattr(matrix_module, "MERGE_MIN", 16)
    rng = np.random.default_rng(9)
    probe = random_vector(rng)
    index = MatrixIndex(FACE_MATCHER)
    index.upsert([entry(f"t{k}", f"s{k}", vector_variant(rng, probe, 0.1 + k / 200)) for k in range(100)])
    for k in range(0, 60, 2):  # 30 erasures, one by one: marks, then compactions
        assert index.remove_subject(f"s{k}") == 1
    index.upsert([entry(f"t{k}", f"s{k}", vector_variant(rng, probe, 0.05)) for k in (0, 2, 4)])
    hits = index.search(probe, gallery_id=GALLERY, part=0, purpose=PURPOSE, now=NOW, limit=100)
    expected = {f"s{k}" for k in range(100) if k >= 60 or k % 2 or k in (0, 2, 4)}
    assert index.size() == len(expected) == 73 and {hit.subject_id for hit in hits} == expected
    assert [index.remove_subject(f"s{k}") for k in (0, 1, 2, 58)] == [1, 1, 1, 0]


# -- a bulk load as columns (the start from the index snapshot) ----------------------------------------------------


def as_columns(entries: list[IndexEntry[np.ndarray]]) -> EntryColumns:
    """``entries`` as the columns of a bulk load (what the index snapshot keeps)."""
    scopes: dict[frozenset[str], int] = {}
    return EntryColumns(
        template_ids=np.array([e.template_id.encode() for e in entries]),
        subject_ids=np.array([e.subject_id.encode() for e in entries]),
        gallery_ids=np.array([e.gallery_id.encode() for e in entries]),
        parts=np.array([e.part for e in entries], np.int16),
        vectors=np.array([e.features for e in entries], np.float32),
        expires_us=np.array([int(e.consent_expires_at.timestamp() * 1_000_000) for e in entries], np.int64),
        scopes=np.array([scopes.setdefault(e.purposes, len(scopes)) for e in entries], np.int32),
        purposes=tuple(scopes),
    )


def test_a_bulk_load_of_columns_answers_like_the_same_upsert_of_entries():
    """Random subjects over 3 galleries with mixed consent and expiry, loaded as columns in two batches (the second
    replacing some templates and repeating one id, the last winning): every search and ``scores_for`` agrees with
    an index given the same entries one object each."""
    rng = np.random.default_rng(11)
    centre = random_vector(rng)
    scopes = [(PURPOSE,), ("verify",), (PURPOSE, "verify")]

    def random_entry(template_id: str, subject_id: str) -> IndexEntry[np.ndarray]:
        return entry(
            template_id,
            subject_id,
            vector_variant(rng, centre, float(rng.uniform(0.1, 0.9))),
            gallery=f"g{rng.integers(3)}",
            purposes=scopes[rng.integers(3)],
            expires=NOW + timedelta(hours=float(rng.normal(0, 24 * 30))),
        )

    first = [random_entry(f"t{s}-{k}", f"s{s}") for s in range(400) for k in range(int(rng.integers(1, 4)))]
    second = [random_entry(f"t{s}-0", f"s{s}") for s in rng.choice(400, 30)] + [random_entry("t-x", "s-x")] * 2
    second[-1] = random_entry("t-x", "s-x")
    by_entries, by_columns = MatrixIndex(FACE_MATCHER), MatrixIndex(FACE_MATCHER)
    for batch in (first, second):
        by_entries.upsert(batch)
        by_columns.upsert_columns(as_columns(batch))
    assert by_columns.size() == by_entries.size() == len({e.template_id for e in first + second})
    probe = vector_variant(rng, centre, 0.3)
    for gallery in ("g0", "g1", "g2"):
        for purpose, when in ((PURPOSE, NOW), ("verify", NOW + timedelta(days=20))):
            arguments = {"gallery_id": gallery, "part": 0, "purpose": purpose, "now": when}
            assert by_columns.search(probe, limit=50, **arguments) == by_entries.search(probe, limit=50, **arguments)
            listed = [f"s{s}" for s in rng.choice(400, 40)] + ["s-x"]
            assert by_columns.scores_for(probe, subject_ids=listed, **arguments) == by_entries.scores_for(
                probe, subject_ids=listed, **arguments
            )
    assert by_columns.remove_subject("s-x") == 1 and by_columns.size() == by_entries.size() - 1


def test_a_bulk_load_with_a_bad_column_is_refused_naming_it_and_applies_nothing():
    rng = np.random.default_rng(12)
    good = as_columns([entry(f"t{k}", f"s{k}", random_vector(rng)) for k in range(5)])
    index = MatrixIndex(FACE_MATCHER)
    cases = [
        (replace(good, subject_ids=good.subject_ids[:4]), r"subject_ids must have shape \(5,\)"),
        (replace(good, template_ids=np.array(["t0", "t1", "t2", "t3", "t4"])), "template_ids must be a column of"),
        (replace(good, gallery_ids=np.array([b"g", b"g", b"", b"g", b"g"])), "gallery_ids must be non-empty"),
        (replace(good, subject_ids=np.array([b"s0", b"s\x001", b"s2", b"s3", b"s4"])), "without NUL"),
        (replace(good, vectors=good.vectors * 2), "must be a unit vector"),
        (replace(good, vectors=good.vectors.astype(np.float64)), r"vectors must be float32 of shape \(5, d\)"),
        (replace(good, scopes=good.scopes + 1), r"scopes must index purposes \(0 to 0\)"),
        (replace(good, parts=good.parts - 1), "parts must be at least 0; got -1"),
    ]
    for columns, message in cases:
        with pytest.raises(ValueError, match=message):
            index.upsert_columns(columns)
    assert index.size() == 0
    index.upsert_columns(good)
    assert index.size() == 5
