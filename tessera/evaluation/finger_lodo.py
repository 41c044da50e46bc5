"""A contact-finger calibration that holds on a sensor it never saw: fit, allowance, leave-one-database-out.

::

    every contact database -> its genuine and impostor scores (same-position impostors where positions are known)
        -> pooled table (fit_calibration) -> allowance measured per database -> stated FMR = allowance x table
    leave one database out: fit all of that on the others, measure the FMR on the one left out

Why an allowance, and how it is measured (:func:`fit_contact_calibration`)
    A pooled table is dominated by the database with the most impostor
    comparisons (CrossMatch: 51 fingers, 81,600 cross-finger pairs against
    2,880 for each FVC set), and one sensor's impostor scores can sit well
    above another's. So every database counts once, whatever its size: at
    the pooled table's thresholds for FMR 1e-2, 1e-3 and 1e-4, each
    database's own FMR is measured where it has enough comparisons to measure
    it (at least :data:`MIN_EXPECTED_FALSE_MATCHES` expected at that rate),
    and the largest ratio "database FMR / table FMR", at least 1, becomes the
    calibration's ``fmr_allowance``: every stated rate is the table's times
    it (:class:`tessera.match.calibration.Calibration`). The worst database
    sets it, not the largest.

Same finger position
    The service compares a probe with the reference of the *same* finger
    position, while a cross-finger impostor set mixes positions. Where the
    positions are known (CrossMatch: ``person_finger`` with ISO finger codes
    3-8), only same-position pairs of two people are impostors. Where they
    are not (FVC sets), every cross-finger pair is, and their rates are
    multiplied by the *position allowance* measured where both are known:
    the largest ratio, at the thresholds where the any-finger FMR of that
    database is 1e-2 and 1e-3, of its same-position FMR to its any-finger
    FMR (:func:`position_allowance`), at least 1.

What leave-one-database-out shows (:func:`leave_one_database_out`)
    Each database in turn is left out; the whole procedure (table, position
    allowance, database allowance) is run on the others, and the FMR measured
    on the one left out at the thresholds stated for 1e-3 and 1e-4. The
    ratio "measured / stated" is what a programme bringing a new sensor can
    expect; ``resolvable`` says whether the database left out has enough
    comparisons to measure the rate at all (at 1e-4, 2,880 pairs expect 0.3
    false matches: one observed is a ratio of 3.5 and none a ratio of 0).
    The same is done with the previous procedure (every cross-finger pair
    pooled, no allowance) for comparison.

The impostor comparisons of a database share images, so they are not
independent: counts are exact, the uncertainty is larger than a binomial
count suggests.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tessera.match.calibration import Calibration, CalibrationConfig, FmrBeyondCalibration, fit_calibration

CONTACT_DATABASES = ("DB1_B", "DB2_B", "DB3_B", "DB4_B", "FVC2002_DB1_B", "CrossMatch")
"""Every shared contact database: FVC2004 DB1-3 (real), DB4 (synthetic, SFinGe), FVC2002 DB1, CrossMatch."""

LODO_TARGETS = (1e-3, 1e-4)
"""The stated FMRs checked on the database left out."""

ALLOWANCE_TARGETS = (1e-2, 1e-3, 1e-4)
"""The table FMRs at which each database's own FMR is measured for the allowance."""

POSITION_TARGETS = (1e-2, 1e-3)
"""The any-finger FMRs at which the same-position FMR is compared with it."""

MIN_EXPECTED_FALSE_MATCHES = 3.0
"""A database measures a rate only if it expects at least this many false matches there (n x rate >= 3)."""

SAME_POSITION = "same_position"
ANY_FINGER = "any_finger"
FINGER_SCORE_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class ContactSet:
    """The scores of one contact database that a calibration is fitted on or checked against.

    Attributes
    ----------
    name : str
    genuine : numpy.ndarray
        Every pair of impressions of one finger, both templated.
    impostor : numpy.ndarray
        Same-position pairs of two people (``impostor_kind`` ``same_position``), or every cross-finger pair
        (``any_finger``) where positions are unknown; both templated.
    impostor_kind : str
    any_finger_impostor : numpy.ndarray
        Every cross-finger pair, whatever ``impostor_kind`` (for the position allowance).
    """

    name: str
    genuine: np.ndarray
    impostor: np.ndarray
    impostor_kind: str
    any_finger_impostor: np.ndarray


