"""The finger index (prefilter shortlist + exact MCC rerank) meets the index contract, and its prefilter code
is what it claims: deterministic, of fixed size, and keeping a real mate in the shortlist."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tessera.index.exact import ExactIndex
from tessera.index.finger import FingerIndex, shortlist
from tessera.index.finger_prefilter import (
    DEFAULT_PREFILTER_CONFIG,
    PrefilterConfig,
    prefilter_code,
    prefilter_gallery,
    prefilter_rescores,
    prefilter_scores,
)
from tessera.match.mcc import DEFAULT_MCC_CONFIG, MccScorer, mcc_score, mcc_template
from tests.index.contract import NOW, Backend, IndexContract, make_entry, search
from tests.index.test_exact import MCC, cylinders, random_template, template_variant

EXACT_WHEN_SMALL = replace(MCC, new_index=lambda: FingerIndex(MCC.matcher, MccScorer()))
"""Shards of at most ``min_shortlist`` eligible templates are searched exactly: the whole contract holds."""


class TestFingerIndex(IndexContract):
    @pytest.fixture
    def backend(self) -> Backend:
        return EXACT_WHEN_SMALL


def test_the_finger_index_is_the_exact_index_with_a_shortlisting_scorer():
    index = FingerIndex(MCC.matcher, MccScorer())
    assert isinstance(index, ExactIndex) and hasattr(index.scorer, "shortlist")


def test_a_larger_shard_is_shortlisted_and_the_close_variants_survive():
    """With a shortlist of 4 of 24, the search scores 4 templates exactly: the 4 closest by the code."""
    rng = np.random.default_rng(11)
    config = replace(DEFAULT_PREFILTER_CONFIG, shortlist_fraction=0.1, min_shortlist=4, exact_up_to=0)
    index = FingerIndex(MCC.matcher, MccScorer(), config)
    probe = random_template(rng)
    amounts = np.linspace(0.05, 0.9, 24)
    templates = {f"s{i:02d}": template_variant(rng, probe, float(amount)) for i, amount in enumerate(amounts)}
    index.upsert([make_entry(MCC, f"t-{s}", s, features) for s, features in templates.items()])
    hits = search(index, probe, part=MCC.parts[0])
    assert len(hits) == 4  # only the shortlist is scored
    assert hits[0].subject_id == "s00"
    for hit in hits:  # every score returned is the exact MCC score
        assert hit.score == pytest.approx(mcc_score(probe, templates[hit.subject_id]), abs=1e-4)
    assert {hit.subject_id for hit in hits} <= {f"s{i:02d}" for i in range(8)}
    # scores_for is not shortlisted: a listed subject outside the shortlist still gets its exact score.
    listed = index.scores_for(
        probe, gallery_id="g1", part=MCC.parts[0], subject_ids=["s23"], purpose="deduplicate", now=NOW
    )
    assert [hit.subject_id for hit in listed] == ["s23"]
    assert listed[0].score == pytest.approx(mcc_score(probe, templates["s23"]), abs=1e-4)


def test_shortlist_keeps_only_eligible_rows_in_ascending_order():
    rng = np.random.default_rng(5)
    config = replace(DEFAULT_PREFILTER_CONFIG, shortlist_fraction=0.25, min_shortlist=2, exact_up_to=0)
    codes = [prefilter_code(random_template(rng), config) for _ in range(12)]
    gallery = prefilter_gallery(codes, config)
    eligible = np.array([0, 2, 3, 5, 7, 8, 9, 11])
    chosen = shortlist(codes[5], gallery, eligible, config)
    assert chosen.size == 2 and np.all(np.diff(chosen) > 0) and set(chosen) <= set(eligible)
    assert 5 in chosen  # a template's own code is the most like it
    assert np.array_equal(shortlist(codes[5], gallery, eligible[:2], config), eligible[:2])  # fewer: all kept


def test_code_is_deterministic_and_of_fixed_size():
    rng = np.random.default_rng(2)
    shape = DEFAULT_PREFILTER_CONFIG.code_shape(DEFAULT_MCC_CONFIG)
    assert shape == (48, 100)
    points, angles = rng.uniform(60, 260, (3, 2)), rng.uniform(0, 6.28, 3)
    tiny = cylinders(points, angles)  # 3 minutiae: at most 3 cylinders, maybe none
    points, angles = rng.uniform(40, 400, (70, 2)), rng.uniform(0, 6.28, 70)
    many = cylinders(points, angles)  # more cylinders than a code keeps
    assert len(many) > shape[0]
    for template in (tiny, random_template(rng), many):
        code = prefilter_code(template)
        assert code.shape == shape and code.dtype == np.float16
        assert np.array_equal(code, prefilter_code(template))
        assert np.array_equal(code, prefilter_code(cylinders(points, angles) if template is many else template))
        kept = min(len(template), shape[0])
        assert np.all(code[kept:] == 0)
        np.testing.assert_allclose(np.linalg.norm(code[:kept, :96].astype(np.float32), axis=1), 1.0, atol=2e-3)


def test_code_scores_a_print_against_itself_highest():
    rng = np.random.default_rng(4)
    templates = [random_template(rng) for _ in range(20)]
    gallery = prefilter_gallery([prefilter_code(t) for t in templates])
    scores, matches = prefilter_scores(prefilter_code(templates[7]), gallery)
    assert scores.shape == (20,) and int(np.argmax(scores)) == 7
    assert scores[7] == pytest.approx(1.0, abs=2e-3)
    assert np.all((scores >= 0) & (scores <= 1.0 + 2e-3))
    # Each of its cylinders finds itself: the re-score sees every pair laid out alike, and ranks it first too.
    held = min(len(templates[7]), DEFAULT_PREFILTER_CONFIG.probe_cylinders)
    assert np.array_equal(matches.partner[:held, 7], np.arange(held))
    rescored = prefilter_rescores(prefilter_code(templates[7]), gallery, matches, np.array([3, 7, 12]))
    assert rescored.shape == (3,) and int(np.argmax(rescored)) == 1


def test_the_rescore_prefers_a_print_laid_out_like_the_probe():
    """A turned and moved copy of the probe keeps its layout (high re-score); the same cylinders shuffled to
    other minutiae's positions do not, though the code's similarity cannot tell them apart."""
    rng = np.random.default_rng(9)
    probe = random_template(rng)
    turn = 0.4
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]], np.float32)
    moved = replace(probe, xy=probe.xy @ rotation.T + np.float32(25), angles=probe.angles + np.float32(turn))
    shuffled = replace(probe, xy=probe.xy[rng.permutation(len(probe))])
    gallery = prefilter_gallery([prefilter_code(moved), prefilter_code(shuffled)])
    code = prefilter_code(probe)
    scores, matches = prefilter_scores(code, gallery)
    assert scores[0] == pytest.approx(scores[1], abs=1e-3)
    rescored = prefilter_rescores(code, gallery, matches, np.array([0, 1]))
    assert rescored[0] > 0.8 and rescored[1] < 0.5 * rescored[0]


def test_bad_configurations_are_refused_with_the_argument_named():
    with pytest.raises(ValueError, match=r"pairs <= probe_cylinders <= cylinders must hold; got 6, 60, 48"):
        PrefilterConfig(probe_cylinders=60)
    with pytest.raises(ValueError, match=r"consistent_pairs must lie in 2-32 \(probe_cylinders\); got 40"):
        PrefilterConfig(consistent_pairs=40)
    with pytest.raises(ValueError, match=r"rescore_fraction must lie in \(0, 1\]; got 1.5"):
        PrefilterConfig(rescore_fraction=1.5)
    with pytest.raises(ValueError, match=r"shortlist_fraction must lie in \(0, 1\]; got 0.0"):
        PrefilterConfig(shortlist_fraction=0.0)
    with pytest.raises(ValueError, match=r"spatial_pool \(3\) must divide spatial_cells \(8\)"):
        FingerIndex(MCC.matcher, MccScorer(), PrefilterConfig(spatial_pool=3))
    with pytest.raises(ValueError, match=r"matcher must be a finger matcher key"):
        FingerIndex("face:dlib-resnet-v1/5pt-flip/1", MccScorer())


def test_real_mates_stay_in_the_shortlist(fvc_template):
    """FVC2004 DB2: the first impressions of 10 fingers enrolled; a second impression of each of three fingers
    is searched with a shortlist of 2 of the 10 (20 %): its mate is in it, and the exact rerank puts it first."""
    config = replace(DEFAULT_PREFILTER_CONFIG, shortlist_fraction=0.2, min_shortlist=2, exact_up_to=0)
    index = FingerIndex(MCC.matcher, MccScorer(), config)
    fingers = range(101, 111)
    index.upsert(
        [
            make_entry(MCC, f"t{finger}", f"s{finger}", mcc_template(fvc_template("DB2_B", finger, 1).minutiae))
            for finger in fingers
        ]
    )
    for finger in (102, 103, 105):
        probe = mcc_template(fvc_template("DB2_B", finger, 2).minutiae)
        hits = search(index, probe, part=MCC.parts[0])
        assert len(hits) == 2
        assert hits[0].subject_id == f"s{finger}", f"finger {finger}: {hits}"


def test_the_prefilter_factory_gives_fingers_a_finger_index_and_faces_the_default_one():
    from tessera.index.matrix import MatrixIndex
    from tessera.match.matchers import build_matchers, finger_prefilter_index

    matchers = build_matchers(["dlib-resnet-v1/5pt-flip/1"], index_factory=finger_prefilter_index)
    assert all(isinstance(m.index, FingerIndex) for m in matchers.of_modality("finger"))
    assert isinstance(matchers.default_face.index, MatrixIndex)


def test_the_evaluation_command_says_where_the_data_is_missing(tmp_path):
    from typer.testing import CliRunner

    from tessera.cli import app

    result = CliRunner().invoke(
        app, ["eval", "finger-index", "--data", str(tmp_path / "absent"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert "no fingerprint data" in result.output and "absent" in result.output


@pytest.mark.slow  # templates 80 prints
def test_the_evaluation_on_real_prints_is_consistent(finger_data):
    """FVC2002 DB1 (10 fingers, 70 mated searches): a longer shortlist never loses more mates, the prefilter
    never finds a mate the exact scan misses, and it costs less per template than exact MCC."""
    from tessera.evaluation.finger_index import evaluate_finger_index

    report = evaluate_finger_index(finger_data / "fvc2002_db1", None, workers=1, fill=2000)
    assert report["data"]["gallery"] == 10 and report["data"]["probes"] == 70
    rows = report["accuracy"]
    fnir = [row["fnir"] for row in rows]
    kept = [row["mate_in_shortlist"] for row in rows]
    assert fnir == sorted(fnir, reverse=True) and kept == sorted(kept)
    assert all(row["fnir_increase"] >= 0 for row in rows)
    for row in rows:  # the increase is what the searches lost less what they recovered, inside its interval
        low, high = row["fnir_increase_interval"]
        assert row["searches"] == 70 and low <= row["fnir_increase"] <= high
        assert row["fnir_increase"] == pytest.approx((row["lost"] - row["recovered"]) / 70, abs=1e-4)
    assert report["cost"]["shortlist_us_per_template"] < report["cost"]["exact_us_per_template"]
    assert report["memory"]["code_bytes"] == 48 * 100 * 2
    assert report["databases"]["FVC2002_DB1_B"]["accuracy"] == rows  # one database: pooled is that database


def test_a_mate_in_a_large_synthetic_fill_gallery_is_found_with_the_prefilter_on(fvc_template):
    """FVC2004 DB2: the first impressions of 10 fingers enrolled and 2,000 fill templates (copies of the 7 fingers
    not searched, each turned, moved and missing 10-30 % of its cylinders, as in ``measure_finger_scale``); a
    second impression of each of three fingers is searched with the default 5 % shortlist (101 of 2,010): the
    search is prefiltered, and its mate is ranked first with its exact MCC score."""
    from tests.index.measure_finger_scale import perturbed

    config = replace(DEFAULT_PREFILTER_CONFIG, min_shortlist=20, exact_up_to=0)
    index = FingerIndex(MCC.matcher, MccScorer(), config)
    enrolled = {finger: mcc_template(fvc_template("DB2_B", finger, 1).minutiae) for finger in range(101, 111)}
    searched = (102, 103, 105)
    sources = [template for finger, template in enrolled.items() if finger not in searched]
    fill = [perturbed(sources[number % len(sources)], number) for number in range(2000)]
    index.upsert(
        [make_entry(MCC, f"t{finger}", f"s{finger}", template) for finger, template in enrolled.items()]
        + [make_entry(MCC, f"fill{number}", f"fill{number}", template) for number, template in enumerate(fill)]
    )
    assert index.search_method(gallery_id="g1", part=MCC.parts[0], purpose="deduplicate", now=NOW) == "prefilter"
    for finger in searched:
        probe = mcc_template(fvc_template("DB2_B", finger, 2).minutiae)
        hits = search(index, probe, part=MCC.parts[0])
        assert len(hits) <= config.shortlist_size(2010) == 101
        assert hits[0].subject_id == f"s{finger}", f"finger {finger}: {hits[:3]}"
        assert hits[0].score == pytest.approx(mcc_score(probe, enrolled[finger]), abs=1e-4)


def test_the_finger_search_setting_picks_the_index_and_where_the_prefilter_starts():
    """``finger_search`` 'exact' gives the exact scan; 'prefilter' (the default) a finger index that scans a shard
    exactly up to ``finger_prefilter_above`` eligible templates and shortlists a larger one; faces are untouched."""
    from tessera.index.matrix import MatrixIndex
    from tessera.match.face import CosineScorer
    from tessera.settings import Settings
    from tessera.workflows.instance import finger_index_factory

    assert Settings().finger_search == "prefilter" and Settings().finger_prefilter_above == 20_000
    exact = finger_index_factory(Settings(finger_search="exact"))(MCC.matcher, MccScorer())
    assert type(exact) is ExactIndex
    assert isinstance(finger_index_factory(Settings())("face:dlib-resnet-v1/5pt-flip/1", CosineScorer()), MatrixIndex)
    template = random_template(np.random.default_rng(3))
    for above, method in ((1500, "exact"), (0, "prefilter")):
        index = finger_index_factory(Settings(finger_prefilter_above=above))(MCC.matcher, MccScorer())
        assert isinstance(index, FingerIndex) and index.config.exact_up_to == above
        index.upsert([make_entry(MCC, f"t{n}", f"s{n}", template) for n in range(1200)])  # above min_shortlist
        assert index.search_method(gallery_id="g1", part=MCC.parts[0], purpose="deduplicate", now=NOW) == method
        assert index.search_method(gallery_id="g1", part=MCC.parts[0], purpose="other", now=NOW) == "exact"
        assert len(search(index, template, part=MCC.parts[0], limit=2000)) == (1200 if method == "exact" else 1000)
    exact.upsert([make_entry(MCC, f"t{n}", f"s{n}", template) for n in range(1200)])
    assert exact.search_method(gallery_id="g1", part=MCC.parts[0], purpose="deduplicate", now=NOW) == "exact"
