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
- the **prefilter** shortlists the gallery as the index does
  (:func:`tessera.index.finger.shortlist`: the code's similarity, then the
  geometric re-score), keeps the best ``p`` of it (the penetration rate, at
  least one template) and exact MCC ranks those: it misses when the mate is
  not ranked first among them, which happens when the exact scan misses or
  when the shortlist left the mate out.

The figures are given for every database pooled (one gallery) and for each
database alone (its own gallery). As the service searches one finger
position's shard, a probe whose finger position is known (CrossMatch) is
searched among the gallery fingers of that position and those whose position
is unknown (FVC); a probe of unknown position among every gallery finger
(:func:`same_position_rows`). The penetration rate is of the fingers a probe
is searched among.

The increase of FNIR over the exact scan, per penetration rate, is what the
prefilter costs in accuracy; its 95 % interval is Newcombe's for a difference
of two rates measured on the same searches
(:func:`~tessera.evaluation.metrics.paired_difference_interval`), with the
searches it rests on (``lost``: mates the exact scan ranks first and the
prefilter does not; ``recovered``: the reverse).

Cost per search (CPU time of one core, ``time.process_time``, so that the
figures hold on a shared machine): the shortlist's cost per gallery template
(code similarity of every template, re-score of ``rescore_fraction`` of
them) is measured on a gallery of ``fill`` codes (the real codes repeated),
the exact MCC cost per shortlisted template on the real templates as the
index scores them (a subset of a stacked gallery). A search over ``N``
templates then costs ``N x shortlist + p N x exact``; 100,000 and 1,000,000
are extrapolated from those per-template costs. A search over 100,000
templates actually run, exact scan and prefilter side by side, is
``python -m tests.index.measure_finger_scale``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from tessera.evaluation.finger_lodo import finger_position
from tessera.evaluation.fvc import extract_all, find_databases
from tessera.evaluation.metrics import paired_difference_interval
from tessera.finger.template import FingerTemplate
from tessera.index.finger import shortlist
from tessera.index.finger_prefilter import (
    DEFAULT_PREFILTER_CONFIG,
    PrefilterConfig,
    PrefilterGallery,
    prefilter_code,
    prefilter_gallery,
    prefilter_scores,
)
from tessera.index.matrix import BLAS_THREADS
from tessera.match.mcc import DEFAULT_MCC_CONFIG, MccTemplate, mcc_gallery, mcc_scores, mcc_template

PENETRATION_RATES = (0.01, 0.02, 0.05, 0.1, 0.2)
SCALES = (100_000, 1_000_000)
EXACT_GALLERY = 2000
"""Templates (the real gallery repeated) stacked to measure exact MCC's cost per shortlisted template."""


def contact_templates(
    data: Path | str, cache_dir: Path | None, workers: int = 2
) -> dict[str, tuple[list[MccTemplate], list[tuple[MccTemplate, int]], list[int | None]]]:
    """Per contact database under ``data``: its gallery (the first templated impression of each finger), its
    probes (every other templated impression, with the gallery position of its mate) and the finger position
    of each gallery finger (:func:`~tessera.evaluation.finger_lodo.finger_position`; None where the database
    does not say)."""
    databases = [database for database in find_databases(data) if database.capture == "contact"]
    if not databases:
        raise FileNotFoundError(f"no contact fingerprint database under {data}")
    jobs = [(path, database.capture, database.ppi) for database in databases for path in database.files]
    extractions = iter(extract_all(jobs, cache_dir, workers, progress=False))
    sets = {}
    for database in databases:
        templates = [
            mcc_template(FingerTemplate.from_bytes(item.template).minutiae) if item.template else None
            for item in (next(extractions) for _ in database.files)
        ]
        first: dict[str, int] = {}
        for number, (finger, template) in enumerate(zip(database.fingers, templates)):
            if template is not None and finger not in first:
                first[finger] = number
        mate_of = {finger: position for position, finger in enumerate(first)}
        enrolled = set(first.values())
        gallery = [templates[number] for number in first.values()]
        probes = [
            (template, mate_of[finger])
            for number, (finger, template) in enumerate(zip(database.fingers, templates))
            if template is not None and number not in enrolled
        ]
        positions = [finger_position(finger) for finger in first]
        sets[database.name] = ([t for t in gallery if t is not None], probes, positions)
    return sets