def finger_position(finger_id: str) -> int | None:
    """The ISO/IEC 19794-2 finger position in a finger id, or None where the database does not say.

    CrossMatch ids are ``CrossMatch:<person>_<finger>`` (finger 3-8), contactless DS1 ids
    ``DS1:<subject>_<finger>`` (1-10); FVC ids (``DB1_B:101``) name a finger, not its position.
    """
    name, _, local = finger_id.partition(":")
    if name not in ("CrossMatch", "DS1") or "_" not in local:
        return None
    position = int(local.rsplit("_", 1)[1])
    return position if 1 <= position <= 10 else None


def same_position_mask(fingers: Sequence[str]) -> np.ndarray | None:
    """For every cross-finger pair in :func:`tessera.evaluation.fvc.every_impostor_pair` order, whether both
    fingers have one position (and so belong to two people); None when a position is unknown."""
    positions = [finger_position(finger) for finger in fingers]
    if any(position is None for position in positions):
        return None
    mask = [
        positions[i] == positions[j]
        for i in range(len(fingers))
        for j in range(i + 1, len(fingers))
        if fingers[i] != fingers[j]
    ]
    return np.array(mask, dtype=bool)


def contact_sets(
    data: Path | str, cache_dir: Path | None, workers: int, progress: bool = True, names=CONTACT_DATABASES
) -> list[ContactSet]:
    """Template (or read from the cache) every contact database under ``data`` and collect its scores.

    Raises
    ------
    FileNotFoundError
        One of ``names`` is not under ``data``.
    """
    from tessera.evaluation.fvc import database_scores, extract_all, find_databases

    databases = {database.name: database for database in find_databases(data) if database.name in names}
    missing = [name for name in names if name not in databases]
    if missing:
        raise FileNotFoundError(f"the contact databases {', '.join(missing)} are not under {data}")
    jobs = [(path, "contact", databases[name].ppi) for name in names for path in databases[name].files]
    extractions = extract_all(jobs, cache_dir, workers, progress)
    scores, start = {}, 0
    for name in names:
        part = extractions[start : start + len(databases[name].files)]
        start += len(part)
        scores[name] = database_scores(databases[name], part)[0]  # every pair's score; no bootstrap
    fingers = {name: databases[name].fingers for name in names}
    sets = []
    for name in names:
        entry = scores[name]
        genuine = entry.genuine[entry.genuine_templated]
        any_finger = entry.impostor[entry.impostor_templated]
        same = same_position_mask(fingers[name])
        if same is None:
            sets.append(ContactSet(name, genuine, any_finger, ANY_FINGER, any_finger))
        else:
            impostor = entry.impostor[entry.impostor_templated & same]
            sets.append(ContactSet(name, genuine, impostor, SAME_POSITION, any_finger))
    return sets


def rate_at(scores: np.ndarray, threshold: float) -> tuple[float, int]:
    """The fraction and count of ``scores`` at or above ``threshold`` (a comparison matches at ``>=``)."""
    count = int(np.count_nonzero(scores >= threshold))
    return count / max(scores.size, 1), count


