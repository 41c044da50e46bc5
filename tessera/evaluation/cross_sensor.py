"""``tessera eval cross-sensor``: contactless photos against contact prints, lever by lever, and the pair kind's
calibration.

::

    contactless images (phone_iiitd photos, contactless_ds1) x contact prints (phone_iiitd's 1_1_1.jpg, every real
    contact database) -> for each lever, one at a time and combined: genuine scores against the impostor scores of
    the same pair kind -> d', the gap between the lowest genuine and the highest impostor score
        -> the chosen comparison (tessera.match.cross_sensor) -> calibration of the pair kind contactless-contact

What the data are (docs/fingerprints.md says what they cannot show)
    Genuine: the photos of ``phone_iiitd`` subject 1 (6 iPhone 5 photos of one finger) against that finger's contact
    print ``1_1_1.jpg``: 6 pairs of one finger of one person. Impostor: every other contactless image (subject 9's
    photos, the 41 ``contactless_ds1`` images) against ``1_1_1.jpg``, and every contactless image against the
    first two impressions of every finger of the real contact databases (FVC2004 DB1-3, FVC2002 DB1, CrossMatch; the
    synthetic DB4 is left out):
    different people in every case, any finger position.

The levers (:data:`LEVERS`)
    ``polarity``: contactless ridges left as the camera shows them (bright) instead of inverted to the dark ridges of a
    print (:attr:`tessera.finger.config.FingerConfig.contactless_ridges_bright`; the photos are templated again).
    ``mirror``: the photo's minutiae reflected to an impression's handedness (:func:`~tessera.match.cross_sensor.
    mirror_minutiae`). ``rotation``: no MCC direction gate (``δθ`` π). ``ridge_scale``: the contact print's minutiae
    scaled so that its measured ridge period becomes the period photos are scaled to (both sides at one ridge
    frequency; the photo already is). ``distortion``: an MCC setting tolerant of the curved finger's distortion
    (wider spatial Gaussian, looser relaxation compatibilities). Unwarping the finger's cylinder was not tried.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import re
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import tessera
from tessera.match.calibration import Calibration, CalibrationConfig, fit_calibration
from tessera.match.cross_sensor import (
    CROSS_SENSOR_CALIBRATION_PATH,
    PAIR_KIND,
    cross_sensor_mcc_config,
    mirror_minutiae,
)
from tessera.match.mcc import MccConfig
from tessera.match.minutiae import Minutiae

PHONE_CONTACT_PRINT = "1_1_1.jpg"
"""The contact print in ``phone_iiitd``: subject 1's finger, the one their photos show."""

PHONE_SUBJECT_OF_PRINT = "IIITD:1"

REAL_CONTACT_DATABASES = ("DB1_B", "DB2_B", "DB3_B", "FVC2002_DB1_B", "CrossMatch")
"""Contact prints the impostors are drawn from: every shared database of real fingers (not the synthetic DB4)."""

CONTACT_IMPRESSIONS = 2
"""Impressions of each contact finger compared (the first two): more impressions of the same fingers add impostor
pairs but little that is new about the pair kind, and cost templating time."""

IMPRESSION = re.compile(r"_(\d+)\.\w+$")
"""The impression number at the end of a contact print's file name (``101_3.tif``, ``012_3_2.png``)."""

NO_TAIL = CalibrationConfig(min_tail_exceedances=10**12)
"""The pair kind's calibration states no rate below ``3 / n_impostor``: its impostors come from few people and two
contactless devices, too little to trust a model of their tail."""


@dataclass(frozen=True)
class Lever:
    """One way of comparing a contactless image with a contact print.

    Attributes
    ----------
    name : str
    description : str
    ridges_bright_inverted : bool
        The contactless photo's ridges inverted to dark (the pipeline's default) or left as they are.
    mirror : bool
        The contactless minutiae reflected (:func:`~tessera.match.cross_sensor.mirror_minutiae`).
    ridge_scale : bool
        The contact minutiae scaled to the target ridge period from the print's measured period.
    mcc : MccConfig
    """

    name: str
    description: str
    ridges_bright_inverted: bool = True
    mirror: bool = False
    ridge_scale: bool = False
    mcc: MccConfig = field(default_factory=MccConfig)


