"""The report's figures, drawn with matplotlib (Agg backend: no display needed).

One function per figure; each takes the protocol results it shows and a
path, writes a PNG there and returns the path. A report saves its figures
beside its ``report.json`` and names each by :func:`report_path`, so the
names it writes are the files it saved.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from tessera.evaluation.metrics import probit

DPI = 120
_TICKS = np.array([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5])
_TICK_LABELS = ["1e-6", "1e-5", "1e-4", "0.1%", "1%", "5%", "20%", "50%"]


def det_figure(verification, view2, identification, path: Path) -> Path:
    """DET curves (FNMR against FMR on normal-deviate axes): 1:1 over all pairs and the listed pairs; 1:N FNIR against
    FPIR."""
    figure, axis = plt.subplots(figsize=(6.4, 5.4))
    _, fmr, fnmr = verification.det
    axis.plot(probit(fmr), probit(fnmr), label=f"1:1, every pair ({verification.scores.n_impostor:,} impostor)")
    if view2 is not None:
        genuine = np.sort(view2.scores[view2.same])
        impostor = np.sort(view2.scores[~view2.same]).astype(np.float32)
        from tessera.evaluation.metrics import det_curve

        _, fmr2, fnmr2 = det_curve(genuine, impostor)
        axis.plot(probit(fmr2), probit(fnmr2), label=f"1:1, listed pairs ({impostor.size:,} impostor)")
    if identification is not None:
        fpir, fnir = identification.tradeoff
        axis.plot(probit(fpir), probit(fnir), linestyle="--", label="1:N, FNIR against FPIR")
    operating = verification.operating_threshold
    axis.plot(
        probit(verification.fmr_at_operating_threshold),
        probit(verification.fnmr_at_operating_threshold),
        "o",
        color="black",
        label=f"operating threshold {operating:.3f}",
    )
    axis.set_xticks(probit(_TICKS), _TICK_LABELS)
    axis.set_yticks(probit(_TICKS), _TICK_LABELS)
    axis.set_xlim(float(probit(1e-7)), float(probit(0.5)))
    axis.set_ylim(float(probit(1e-4)), float(probit(0.5)))
    axis.set_xlabel("false match rate (FMR) / false positive identification rate (FPIR)")
    axis.set_ylabel("false non-match rate (FNMR) / FNIR")
    axis.set_title("DET curve (lower left is better)")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="upper right")
    return save_figure(figure, path)


def det_comparison_figure(report_paths: Sequence[Path | str], path: Path | str) -> Path:
    """One DET plot of several ``tessera eval`` reports' every-pair 1:1 results, one curve per report.

    Each curve goes through the points a ``report.json`` keeps: the EER and the
    FNMR at FMR 1e-2 ... 1e-6 over every pair, each with its 95 % bootstrap
    interval; a filled dot marks the service's operating threshold.

    Parameters
    ----------
    report_paths : sequence of path
        ``report.json`` files written by :func:`tessera.evaluation.harness.evaluate`;
        each curve is labelled with its template algorithm.
    path : path
        Where the PNG goes.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        ``report_paths`` is empty, or a report holds no every-pair verification.
    """
    if not report_paths:
        raise ValueError("report_paths must name at least one report.json; got none")
    figure, axis = plt.subplots(figsize=(6.4, 5.4))
    for report_path in report_paths:
        report = json.loads(Path(report_path).read_text())
        if "verification" not in report:
            raise ValueError(f"report {report_path} holds no 'verification' (every-pair 1:1) results")
        verification = report["verification"]
        meta = report["tessera_eval"]
        algorithm = meta.get("algorithm") or meta["pipeline"]["algorithm"]
        levels = sorted(
            (float(level), fnmr, verification["fnmr_at_fmr_ci95"].get(level))
            for level, fnmr in verification["fnmr_at_fmr"].items()
            if fnmr is not None
        )
        points = sorted(
            [(verification["eer"], verification["eer"], verification.get("eer_ci95"))] + levels, key=lambda p: p[0]
        )
        fmr = np.array([point[0] for point in points])
        fnmr = np.array([point[1] for point in points])
        (line,) = axis.plot(
            probit(fmr), probit(fnmr), marker="o", markersize=3, label=f"{algorithm} (EER {verification['eer']:.2%})"
        )
        for level, _, interval in points:
            if interval is not None:
                axis.plot(probit([level, level]), probit(interval), color=line.get_color(), linewidth=1, alpha=0.6)
        operating = verification["operating_threshold"]
        axis.plot(probit(operating["fmr"]), probit(operating["fnmr"]), "o", color=line.get_color(), markersize=8)
    axis.set_xticks(probit(_TICKS), _TICK_LABELS)
    axis.set_yticks(probit(_TICKS), _TICK_LABELS)
    axis.set_xlim(float(probit(5e-7)), float(probit(0.05)))
    axis.set_ylim(float(probit(2e-3)), float(probit(0.9)))
    axis.set_xlabel("false match rate (FMR)")
    axis.set_ylabel("false non-match rate (FNMR), refused photos included")
    axis.set_title("1:1 DET over every pair (bars: 95 % CI; big dot: service threshold)", fontsize=10)
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="upper right")
    return save_figure(figure, Path(path))


def histogram_figure(verification, path: Path) -> Path:
    """Genuine and impostor score histograms (log density) with the operating threshold."""
    scores = verification.scores
    genuine, impostor = scores.genuine, scores.impostor
    figure, axis = plt.subplots(figsize=(7.0, 4.2))
    finite_genuine = genuine[np.isfinite(genuine)]
    finite_impostor = impostor[np.isfinite(impostor)]
    lowest = min(finite_impostor.min(initial=1.0), finite_genuine.min(initial=1.0))
    bins = np.linspace(np.floor(lowest * 20) / 20, 1.0, 241)
    impostor_counts, _ = np.histogram(finite_impostor, bins=bins)
    genuine_counts, _ = np.histogram(finite_genuine, bins=bins)
    width = bins[1] - bins[0]
    axis.stairs(
        impostor_counts / max(impostor.size, 1) / width,
        bins,
        fill=True,
        alpha=0.5,
        label=f"impostor ({impostor.size:,})",
    )
    axis.stairs(
        genuine_counts / max(genuine.size, 1) / width,
        bins,
        fill=True,
        alpha=0.5,
        label=f"genuine ({genuine.size:,}; {genuine.size - finite_genuine.size} with a refused image)",
    )
    axis.axvline(
        verification.operating_threshold,
        color="black",
        linestyle="--",
        label=f"operating threshold {verification.operating_threshold:.3f}",
    )
    axis.set_yscale("log")
    axis.set_xlabel("comparison score (cosine similarity)")
    axis.set_ylabel("density (log scale)")
    axis.set_title("Score distributions, every pair of images")
    axis.legend(fontsize=8)
    axis.grid(True, alpha=0.3)
    return save_figure(figure, path)


def gallery_size_figure(identification, path: Path) -> Path:
    """FPIR against gallery size: at the service's threshold for N, and at the fixed 1:1 threshold."""
    figure, axis = plt.subplots(figsize=(6.4, 4.4))
    for name, label, style in (
        ("service", "service threshold (rises with N)", "o-"),
        ("fixed", "fixed 1:1 threshold", "s-"),
    ):
        rows = [row for row in identification.by_gallery_size if row.get(name)]
        if not rows:
            continue
        sizes = np.array([row["gallery_size"] for row in rows])
        fpir = np.array([row[name]["fpir"] for row in rows])
        low = np.array([row[name]["fpir_ci95"][0] for row in rows])
        high = np.array([row[name]["fpir_ci95"][1] for row in rows])
        line = axis.errorbar(
            sizes,
            np.maximum(fpir, 1e-5),
            yerr=[np.maximum(fpir - low, 0), high - fpir],
            fmt=style,
            capsize=3,
            label=f"measured, {label}",
        )
        expected = [row[name]["expected_fpir"] for row in rows]
        if all(value is not None for value in expected):
            axis.plot(sizes, expected, ":", color=line[0].get_color(), label=f"claimed by the calibration, {label}")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_ylim(1e-4, 1.0)
    axis.set_xlabel("gallery size N (people enrolled)")
    axis.set_ylabel("FPIR (searches of non-enrolled people with a candidate)")
    axis.set_title("1:N false positives against gallery size")
    axis.grid(True, which="both", alpha=0.3)
    _legend(axis, fontsize=7)
    return save_figure(figure, path)