def position_allowance(sets: Sequence[ContactSet]) -> dict:
    """How much higher the same-position FMR is than the any-finger FMR, where positions are known.

    Returns
    -------
    dict
        ``factor`` (at least 1; 1 with no database of known positions, said in ``note``) and the ``rows``
        measured: database, any-finger target, threshold, both rates and counts.
    """
    rows: list[dict[str, Any]] = []
    for entry in sets:
        if entry.impostor_kind != SAME_POSITION:
            continue
        ordered = np.sort(entry.any_finger_impostor)
        for target in POSITION_TARGETS:
            # The lowest threshold at which the any-finger FMR is at most the target.
            allowed = int(math.floor(target * ordered.size))
            threshold = float(np.nextafter(ordered[ordered.size - allowed - 1], math.inf))
            any_rate, any_count = rate_at(ordered, threshold)
            same_rate, same_count = rate_at(entry.impostor, threshold)
            rows.append(
                {
                    "database": entry.name,
                    "any_finger_target": target,
                    "threshold": round(threshold, 6),
                    "any_finger_fmr": round(any_rate, 7),
                    "any_finger_false_matches": any_count,
                    "n_any_finger": int(ordered.size),
                    "same_position_fmr": round(same_rate, 7),
                    "same_position_false_matches": same_count,
                    "n_same_position": int(entry.impostor.size),
                    "ratio": round(same_rate / any_rate, 3) if any_count else None,
                }
            )
    ratios = [float(row["ratio"]) for row in rows if row["ratio"] is not None]
    if not ratios:
        return {"factor": 1.0, "rows": rows, "note": "no database with known finger positions: no allowance measured"}
    return {"factor": max(1.0, max(ratios)), "rows": rows}


def database_allowance(table: Calibration, sets: Sequence[ContactSet], position_factor: float) -> dict:
    """The factor that makes the table's stated FMR hold on every database (each counted once), and the rows.

    At each of :data:`ALLOWANCE_TARGETS` the table's threshold is applied to each database that can measure
    that rate; an any-finger database's FMR is multiplied by ``position_factor``.
    """
    rows: list[dict[str, Any]] = []
    for target in ALLOWANCE_TARGETS:
        try:
            threshold = table.threshold_for_fmr(target)
        except FmrBeyondCalibration:
            continue
        for entry in sets:
            if entry.impostor.size * target < MIN_EXPECTED_FALSE_MATCHES:
                continue
            rate, count = rate_at(entry.impostor, threshold)
            factor = position_factor if entry.impostor_kind == ANY_FINGER else 1.0
            rows.append(
                {
                    "database": entry.name,
                    "table_fmr": target,
                    "threshold": round(threshold, 6),
                    "measured_fmr": round(rate, 7),
                    "false_matches": count,
                    "n_impostor": int(entry.impostor.size),
                    "position_factor": round(factor, 3),
                    "ratio": round(rate * factor / target, 3),
                }
            )
    worst = max((row["ratio"] for row in rows), default=1.0)
    return {"factor": round(max(1.0, worst), 3), "rows": rows}


def fit_contact_calibration(
    sets: Sequence[ContactSet],
    *,
    algorithm: str,
    data: dict | None = None,
    config: CalibrationConfig = CalibrationConfig(),
    created: datetime | None = None,
    allowance: bool = True,
) -> Calibration:
    """Fit the pooled table on ``sets`` and widen it by the measured allowance (see the module docstring).

    ``allowance=False`` fits the table alone (the previous procedure). The allowance's measurement goes to the
    calibration's ``data["fmr_allowance"]``.
    """
    genuine = np.concatenate([entry.genuine for entry in sets])
    impostor = np.concatenate([entry.impostor for entry in sets])
    record = dict(data or {})
    table = fit_calibration(
        genuine,
        impostor,
        modality="finger",
        algorithm=algorithm,
        data=record,
        score_range=FINGER_SCORE_RANGE,
        config=config,
        created=created or datetime.now(UTC),
    )
    if not allowance:
        return table
    position = position_allowance(sets)
    by_database = database_allowance(table, sets, position["factor"])
    record["fmr_allowance"] = {
        "factor": by_database["factor"],
        "how": "the largest ratio, over the databases fitted (each counted once, where it expects at least "
        f"{MIN_EXPECTED_FALSE_MATCHES:g} false matches) and the table FMRs {list(ALLOWANCE_TARGETS)}, of the "
        "database's own FMR (times the position factor for a database of unknown finger positions) to the "
        "table's; at least 1",
        "position": position,
        "databases": by_database["rows"],
    }
    return dataclasses.replace(table, data=record, fmr_allowance=by_database["factor"])


