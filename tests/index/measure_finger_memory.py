"""Bytes each finger template keeps resident in an in-process index, and the time of one search over them.

Run from the repository: ``python -m tests.index.measure_finger_memory [INDEX [COUNT [MINUTIAE]]]`` with INDEX
``exact`` (:class:`~tessera.index.exact.ExactIndex`, the default finger index) or ``prefilter``
(:class:`~tessera.index.finger.FingerIndex`), COUNT templates (default 2000) of MINUTIAE made-up minutiae each
(default 40, inside a 300 x 300 pixel print). The templates are upserted, the shard is packed by a first search,
the caller's own references are dropped, and what the index still holds is read with ``tracemalloc``; then
the median of 5 searches. It prints one line of ``key=value`` figures.

It imports only the ``tessera`` package, so the same file measures another checkout
(``PYTHONPATH=OTHER python tests/index/measure_finger_memory.py``).
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from tessera.index.base import IndexEntry, matcher_key
from tessera.index.exact import ExactIndex
from tessera.index.finger import FingerIndex
from tessera.index.finger_prefilter import PrefilterConfig
from tessera.match.mcc import ALGORITHM, MccScorer, MccTemplate, mcc_template
from tessera.match.minutiae import Minutiae

NOW = datetime(2026, 12, 1, tzinfo=UTC)
MATCHER = matcher_key("finger", ALGORITHM, sensor="contact")

CODES_AT_ANY_SIZE = PrefilterConfig(exact_up_to=0)
"""The prefilter with its codes made above ``min_shortlist`` templates (by default a shard of up to 20,000 is scanned
exactly, its codes not made), so that their memory is counted as before."""


def made_up_template(rng: np.random.Generator, minutiae: int) -> MccTemplate:
    """Cylinders of ``minutiae`` random minutiae in a 300 x 300 pixel print (500 ppi)."""
    return mcc_template(
        Minutiae(
            points=rng.uniform(20, 320, (minutiae, 2)),
            angles=rng.uniform(0, 2 * np.pi, minutiae),
            kinds=np.ones(minutiae, np.uint8),
            qualities=np.full(minutiae, 0.8),
        )
    )


def entries(templates: list[MccTemplate]) -> list[IndexEntry[MccTemplate]]:
    return [
        IndexEntry(
            template_id=f"t{i}",
            subject_id=f"s{i}",
            gallery_id="g",
            matcher=MATCHER,
            part=2,
            features=template,
            purposes=frozenset({"deduplicate"}),
            consent_expires_at=NOW + timedelta(days=365),
        )
        for i, template in enumerate(templates)
    ]


def search(index: Any, probe: MccTemplate) -> None:
    index.search(probe, gallery_id="g", part=2, purpose="deduplicate", now=NOW, limit=10)


def main(kind: str, count: int, minutiae: int) -> None:
    rng = np.random.default_rng(0)
    probe = made_up_template(rng, minutiae)
    index: Any = (
        ExactIndex(MATCHER, MccScorer()) if kind == "exact" else FingerIndex(MATCHER, MccScorer(), CODES_AT_ANY_SIZE)
    )
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    # Everything made from here on is counted: what the index holds once the caller lets the templates go.
    templates = [made_up_template(rng, minutiae) for _ in range(count)]
    cylinders = sum(len(template) for template in templates)
    cylinder_bytes = sum(
        template.cylinders.nbytes + template.energy.nbytes + template.validity.nbytes for template in templates
    )
    batch = entries(templates)
    del templates
    index.upsert(batch)
    del batch
    search(index, probe)
    gc.collect()
    resident = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        search(index, probe)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(
        f"index={kind} templates={count} minutiae={minutiae} cylinders_per_template={cylinders / count:.1f} "
        f"cylinder_arrays_kb={cylinder_bytes / count / 1024:.1f} "
        f"resident_kb_per_template={resident / count / 1024:.1f} "
        f"search_ms={median * 1000:.0f} search_us_per_template={median / count * 1e6:.1f}"
    )


if __name__ == "__main__":
    arguments = sys.argv[1:]
    main(
        arguments[0] if arguments else "exact",
        int(arguments[1]) if len(arguments) > 1 else 2000,
        int(arguments[2]) if len(arguments) > 2 else 40,
    )