def projection_figure(identification, path: Path) -> Path:
    """Expected wrong candidates per search for N = 10^4 ... 10^9, at the fixed and at the service's threshold."""
    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    rows = identification.projection
    sizes = np.array([row["gallery_size"] for row in rows], dtype=float)
    fixed = [row.get("at_fixed_1to1_threshold", {}).get("expected_false_candidates_per_search") for row in rows]
    if all(value is not None for value in fixed):
        axis.plot(sizes, fixed, "s-", label="fixed 1:1 threshold")
    service = [
        (size, row["at_service_threshold"].get("expected_false_candidates_per_search"))
        for size, row in zip(sizes, rows)
    ]
    reachable = [(size, value) for size, value in service if value is not None]
    if reachable:
        axis.plot(*zip(*reachable), "o-", label="service threshold for N")
    for size, value in service:
        if value is None:
            axis.axvline(size, color="grey", alpha=0.3)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("gallery size N")
    axis.set_ylabel("expected wrong candidates per search")
    axis.set_title("Projection to large galleries (grey: beyond the calibration)")
    axis.grid(True, which="both", alpha=0.3)
    _legend(axis, fontsize=8)
    return save_figure(figure, path)


def calibration_figure(check, path: Path) -> Path:
    """Claimed against measured FMR on held-out comparisons, with the factor-2 band."""
    figure, axis = plt.subplots(figsize=(5.4, 5.0))
    rows = [row for row in check.rows if row.get("threshold") is not None and row["measured_fmr"]]
    if rows:
        claimed = np.array([row["claimed_fmr"] for row in rows])
        measured = np.array([row["measured_fmr"] for row in rows])
        low = np.array([row["measured_fmr_ci95"][0] for row in rows])
        high = np.array([row["measured_fmr_ci95"][1] for row in rows])
        axis.errorbar(
            claimed,
            measured,
            yerr=[measured - low, high - measured],
            fmt="o",
            capsize=3,
            label="measured (95 % Poisson interval)",
        )
    span = np.array([1e-8, 1e-1])
    axis.plot(span, span, color="black", linewidth=1, label="measured = claimed")
    axis.fill_between(span, span / 2, span * 2, color="green", alpha=0.15, label="within a factor 2")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlim(*span)
    axis.set_ylim(*span)
    axis.set_xlabel("FMR the service claims at its threshold")
    axis.set_ylabel("FMR measured on held-out comparisons")
    axis.set_title("Calibration check")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    return save_figure(figure, path)