def distortion_tolerant_mcc(base: MccConfig | None = None) -> MccConfig:
    """MCC tolerant of local distortion: spatial Gaussian 12 px (9.3), and relaxation compatibilities half as strict
    on distance (10 px, slope -0.8) and on relative direction and bearing (π/8, slope -20)."""
    return replace(
        base or MccConfig(),
        spatial_sigma=12.0,
        distance_mean=10.0,
        distance_slope=-0.8,
        direction_mean=math.pi / 8.0,
        direction_slope=-20.0,
        bearing_mean=math.pi / 8.0,
        bearing_slope=-20.0,
    )


def _levers() -> tuple[Lever, ...]:
    default = MccConfig()
    rotation = cross_sensor_mcc_config(default)
    return (
        Lever("baseline", "the contactless pipeline and MCC as they are (no lever)"),
        Lever("polarity", "photo ridges left bright (not inverted)", ridges_bright_inverted=False),
        Lever("mirror", "photo minutiae mirrored to an impression's handedness", mirror=True),
        Lever("rotation", "no MCC direction gate (δθ = π)", mcc=rotation),
        Lever("ridge_scale", "contact print scaled to the target ridge period too", ridge_scale=True),
        Lever("distortion", "distortion-tolerant MCC", mcc=distortion_tolerant_mcc(default)),
        Lever("mirror+rotation", "mirror and no direction gate (the comparison shipped)", mirror=True, mcc=rotation),
        Lever(
            "mirror+rotation+ridge_scale",
            "mirror, no direction gate, contact ridge scale",
            mirror=True,
            ridge_scale=True,
            mcc=rotation,
        ),
        Lever(
            "mirror+rotation+distortion",
            "mirror, no direction gate, distortion-tolerant MCC",
            mirror=True,
            mcc=distortion_tolerant_mcc(rotation),
        ),
        Lever(
            "all",
            "mirror, no direction gate, ridge scale, distortion-tolerant MCC, ridges bright",
            ridges_bright_inverted=False,
            mirror=True,
            ridge_scale=True,
            mcc=distortion_tolerant_mcc(rotation),
        ),
    )


LEVERS = _levers()
SHIPPED_LEVER = "mirror+rotation"
"""The lever the service compares this pair kind with (:mod:`tessera.match.cross_sensor`)."""


@dataclass(frozen=True)
class Side:
    """Templated images of one side of the pair kind: ``None`` where an image was refused."""

    names: list[str]
    fingers: list[str]
    sources: list[str]
    minutiae: list[Minutiae | None]
    refusals: list[str | None]


def contactless_side(data: Path | str, cache_dir: Path | None, workers: int, inverted: bool = True) -> Side:
    """Every contactless image (:func:`tessera.evaluation.contactless.contactless_images`), templated with the
    pipeline's default configuration (``inverted``) or with bright ridges kept."""
    from tessera.evaluation.contactless import contactless_images
    from tessera.evaluation.fvc import extract_all
    from tessera.finger.config import DEFAULT_FINGER_CONFIG

    images = contactless_images(data)
    paths = [image.path for image in images]
    if inverted:
        extractions = extract_all([(path, "contactless", None) for path in paths], cache_dir, workers, False)
        templates = [item.template for item in extractions]
        refusals = [item.refusal for item in extractions]
    else:
        config = replace(DEFAULT_FINGER_CONFIG, contactless_ridges_bright=False)
        templates, refusals = _extract_with(paths, config, cache_dir)
    return Side(
        names=[path.name for path in paths],
        fingers=[image.finger for image in images],
        sources=[image.source for image in images],
        minutiae=[_minutiae(template) for template in templates],
        refusals=refusals,
    )


