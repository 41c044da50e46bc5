"""Fingerprint 1:N with a prefilter: penetration rate against FNIR, and the cost of a search at scale.

``tessera eval finger-index --data ../shared/data/finger --out DIR`` runs
:func:`evaluate_finger_index` and writes ``DIR/report.json``.

Protocol (closed-set identification, the usual one for fingerprint indexing,
e.g. Cappelli et al. 2011, section 5): every contact database under
``--data`` is pooled; the first impression of each finger is enrolled (the
gallery), every other impression is a probe whose mate is its finger's first
impression. For each probe:

- the **exact scan** scores the whole gallery with MCC (LSS-R); it misses
  when the mate is not ranked first (FNIR at rank 1: no threshold, so the
  figure is the rank-1 miss rate of the matcher itself);
- the **prefilter** ranks the gallery by the code
  (:mod:`tessera.index.finger_prefilter`), keeps the best ``p`` of it (the
  penetration rate, at least one template) and exact MCC ranks those: it
  misses when the mate is not ranked first among them, which happens when
  the exact scan misses or when the code left the mate out.

The increase of FNIR over the exact scan, per penetration rate, is what the
prefilter costs in accuracy.

Cost per search (CPU time of one core, ``time.process_time``, so that the
figures hold on a shared machine): the prefilter's cost per gallery template
is measured on a gallery of ``fill`` codes (the real codes repeated: its cost
does not depend on their content), the exact MCC cost per shortlisted
template on the real templates as the index scores them (a subset of a
stacked gallery). A search over ``N`` templates then costs ``N x prefilter +
p N x exact``; 100,000 and 1,000,000 are extrapolated from those measured
per-template costs, not run (an exact MCC gallery of 1,000,000 templates
would need ~86 GB).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tessera.evaluation.fvc import extract_all, find_databases
from tessera.finger.template import FingerTemplate
from tessera.index.finger_prefilter import (
    DEFAULT_PREFILTER_CONFIG,
    PrefilterConfig,
    prefilter_code,
    prefilter_gallery,
    prefilter_scores,
)
from tessera.match.mcc import DEFAULT_MCC_CONFIG, MccTemplate, mcc_gallery, mcc_scores, mcc_template

PENETRATION_RATES = (0.01, 0.02, 0.05, 0.1, 0.2)
SCALES = (100_000, 1_000_000)
EXACT_GALLERY = 2000
"""Templates (the real gallery repeated) stacked to measure exact MCC's cost per shortlisted template."""


def evaluate_finger_index(
    data: Path | str,
    cache_dir: Path | None,
    workers: int = 2,
    config: PrefilterConfig = DEFAULT_PREFILTER_CONFIG,
    fill: int = 100_000,
    rates: Sequence[float] = PENETRATION_RATES,
) -> dict:
    """Penetration rate against FNIR on every contact database under ``data``, and the cost per search.

    Parameters
    ----------
    data : path
        The folder holding the fingerprint databases (``../shared/data/finger``).
    cache_dir : path or None
        Template cache (:func:`tessera.evaluation.fvc.default_cache_dir`).
    workers : int
        Extraction processes for templates not cached.
    config : PrefilterConfig
    fill : int
        Gallery size on which the prefilter's cost is measured.
    rates : sequence of float
        Penetration rates reported.

    Returns
    -------
    dict
        ``data``, ``accuracy`` (one row per penetration rate), ``cost`` and ``memory``.
    """
    databases = [database for database in find_databases(data) if database.capture == "contact"]
    if not databases:
        raise FileNotFoundError(f"no contact fingerprint database under {data}")
    jobs = [(path, database.capture, database.ppi) for database in databases for path in database.files]
    extractions = extract_all(jobs, cache_dir, workers, progress=False)
    fingers = [finger for database in databases for finger in database.fingers]
    templates = [
        mcc_template(FingerTemplate.from_bytes(item.template).minutiae) if item.template else None
        for item in extractions
    ]
    gallery_rows: dict[str, int] = {}
    for number, (finger, template) in enumerate(zip(fingers, templates)):
        if template is not None and finger not in gallery_rows:
            gallery_rows[finger] = number
    enrolled = set(gallery_rows.values())
    gallery = [template for number, template in enumerate(templates) if number in enrolled and template is not None]
    mate_of = {finger: position for position, finger in enumerate(gallery_rows)}
    probes = [
        (template, mate_of[finger])
        for number, (finger, template) in enumerate(zip(fingers, templates))
        if template is not None and number not in enrolled
    ]
    stacked = mcc_gallery(gallery)
    codes = prefilter_gallery([prefilter_code(template, config) for template in gallery], config)

    exact_ranked = np.zeros(len(probes), bool)
    mate_position = np.zeros(len(probes), np.int64)  # how many gallery codes score at least the mate's
    found_at = {rate: np.zeros(len(probes), bool) for rate in rates}
    for number, (probe, mate) in enumerate(probes):
        exact = mcc_scores(probe, stacked)
        similarity = prefilter_scores(prefilter_code(probe, config), codes, config)
        exact_ranked[number] = _ranked_first(exact, mate, np.arange(len(gallery)))
        order = np.argsort(-similarity, kind="stable")
        mate_position[number] = int(np.flatnonzero(order == mate)[0]) + 1
        for rate in rates:
            kept = order[: max(1, int(np.ceil(rate * len(gallery))))]
            found_at[rate][number] = mate in kept and _ranked_first(exact, mate, kept)
    exact_fnir = 1.0 - float(exact_ranked.mean())
    accuracy = [
        {
            "penetration_rate": rate,
            "shortlist": max(1, int(np.ceil(rate * len(gallery)))),
            "mate_in_shortlist": round(float(np.mean(mate_position <= max(1, int(np.ceil(rate * len(gallery)))))), 4),
            "fnir": round(1.0 - float(found_at[rate].mean()), 4),
            "fnir_increase": round(1.0 - float(found_at[rate].mean()) - exact_fnir, 4),
        }
        for rate in rates
    ]
    cost = _cost(gallery, [probe for probe, _ in probes], config, fill, rates)
    return {
        "data": {
            "databases": [database.name for database in databases],
            "gallery": len(gallery),
            "probes": len(probes),
            "refused": sum(template is None for template in templates),
        },
        "config": config.as_dict(),
        "exact_fnir_rank1": round(exact_fnir, 4),
        "accuracy": accuracy,
        "median_mate_penetration": round(float(np.median(mate_position)) / len(gallery), 4),
        "cost": cost,
        "memory": _memory(gallery, config),
    }


