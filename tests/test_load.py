"""`tessera load` runs end to end: every level answered, 0 errors (the timings are read from its output)."""

from __future__ import annotations

import pytest

from tessera.load import LEVELS, run_load


@pytest.mark.slow
def test_load_answers_every_request_at_every_level(lfw_dir):
    levels = run_load(lfw_dir, people=3, requests_per_client=1)
    assert [(level.route, level.clients) for level in levels] == [
        (route, clients) for clients in LEVELS for route in ("verify", "identify")
    ]
    for level in levels:
        assert level.errors == [], level.errors
        assert len(level.latencies_ms) == level.clients, level  # each request answered, 503s retried
        assert level.throughput > 0