def group_figure(attribute: str, table: dict, path: Path) -> Path:
    """Per-group FNMR and FMR at the operating threshold, with intervals."""
    groups = list(table)
    figure, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    for axis, (key, title) in zip(axes, (("refused_rate", "refused"), ("fnmr", "FNMR"), ("fmr", "FMR"))):
        values = np.array([table[group][key] or 0.0 for group in groups])
        if key != "refused_rate":
            low = np.array([table[group][f"{key}_ci95"][0] or 0.0 for group in groups])
            high = np.array([table[group][f"{key}_ci95"][1] or 0.0 for group in groups])
            axis.bar(groups, values, yerr=[np.maximum(values - low, 0), np.maximum(high - values, 0)], capsize=3)
        else:
            axis.bar(groups, values)
        axis.set_title(f"{title} by {attribute}")
        axis.tick_params(axis="x", rotation=30)
        axis.grid(True, axis="y", alpha=0.3)
    return save_figure(figure, path)


def _legend(axis, **options) -> None:
    if axis.get_legend_handles_labels()[0]:
        axis.legend(**options)


def report_path(path: Path | str, out_dir: Path | str) -> str:
    """How a report in ``out_dir`` names a figure it saved at ``path``: relative to ``out_dir``, with ``/``.

    Raises
    ------
    FileNotFoundError
        Nothing was saved at ``path``: a report never names a figure it did not write.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no figure saved at {path}; a report names only the figures it wrote")
    return path.relative_to(out_dir).as_posix()


def named_figures(report: object) -> list[str]:
    """Every figure path a report (or any part of one) names: each string value ending in ``.png``."""
    if isinstance(report, dict):
        return [name for value in report.values() for name in named_figures(value)]
    if isinstance(report, list):
        return [name for value in report for name in named_figures(value)]
    return [report] if isinstance(report, str) and report.endswith(".png") else []


def save_figure(figure, path: Path, dpi: int = DPI) -> Path:
    """Lay out ``figure``, write it to ``path`` (folders made as needed) and free it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path


