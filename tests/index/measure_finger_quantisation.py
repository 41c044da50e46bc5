"""EER on FVC2004 with the gallery's MCC cell values narrowed to float16 or uint8 (probes stay float32).

Run from the repository: ``python -m tests.index.measure_finger_quantisation [DATA]`` (DATA defaults to
``../shared/data/finger/fvc2004``; templates come from the evaluation's cache, see ``tessera eval``). For each
width it stacks the galleries as :func:`tessera.match.mcc.mcc_gallery` does, rounds the cell values, recomputes
the energies from the rounded values, and prints the EER of every database as ``tessera eval finger`` does. A
measurement only: the index stores float32.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence

import numpy as np

import tessera.match.mcc as mcc
from tessera.evaluation.fvc import default_cache_dir, evaluate

STACK = mcc.mcc_gallery


def narrowed(width: str) -> Callable[..., mcc.MccGallery]:
    def gallery(templates: Sequence[mcc.MccTemplate], config: mcc.MccConfig = mcc.DEFAULT_MCC_CONFIG) -> mcc.MccGallery:
        stacked = STACK(templates, config)
        if width == "float16":
            cells = stacked.cylinders.astype(np.float16).astype(np.float32)
        elif width == "uint8":
            cells = (np.rint(stacked.cylinders * 255.0) / 255.0).astype(np.float32)
        else:
            return stacked
        spatial = config.spatial_cells**2
        energy = np.square(cells).reshape(spatial, config.directional_cells, -1).sum(axis=1)
        return mcc.MccGallery(
            cylinders=cells,
            energy=np.ascontiguousarray(energy, dtype=np.float32),
            validity=stacked.validity,
            directions=stacked.directions,
            angles=stacked.angles,
            padded_xy=stacked.padded_xy,
            padded_angles=stacked.padded_angles,
            padded_index=stacked.padded_index,
            counts=stacked.counts,
            order=stacked.order,
        )

    return gallery


def main(data: str) -> None:
    for width in ("float32", "float16", "uint8"):
        mcc.mcc_gallery = narrowed(width)  # score_matrix looks it up at each call
        try:
            report = evaluate(data, default_cache_dir(), workers=1, progress=False)
        finally:
            mcc.mcc_gallery = STACK
        eers = {name: round(100 * result["eer"], 3) for name, result in report["per_db"].items()}
        print(f"{width}: EER % {json.dumps(eers)} mean of real {100 * report['mean_eer_real']:.3f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/finger/fvc2004")
