"""The fingerprint accuracy report: ``report.json``, ``report.html``, figures and score files.

::

    tessera eval fvc --data ../shared/data/finger --out DIR
    python -m tessera.evaluation.fvc --data ../shared/data/finger --out DIR

both call :func:`write_finger_report`, which runs :func:`tessera.evaluation.fvc.run_finger_evaluation`
(cached templates, every core), times the matcher (:func:`~tessera.evaluation.fvc.matcher_benchmark`),
runs the phone photos through the pipeline (:func:`~tessera.evaluation.fvc.phone_report`) and writes
into ``DIR``:

``report.json``
    ``{"fvc": {"per_db": {"DB1_B": {"eer": ..., ...}, ...}, "mean_eer_real": ..., "contactless": {...},
    "matcher_speed": {...}, "phone_iiitd": {...}, "figures": {...}}}``; rates are fractions.
``report.html``
    The same for people, with the figures.
``<database>.png``
    Per database: the DET curve (every cross-finger pair, and the FVC protocol's pairs) and the genuine
    and impostor score histograms.
``phone_iiitd.png``
    Each phone photo located, segmented, enhanced, its minutiae drawn.
``scores.npz``
    Every score, for fusion or further analysis: ``<database>/genuine``, ``<database>/impostor`` (every
    cross-finger pair), ``<database>/impostor_fvc``, and ``<database>/genuine_templated``,
    ``<database>/impostor_templated`` (bool: both images gave a template; else the score is 0).

With ``--for-docs`` (``for_docs=True``) only what ``docs/accuracy/fvc/`` holds is written, the copy kept in the
repository: ``report.json`` holding the ``"fvc"`` part itself (:func:`docs_copy`: the phone photos' figures per
photo, a note in place of their figure) and the figure of each database. The photos are research data, pictures of
real people's fingers: ``phone_iiitd.png`` is never drawn, and there is no ``report.html`` and no ``scores.npz``::

    tessera eval fvc --data ../shared/data/finger --out docs/accuracy/fvc --for-docs
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tessera.evaluation.fvc import (
    PHONE_FOLDER,
    DatabaseScores,
    find_databases,
    matcher_benchmark,
    phone_report,
    run_finger_evaluation,
)
from tessera.evaluation.html import RESPONSIVE_STYLE, VIEWPORT
from tessera.evaluation.html import escape as _e
from tessera.evaluation.html import interval as _ci
from tessera.evaluation.html import percent as _pct
from tessera.evaluation.html import table as _table

FINGER_FOLDERS = ("fvc2004", "fvc2002_db1", "neurotech_crossmatch", "contactless_ds1", "phone_iiitd")
"""What ``--data`` may hold (or be): see ``../shared/data/README.md``."""


def has_finger_data(data: Path | str) -> bool:
    """Whether ``data`` holds anything :func:`write_finger_report` can evaluate."""
    data = Path(data)
    if not data.is_dir():
        return False
    if phone_folder(data) is not None:
        return True
    try:
        find_databases(data)
    except FileNotFoundError:
        return False
    return True


def phone_folder(data: Path) -> Path | None:
    """The ``phone_iiitd`` photo folder under (or at) ``data``, or None."""
    for candidate in (data / PHONE_FOLDER, data / Path(*PHONE_FOLDER.parts[1:]), data):
        if candidate.is_dir() and (candidate / "1_1_1.jpg").is_file():
            return candidate
    return None


PHONE_NOTE = "per-photo figures only; the figure of the photos is not kept in the repository (research data)"
"""What the docs copy's ``phone_iiitd`` entry says in place of the photos' figure."""


def docs_copy(report: dict) -> dict:
    """The ``"fvc"`` part of ``report.json`` as ``docs/accuracy/fvc/report.json`` holds it: flat, and the phone
    photos' entry with :data:`PHONE_NOTE` instead of a figure."""
    copy = dict(report)
    if copy.get("phone_iiitd"):
        phones = {key: value for key, value in copy["phone_iiitd"].items() if key != "figure"}
        copy["phone_iiitd"] = {"note": PHONE_NOTE, **phones}
    return copy


