"""`tessera bench index` runs end to end at a small size (its timings are read from its output, not asserted)."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from typer.testing import CliRunner

from tessera.bench_index import IndexBenchConfig, run_index_bench, synthetic_gallery
from tessera.cli import app


def test_the_synthetic_gallery_looks_like_face_embeddings():
    gallery = synthetic_gallery(IndexBenchConfig(templates=3000, galleries=2))
    norms = np.linalg.norm(gallery.vectors, axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    same = gallery.subjects[:-1] == gallery.subjects[1:]
    mated = np.einsum("ij,ij->i", gallery.vectors[:-1][same], gallery.vectors[1:][same])
    others = gallery.vectors[:500] @ gallery.vectors[1500:2000].T
    assert np.median(mated) > 0.85 and 0.25 < np.median(others) < 0.5  # mates close, impostors apart, not orthogonal
    assert 1 <= np.bincount(gallery.subjects).max() <= 4 and set(np.unique(gallery.galleries)) == {0, 1}


def test_the_index_bench_finds_each_probes_person_and_reports_every_figure():
    config = IndexBenchConfig(templates=4000, searches=5, batch=1000, limit=10, galleries=2)
    result = run_index_bench(config, console=Console(quiet=True))
    assert result.same_first_subject == config.searches  # the index ranks first whom numpy ranks first
    assert len(result.index_ms) == len(result.numpy_ms) == config.searches
    assert 0 < result.searched_templates < config.templates and result.ratio > 0
    assert 512 < result.allocated_bytes_per_template < 2000


def test_bench_is_a_group_whose_default_is_the_face_stage_bench():
    runner = CliRunner()
    printed = runner.invoke(app, ["bench", "index", "--n", "1500", "--searches", "2", "--batch", "500"])
    assert printed.exit_code == 0, printed.output
    for figure in ("Tessera search p50 / p95", "numpy matvec + argpartition", "ratio of the p50s", "per template"):
        assert figure in printed.output
    missing = runner.invoke(app, ["bench", "--data", "/nonexistent"])
    assert missing.exit_code == 1 and "LFW not found at /nonexistent" in missing.output