def leave_one_database_out(
    sets: Sequence[ContactSet], *, algorithm: str, config: CalibrationConfig = CalibrationConfig()
) -> dict:
    """Fit on every database but one, measure the FMR on that one; for each database, both procedures.

    Returns
    -------
    dict
        ``rows``: one per database left out, procedure (``allowance``: this module's; ``pooled``: every
        cross-finger pair pooled, no allowance) and target: the stated FMR, the threshold, the measured FMR,
        false matches, comparisons, ``ratio`` (measured / stated), ``resolvable``, the FNMR on the database
        left out, and the allowance the others gave. ``worst``: the largest ratio per procedure and target,
        over every database and over the resolvable ones only.
    """
    rows: list[dict[str, Any]] = []
    for held_out in sets:
        others = [entry for entry in sets if entry is not held_out]
        pooled_others = [dataclasses.replace(entry, impostor=entry.any_finger_impostor) for entry in others]
        fits = {
            "allowance": fit_contact_calibration(others, algorithm=algorithm, config=config),
            "pooled": fit_contact_calibration(pooled_others, algorithm=algorithm, config=config, allowance=False),
        }
        for procedure, calibration in fits.items():
            impostor = held_out.impostor if procedure == "allowance" else held_out.any_finger_impostor
            for target in LODO_TARGETS:
                row: dict = {
                    "held_out": held_out.name,
                    "procedure": procedure,
                    "stated_fmr": target,
                    "impostor_kind": held_out.impostor_kind if procedure == "allowance" else ANY_FINGER,
                    "n_impostor": int(impostor.size),
                    "resolvable": bool(impostor.size * target >= MIN_EXPECTED_FALSE_MATCHES),
                    "allowance": calibration.fmr_allowance,
                }
                try:
                    threshold = calibration.threshold_for_fmr(target)
                except FmrBeyondCalibration as error:
                    rows.append({**row, "threshold": None, "note": str(error)})
                    continue
                rate, count = rate_at(impostor, threshold)
                rows.append(
                    {
                        **row,
                        "threshold": round(threshold, 6),
                        "measured_fmr": round(rate, 7),
                        "false_matches": count,
                        "ratio": round(rate / target, 3),
                        "fnmr": round(float(np.mean(held_out.genuine < threshold)), 5),
                    }
                )
    worst = {}
    for procedure in ("allowance", "pooled"):
        for target in LODO_TARGETS:
            mine = [r for r in rows if r["procedure"] == procedure and r["stated_fmr"] == target and "ratio" in r]
            resolvable = [r for r in mine if r["resolvable"]]
            worst[f"{procedure}@{target:g}"] = {
                "every_database": max((r["ratio"] for r in mine), default=None),
                "resolvable_only": max((r["ratio"] for r in resolvable), default=None),
                "worst_database": max(mine, key=lambda r: r["ratio"])["held_out"] if mine else None,
            }
    return {"rows": rows, "worst": worst, "targets": list(LODO_TARGETS), "databases": [s.name for s in sets]}


SYNTHETIC_DATABASES = ("DB4_B",)
"""Contact databases of synthetic prints (FVC2004 DB4: SFinGe)."""


