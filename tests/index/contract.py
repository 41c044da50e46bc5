"""The index contract (:mod:`tessera.index.base`) as tests, for every index backend and matcher.

A backend proves it meets the contract by running :class:`IndexContract`
with a :class:`Backend`: subclass it in a test module and give it a
``backend`` fixture (see ``tests/index/test_exact.py``). A Milvus or pgvector
adapter adds one factory, nothing else.

Scores are checked against the backend's own pairwise reference score (for
the exact index: the cosine of two unit vectors, :func:`tessera.match.mcc.mcc_score`
for fingers); rankings against a full scan of that reference. Features come
from a generator with a fixed seed, and graded likeness comes from
``Backend.variant``, so rankings have clear gaps between subjects.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from tessera.index.base import Hit, IndexEntry, SearchIndex

NOW = datetime(2026, 6, 1, tzinfo=UTC)
LATER = NOW + timedelta(days=365)
PURPOSE = "deduplicate"
GALLERY = "g1"


@dataclass(frozen=True)
class Backend:
    """One index backend for one matcher, and how to make features its matcher compares.

    Attributes
    ----------
    new_index : callable
        Returns a new, empty index of ``matcher``.
    matcher : str
        The matcher key of the index.
    foreign_matcher : str
        Another matcher's key, whose entries the index must refuse.
    parts : tuple of int
        Parts an entry of ``matcher`` may have (at least one; two to test part isolation).
    invalid_part : int
        A part no entry of ``matcher`` may have.
    features : callable
        ``features(rng)``: features of a random template.
    variant : callable
        ``variant(rng, features, amount)``: features of a template like ``features``, ``amount`` from 0
        (the same) to 1 (unrelated), so that the more changed, the lower the score against ``features``.
    exact_tie : callable
        ``exact_tie(rng)``: a probe, and features that score *exactly* the same against it in every row
        of every shard (equal floating-point scores from any position are not a given: BLAS kernels
        round edge rows differently), to test the tie rule.
    malformed : callable
        ``malformed(rng)``: features the matcher cannot score, each of which the index must refuse.
    reference_score : callable
        ``reference_score(probe, features)``: the score a full scan gives.
    atol : float
        How far an index score may be from the reference.
    """

    new_index: Callable[[], SearchIndex[Any]]
    matcher: str
    foreign_matcher: str
    parts: tuple[int, ...]
    invalid_part: int
    features: Callable[[np.random.Generator], Any]
    variant: Callable[[np.random.Generator, Any, float], Any]
    exact_tie: Callable[[np.random.Generator], tuple[Any, Any]]
    malformed: Callable[[np.random.Generator], list[Any]]
    reference_score: Callable[[Any, Any], float]
    atol: float = 1e-5


def make_entry(
    backend: Backend,
    template_id: str,
    subject_id: str,
    features: Any,
    *,
    gallery: str = GALLERY,
    part: int | None = None,
    purposes: Sequence[str] = (PURPOSE,),
    expires: datetime = LATER,
    matcher: str | None = None,
) -> IndexEntry[Any]:
    return IndexEntry(
        template_id=template_id,
        subject_id=subject_id,
        gallery_id=gallery,
        matcher=matcher or backend.matcher,
        part=backend.parts[0] if part is None else part,
        features=features,
        purposes=frozenset(purposes),
        consent_expires_at=expires,
    )


def full_scan(backend: Backend, probe: Any, templates: dict[str, dict[str, Any]]) -> list[tuple[str, str, float]]:
    """(subject, best template, score) of every subject by the reference score: highest first, ties by ids."""
    best = []
    for subject_id, features_by_template in templates.items():
        scored = sorted(
            (-backend.reference_score(probe, features), template_id)
            for template_id, features in features_by_template.items()
        )
        best.append((scored[0][0], subject_id, scored[0][1]))
    return [(subject_id, template_id, -negative) for negative, subject_id, template_id in sorted(best)]


def assert_hits(backend: Backend, hits: list[Hit], expected: list[tuple[str, str, float]]) -> None:
    assert [(hit.subject_id, hit.template_id) for hit in hits] == [(s, t) for s, t, _ in expected]
    np.testing.assert_allclose([hit.score for hit in hits], [score for _, _, score in expected], atol=backend.atol)


def search(index: SearchIndex[Any], probe: Any, *, part: int, **overrides: Any) -> list[Hit]:
    """``index.search`` in gallery :data:`GALLERY` for :data:`PURPOSE` at :data:`NOW`, 100 subjects at most."""
    arguments: dict[str, Any] = {"gallery_id": GALLERY, "purpose": PURPOSE, "now": NOW, "limit": 100, **overrides}
    return index.search(probe, part=part, **arguments)


def guarded(problems: list[str], work: Callable[[], None]) -> Callable[[], None]:
    """``work``, with any exception it raises in its thread recorded in ``problems`` instead of lost."""

    def run() -> None:
        try:
            work()
        except Exception as error:  # whatever went wrong in the thread is reported by the test
            problems.append(f"{type(error).__name__}: {error}")

    return run


class IndexContract:
    """Every promise of :class:`tessera.index.base.SearchIndex`; subclasses provide a ``backend`` fixture."""

    @pytest.fixture
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(7)

    @pytest.fixture
    def graded(self, backend: Backend, rng: np.random.Generator) -> tuple[Any, dict[str, dict[str, Any]]]:
        """A probe and 24 subjects of one template each, from nearly the probe to unrelated, stored out of order."""
        probe = backend.features(rng)
        amounts = np.linspace(0.05, 0.8, 24)
        order = rng.permutation(24)
        return probe, {f"s{i:02d}": {f"t-s{i:02d}": backend.variant(rng, probe, float(amounts[i]))} for i in order}

    def fill(self, backend: Backend, templates: dict[str, dict[str, Any]], **fields: Any) -> SearchIndex[Any]:
        index = backend.new_index()
        index.upsert(
            [
                make_entry(backend, template_id, subject_id, features, **fields)
                for subject_id, features_by_template in templates.items()
                for template_id, features in features_by_template.items()
            ]
        )
        return index

    # -- search: order, limit, threshold, ties -------------------------------------------------------------

    def test_search_ranks_every_eligible_subject_like_a_full_scan(self, backend, graded):
        probe, templates = graded
        index = self.fill(backend, templates)
        expected = full_scan(backend, probe, templates)
        part = backend.parts[0]
        assert_hits(backend, search(index, probe, part=part, limit=len(templates)), expected)
        assert_hits(backend, search(index, probe, part=part, limit=5), expected[:5])
        assert_hits(backend, search(index, probe, part=part, limit=1), expected[:1])
        assert len(search(index, probe, part=part, limit=1000)) == len(templates)

    def test_a_search_that_scores_every_eligible_subject_says_it_was_exact(self, backend, graded):
        """Every backend of this suite scans a shard exactly (the finger prefilter does so below its size)."""
        probe, templates = graded
        index = self.fill(backend, templates)
        for gallery_id in (GALLERY, "unknown-gallery"):
            method = index.search_method(gallery_id=gallery_id, part=backend.parts[0], purpose=PURPOSE, now=NOW)
            assert method == "exact", f"{gallery_id}: {method}"

    def test_limit_below_one_is_refused(self, backend, graded):
        probe, templates = graded
        index = self.fill(backend, templates)
        for limit in (0, -3):
            with pytest.raises(ValueError, match=f"limit must be at least 1, got {limit}"):
                search(index, probe, part=backend.parts[0], limit=limit)

    def test_threshold_leaves_out_the_subjects_below_it(self, backend, graded):
        probe, templates = graded
        index = self.fill(backend, templates)
        expected = full_scan(backend, probe, templates)
        # Halfway between the 7th and 8th best: no subject sits near it.
        threshold = (expected[6][2] + expected[7][2]) / 2
        part = backend.parts[0]
        assert_hits(backend, search(index, probe, part=part, threshold=threshold), expected[:7])
        assert_hits(backend, search(index, probe, part=part, threshold=threshold, limit=3), expected[:3])
        # The rule is score >= threshold: a threshold at a subject's own score keeps it.
        hits = search(index, probe, part=part)
        assert search(index, probe, part=part, threshold=hits[4].score)[-1] == hits[4]
        assert search(index, probe, part=part, threshold=expected[0][2] + 0.5) == []

    def test_each_subject_is_found_once_by_its_best_template(self, backend, rng):
        probe = backend.features(rng)
        templates = {
            "alice": {
                "t-alice-far": backend.variant(rng, probe, 0.7),
                "t-alice-near": backend.variant(rng, probe, 0.1),
                "t-alice-mid": backend.variant(rng, probe, 0.4),
            },
            "bob": {"t-bob": backend.variant(rng, probe, 0.25), "t-bob-far": backend.variant(rng, probe, 0.8)},
        }
        index = self.fill(backend, templates)
        hits = search(index, probe, part=backend.parts[0])
        assert [(hit.subject_id, hit.template_id) for hit in hits] == [("alice", "t-alice-near"), ("bob", "t-bob")]
        assert_hits(backend, hits, full_scan(backend, probe, templates))

    def test_equal_scores_are_ordered_by_subject_id_and_template_id(self, backend, rng):
        probe, tied = backend.exact_tie(rng)
        index = backend.new_index()
        index.upsert(
            [
                make_entry(backend, "t-c", "s-c", tied),
                make_entry(backend, "t-a2", "s-a", tied),
                make_entry(backend, "t-b", "s-b", tied),
                make_entry(backend, "t-a1", "s-a", tied),
                make_entry(backend, "t-best", "s-z", probe),
            ]
        )
        part = backend.parts[0]
        hits = search(index, probe, part=part)
        assert [(hit.subject_id, hit.template_id) for hit in hits] == [
            ("s-z", "t-best"),
            ("s-a", "t-a1"),
            ("s-b", "t-b"),
            ("s-c", "t-c"),
        ]
        assert hits[1].score == hits[2].score == hits[3].score < hits[0].score
        assert [hit.subject_id for hit in search(index, probe, part=part, limit=2)] == ["s-z", "s-a"]
        # Many more equal scores than asked for: still the smallest ids, however a backend cuts its top-k.
        index.upsert([make_entry(backend, f"t-{name}", f"s-{name}", tied) for name in "yxwvutsrqponmlkjihgfed"])
        assert [hit.subject_id for hit in search(index, probe, part=part, limit=3)] == ["s-z", "s-a", "s-b"]
        assert [hit.subject_id for hit in search(index, probe, part=part, limit=6)][-2:] == ["s-d", "s-e"]
        listed = index.scores_for(
            probe, gallery_id=GALLERY, part=part, subject_ids=["s-c", "s-b", "s-a"], purpose=PURPOSE, now=NOW
        )
        assert [(hit.subject_id, hit.template_id) for hit in listed] == [
            ("s-a", "t-a1"),
            ("s-b", "t-b"),
            ("s-c", "t-c"),
        ]

    def test_a_subject_with_many_close_templates_does_not_crowd_out_the_others(self, backend, rng):
        probe = backend.features(rng)
        templates = {"alice": {f"t-alice-{k:02d}": backend.variant(rng, probe, 0.02 + 0.01 * k) for k in range(12)}}
        templates |= {f"s{k}": {f"t-s{k}": backend.variant(rng, probe, 0.3 + 0.05 * k)} for k in range(8)}
        index = self.fill(backend, templates)
        expected = full_scan(backend, probe, templates)
        assert expected[0][0] == "alice" and all(row[0] != "alice" for row in expected[1:])
        for limit in (1, 2, 3, 9):
            assert_hits(backend, search(index, probe, part=backend.parts[0], limit=limit), expected[:limit])

    # -- who is searched -----------------------------------------------------------------------------------

    def test_only_entries_consented_to_the_purpose_and_not_expired_are_searched(self, backend, rng):
        probe = backend.features(rng)
        features = backend.variant(rng, probe, 0.2)
        index = backend.new_index()
        index.upsert(
            [
                make_entry(backend, "t1", "searchable", features),
                make_entry(backend, "t2", "verify-only", features, purposes=("verify",)),
                make_entry(backend, "t3", "expired", features, expires=NOW - timedelta(seconds=1)),
                make_entry(backend, "t4", "expires-now", features, expires=NOW),
                make_entry(backend, "t5", "expires-soon", features, expires=NOW + timedelta(microseconds=1)),
                make_entry(backend, "t6", "both", features, purposes=("verify", PURPOSE)),
            ]
        )
        part = backend.parts[0]
        assert sorted(hit.subject_id for hit in search(index, probe, part=part)) == [
            "both",
            "expires-soon",
            "searchable",
        ]
        assert sorted(hit.subject_id for hit in search(index, probe, part=part, purpose="verify")) == [
            "both",
            "verify-only",
        ]
        assert search(index, probe, part=part, purpose="marketing") == []
        later = search(index, probe, part=part, now=NOW + timedelta(days=1))
        assert sorted(hit.subject_id for hit in later) == ["both", "searchable"]
        listed = index.scores_for(
            probe,
            gallery_id=GALLERY,
            part=part,
            subject_ids=["searchable", "verify-only", "expired", "expires-now", "expires-soon", "both"],
            purpose=PURPOSE,
            now=NOW,
        )
        assert sorted(hit.subject_id for hit in listed) == ["both", "expires-soon", "searchable"]

    def test_galleries_and_parts_are_searched_apart(self, backend, rng):
        probe = backend.features(rng)
        features = backend.variant(rng, probe, 0.2)
        index = backend.new_index()
        entries = [
            make_entry(backend, "t1", "in-g1", features),
            make_entry(backend, "t2", "in-g2", features, gallery="g2"),
        ]
        if len(backend.parts) > 1:
            entries.append(make_entry(backend, "t3", "other-part", features, part=backend.parts[1]))
        index.upsert(entries)
        part = backend.parts[0]
        assert [hit.subject_id for hit in search(index, probe, part=part)] == ["in-g1"]
        assert [hit.subject_id for hit in search(index, probe, part=part, gallery_id="g2")] == ["in-g2"]
        assert search(index, probe, part=part, gallery_id="unknown") == []
        assert search(index, probe, part=backend.invalid_part) == []
        if len(backend.parts) > 1:
            assert [hit.subject_id for hit in search(index, probe, part=backend.parts[1])] == ["other-part"]
        listed = index.scores_for(
            probe,
            gallery_id=GALLERY,
            part=part,
            subject_ids=["in-g1", "in-g2", "other-part"],
            purpose=PURPOSE,
            now=NOW,
        )
        assert [hit.subject_id for hit in listed] == ["in-g1"]

    def test_an_empty_index_finds_nobody(self, backend, rng):
        index = backend.new_index()
        probe = backend.features(rng)
        assert search(index, probe, part=backend.parts[0]) == []
        assert (
            index.scores_for(
                probe, gallery_id=GALLERY, part=backend.parts[0], subject_ids=["s1"], purpose=PURPOSE, now=NOW
            )
            == []
        )
        assert index.size() == 0

    # -- what enters the index -----------------------------------------------------------------------------

    def test_an_entry_of_another_matcher_is_refused_with_the_batch(self, backend, rng):
        index = backend.new_index()
        assert index.matcher == backend.matcher
        features = backend.features(rng)
        batch = [
            make_entry(backend, "t-good", "s1", features),
            make_entry(backend, "t-foreign", "s2", features, matcher=backend.foreign_matcher),
        ]
        with pytest.raises(ValueError) as refused:
            index.upsert(batch)
        assert backend.matcher in str(refused.value) and backend.foreign_matcher in str(refused.value)
        assert index.size() == 0 and search(index, features, part=backend.parts[0]) == []

    def test_an_entry_of_a_part_the_matcher_does_not_have_is_refused(self, backend, rng):
        index = backend.new_index()
        with pytest.raises(ValueError, match=rf"entry\.part .*got {backend.invalid_part}"):
            index.upsert([make_entry(backend, "t1", "s1", backend.features(rng), part=backend.invalid_part)])
        assert index.size() == 0

    def test_features_the_matcher_cannot_score_are_refused(self, backend, rng):
        index = backend.new_index()
        features = backend.features(rng)
        index.upsert([make_entry(backend, "t1", "s1", features)])
        for bad in backend.malformed(rng):
            with pytest.raises(ValueError, match="features"):
                index.upsert(
                    [
                        make_entry(backend, "t2", "s2", backend.variant(rng, features, 0.3)),
                        make_entry(backend, "t3", "s3", bad),
                    ]
                )
        assert index.size() == 1
        assert [hit.subject_id for hit in search(index, features, part=backend.parts[0])] == ["s1"]

    # -- changes -------------------------------------------------------------------------------------------

    def test_upsert_replaces_the_entry_with_the_same_template_id(self, backend, rng):
        probe = backend.features(rng)
        near, far = backend.variant(rng, probe, 0.1), backend.variant(rng, probe, 0.7)
        index = backend.new_index()
        index.upsert([make_entry(backend, "t1", "alice", near), make_entry(backend, "t2", "bob", far)])
        part = backend.parts[0]
        assert [hit.subject_id for hit in search(index, probe, part=part)] == ["alice", "bob"]

        index.upsert([make_entry(backend, "t1", "alice", far), make_entry(backend, "t2", "bob", near)])  # features
        hits = search(index, probe, part=part)
        assert [hit.subject_id for hit in hits] == ["bob", "alice"] and index.size() == 2
        np.testing.assert_allclose(
            [hit.score for hit in hits],
            [backend.reference_score(probe, near), backend.reference_score(probe, far)],
            atol=backend.atol,
        )

        withdrawn = make_entry(backend, "t2", "bob", near, purposes=("verify",))  # consent scope
        index.upsert([withdrawn])
        assert [hit.subject_id for hit in search(index, probe, part=part)] == ["alice"]
        index.upsert([withdrawn, withdrawn])  # idempotent
        index.upsert([withdrawn])
        assert index.size() == 2 and [hit.subject_id for hit in search(index, probe, part=part)] == ["alice"]

        index.upsert([make_entry(backend, "t1", "alice", far, gallery="g2")])  # moved: gone from its old shard
        assert search(index, probe, part=part) == []
        assert [hit.subject_id for hit in search(index, probe, part=part, gallery_id="g2")] == ["alice"]
        assert index.size() == 2

    def test_remove_templates_removes_those_and_keeps_the_subjects_others(self, backend, rng):
        probe = backend.features(rng)
        index = backend.new_index()
        index.upsert(
            [
                make_entry(backend, "t1", "alice", backend.variant(rng, probe, 0.1)),
                make_entry(backend, "t2", "alice", backend.variant(rng, probe, 0.5)),
                make_entry(backend, "t3", "bob", backend.variant(rng, probe, 0.3)),
            ]
        )
        part = backend.parts[0]
        best_of = {hit.subject_id: hit.template_id for hit in search(index, probe, part=part)}
        assert best_of == {"alice": "t1", "bob": "t3"}
        assert index.remove_templates(["t1", "t9"]) == 1  # an unknown id is ignored
        assert index.remove_templates(["t1"]) == 0
        assert index.size() == 2
        hits = search(index, probe, part=part)
        assert {hit.subject_id: hit.template_id for hit in hits} == {"alice": "t2", "bob": "t3"}
        assert index.remove_subject("alice") == 1

    def test_remove_subject_removes_every_template_at_once(self, backend, rng):
        probe = backend.features(rng)
        index = backend.new_index()
        index.upsert(
            [
                make_entry(backend, "t1", "alice", backend.variant(rng, probe, 0.1)),
                make_entry(backend, "t2", "alice", backend.variant(rng, probe, 0.5)),
                make_entry(backend, "t3", "alice", backend.variant(rng, probe, 0.5), gallery="g2"),
                make_entry(backend, "t4", "bob", backend.variant(rng, probe, 0.3)),
            ]
        )
        assert index.size() == 4
        assert index.remove_subject("alice") == 3
        assert index.remove_subject("alice") == 0
        assert index.remove_subject("nobody") == 0
        part = backend.parts[0]
        assert [hit.subject_id for hit in search(index, probe, part=part)] == ["bob"]
        assert search(index, probe, part=part, gallery_id="g2") == []
        listed = index.scores_for(
            probe, gallery_id=GALLERY, part=part, subject_ids=["alice", "bob"], purpose=PURPOSE, now=NOW
        )
        assert [hit.subject_id for hit in listed] == ["bob"]
        assert index.size() == 1
        index.upsert([make_entry(backend, "t1", "alice", probe)])  # enrolled again: found again
        assert [hit.subject_id for hit in search(index, probe, part=part)] == ["alice", "bob"]

    # -- scores_for ----------------------------------------------------------------------------------------

    def test_scores_for_gives_the_best_score_of_each_listed_eligible_subject(self, backend, graded, rng):
        probe, templates = graded
        templates = {**templates, "s05": {**templates["s05"], "t-s05-near": backend.variant(rng, probe, 0.02)}}
        index = self.fill(backend, templates)
        index.upsert([make_entry(backend, "t-verify", "verify-only", probe, purposes=("verify",))])
        expected = full_scan(backend, probe, templates)
        listed = ["s20", "s05", "s11", "s03", "verify-only", "unknown", "s20"]
        hits = index.scores_for(
            probe, gallery_id=GALLERY, part=backend.parts[0], subject_ids=listed, purpose=PURPOSE, now=NOW
        )
        assert_hits(backend, hits, [row for row in expected if row[0] in set(listed)])
        assert hits[0].template_id == "t-s05-near"
        assert (
            index.scores_for(probe, gallery_id=GALLERY, part=backend.parts[0], subject_ids=[], purpose=PURPOSE, now=NOW)
            == []
        )
        # The same scores a search gives.
        searched = {hit.subject_id: hit for hit in search(index, probe, part=backend.parts[0])}
        assert all(searched[hit.subject_id] == hit for hit in hits)

    def test_size_counts_templates_in_every_shard_eligible_or_not(self, backend, rng):
        index = backend.new_index()
        features = backend.features(rng)
        index.upsert(
            [
                make_entry(backend, "t1", "s1", features),
                make_entry(backend, "t2", "s1", features),
                make_entry(backend, "t3", "s2", features, gallery="g2"),
                make_entry(backend, "t4", "s3", features, expires=NOW - timedelta(days=1)),
                make_entry(backend, "t5", "s4", features, part=backend.parts[-1], purposes=("verify",)),
            ]
        )
        assert index.size() == 5

    # -- threads -------------------------------------------------------------------------------------------

    def test_concurrent_upserts_removals_and_searches_see_whole_changes(self, backend, rng):
        """Two writers add batches, one remover erases subjects in order, two readers search meanwhile.

        Every search must see each writer's batches as a prefix (whole batches, in order) and the
        removed subjects as a prefix of the removal order: never half of a change.
        """
        probe = backend.features(rng)
        pool = [backend.variant(rng, probe, float(amount)) for amount in np.linspace(0.05, 0.8, 8)]
        batches = {
            writer: [
                [
                    make_entry(backend, f"t-{writer}{b}-{k}", f"{writer}{b}-{k}", pool[(b * 3 + k) % len(pool)])
                    for k in range(3)
                ]
                for b in range(5)
            ]
            for writer in ("a", "b")
        }
        doomed = [f"r{i}" for i in range(8)]
        index = backend.new_index()
        index.upsert([make_entry(backend, f"t-{s}", s, pool[i % len(pool)]) for i, s in enumerate(doomed)])
        part = backend.parts[0]
        everyone = len(doomed) + sum(len(batch) for writer in batches.values() for batch in writer)
        problems: list[str] = []
        done = threading.Event()

        def write(writer: str) -> None:
            for batch in batches[writer]:
                index.upsert(batch)
                done.wait(0.002)  # leave the readers room between changes

        def remove() -> None:
            for subject_id in doomed:
                index.remove_subject(subject_id)
                done.wait(0.002)

        def read() -> None:
            seen = 0
            while not done.is_set() or seen < 3:
                hits = search(index, probe, part=part, limit=everyone)
                found = {hit.subject_id for hit in hits}
                seen += 1
                for writer, writer_batches in batches.items():
                    applied = [all(e.subject_id in found for e in batch) for batch in writer_batches]
                    partial = [any(e.subject_id in found for e in batch) for batch in writer_batches]
                    if applied != partial or applied != sorted(applied, reverse=True):
                        problems.append(f"writer {writer}: batches seen {partial}, whole {applied}")
                remaining = [subject_id in found for subject_id in doomed]
                if remaining != sorted(remaining):
                    problems.append(f"removals out of order: {remaining}")
                scores = [hit.score for hit in hits]
                if scores != sorted(scores, reverse=True):
                    problems.append("hits not ranked")

        writers = [threading.Thread(target=guarded(problems, lambda w=w: write(w))) for w in batches]
        writers.append(threading.Thread(target=guarded(problems, remove)))
        readers = [threading.Thread(target=guarded(problems, read)) for _ in range(2)]
        for thread in readers + writers:
            thread.start()
        for thread in writers:
            thread.join()
        done.set()
        for thread in readers:
            thread.join()
        assert problems == []
        assert index.size() == everyone - len(doomed)
        final = search(index, probe, part=part, limit=everyone)
        assert {hit.subject_id for hit in final} == {e.subject_id for w in batches.values() for b in w for e in b}
