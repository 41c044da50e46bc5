"""An in-process index holds each finger template's cylinders once: the packed shard, not a second copy per entry."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import numpy as np
import pytest

from tessera.index.exact import ExactIndex
from tessera.index.finger import FingerIndex
from tessera.match.mcc import MccScorer, gallery_views, mcc_gallery, mcc_score
from tests.index.contract import NOW, make_entry, search
from tests.index.measure_finger_memory import made_up_template
from tests.index.test_exact import MCC

COUNT = 60


def resident_bytes(index: Any, rng: np.random.Generator) -> tuple[int, int]:
    """(bytes the index holds after a search, bytes of the templates' cylinder arrays) for COUNT templates."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        templates = [made_up_template(rng, 40) for _ in range(COUNT)]
        arrays = sum(t.cylinders.nbytes + t.energy.nbytes + t.validity.nbytes for t in templates)
        batch = [make_entry(MCC, f"t{i}", f"s{i}", template) for i, template in enumerate(templates)]
        probe = templates[0]
        del templates
        index.upsert(batch)
        del batch
        assert search(index, probe, part=MCC.parts[0])[0].subject_id == "s0"
        del probe
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before, arrays
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["exact", "prefilter"])
def test_the_index_holds_each_template_once(kind):
    index = ExactIndex(MCC.matcher, MccScorer()) if kind == "exact" else FingerIndex(MCC.matcher, MccScorer())
    held, arrays = resident_bytes(index, np.random.default_rng(3))
    # Twice the arrays (entries' copies + packed shard) before; once plus small per-entry objects (and, for the
    # prefilter, its code of about a sixth of the cylinders) now.
    assert held < 1.35 * arrays, f"the index holds {held / arrays:.2f}x the templates' cylinder arrays"


def test_gallery_views_are_the_templates_without_a_copy():
    rng = np.random.default_rng(8)
    templates = [made_up_template(rng, n) for n in (40, 2, 25, 33)]  # 2 minutiae: no cylinder at all
    gallery = mcc_gallery(templates)
    views = gallery_views(templates, gallery)
    for template, view in zip(templates, views):
        for name in ("xy", "angles", "cylinders", "energy", "validity"):
            assert np.array_equal(getattr(view, name), getattr(template, name)), name
            assert not getattr(view, name).flags.writeable
        assert view.minutiae_count == template.minutiae_count
        assert len(view) == 0 or np.shares_memory(view.cylinders, gallery.cylinders)
        # A view is not contiguous, so BLAS may sum in another order: the same score to float32 rounding.
        assert mcc_score(templates[0], view) == pytest.approx(mcc_score(templates[0], template), abs=1e-3)
    with pytest.raises(ValueError, match="templates must be the 4 templates of gallery; got 3"):
        gallery_views(templates[:3], gallery)


def test_a_shard_packed_again_from_views_scores_as_before():
    """After a search (entries become views) a new upsert re-packs the shard from those views: same scores."""
    rng = np.random.default_rng(4)
    templates = [made_up_template(rng, 40) for _ in range(6)]
    for index in (ExactIndex(MCC.matcher, MccScorer()), FingerIndex(MCC.matcher, MccScorer())):
        index.upsert([make_entry(MCC, f"t{i}", f"s{i}", t) for i, t in enumerate(templates[:5])])
        first = search(index, templates[0], part=MCC.parts[0], limit=10)
        index.upsert([make_entry(MCC, "t5", "s5", templates[5])])
        again = search(index, templates[0], part=MCC.parts[0], limit=10)
        # A shard of another size may be summed in another order by BLAS: the same scores to float32 rounding.
        assert [h.template_id for h in first] == [h.template_id for h in again if h.template_id != "t5"]
        assert [h.score for h in first] == pytest.approx([h.score for h in again if h.template_id != "t5"], abs=1e-5)
        listed = index.scores_for(
            templates[0], gallery_id="g1", part=MCC.parts[0], subject_ids=["s3"], purpose="deduplicate", now=NOW
        )
        assert listed[0].score == pytest.approx(mcc_score(templates[0], templates[3]), abs=1e-4)
