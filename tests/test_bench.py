"""`tessera bench` runs end to end (tiny sizes; the timings themselves are read from its output, not asserted)."""

from __future__ import annotations

from rich.console import Console

from tessera.bench import run_bench


def test_bench_runs_every_stage_and_call(lfw_dir):
    result = run_bench(lfw_dir, images=3, people=2, synthetic_gallery=50, console=Console(quiet=True))
    assert set(result["faces"]) == {"dlib-resnet-v1/5pt-flip/1", "yunet-sface-2021dec/1"}  # side by side
    for timings in result["faces"].values():
        assert {"decode", "detect", "align", "quality", "embed", "total"} <= set(timings.stages)
        assert len(timings.stages["total"]) >= 1
        assert len(timings.photo_ms) == 3 and len(timings.phone_ms) == 3
        assert all(ms > 0 for ms in timings.photo_ms + timings.phone_ms)
    for call in ("enrol", "verify", "identify", "identify_large", "probe_template"):
        assert len(result["api"][call]) >= 1, call
