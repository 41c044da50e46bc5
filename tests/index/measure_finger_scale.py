"""One finger search over a gallery of 100,000 templates, run end to end: exact scan and prefilter side by side.

Run from the repository: ``python -m tests.index.measure_finger_scale [SIZE [PROBES [DATA]]]`` (SIZE templates,
default 100,000; PROBES searches, default 3; DATA the folder of the contact fingerprint databases, default
``../shared/data/finger``; templates come from the evaluation's cache, see ``tessera eval finger-index``).

The gallery holds the real enrolled fingers (the first impression of each finger of every contact database)
and a synthetic fill up to SIZE: real templates of the fingers *not* searched, each copy rotated (up to ±30°),
moved (up to ±40 pixels) and missing 10-30 % of its minutiae's cylinders, so that no two codes are alike and
no fill template is a mate of a probe. The probes are second impressions of PROBES real fingers.

For each probe, in one run and on one core (CPU time, ``time.process_time``, one BLAS thread as a search
uses: :data:`tessera.index.matrix.BLAS_THREADS`):

- **exact scan**: exact MCC of the probe with every template of the gallery;
- **prefilter**: the index's shortlist (:func:`tessera.index.finger.shortlist`: the code's similarity over
  every template, the geometric re-score, the default penetration rate) and exact MCC of the shortlist. The
  code similarity alone (:func:`~tessera.index.finger_prefilter.prefilter_scores`) is timed again on its own,
  so that the shortlist's cost splits into the code similarity and the re-score with the selection.

The exact scan is scored block by block (a stacked MCC gallery of 100,000 templates would take ~8 GB, more
than a shared machine should hold); what is timed is the scoring, as an index that holds its stacked gallery
spends it. It prints one ``key=value`` line per probe (CPU seconds, the rank-1 answer of both, whether they
agree and whether each found the mate) and one of the minimum and median CPU seconds per search of each
method and stage, and memory per template.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from tessera.evaluation.finger_index import contact_templates
from tessera.evaluation.fvc import default_cache_dir
from tessera.index.finger import shortlist
from tessera.index.finger_prefilter import (
    DEFAULT_PREFILTER_CONFIG,
    PrefilterGallery,
    prefilter_code,
    prefilter_gallery,
    prefilter_scores,
)
from tessera.index.matrix import BLAS_THREADS
from tessera.match.mcc import MccTemplate, mcc_gallery, mcc_scores

BLOCK = 4000
"""Fill templates made, coded and exactly scored at a time (bounds the memory of the exact scan)."""
SEED = 20261203


def perturbed(source: MccTemplate, number: int) -> MccTemplate:
    """Fill template ``number``: ``source`` turned, moved and missing some cylinders (a pure function of both)."""
    rng = np.random.default_rng((SEED, number))
    keep = np.sort(rng.permutation(len(source))[: max(2, int(round(len(source) * rng.uniform(0.7, 0.9))))])
    turn = rng.uniform(-np.pi / 6, np.pi / 6)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]], np.float32)
    xy = source.xy[keep] @ rotation.T + rng.uniform(-40, 40, 2).astype(np.float32)
    angles = np.mod(source.angles[keep] + turn, 2 * np.pi).astype(np.float32)
    return MccTemplate(
        xy=xy.astype(np.float32),
        angles=angles,
        cylinders=source.cylinders[keep],
        energy=source.energy[keep],
        validity=source.validity[keep],
        minutiae_count=keep.size,
    )


def main(size: int, probe_count: int, data: Path) -> None:
    clock = time.process_time
    config = DEFAULT_PREFILTER_CONFIG
    sets = contact_templates(data, default_cache_dir())
    rng = np.random.default_rng(SEED)
    enrolled: list[MccTemplate] = []
    fingers: list[tuple[MccTemplate, list[MccTemplate]]] = []  # (enrolled, other impressions) per finger
    for gallery, probes, _ in sets.values():
        for position, template in enumerate(gallery):
            enrolled.append(template)
            fingers.append((template, [probe for probe, mate in probes if mate == position]))
    searched = [int(n) for n in rng.choice([n for n, f in enumerate(fingers) if f[1]], probe_count, replace=False)]
    probes = [(fingers[n][1][0], n) for n in searched]  # a second impression; its mate is row n of the gallery
    sources = [t for n, (first, others) in enumerate(fingers) if n not in searched for t in [first, *others]]
    fill = size - len(enrolled)

    def template(row: int) -> MccTemplate:
        if row < len(enrolled):
            return enrolled[row]
        number = row - len(enrolled)
        return perturbed(sources[number % len(sources)], number)

    cylinders = config.cylinders
    codes: PrefilterGallery | None = None
    exact_seconds = np.zeros(len(probes))
    exact_best = [(-1.0, -1)] * len(probes)
    mcc_bytes = 0
    for start in range(0, size, BLOCK):
        rows = range(start, min(size, start + BLOCK))
        block = [template(row) for row in rows]
        block_codes = prefilter_gallery([prefilter_code(t, config) for t in block], config)
        if codes is None:
            codes = PrefilterGallery(
                np.empty((block_codes.vectors.shape[0], size * cylinders), np.float32),
                np.empty((2, size * cylinders), np.float32),
                np.empty((size * cylinders, 2), block_codes.points.dtype),
                cylinders,
            )
        columns = slice(start * cylinders, rows.stop * cylinders)
        codes.vectors[:, columns] = block_codes.vectors
        codes.directions[:, columns] = block_codes.directions
        codes.points[columns] = block_codes.points
        stacked = mcc_gallery(block)
        mcc_bytes += sum(a.nbytes for a in vars(stacked).values() if isinstance(a, np.ndarray))
        for number, (probe, _) in enumerate(probes):
            began = clock()
            scores = mcc_scores(probe, stacked)
            exact_seconds[number] += clock() - began
            best = int(np.argmax(scores))
            if scores[best] > exact_best[number][0]:
                exact_best[number] = (float(scores[best]), start + best)
        del block, stacked
    assert codes is not None
    everyone = np.arange(size)
    stages = np.zeros((len(probes), 4))  # code similarity, shortlist (code similarity + re-score), re-rank, total
    agree = found_exact = found_prefilter = 0
    for number, (probe, mate) in enumerate(probes):
        began = clock()
        prefilter_scores(prefilter_code(probe, config), codes, config)
        stages[number, 0] = clock() - began
        began = clock()
        chosen = shortlist(prefilter_code(probe, config), codes, everyone, config)
        stages[number, 1] = clock() - began
        stacked = mcc_gallery([template(int(row)) for row in chosen])  # an index holds this stacked already
        began = clock()
        scores = mcc_scores(probe, stacked)
        stages[number, 2] = clock() - began
        stages[number, 3] = stages[number, 1] + stages[number, 2]
        answer = int(chosen[int(np.argmax(scores))])
        agree += answer == exact_best[number][1]
        found_exact += exact_best[number][1] == mate
        found_prefilter += answer == mate
        print(
            f"probe={number} gallery={size} shortlist={chosen.size} exact_cpu_s={exact_seconds[number]:.2f} "
            f"prefilter_cpu_s={stages[number, 3]:.2f} shortlist_cpu_s={stages[number, 1]:.2f} "
            f"code_similarity_cpu_s={stages[number, 0]:.2f} rerank_cpu_s={stages[number, 2]:.2f} "
            f"exact_rank1={exact_best[number][1]} prefilter_rank1={answer} mate={mate}",
            flush=True,
        )
    low, middle = stages.min(axis=0), np.median(stages, axis=0)
    print(
        f"gallery={size} real_enrolled={len(enrolled)} fill={fill} probes={len(probes)} "
        f"exact_cpu_s_min={exact_seconds.min():.2f} exact_cpu_s_median={np.median(exact_seconds):.2f} "
        f"prefilter_cpu_s_min={low[3]:.2f} prefilter_cpu_s_median={middle[3]:.2f} "
        f"code_similarity_cpu_s_median={middle[0]:.2f} rescore_and_selection_cpu_s_median={middle[1] - middle[0]:.2f} "
        f"rerank_cpu_s_median={middle[2]:.2f} "
        f"exact_us_per_template_median={np.median(exact_seconds) / size * 1e6:.1f} "
        f"speedup_median={np.median(exact_seconds / stages[:, 3]):.1f} same_rank1={agree}/{len(probes)} "
        f"mate_rank1_exact={found_exact}/{len(probes)} mate_rank1_prefilter={found_prefilter}/{len(probes)} "
        f"mcc_stacked_kb_per_template={mcc_bytes / size / 1024:.1f} "
        f"code_stacked_kb_per_template={codes.nbytes / size / 1024:.1f}"
    )


if __name__ == "__main__":
    arguments = sys.argv[1:]
    with threadpool_limits(BLAS_THREADS, "blas"):
        main(
            int(arguments[0]) if arguments else 100_000,
            int(arguments[1]) if len(arguments) > 1 else 3,
            Path(arguments[2])
            if len(arguments) > 2
            else Path(__file__).parents[2].parent / "shared" / "data" / "finger",
        )