def contact_prints(data: Path | str) -> list[tuple[Path, float, str, str]]:
    """``(path, ppi, finger, source)`` of every contact print compared: ``phone_iiitd``'s print first, then the first
    :data:`CONTACT_IMPRESSIONS` impressions of every finger of :data:`REAL_CONTACT_DATABASES`."""
    from tessera.evaluation.fvc import PHONE_FOLDER, find_databases

    data = Path(data)
    prints: list[tuple[Path, float, str, str]] = []
    if (data / PHONE_FOLDER / PHONE_CONTACT_PRINT).is_file():
        prints.append((data / PHONE_FOLDER / PHONE_CONTACT_PRINT, 500.0, PHONE_SUBJECT_OF_PRINT, "IIITD"))
    for database in find_databases(data):
        if database.name not in REAL_CONTACT_DATABASES:
            continue
        for path, finger in zip(database.files, database.fingers):
            found = IMPRESSION.search(path.name)
            if found is not None and int(found.group(1)) <= CONTACT_IMPRESSIONS:
                prints.append((path, database.ppi or 500.0, finger, database.name))
    if not prints:
        raise FileNotFoundError(f"no contact prints under {data}: expected phone_iiitd/ or the contact databases")
    return prints


def contact_side(data: Path | str, cache_dir: Path | None, workers: int) -> Side:
    """Every print of :func:`contact_prints`, templated by the contact pipeline (cached as ``tessera eval fvc``)."""
    from tessera.evaluation.fvc import extract_all

    prints = contact_prints(data)
    extractions = extract_all([(path, "contact", ppi) for path, ppi, _, _ in prints], cache_dir, workers, False)
    return Side(
        names=[path.name for path, _, _, _ in prints],
        fingers=[finger for _, _, finger, _ in prints],
        sources=[source for _, _, _, source in prints],
        minutiae=[_minutiae(item.template) for item in extractions],
        refusals=[item.refusal for item in extractions],
    )


def contact_periods(data: Path | str, cache_dir: Path | None) -> list[float | None]:
    """The ridge period of every print of :func:`contact_side`, pixels at its resolution, in the same order (cached).

    Measured as a photo's is (:func:`tessera.finger.normalise.measure_period`, the middle of the print), so that
    scaling by ``target_ridge_period / period`` puts both sides at one ridge frequency.
    """
    from tessera.evaluation.fvc import read_image
    from tessera.finger.config import DEFAULT_FINGER_CONFIG, TARGET_PPI
    from tessera.finger.locate import locate_contact
    from tessera.finger.normalise import measure_period

    jobs = [(path, ppi) for path, ppi, _, _ in contact_prints(data)]
    store = None if cache_dir is None else Path(cache_dir) / "contact-ridge-periods.json"
    known: dict[str, float | None] = json.loads(store.read_text()) if store is not None and store.is_file() else {}
    periods: list[float | None] = []
    for path, ppi in jobs:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest not in known:
            location = locate_contact(read_image(path), ppi, DEFAULT_FINGER_CONFIG)
            period = measure_period(location.gray, location.mask, location.expected_period, DEFAULT_FINGER_CONFIG)
            # In pixels at 500 ppi, as the print's minutiae are.
            known[digest] = None if period is None else float(period) * TARGET_PPI / ppi
        periods.append(known[digest])
    if store is not None:
        store.parent.mkdir(parents=True, exist_ok=True)
        store.write_text(json.dumps(known))
    return periods


def lever_scores(lever: Lever, probes: Side, references: Side, periods: list[float | None]) -> np.ndarray:
    """(n_probes, n_references) MCC scores under ``lever``; NaN where either image was refused."""
    from tessera.finger.config import DEFAULT_FINGER_CONFIG
    from tessera.match.mcc import mcc_gallery, mcc_scores, mcc_template

    config = lever.mcc
    target = DEFAULT_FINGER_CONFIG.target_ridge_period
    gallery_templates, columns = [], []
    for number, minutiae in enumerate(references.minutiae):
        if minutiae is None:
            continue
        if lever.ridge_scale and periods[number]:
            minutiae = _scaled(minutiae, target / float(periods[number]))  # type: ignore[arg-type]
        gallery_templates.append(mcc_template(minutiae, config))
        columns.append(number)
    scores = np.full((len(probes.minutiae), len(references.minutiae)), np.nan)
    gallery = mcc_gallery(gallery_templates, config)
    for row, minutiae in enumerate(probes.minutiae):
        if minutiae is None:
            continue
        probe = mcc_template(mirror_minutiae(minutiae) if lever.mirror else minutiae, config)
        scores[row, columns] = mcc_scores(probe, gallery, config)
    return scores


