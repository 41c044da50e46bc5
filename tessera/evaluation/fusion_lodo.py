"""The finger fusion model on a sensor it never saw: leave one database out, one, two and four fingers.

::

    every real contact database but one -> finger ScoreModel, fitted as the shipped one is (every pair within
        each database, every cross-finger pair an impostor)
    the database left out: its impostor scores -> LLR under that model
        -> one finger: counted at the fused threshold
        -> k fingers: its LLR distribution convolved k times (independence), at the fused threshold
    measured FMR / stated FMR, at 1e-3, 1e-4 and 1e-6, with the service's safety factor and without

Why
    A contact comparison with several fingers (or a face and fingers) is
    decided by likelihood-ratio fusion (:mod:`tessera.match.fusion`), whose
    finger model is fitted on the real contact databases pooled, like the
    1:1 calibration before it learned to hold on a new sensor
    (:mod:`tessera.evaluation.finger_lodo`). The 1:1 calibration now carries a
    measured allowance; the fusion model carries none of its own and relies on
    the service's ``fusion_fmr_safety_factor``. This measures whether that
    factor covers a sensor the model never saw.

What the database left out is compared as
    The service compares fingers of one position, so the impostors of the
    database left out are those of :class:`~tessera.evaluation.finger_lodo.ContactSet`:
    same-position pairs of two people where positions are known
    (CrossMatch), every cross-finger pair otherwise. The synthetic FVC2004
    DB4 is never fitted (the shipped model leaves it out) and is left out
    like the others: a sensor no fit has seen.

What a k-finger figure rests on
    One finger: the held-out comparisons, counted (``resolvable`` when at
    least three false matches are expected at the rate). Two and four
    fingers: the held-out impostor LLRs convolved with themselves, the
    service's own independence assumption applied to the held-out sensor's
    scores; no database here holds several fingers of one person as
    impostors, so the dependence between fingers of one hand is not in it
    (:mod:`tessera.match.fusion` says what CrossMatch showed of it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tessera.evaluation.finger_lodo import MIN_EXPECTED_FALSE_MATCHES, ContactSet, contact_sets
from tessera.match.fusion import FusionConfig, ScoreModel, fit_score_model, fused_fmr, fused_threshold

FITTED_DATABASES = ("DB1_B", "DB2_B", "DB3_B", "FVC2002_DB1_B", "CrossMatch")
"""The databases the shipped finger model is fitted on (:data:`tessera.evaluation.fusion_eval.FUSION_DATABASES`)."""

TARGETS = (1e-3, 1e-4, 1e-6)
"""The fused FMRs checked on the database left out."""

FINGER_COUNTS = (1, 2, 4)
"""Fingers fused."""

FINGER_BINS = 1000
"""Score bins of the finger model (as :func:`tessera.evaluation.fusion_eval.fit_finger_model` fits it)."""

MCC_RANGE = (0.0, 1.0)

FLOOR = 0.01
"""Where the figure draws a ratio of 0 (no false match seen), so that its bar stays visible on a log scale."""


def fit_finger_model(sets: Sequence[ContactSet], config: FusionConfig | None = None) -> ScoreModel:
    """The finger :class:`ScoreModel` of ``sets`` as the shipped one is fitted: every genuine pair and every
    cross-finger pair of each database, pooled."""
    from tessera.match.mcc import ALGORITHM as MATCHER

    genuine = np.clip(np.concatenate([entry.genuine for entry in sets]), *MCC_RANGE)
    impostor = np.clip(np.concatenate([entry.any_finger_impostor for entry in sets]), *MCC_RANGE)
    return fit_score_model(
        genuine.astype(np.float64),
        impostor.astype(np.float64),
        modality="finger",
        algorithm=MATCHER,
        score_range=MCC_RANGE,
        data={"databases": [entry.name for entry in sets]},
        config=config or FusionConfig(bins=FINGER_BINS),
    )


def held_out_fmr(model: ScoreModel, impostor: np.ndarray, fingers: int, threshold: float, step: float) -> dict:
    """The FMR of a fused ``threshold`` on held-out impostor scores, ``fingers`` of them fused.

    One finger is counted exactly (``llr(score) >= threshold``); more are the held-out LLR distribution
    (each LLR rounded up to the grid of ``step``, as the model's own is) convolved ``fingers`` times.
    """
    llrs = np.asarray(model.llr(np.clip(impostor.astype(np.float64), *MCC_RANGE)))
    if fingers == 1:
        count = int(np.count_nonzero(llrs >= threshold))
        return {"measured_fmr": count / llrs.size, "false_matches": count, "rests_on": "counted"}
    one = model.impostor_pmf(step, impostor.astype(np.float64), rule_of_three=False)
    distribution = one
    for _ in range(fingers - 1):
        distribution = distribution.convolve(one)
    return {
        "measured_fmr": distribution.survival(threshold),
        "false_matches": None,
        "rests_on": f"the held-out impostor LLRs convolved {fingers} times (independence of fingers)",
    }


def leave_one_database_out(sets: Sequence[ContactSet], safety_factor: float) -> dict:
    """Fit the finger model on the fitted databases but one, measure fused FMRs on the one left out.

    Parameters
    ----------
    sets : sequence of ContactSet
        Every contact database (see :func:`tessera.evaluation.finger_lodo.contact_sets`).
    safety_factor : float
        The service's ``fusion_fmr_safety_factor``: rows are computed with it and with 1.

    Returns
    -------
    dict
        ``rows``: per database left out, fingers fused, target and safety factor: the fused threshold, the
        stated FMR at it, the measured FMR, ``ratio`` (measured / stated) and ``resolvable``. ``worst``: the
        largest ratio per fingers, target and factor, over every database and over the resolvable ones.
    """
    fitted = [entry for entry in sets if entry.name in FITTED_DATABASES]
    rows: list[dict[str, Any]] = []
    for held_out in sets:
        others = [entry for entry in fitted if entry is not held_out]
        model = fit_finger_model(others)
        for factor in sorted({1.0, float(safety_factor)}):
            config = FusionConfig(fmr_safety_factor=factor)
            for fingers in FINGER_COUNTS:
                models = [model] * fingers
                for target in TARGETS:
                    row: dict[str, Any] = {
                        "held_out": held_out.name,
                        "fitted_on": [entry.name for entry in others],
                        "fingers": fingers,
                        "target_fmr": target,
                        "safety_factor": factor,
                        "impostor_kind": held_out.impostor_kind,
                        "n_impostor": int(held_out.impostor.size),
                        "resolvable": held_out.impostor.size**fingers * target >= MIN_EXPECTED_FALSE_MATCHES,
                    }
                    threshold = fused_threshold(models, target, config)
                    if threshold is None:
                        rows.append({**row, "threshold_llr": None, "note": "the model vouches for no such rate"})
                        continue
                    stated, basis = fused_fmr(threshold, models, config)
                    measured = held_out_fmr(model, held_out.impostor, fingers, threshold, config.llr_step)
                    rows.append(
                        {
                            **row,
                            "threshold_llr": round(threshold, 4),
                            "stated_fmr": float(f"{stated:.4g}"),
                            "basis": basis,
                            **{**measured, "measured_fmr": float(f"{measured['measured_fmr']:.4g}")},
                            "ratio": round(measured["measured_fmr"] / stated, 3),
                        }
                    )
    return {"rows": rows, "worst": _worst(rows), "databases": [entry.name for entry in sets]}


def _worst(rows: Sequence[dict]) -> list[dict]:
    keys = sorted({(row["fingers"], row["target_fmr"], row["safety_factor"]) for row in rows})
    worst = []
    for fingers, target, factor in keys:
        mine = [
            row
            for row in rows
            if (row["fingers"], row["target_fmr"], row["safety_factor"]) == (fingers, target, factor) and "ratio" in row
        ]
        real = [row for row in mine if row["held_out"] != "DB4_B"]
        resolvable = [row for row in real if row["resolvable"]]
        top = max(real, key=lambda row: row["ratio"], default=None)
        worst.append(
            {
                "fingers": fingers,
                "target_fmr": target,
                "safety_factor": factor,
                "real_databases": None if top is None else top["ratio"],
                "worst_real_database": None if top is None else top["held_out"],
                "resolvable_only": max((row["ratio"] for row in resolvable), default=None),
                "synthetic_DB4": next((row["ratio"] for row in mine if row["held_out"] == "DB4_B"), None),
            }
        )
    return worst


def fusion_lodo_figure(result: dict, path: Path) -> Path:
    """Measured / stated fused FMR per database left out, one panel per target, bars per fingers fused (log scale),
    at the service's safety factor."""
    from tessera.evaluation.figures import plt, save_figure

    names = result["databases"]
    factor = result["safety_factor"]
    figure, axes = plt.subplots(1, len(TARGETS), figsize=(6 * len(TARGETS), 4), squeeze=False)
    colours = ("#9ecae1", "#4292c6", "#08519c")
    for axis, target in zip(axes[0], TARGETS):
        for offset, (fingers, colour) in enumerate(zip(FINGER_COUNTS, colours)):
            rows = [
                next(
                    row
                    for row in result["rows"]
                    if (row["held_out"], row["fingers"], row["target_fmr"], row["safety_factor"])
                    == (name, fingers, target, factor)
                )
                for name in names
            ]
            positions = np.arange(len(names)) + (offset - 1) * 0.27
            # No false match: drawn at the floor so that the bar stays visible; no threshold: no bar, a dash.
            values = [max(row.get("ratio") or 0.0, FLOOR) if row["threshold_llr"] is not None else 0.0 for row in rows]
            axis.bar(positions, values, width=0.27, color=colour, label=f"{fingers} finger{'s' if fingers > 1 else ''}")
            for position, row in zip(positions, rows):
                if row["threshold_llr"] is None:
                    axis.text(position, FLOOR * 1.1, "–", ha="center", va="bottom", fontsize=9, color=colour)
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.axhline(2.0, color="#c0392b", linestyle="--", linewidth=0.8, label="2x the stated FMR")
        axis.set_yscale("log")
        axis.set_ylim(bottom=FLOOR * 0.8)
        axis.set_xticks(np.arange(len(names)), names, rotation=30, fontsize=8)
        axis.set_ylabel("measured / stated fused FMR (held out)\n(floor: none seen; –: no threshold)", fontsize=8)
        axis.set_title(f"fused FMR {target:g}, safety factor {factor:g}")
        axis.legend(fontsize=8)
    return save_figure(figure, path, dpi=90)


def write_fusion_lodo_report(data: Path | str, out: Path | str, cache_dir: Path | None, workers: int) -> dict:
    """``tessera eval fusion-lodo``: template (cached) every contact database, run :func:`leave_one_database_out`
    at the service's safety factor, write ``report.json`` and ``fusion-lodo.png`` into ``out``; return the report."""
    from tessera.settings import Settings

    factor = Settings().fusion_fmr_safety_factor
    sets = contact_sets(data, cache_dir, workers, progress=False)
    result = leave_one_database_out(sets, factor)
    result["safety_factor"] = factor
    result["shipped_fit_reproduced"] = shipped_fit_check(sets)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result["figure"] = fusion_lodo_figure(result, out / "fusion-lodo.png").name
    (out / "report.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


KNOT_LLR_ROUNDING = 1e-3
"""How far a refit's LLR knot may sit from the shipped one and still be the same fit: scores made on another CPU differ
in their last bits (the minutiae network's arithmetic), which moves a score at a bin edge and a knot's LLR by up to
~2e-4 (AMD EPYC against the Intel Xeon the file was fitted on, 2026-12-05); 1e-3 is a 0.1 % change of a likelihood
ratio. Another pipeline moves knots by far more, or changes their number."""


def shipped_fit_check(sets: Sequence[ContactSet]) -> dict:
    """Whether :func:`fit_finger_model` on every fitted database gives the shipped model's counts and LLR knots
    (the procedure left out one database at a time is the one that made the shipped file)."""
    from tessera.match.fusion import FUSION_MODEL_FILES, load_score_model

    shipped = load_score_model(FUSION_MODEL_FILES["finger"])
    refit = fit_finger_model([entry for entry in sets if entry.name in FITTED_DATABASES])
    same_counts = (refit.n_genuine, refit.n_impostor) == (shipped.n_genuine, shipped.n_impostor)
    same_knots = len(refit.knot_llrs) == len(shipped.knot_llrs) and bool(
        np.allclose(refit.knot_llrs, shipped.knot_llrs, atol=KNOT_LLR_ROUNDING)
        and np.allclose(refit.knot_scores, shipped.knot_scores, atol=1e-5)
    )
    return {
        "same_counts": same_counts,
        "same_knots": same_knots,
        "refit": {"n_genuine": refit.n_genuine, "n_impostor": refit.n_impostor},
        "shipped": {"n_genuine": shipped.n_genuine, "n_impostor": shipped.n_impostor},
    }