def write_finger_report(
    data: Path | str,
    out_dir: Path | str,
    *,
    cache_dir: Path | None = None,
    workers: int | None = None,
    databases: Iterable[str] | None = None,
    bench_seconds: float = 3.0,
    progress: bool = True,
    say: Callable[[str], None] = print,
    for_docs: bool = False,
) -> dict:
    """Evaluate the fingerprint data under ``data`` and write the report files into ``out_dir`` (see the module
    docstring).

    Parameters
    ----------
    data : path
        The finger root (``../shared/data/finger``), one database folder, ``contactless_ds1`` or ``phone_iiitd``.
    out_dir : path
    cache_dir : path, optional
        Template cache; None extracts everything and keeps nothing.
    workers : int, optional
        Extraction processes (default: every core).
    databases : iterable of str, optional
        Only these databases; the phone photos are then skipped.
    bench_seconds : float
        CPU seconds spent on each matcher speed measurement; 0 skips it.
    progress : bool
    say : callable
        Receives one line per result, as the command prints them.
    for_docs : bool
        Write only the copy kept in ``docs/accuracy/fvc/`` (see the module docstring): no photo of a person.

    Returns
    -------
    dict
        The ``"fvc"`` part of ``report.json`` (with ``for_docs``, the whole of it).

    Raises
    ------
    FileNotFoundError
        ``data`` holds no fingerprint database and no phone photos.
    """
    data, out_dir = Path(data), Path(out_dir)
    if not has_finger_data(data):
        raise FileNotFoundError(
            f"no fingerprint data under {data}: expected index.csv there, or one of the folders "
            f"{', '.join(FINGER_FOLDERS)}"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    wanted = None if databases is None else list(databases)
    try:
        evaluation = run_finger_evaluation(data, cache_dir, workers, wanted, progress)
        report, scores = evaluation.report, evaluation.scores
    except FileNotFoundError:  # only phone photos
        evaluation, report, scores = None, {"per_db": {}, "contactless": {}}, {}
    report["created"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    report["data"] = str(data)
    if evaluation is not None and bench_seconds > 0 and evaluation.benchmark_minutiae:
        report["matcher_speed"] = speed = matcher_benchmark(evaluation.benchmark_minutiae, bench_seconds)
        say(
            f"matcher, one core: {speed['one_to_one_per_second']:,.0f} comparisons/s 1:1, "
            f"{speed['one_to_many_per_second']:,.0f}/s 1:N (gallery of {speed['gallery_size']:,})"
        )
    folder = phone_folder(data) if wanted is None else None
    if folder is not None:
        report["phone_iiitd"] = phone_report(folder, out_dir, figure=not for_docs)
    from tessera.evaluation.figures import report_path

    report["figures"] = {
        name: report_path(database_figure(entry, out_dir / f"{name}.png"), out_dir) for name, entry in scores.items()
    }
    if for_docs:
        report = docs_copy(report)
        (out_dir / "report.json").write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
    else:
        if scores:
            save_scores(scores, out_dir / "scores.npz")
        (out_dir / "report.json").write_text(json.dumps({"fvc": report}, indent=2, allow_nan=False) + "\n")
        write_finger_html(report, out_dir / "report.html")
    for line in summary_lines(report):
        say(line)
    say(f"wrote {out_dir / 'report.json'}" + ("" if for_docs else f" and {out_dir / 'report.html'}"))
    return report


def summary_lines(report: dict) -> list[str]:
    """One line per database, then the mean over FVC2004 DB1-3 and the phone photos' times."""
    lines = []
    for name, database in {**report.get("per_db", {}), **report.get("contactless", {})}.items():
        fvc = f"  FVC protocol {database['eer_fvc'] * 100:.2f} %" if "eer_fvc" in database else ""
        low, high = database["all_pairs"].get("eer_ci95", (math.nan, math.nan))
        lines.append(
            f"{name:14s} EER {database['eer'] * 100:5.2f} % (95 % CI {low * 100:.2f}-{high * 100:.2f}){fvc}  "
            f"FTE {database['failures_to_enrol']}"
        )
    if "mean_eer_real" in report:
        lines.append(
            f"mean EER FVC2004 DB1-3: {report['mean_eer_real'] * 100:.2f} % "
            f"(FVC protocol {report['mean_eer_real_fvc_protocol'] * 100:.2f} %)"
        )
    phones = report.get("phone_iiitd")
    if phones:
        photos = [item for name, item in phones["images"].items() if item["capture"] == "contactless"]
        if photos:
            lines.append(
                f"phone photos: {np.mean([item['seconds'] for item in photos]):.2f} s each on average "
                f"(max {max(item['seconds'] for item in photos):.2f} s), "
                f"{sum('minutiae' in item for item in photos)} of {len(photos)} templated"
            )
    return lines


def save_scores(scores: dict[str, DatabaseScores], path: Path) -> Path:
    """Every database's scores in one compressed ``.npz`` (keys in the module docstring)."""
    arrays = {}
    for name, entry in scores.items():
        arrays[f"{name}/genuine"] = entry.genuine.astype(np.float32)
        arrays[f"{name}/impostor"] = entry.impostor.astype(np.float32)
        arrays[f"{name}/impostor_fvc"] = entry.impostor_fvc.astype(np.float32)
        arrays[f"{name}/genuine_templated"] = entry.genuine_templated
        arrays[f"{name}/impostor_templated"] = entry.impostor_templated
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]  # numpy's stub: **kwds also meet allow_pickle: bool
    return path


# -- figures ---------------------------------------------------------------------------------

HISTOGRAM_FLOOR = 1e-3
"""Lowest score on the histograms' logarithmic axis; a refused print's comparisons (0) are counted here."""


def database_figure(entry: DatabaseScores, path: Path) -> Path:
    """The DET curves and score histograms of one database (see the module docstring)."""
    from tessera.evaluation.figures import plt, save_figure
    from tessera.evaluation.metrics import det_curve, probit

    ticks = np.array([1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5])
    labels = ["1e-4", "0.1%", "1%", "5%", "20%", "50%"]
    figure, (det, histogram) = plt.subplots(1, 2, figsize=(11.5, 4.4))
    genuine = np.sort(entry.genuine)
    for impostor, label in ((entry.impostor, "every cross-finger pair"), (entry.impostor_fvc, "FVC protocol")):
        if impostor.size == 0:
            continue
        _, fmr, fnmr = det_curve(genuine, np.sort(impostor))
        det.step(
            probit(fmr),
            probit(fnmr),
            where="post",
            label=f"{label} ({genuine.size:,} genuine, {impostor.size:,} impostor)",
        )
    det.plot(probit([1e-4, 0.5]), probit([1e-4, 0.5]), color="grey", linewidth=0.8, linestyle=":", label="FMR = FNMR")
    det.set_xticks(probit(ticks), labels)
    det.set_yticks(probit(ticks), labels)
    # Down to half of one comparison: below that no rate can be measured.
    det.set_xlim(probit(min(1e-4, 0.5 / max(entry.impostor.size, 1))), probit(0.5))
    det.set_ylim(probit(min(1e-3, 0.5 / max(genuine.size, 1))), probit(0.5))
    det.set_xlabel("false match rate (FMR)")
    det.set_ylabel("false non-match rate (FNMR)")
    det.set_title(f"{entry.name}: DET curve (lower left is better)")
    det.grid(True, alpha=0.3)
    det.legend(fontsize=7, loc="upper right")

    # MCC LSS-R impostor scores crowd below 0.05 and genuine ones spread to 1: a logarithmic score axis shows both.
    bins = np.geomspace(HISTOGRAM_FLOOR, 1.0, 91)
    for values, label in ((entry.impostor, "impostor, every cross-finger pair"), (entry.genuine, "genuine")):
        if values.size == 0:
            continue
        counts, _ = np.histogram(np.clip(values, HISTOGRAM_FLOOR, 1.0), bins=bins)
        histogram.stairs(counts / values.size, bins, fill=True, alpha=0.5, label=f"{label} ({values.size:,})")
    histogram.set_xscale("log")
    histogram.set_yscale("log")
    histogram.set_xlabel(f"MCC score (log scale; scores below {HISTOGRAM_FLOOR} counted at {HISTOGRAM_FLOOR})")
    histogram.set_ylabel("share of comparisons per bin (log scale)")
    histogram.set_title(f"{entry.name}: score distributions")
    histogram.grid(True, alpha=0.3)
    histogram.legend(fontsize=7)
    return save_figure(figure, path)


# -- HTML --------------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}"
    "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}.small{color:#555;font-size:.9rem}"
)