def separation(genuine: np.ndarray, impostor: np.ndarray) -> dict[str, Any]:
    """How far the genuine scores stand above the impostor scores of the same pair kind.

    ``d_prime`` is ``(mean_g - mean_i) / sqrt((var_g + var_i) / 2)`` (the decidability index of Daugman, "The
    importance of being random", Pattern Recognition 36(2), 2003, eq. 1); ``gap`` is the lowest genuine score minus
    the highest impostor score (positive: every genuine pair above every impostor pair).
    """
    variance = (float(np.var(genuine)) + float(np.var(impostor))) / 2.0
    d_prime = (float(np.mean(genuine)) - float(np.mean(impostor))) / math.sqrt(variance) if variance > 0 else math.nan
    highest = float(np.max(impostor))
    return {
        "n_genuine": int(genuine.size),
        "n_impostor": int(impostor.size),
        "genuine_scores": [round(float(value), 4) for value in np.sort(genuine)],
        "impostor_mean": round(float(np.mean(impostor)), 5),
        "impostor_p999": round(float(np.quantile(impostor, 0.999)), 5),
        "impostor_highest": round(highest, 5),
        "d_prime": round(d_prime, 3),
        "gap": round(float(np.min(genuine)) - highest, 5),
        "genuine_above_every_impostor": int(np.count_nonzero(genuine > highest)),
    }


