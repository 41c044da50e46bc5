"""`tessera bench index --backend milvus...` runs end to end at a small size (timings are printed, not asserted)."""

from __future__ import annotations

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tessera.bench_index import IndexBenchConfig
from tessera.bench_milvus import MilvusBenchConfig, run_milvus_bench
from tessera.cli import app


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.slow)])
def milvus(request, tmp_path) -> MilvusBenchConfig:
    """The bench's configuration, with a collection prefix of its own (the bench drops its collection first)."""
    if request.param == "lite":
        request.getfixturevalue("milvus_lite")  # skips when pymilvus is missing
        return MilvusBenchConfig(backend=f"milvus-lite:{tmp_path / 'bench.db'}")
    server = request.getfixturevalue("milvus_server")
    return MilvusBenchConfig(backend=f"milvus://{server.uri.removeprefix('http://')}", prefix=server.new_prefix())


def test_the_milvus_bench_answers_exactly_with_flat_and_never_returns_an_erased_subject(milvus):
    config = IndexBenchConfig(templates=3000, searches=12, batch=1000, limit=10)
    result = run_milvus_bench(config, milvus, console=Console(quiet=True))
    assert result.recall_at_10 == 1.0 and result.same_first_subject == config.searches  # FLAT is exact
    assert result.erased_returned == 0  # Tessera's filter of recent erasures, at Session reads
    assert all(len(times) == config.searches for times in result.milvus_ms.values())
    assert len(result.numpy_ms) == config.searches and result.searched_templates == config.templates
    assert ("Strong" in result.milvus_ms) is milvus.backend.startswith("milvus://")  # Lite ignores consistency levels


@pytest.mark.slow
def test_an_hnsw_bench_measures_recall_against_the_exact_answer(milvus_server):
    backend = f"milvus://{milvus_server.uri.removeprefix('http://')}"
    config = IndexBenchConfig(templates=3000, searches=8, batch=1000, limit=10)
    milvus = MilvusBenchConfig(backend=backend, index_type="HNSW", hnsw_ef=64, prefix=milvus_server.new_prefix())
    result = run_milvus_bench(config, milvus, console=Console(quiet=True))
    assert 0.5 <= result.recall_at_10 <= 1.0  # measured, whatever it is: the figure docs/scale.md reports
    assert result.engine.endswith("HNSW M=16 efConstruction=200 ef=64")


def test_the_command_refuses_an_unknown_backend_or_index_type(tmp_path):
    runner = CliRunner()
    unknown = runner.invoke(app, ["bench", "index", "--n", "100", "--backend", "postgres://x", "--skip-in-process"])
    assert unknown.exit_code == 2 and "index must be 'milvus://host:port' or 'milvus-lite:PATH'" in unknown.output
    lite = f"milvus-lite:{tmp_path / 'x.db'}"
    wrong = runner.invoke(app, ["bench", "index", "--n", "100", "--backend", lite, "--milvus-index", "IVF"])
    assert wrong.exit_code == 2 and "index_type must be 'FLAT' or 'HNSW'; got 'IVF'" in wrong.output
    hnsw = runner.invoke(app, ["bench", "index", "--n", "100", "--backend", lite, "--milvus-index", "hnsw"])
    assert hnsw.exit_code == 2 and "Milvus Lite builds no HNSW index" in hnsw.output