def write_finger_html(report: dict, path: Path) -> Path:
    """``report.html``: tables of every figure in ``report``, and the figures."""
    parts = [
        f"<!doctype html><html lang=en><meta charset=utf-8>{VIEWPORT}",
        f"<title>Tessera fingerprint accuracy</title><style>{_STYLE}{RESPONSIVE_STYLE}</style>",
        "<h1>Tessera fingerprint accuracy</h1>",
        f"<p class=small>Data {_e(report.get('data', ''))}; created {_e(report.get('created', ''))}; extraction "
        f"<code>{_e(report.get('algorithm', ''))}</code>, matcher <code>{_e(report.get('matcher', ''))}</code>.</p>",
    ]
    parts += _databases_section(report)
    parts += _speed_section(report)
    parts += _phone_section(report)
    for name, figure in report.get("figures", {}).items():
        parts.append(
            f'<h3>{_e(name)}</h3><figure><img src="{_e(figure)}" alt="DET curve and score histograms of '
            f'{_e(name)}"></figure>'
        )
    parts.append(
        "<h2>How these were measured</h2><p class=small>Genuine pairs: every pair of impressions of one finger. "
        "Impostor pairs: every pair of images of two different fingers of the same database (the headline EER), "
        "and the "
        "FVC protocol's (first impression of each finger against the first of every other). EER as FVC defines it "
        "(Maio et al. 2002, section 3); a refused image scores 0 in every comparison. The 95 % interval "
        "resamples fingers "
        "(1,000 times). FMR100 / FMR1000: lowest FNMR at an FMR of at most 1 % / 0.1 %.</p>"
    )
    Path(path).write_text("\n".join(parts) + "\n", encoding="utf-8")
    return Path(path)