def pair_masks(probes: Side, references: Side) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) boolean masks over the score matrix: genuine where the two images show one finger."""
    same = np.array([[a == b for b in references.fingers] for a in probes.fingers], dtype=bool)
    usable = (
        np.array([m is not None for m in probes.minutiae])[:, None]
        & np.array([m is not None for m in references.minutiae])[None, :]
    )
    return same & usable, ~same & usable


def evaluate_cross_sensor(data: Path | str, cache_dir: Path | None, workers: int = 2) -> tuple[dict, dict]:
    """Every lever's separation (see the module docstring); returns the report and the shipped lever's scores."""
    started = time.monotonic()
    references = contact_side(data, cache_dir, workers)
    periods = contact_periods(data, cache_dir)
    sides = {True: contactless_side(data, cache_dir, workers)}
    rows, shipped = [], {}
    for lever in LEVERS:
        if lever.ridges_bright_inverted not in sides:
            sides[lever.ridges_bright_inverted] = contactless_side(data, cache_dir, workers, inverted=False)
        probes = sides[lever.ridges_bright_inverted]
        scores = lever_scores(lever, probes, references, periods)
        genuine_mask, impostor_mask = pair_masks(probes, references)
        genuine, impostor = scores[genuine_mask], scores[impostor_mask]
        phone_rows = np.array([source == "IIITD" for source in probes.sources])[:, None]
        row = {
            "lever": lever.name,
            "description": lever.description,
            **separation(genuine, impostor),
            "phone_impostor_highest": round(float(np.max(scores[impostor_mask & phone_rows])), 5),
            "n_phone_impostor": int(np.count_nonzero(impostor_mask & phone_rows)),
            "mcc": {key: value for key, value in lever.mcc.as_dict().items() if value != MccConfig().as_dict()[key]},
        }
        rows.append(row)
        if lever.name == SHIPPED_LEVER:
            shipped = {"scores": scores, "probes": probes, "references": references, "genuine": genuine_mask}
    probes = sides[True]
    report = {
        "data": {
            "contactless_images": len(probes.names),
            "contactless_refused": dict(Counter(r for r in probes.refusals if r)),
            "contact_prints": len(references.names),
            "contact_refused": dict(Counter(r for r in references.refusals if r)),
            "contact_sources": dict(Counter(references.sources)),
            "genuine": f"phone_iiitd subject 1's photos against {PHONE_CONTACT_PRINT}: one finger of one person",
            "impostor": "every other contactless image against every contact print (different people, any finger)",
            "contact_ridge_periods_px": _summary([p for p in periods if p]),
        },
        "levers": rows,
        "shipped_lever": SHIPPED_LEVER,
        "seconds": round(time.monotonic() - started, 1),
    }
    return report, shipped


def fit_cross_sensor_calibration(
    shipped: dict, *, position_allowance: float = 1.0, position_record=None
) -> Calibration:
    """The pair kind's calibration from the shipped lever's scores, with no tail model (:data:`NO_TAIL`).

    Every stated rate is widened by an allowance, the larger of the same-position allowance measured on contact
    prints (the impostors mix finger positions) and the database allowance: at the table's thresholds for 1e-2 and
    1e-3, each contact database's and each contactless source's own FMR over the table's, where it expects at least
    3 false matches (:func:`tessera.evaluation.finger_lodo.database_allowance`).
    """
    from tessera.evaluation.finger_lodo import ANY_FINGER, ContactSet, database_allowance
    from tessera.finger.config import DEFAULT_FINGER_CONFIG
    from tessera.finger.pipeline import ALGORITHM
    from tessera.match.mcc import ALGORITHM as MATCHER

    scores, probes, references = shipped["scores"], shipped["probes"], shipped["references"]
    genuine_mask, impostor_mask = pair_masks(probes, references)
    genuine, impostor = scores[genuine_mask], scores[impostor_mask]
    record: dict[str, Any] = {
        "capture": PAIR_KIND,
        "pair_kind": "a contactless probe (phone photo or contactless device) against a contact reference",
        "dataset": "phone_iiitd (IIITD SmartPhone Fingerphoto Database v1 sample: iPhone 5 photos and one contact "
        "print), contactless_ds1 (lab contactless device), FVC2004 DB1_B-DB3_B, FVC2002 DB1_B, Neurotechnology "
        "CrossMatch; no synthetic data",
        "pairs": "genuine: phone_iiitd subject 1's photos against their contact print 1_1_1.jpg (one finger of one "
        "person); impostor: every other contactless image against every contact print (different people, any "
        "finger position)",
        "comparison": "tessera.match.cross_sensor: contactless minutiae mirrored, MCC with no direction gate",
        "mcc": cross_sensor_mcc_config(DEFAULT_FINGER_CONFIG.mcc).as_dict(),
        "matcher": f"tessera.match.mcc.mcc_score ({MATCHER}), cross_sensor_mcc_config",
        "finger_config": DEFAULT_FINGER_CONFIG.as_dict(),
        "what_it_cannot_show": f"FNMR: {int(genuine.size)} genuine pairs of one finger of one person are an "
        "anecdote, not a rate; FMR below 3 / n_impostor (rule of three) is never stated; the impostors come from "
        "few contactless people (6) and two contactless devices",
        "command": "tessera calibrate --modality contactless-contact",
        "tessera_version": tessera.__version__,
        "numpy_version": np.__version__,
        "python": platform.python_version(),
    }
    table = fit_calibration(
        genuine,
        impostor,
        modality="finger",
        algorithm=f"{ALGORITHM}+{MATCHER}",
        data=record,
        score_range=(0.0, 1.0),
        config=NO_TAIL,
        created=datetime.now(UTC),
    )
    groups: dict[str, list[float]] = {}
    for row, column in zip(*np.nonzero(impostor_mask)):
        for name in (f"contact:{references.sources[column]}", f"contactless:{probes.sources[row]}"):
            groups.setdefault(name, []).append(float(scores[row, column]))
    sets = [
        ContactSet(name, np.zeros(0), np.array(values), ANY_FINGER, np.array(values))
        for name, values in sorted(groups.items())
    ]
    by_group = database_allowance(table, sets, 1.0)
    factor = max(1.0, float(position_allowance), float(by_group["factor"]))
    record["fmr_allowance"] = {
        "factor": round(factor, 3),
        "how": "the larger of the same-position allowance measured on contact prints and the largest ratio, over "
        "the contact databases and contactless sources (each counted once, where it expects at least 3 false "
        "matches), of its own FMR to the table's",
        "position": position_record,
        "groups": by_group["rows"],
    }
    return replace(table, data=record, fmr_allowance=factor)


def write_cross_sensor_report(data: Path | str, out: Path | str, cache_dir: Path | None, workers: int) -> dict:
    """``tessera eval cross-sensor``: :func:`evaluate_cross_sensor`, the calibration fitted on the shipped lever (not
    saved) and what it decides; ``report.json`` and ``cross-sensor.png`` in ``out``."""
    from tessera.match.calibration import FmrBeyondCalibration

    report, shipped = evaluate_cross_sensor(data, cache_dir, workers)
    position = shipped_position_allowance()
    calibration = fit_cross_sensor_calibration(shipped, position_allowance=position["factor"], position_record=position)
    decisions = []
    for target in (1e-2, 1e-3, 1e-4):
        try:
            threshold = calibration.threshold_for_fmr(target)
        except FmrBeyondCalibration:
            decisions.append({"target_fmr": target, "threshold": None, "decision": "none: beyond the data"})
            continue
        genuine_mask, impostor_mask = pair_masks(shipped["probes"], shipped["references"])
        scores = shipped["scores"]
        decisions.append(
            {
                "target_fmr": target,
                "threshold": round(threshold, 6),
                "stated_fmr": calibration.fmr_at(threshold).value,
                "genuine_accepted": int(np.count_nonzero(scores[genuine_mask] >= threshold)),
                "n_genuine": int(np.count_nonzero(genuine_mask)),
                "impostor_accepted": int(np.count_nonzero(scores[impostor_mask] >= threshold)),
                "n_impostor": int(np.count_nonzero(impostor_mask)),
            }
        )
    report["calibration"] = {
        "n_genuine": calibration.n_genuine,
        "n_impostor": calibration.n_impostor,
        "lowest_fmr": calibration.min_fmr,
        "fmr_allowance": calibration.fmr_allowance,
        "decisions": decisions,
        "in_sample": True,
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report["figure"] = cross_sensor_figure(shipped, report, out / "cross-sensor.png").name
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def shipped_position_allowance() -> dict:
    """The same-position allowance the shipped contact calibration measured on CrossMatch (its
    ``data.fmr_allowance.position``): the same measurement, not repeated here; factor 1, said so, without the file."""
    from tessera.evaluation.calibrate import DEFAULT_FINGER_CALIBRATION_PATH
    from tessera.match.calibration import load_calibration

    if not DEFAULT_FINGER_CALIBRATION_PATH.is_file():
        return {"factor": 1.0, "note": "no contact calibration installed: no position allowance"}
    record = load_calibration(DEFAULT_FINGER_CALIBRATION_PATH).data.get("fmr_allowance", {}).get("position")
    if not record:
        return {"factor": 1.0, "note": "the contact calibration records no position allowance"}
    return {**record, "source": DEFAULT_FINGER_CALIBRATION_PATH.name}


def calibrate_cross_sensor(
    data: Path | str, out_path: Path | str = CROSS_SENSOR_CALIBRATION_PATH, cache_dir: Path | None = None, workers=2
) -> Calibration:
    """``tessera calibrate --modality contactless-contact``: fit :func:`fit_cross_sensor_calibration` and save it."""
    references = contact_side(data, cache_dir, workers)
    probes = contactless_side(data, cache_dir, workers)
    lever = next(lever for lever in LEVERS if lever.name == SHIPPED_LEVER)
    scores = lever_scores(lever, probes, references, [None] * len(references.names))
    shipped = {"scores": scores, "probes": probes, "references": references}
    position = shipped_position_allowance()
    calibration = fit_cross_sensor_calibration(shipped, position_allowance=position["factor"], position_record=position)
    calibration.save(out_path)
    return calibration


def cross_sensor_figure(shipped: dict, report: dict, path: Path) -> Path:
    """Impostor score histogram of the pair kind with the genuine scores marked, before and after the levers."""
    from tessera.evaluation.figures import plt, save_figure

    genuine_mask, impostor_mask = pair_masks(shipped["probes"], shipped["references"])
    scores = shipped["scores"]
    figure, axis = plt.subplots(figsize=(8, 4))
    impostor = scores[impostor_mask]
    bins = np.linspace(0.0, max(0.25, float(np.nanmax(scores)) + 0.01), 80).tolist()
    axis.hist(impostor, bins=bins, color="#c0392b", alpha=0.7, label=f"impostor ({impostor.size:,})")
    for value in scores[genuine_mask]:
        axis.axvline(value, color="#2a6f97", linewidth=1.5)
    axis.plot([], [], color="#2a6f97", label=f"genuine ({int(genuine_mask.sum())}, one finger)")
    for decision in report.get("calibration", {}).get("decisions", []):
        if decision["threshold"] is not None:
            axis.axvline(decision["threshold"], color="black", linestyle="--", linewidth=0.8)
            axis.text(decision["threshold"], axis.get_ylim()[1] * 0.9, f" {decision['target_fmr']:g}", fontsize=7)
    axis.set_yscale("log")
    axis.set_xlabel(f"MCC score, contactless probe against contact print ({SHIPPED_LEVER})")
    axis.set_ylabel("impostor pairs")
    axis.legend(fontsize=8)
    return save_figure(figure, path, dpi=90)


def _extract_with(paths: list[Path], config, cache_dir: Path | None) -> tuple[list[bytes | None], list[str | None]]:
    """Contactless templates made with ``config`` (not the default), in this process, cached under its own key."""
    from tessera.evaluation.fvc import pipeline_key, read_image
    from tessera.finger.pipeline import FingerTemplate, extract_finger

    settings = json.dumps(config.as_dict(), sort_keys=True, default=str)
    key = hashlib.sha256(f"{pipeline_key()}\0{settings}".encode()).hexdigest()[:16]
    folder = None if cache_dir is None else Path(cache_dir) / f"cross-sensor-{key}"
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    templates: list[bytes | None] = []
    refusals: list[str | None] = []
    for path in paths:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        hit = None if folder is None else next(iter(sorted(folder.glob(f"{digest}.*"))), None)
        if hit is None:
            result = extract_finger(read_image(path), "contactless", config, extractor_threads=1)
            if isinstance(result, FingerTemplate):
                suffix, content = "fmr", result.to_bytes()
            else:
                suffix, content = "refused", result.reason.encode()
            if folder is not None:
                (folder / f"{digest}.{suffix}").write_bytes(content)
        else:
            suffix, content = hit.suffix[1:], hit.read_bytes()
        templates.append(content if suffix == "fmr" else None)
        refusals.append(None if suffix == "fmr" else content.decode())
    return templates, refusals


def _minutiae(template: bytes | None) -> Minutiae | None:
    from tessera.finger.template import FingerTemplate

    return None if template is None else FingerTemplate.from_bytes(template).minutiae


def _scaled(minutiae: Minutiae, factor: float) -> Minutiae:
    return Minutiae(minutiae.points * np.float32(factor), minutiae.angles, minutiae.kinds, minutiae.qualities)


def _summary(values: list[float]) -> dict[str, float]:
    array = np.array(values, dtype=np.float64)
    if array.size == 0:
        return {}
    return {
        "n": int(array.size),
        "median": round(float(np.median(array)), 3),
        "p5": round(float(np.quantile(array, 0.05)), 3),
        "p95": round(float(np.quantile(array, 0.95)), 3),
    }