def quality_limits_figure(sweeps: dict, others: Sequence, targets: dict, path: Path) -> Path:
    """Quality-gate settings: photos refused against View 2 accuracy, and FNMR against the head-turn limit.

    Parameters
    ----------
    sweeps : dict
        Label to the :class:`~tessera.evaluation.quality_limits.SettingResult` of a head-turn sweep (other limits
        held), in order of the limit; the last may be no limit (90 degrees).
    others : sequence of SettingResult
        Further settings, drawn as single points on the left.
    targets : dict
        :data:`~tessera.evaluation.quality_limits.ISSUE_TARGETS`.
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.8))
    no_limit_at = 50.0
    for number, (label, results) in enumerate(sweeps.items()):
        colour = f"C{number}"
        refused = [result.refused for result in results]
        accuracy = [100 * result.view2_accuracy for result in results]
        left.plot(refused, accuracy, "o-", color=colour, label=f"head-turn limit, {label}")
        for result, x, y in zip(results, refused, accuracy):
            yaw = result.setting.max_abs_yaw
            left.annotate(
                "none" if yaw >= 90 else f"{yaw:g}°", (x, y), fontsize=7, xytext=(3, -9), textcoords="offset points"
            )
        turns = [no_limit_at if r.setting.max_abs_yaw >= 90 else r.setting.max_abs_yaw for r in results]
        for rate, marker in ((1e-4, "o"), (1e-6, "s")):
            right.plot(
                turns,
                [100 * r.fnmr_counted[rate] for r in results],
                marker=marker,
                linestyle="-",
                color=colour,
                label=f"FMR {rate:g}, refusals counted, {label}",
            )
            right.plot(
                turns,
                [100 * r.fnmr_accepted[rate] for r in results],
                marker=marker,
                linestyle=":",
                color=colour,
                fillstyle="none",
                label=f"FMR {rate:g}, accepted pairs, {label}",
            )
    for number, result in enumerate(others):
        label = "another limit relaxed or lifted (see the table)" if number == 0 else None
        left.plot(result.refused, 100 * result.view2_accuracy, "D", color="grey", markersize=4, label=label)
        if result.refused == 0:
            left.annotate(
                "no quality gate",
                (result.refused, 100 * result.view2_accuracy),
                fontsize=7,
                xytext=(4, 3),
                textcoords="offset points",
                color="dimgrey",
            )
    left.axhline(100 * targets["view2_accuracy"], color="black", linewidth=0.8, linestyle="--", label="issue target")
    left.set_xscale("symlog", linthresh=10)
    left.set_xlim(-0.5, 1.5 * max([result.refused for results in sweeps.values() for result in results] + [10]))
    left.set_xlabel("photos refused of the 9,056 (no face found included)")
    left.set_ylabel("LFW View 2 accuracy, refused pairs as errors (%)")
    left.set_title("What each setting refuses, and View 2 accuracy")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7, loc="lower left")
    for key, rate in (("fnmr_at_1e-4", 1e-4), ("fnmr_at_1e-6", 1e-6)):
        right.axhline(100 * targets[key], color="black", linewidth=0.8, linestyle="--")
        right.annotate(
            f"target at {rate:g}", (20, 100 * targets[key]), fontsize=7, xytext=(0, 2), textcoords="offset points"
        )
    ticks = sorted(
        {
            t
            for results in sweeps.values()
            for t in (no_limit_at if r.setting.max_abs_yaw >= 90 else r.setting.max_abs_yaw for r in results)
        }
    )
    right.set_xticks(ticks, ["none" if t == no_limit_at else f"{t:g}" for t in ticks])
    right.set_yscale("log")
    right.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    right.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    right.set_xlabel("head-turn limit (degrees)")
    right.set_ylabel("every-pair FNMR (%)")
    right.set_title("FNMR at FMR 1e-4 (circles) and 1e-6 (squares)")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=6, loc="center right")
    return save_figure(figure, path)