def _databases_section(report: dict) -> list[str]:
    rows = []
    for name, database in {**report.get("per_db", {}), **report.get("contactless", {})}.items():
        every = database["all_pairs"]
        fvc = database.get("fvc_protocol", {})
        rows.append(
            [
                name,
                database["capture"],
                f"{database['images']} ({database['fingers']} fingers)",
                database["failures_to_enrol"],
                f"{_pct(database['eer'])} {_ci(every.get('eer_ci95'))}",
                _pct(every["fmr100"]),
                _pct(every["fmr1000"]),
                f"{every['genuine_comparisons']:,} / {every['impostor_comparisons']:,}",
                _pct(fvc.get("eer")) if fvc else "—",
                _pct(fvc.get("fmr100")) if fvc else "—",
                database["mean_minutiae"],
            ]
        )
    if not rows:
        return []
    parts = ["<h2>Error rates per database</h2>"]
    if "mean_eer_real" in report:
        parts.append(
            f"<p><b>Mean EER over FVC2004 DB1-3: {_pct(report['mean_eer_real'])}</b> (every cross-finger pair); "
            f"{_pct(report['mean_eer_real_fvc_protocol'])} under the FVC protocol.</p>"
        )
    header = [
        "database",
        "capture",
        "images",
        "refused",
        "EER, every pair [95 % CI]",
        "FMR100",
        "FMR1000",
        "genuine / impostor",
        "EER, FVC protocol",
        "FMR100, FVC",
        "minutiae per print",
    ]
    parts.append(_table(header, rows))
    return parts


def _speed_section(report: dict) -> list[str]:
    speed = report.get("matcher_speed")
    if not speed:
        return []
    rows = [
        ["1:1 (mcc_score on random pairs)", f"{speed['one_to_one_per_second']:,.0f}"],
        [f"1:N (mcc_scores against {speed['gallery_size']:,} templates)", f"{speed['one_to_many_per_second']:,.0f}"],
        ["cylinders per template", speed["mean_cylinders"]],
        ["template building, ms", speed["template_ms"]],
    ]
    return [
        "<h2>Matcher speed, one core</h2>",
        f"<p class=small>{_e(speed.get('cpu', ''))}; CPU time of one process.</p>",
        _table(["measure", "comparisons per second"], rows),
    ]


def _phone_section(report: dict) -> list[str]:
    phones = report.get("phone_iiitd")
    if not phones:
        return []
    rows = [
        [
            name,
            item["capture"],
            item.get("minutiae", "—"),
            item.get("refusal", ""),
            f"{item['seconds']:.2f}",
            f"{item['cpu_seconds']:.2f}" if "cpu_seconds" in item else "—",
        ]
        for name, item in phones["images"].items()
    ]
    parts = [
        "<h2>Phone photos (IIITD SmartPhone Fingerphoto, samples)</h2>",
        "<p class=small>Seconds: wall time of <code>extract_finger</code> (decoding not counted) as the service "
        "runs it, every library on the calling thread; CPU seconds: the process's CPU time over all its threads. "
        "Both grow when other work shares the machine.</p>",
        _table(["photo", "capture", "minutiae", "refused", "seconds", "CPU seconds"], rows),
    ]
    for title, key in (
        ("Subject 1's photos against the contact print 1_1_1", "against_contact_print"),
        ("Subject 1's photos against each other", "subject_1_photo_pairs"),
    ):
        scores = phones["scores"].get(key)
        if scores:
            parts += [
                f"<h3>{_e(title)}</h3>",
                _table(["pair", "MCC score"], [[pair, f"{value:.3f}"] for pair, value in scores.items()]),
            ]
    if "figure" in phones:  # reports written before the figure was drawn have none
        parts.append(f'<figure><img src="{_e(phones["figure"])}" alt="phone photos through the pipeline"></figure>')
    return parts
