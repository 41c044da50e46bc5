"""``tessera bench-startup`` seeds a real store in bulk and times a start from the store and one from the snapshot."""

from __future__ import annotations

import time

import pytest

from tessera.bench_startup import report, run_startup_bench, seed_store, time_start, timed_serve


def test_a_seeded_store_is_indexed_whole_from_the_store_then_from_the_snapshot(tmp_path):
    data_dir = tmp_path / "var"
    seed_store(data_dir, 60)
    rebuilt = time_start(data_dir, "rebuild", time.time())
    assert rebuilt.templates_indexed == 60  # every template was sealed under its subject's key and opens
    assert len(list((data_dir / "index-snapshot").glob("*.sealed"))) > 0
    loaded = time_start(data_dir, "snapshot", time.time())
    assert loaded.templates_indexed == 60
    assert loaded.total_seconds >= loaded.open_seconds > 0 and loaded.peak_rss_mb > 0
    assert "snapshot" in report([rebuilt, loaded])
    served = timed_serve(data_dir)  # the service, from the snapshot, to its first /healthz answer
    assert served.templates_indexed == 60 and served.ready_seconds > 0 and served.cpu_seconds > 0


@pytest.mark.slow
def test_the_start_up_bench_times_each_start_in_a_new_process_and_reuses_a_seeded_folder(tmp_path):
    seeded, timings, served = run_startup_bench(40, tmp_path / "var")
    assert seeded is not None and [t.label for t in timings] == ["rebuild", "snapshot"]
    assert [t.templates_indexed for t in timings] == [40, 40] and served.templates_indexed == 40
    again, timings, _ = run_startup_bench(40, tmp_path / "var")
    assert again is None and [t.templates_indexed for t in timings] == [40, 40]