def evaluate_finger_index(
    data: Path | str,
    cache_dir: Path | None,
    workers: int = 2,
    config: PrefilterConfig = DEFAULT_PREFILTER_CONFIG,
    fill: int = 100_000,
    rates: Sequence[float] = PENETRATION_RATES,
) -> dict:
    """Penetration rate against FNIR on every contact database under ``data``, pooled and each alone, and the
    cost per search.

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
        Gallery size on which the shortlist's cost is measured.
    rates : sequence of float
        Penetration rates reported.

    Returns
    -------
    dict
        ``data``, ``exact_fnir_rank1`` and ``accuracy`` (one row per penetration rate) of the pooled gallery,
        ``databases`` (the same for each database alone), ``cost`` and ``memory``.
    """
    sets = contact_templates(data, cache_dir, workers)
    gallery: list[MccTemplate] = []
    positions: list[int | None] = []
    probes: list[tuple[MccTemplate, int]] = []
    spans = {}
    for name, (own_gallery, own_probes, own_positions) in sets.items():
        spans[name] = (len(gallery), len(gallery) + len(own_gallery), len(probes), len(probes) + len(own_probes))
        probes += [(probe, mate + len(gallery)) for probe, mate in own_probes]
        gallery += own_gallery
        positions += own_positions
    stacked = mcc_gallery(gallery)
    exact = np.stack([mcc_scores(probe, stacked) for probe, _ in probes]) if probes else np.zeros((0, len(gallery)))
    codes = [prefilter_code(template, config) for template in gallery]
    probe_codes = [prefilter_code(probe, config) for probe, _ in probes]
    mates = np.array([mate for _, mate in probes], np.int64)
    searched = same_position_rows(positions, mates)
    pooled = _accuracy(exact, mates, searched, prefilter_gallery(codes, config), probe_codes, config, rates)
    databases = {}
    for name, (first, last, probe_first, probe_last) in spans.items():
        own_mates = mates[probe_first:probe_last] - first
        databases[name] = {
            "gallery": last - first,
            "probes": probe_last - probe_first,
            **_accuracy(
                exact[probe_first:probe_last, first:last],
                own_mates,
                same_position_rows(positions[first:last], own_mates),
                prefilter_gallery(codes[first:last], config),
                probe_codes[probe_first:probe_last],
                config,
                rates,
            ),
        }
    return {
        "data": {
            "databases": list(sets),
            "gallery": len(gallery),
            "probes": len(probes),
            "same_position": "a probe of a known finger position is searched among the gallery fingers of that "
            "position and those of unknown position (as the service searches one position's shard); a probe "
            "of unknown position among every gallery finger",
            "mean_gallery_searched": round(float(np.mean([rows.size for rows in searched])), 1) if probes else 0.0,
        },
        "config": config.as_dict(),
        **pooled,
        "databases": databases,
        "cost": _cost(gallery, [probe for probe, _ in probes], config, fill, rates),
        "memory": _memory(gallery, config),
    }


def same_position_rows(positions: Sequence[int | None], mates: np.ndarray) -> list[np.ndarray]:
    """Per probe, the gallery rows it is searched among: those of its mate's finger position and those of unknown
    position, or every row when its own position is unknown (ascending, int64)."""
    known = np.array([-1 if position is None else position for position in positions], np.int64)
    everyone = np.arange(known.size)
    return [everyone if known[mate] < 0 else np.flatnonzero((known == known[mate]) | (known < 0)) for mate in mates]