def without_synthetic(
    sets: Sequence[ContactSet], *, algorithm: str, config: CalibrationConfig = CalibrationConfig()
) -> dict:
    """The choice left open: the contact calibration fitted with and without the synthetic database, side by side.

    For each fit (every database; the real ones only): its allowance, and on every database its FNMR and
    measured / stated FMR at the thresholds stated for 1e-3 and 1e-4 (in sample for the databases fitted, held out
    for the synthetic one when it is left out); and the real databases left out one at a time from the real-only fit
    (measured / stated FMR on the one left out), to see whether the real-only statement holds on an unseen real
    sensor.
    """
    real = [entry for entry in sets if entry.name not in SYNTHETIC_DATABASES]
    fits = {"every_database": list(sets), "real_only": real}
    rows: list[dict[str, Any]] = []
    for name, chosen in fits.items():
        calibration = fit_contact_calibration(chosen, algorithm=algorithm, config=config)
        for target in LODO_TARGETS:
            try:
                threshold = calibration.threshold_for_fmr(target)
            except FmrBeyondCalibration:
                continue
            for entry in sets:
                rate, count = rate_at(entry.impostor, threshold)
                factor = (
                    calibration.data["fmr_allowance"]["position"]["factor"]
                    if entry.impostor_kind == ANY_FINGER
                    else 1.0
                )
                rows.append(
                    {
                        "fit": name,
                        "allowance": calibration.fmr_allowance,
                        "stated_fmr": target,
                        "threshold": round(threshold, 6),
                        "database": entry.name,
                        "fitted": entry in chosen,
                        "fnmr": round(float(np.mean(entry.genuine < threshold)), 5),
                        "false_matches": count,
                        "n_impostor": int(entry.impostor.size),
                        "ratio": round(rate * factor / target, 3),
                    }
                )
    held_out = leave_one_database_out(real, algorithm=algorithm, config=config)
    return {
        "rows": rows,
        "real_only_leave_one_out": [row for row in held_out["rows"] if row["procedure"] == "allowance"],
        "worst_real_only_leave_one_out": {k: v for k, v in held_out["worst"].items() if k.startswith("allowance")},
    }


def lodo_figure(result: dict, path: Path) -> Path:
    """Bars of "measured / stated FMR" per database left out, at each target, for both procedures (log scale)."""
    from tessera.evaluation.figures import plt, save_figure

    names = result["databases"]
    figure, axes = plt.subplots(1, len(LODO_TARGETS), figsize=(6 * len(LODO_TARGETS), 4), squeeze=False)
    for axis, target in zip(axes[0], LODO_TARGETS):
        for offset, (procedure, colour) in enumerate((("pooled", "#bbbbbb"), ("allowance", "#2a6f97"))):
            values = []
            for name in names:
                row = next(
                    r
                    for r in result["rows"]
                    if r["held_out"] == name and r["procedure"] == procedure and r["stated_fmr"] == target
                )
                # A ratio of 0 (no false match) is drawn at the floor so that the bar stays visible.
                values.append(max(row.get("ratio") or 0.0, 0.05))
            positions = np.arange(len(names)) + (offset - 0.5) * 0.4
            axis.bar(positions, values, width=0.4, color=colour, label=procedure)
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.axhline(2.0, color="#c0392b", linestyle="--", linewidth=0.8, label="2x the stated FMR")
        axis.set_yscale("log")
        axis.set_xticks(np.arange(len(names)), names, rotation=30, fontsize=8)
        axis.set_ylabel("measured FMR / stated FMR (held-out database)")
        axis.set_title(f"stated FMR {target:g}")
        axis.legend(fontsize=8)
    return save_figure(figure, path, dpi=90)


def write_lodo_report(data: Path | str, out: Path | str, cache_dir: Path | None, workers: int) -> dict:
    """``tessera eval finger-lodo``: template (cached), run :func:`leave_one_database_out`, write ``report.json``
    and ``lodo.png`` into ``out``; return the report."""
    import json

    from tessera.finger.pipeline import ALGORITHM
    from tessera.match.mcc import ALGORITHM as MATCHER

    sets = contact_sets(data, cache_dir, workers, progress=False)
    result = leave_one_database_out(sets, algorithm=f"{ALGORITHM}+{MATCHER}")
    result["sets"] = {
        entry.name: {
            "n_genuine": int(entry.genuine.size),
            "n_impostor": int(entry.impostor.size),
            "impostor_kind": entry.impostor_kind,
            "n_any_finger_impostor": int(entry.any_finger_impostor.size),
        }
        for entry in sets
    }
    result["position_allowance"] = position_allowance(sets)
    result["without_synthetic"] = without_synthetic(sets, algorithm=f"{ALGORITHM}+{MATCHER}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result["figure"] = lodo_figure(result, out / "lodo.png").name
    (out / "report.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result