def write_finger_index_report(report: dict, out: Path | str) -> Path:
    """Write ``report`` as ``out/report.json``; returns its path."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def _ranked_first(scores: np.ndarray, mate: int, kept: np.ndarray) -> bool:
    """Whether ``mate`` (in ``kept``) scores above every other row of ``kept`` (a tie is a miss)."""
    others = kept[kept != mate]
    return bool(others.size == 0 or scores[mate] > scores[others].max())


def _cost(
    gallery: list[MccTemplate], probes: list[MccTemplate], config: PrefilterConfig, fill: int, rates: Sequence[float]
) -> dict:
    """CPU seconds per gallery template of the prefilter and of exact MCC, and what a search at scale costs."""
    clock = time.process_time
    rng = np.random.default_rng(0)
    chosen = [probes[int(number)] for number in rng.choice(len(probes), min(20, len(probes)), replace=False)]
    codes = [prefilter_code(template, config) for template in gallery]
    filled = prefilter_gallery([codes[number % len(codes)] for number in range(fill)], config)
    start = clock()
    for probe in chosen:
        prefilter_scores(prefilter_code(probe, config), filled, config)
    prefilter_each = (clock() - start) / (len(chosen) * fill)

    stacked = mcc_gallery([gallery[number % len(gallery)] for number in range(EXACT_GALLERY)])
    members = np.sort(rng.choice(EXACT_GALLERY, EXACT_GALLERY // 2, replace=False))  # a scattered shortlist
    start = clock()
    for probe in chosen:
        mcc_scores(probe, stacked, DEFAULT_MCC_CONFIG, members=members)
    exact_each = (clock() - start) / (len(chosen) * members.size)
    return {
        "measured": f"CPU time of one core; prefilter over {fill:,} codes, exact MCC over {members.size:,} of "
        f"{EXACT_GALLERY:,} stacked real templates",
        "prefilter_us_per_template": round(prefilter_each * 1e6, 3),
        "exact_us_per_template": round(exact_each * 1e6, 3),
        "per_search_seconds": [
            {
                "gallery": size,
                "exact_scan": round(size * exact_each, 2),
                **{f"prefilter_{rate:g}": round(size * prefilter_each + rate * size * exact_each, 2) for rate in rates},
            }
            for size in SCALES
        ],
    }


def _memory(gallery: list[MccTemplate], config: PrefilterConfig) -> dict:
    """Bytes per template held in memory: its MCC features (what an index entry keeps), exact MCC's stacked
    gallery (a second copy of the same cylinders, padded), and the prefilter code (kept and stacked)."""
    stacked = mcc_gallery(gallery)
    exact = sum(array.nbytes for array in vars(stacked).values() if isinstance(array, np.ndarray))
    features = sum(
        array.nbytes for template in gallery for array in vars(template).values() if isinstance(array, np.ndarray)
    )
    code = prefilter_code(gallery[0], config)
    stacked_code = prefilter_gallery([code], config)
    return {
        "template_features_bytes_per_template": round(features / len(gallery)),
        "exact_gallery_bytes_per_template": round(exact / len(gallery)),
        "code_bytes": int(code.nbytes),
        "stacked_code_bytes": int(stacked_code.nbytes),
    }