def _accuracy(
    exact: np.ndarray,
    mates: np.ndarray,
    searched: list[np.ndarray],
    codes: PrefilterGallery,
    probe_codes: list[np.ndarray],
    config: PrefilterConfig,
    rates: Sequence[float],
) -> dict:
    """FNIR at rank 1 of the exact scan and of the prefilter at each rate; ``exact`` is (probes, gallery), each
    probe searched among its rows of ``searched``.

    ``fnir_increase_interval`` is the 95 % interval of the increase (:func:`paired_difference_interval`: the same
    searches by both methods), ``lost`` the searches whose mate the exact scan ranks first and the prefilter
    does not, ``recovered`` the reverse (the shortlist left out a non-mate the exact scan ranked above the mate).
    """
    exact_ranked = np.array([_ranked_first(scores, mate, rows) for scores, mate, rows in zip(exact, mates, searched)])
    exact_fnir = 1.0 - float(exact_ranked.mean())
    code_rank = np.array(
        [
            int(np.sum(similarity[rows] >= similarity[mate]))
            for similarity, mate, rows in (
                (prefilter_scores(code, codes, config)[0], mate, rows)
                for code, mate, rows in zip(probe_codes, mates, searched)
            )
        ]
    )
    sizes = np.array([rows.size for rows in searched])
    accuracy = []
    for rate in rates:
        at_rate = replace(config, shortlist_fraction=rate, min_shortlist=1, exact_up_to=0)
        keeps = np.array([at_rate.shortlist_size(int(size)) for size in sizes])
        kept = [shortlist(code, codes, rows, at_rate) for code, rows in zip(probe_codes, searched)]
        found = np.array(
            [_ranked_first(scores, mate, k) if mate in k else False for scores, mate, k in zip(exact, mates, kept)]
        )
        fnir = 1.0 - float(found.mean())
        lost, recovered = int(np.sum(exact_ranked & ~found)), int(np.sum(~exact_ranked & found))
        low, high = paired_difference_interval(lost, recovered, int(np.sum(~exact_ranked & ~found)), found.size)
        accuracy.append(
            {
                "penetration_rate": rate,
                "shortlist": round(float(keeps.mean()), 1),
                "mate_in_code_shortlist": round(float(np.mean(code_rank <= keeps)), 4),
                "mate_in_shortlist": round(float(np.mean([mate in k for mate, k in zip(mates, kept)])), 4),
                "fnir": round(fnir, 4),
                "fnir_increase": round(fnir - exact_fnir, 4),
                "fnir_increase_interval": [round(low, 4), round(high, 4)],
                "lost": lost,
                "recovered": recovered,
                "searches": int(found.size),
            }
        )
    return {
        "exact_fnir_rank1": round(exact_fnir, 4),
        "exact_misses": int(np.sum(~exact_ranked)),
        "accuracy": accuracy,
        "median_mate_penetration": round(float(np.median(code_rank / np.maximum(sizes, 1))), 4),
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
    """CPU seconds per gallery template of the shortlist and of exact MCC, and what a search at scale costs (one
    BLAS thread, as a search runs: more threads' waiting on a busy machine counts as CPU time)."""
    with threadpool_limits(BLAS_THREADS, "blas"):
        return _timed_cost(gallery, probes, config, fill, rates)


def _timed_cost(
    gallery: list[MccTemplate], probes: list[MccTemplate], config: PrefilterConfig, fill: int, rates: Sequence[float]
) -> dict:
    clock = time.process_time
    rng = np.random.default_rng(0)
    chosen = [probes[int(number)] for number in rng.choice(len(probes), min(10, len(probes)), replace=False)]
    codes = [prefilter_code(template, config) for template in gallery]
    filled = prefilter_gallery([codes[number % len(codes)] for number in range(fill)], config)
    everyone = np.arange(fill)
    start = clock()
    for probe in chosen:
        prefilter_scores(prefilter_code(probe, config), filled, config)
    code_each = (clock() - start) / (len(chosen) * fill)
    start = clock()
    for probe in chosen:
        shortlist(prefilter_code(probe, config), filled, everyone, replace(config, min_shortlist=1, exact_up_to=0))
    shortlist_each = (clock() - start) / (len(chosen) * fill)

    stacked = mcc_gallery([gallery[number % len(gallery)] for number in range(EXACT_GALLERY)])
    members = np.sort(rng.choice(EXACT_GALLERY, EXACT_GALLERY // 2, replace=False))  # a scattered shortlist
    start = clock()
    for probe in chosen:
        mcc_scores(probe, stacked, DEFAULT_MCC_CONFIG, members=members)
    exact_each = (clock() - start) / (len(chosen) * members.size)
    return {
        "measured": f"CPU time of one core; the shortlist over {fill:,} codes (re-scoring "
        f"{config.rescore_fraction:.0%}), exact MCC over {members.size:,} of {EXACT_GALLERY:,} stacked real templates",
        "code_similarity_us_per_template": round(code_each * 1e6, 3),
        "shortlist_us_per_template": round(shortlist_each * 1e6, 3),
        "exact_us_per_template": round(exact_each * 1e6, 3),
        "per_search_seconds": [
            {
                "gallery": size,
                "exact_scan": round(size * exact_each, 2),
                **{f"prefilter_{rate:g}": round(size * shortlist_each + rate * size * exact_each, 2) for rate in rates},
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
