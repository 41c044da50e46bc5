"""`tessera bench` runs end to end (tiny sizes; the timings themselves are read from its output, not asserted)."""

from __future__ import annotations

from rich.console import Console

from tessera.bench import run_bench


def test_bench_runs_every_stage_and_call(lfw_dir):
    result = run_bench(lfw_dir, images=3, people=2, synthetic_gallery=50, console=Console(quiet=True))
    assert {"decode", "detect", "align", "quality", "embed", "total"} <= set(result["stages"])
    assert len(result["stages"]["total"]) >= 1
    for call in ("enrol", "verify", "identify", "identify_large", "probe_template"):
        assert len(result["api"][call]) >= 1, call
