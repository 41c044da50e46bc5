"""What the accuracy means for a programme: one page for managers, face, fingers and both, by gallery size.

Every number is read from a file the repository ships, never typed in: the face and finger
calibration files (``tessera/match/calibrations/``) at the service's own thresholds
(:class:`tessera.settings.Settings` ``verify_target_fmr`` and
``identify_expected_false_candidates``), and the fusion evaluation's ``report.json`` for face and
fingers together. A number no shipped file holds is written "not measured", with the command that
would measure it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.evaluation.duplicates import FITTING, HELD_OUT, held_out_level, missed_duplicates
from tessera.match.calibration import Calibration, load_calibration
from tessera.match.matchers import CALIBRATIONS_DIR
from tessera.settings import Settings

GALLERY_SIZES = (1_000, 10_000, 100_000)
FACE_CALIBRATION = "face-yunet-sface-2021dec.json"
FINGER_CALIBRATION = "finger-contact-leader-mcc-v1.json"
# The fused configuration the fusion evaluation measures that a registration drive would use.
FUSED_CONFIGURATION = "face_four_fingers"
FUSION_COMMAND = "tessera eval fusion --data ../shared/data --out DIR"
FACE_COMMAND = "tessera eval lfw --algorithm yunet-sface-2021dec/1 --data ../shared/data/face/lfw --out DIR"
FINGER_COMMAND = "tessera eval finger --data ../shared/data/finger --out DIR"


@dataclass(frozen=True)
class Sources:
    """Where the summary's numbers come from.

    Attributes
    ----------
    calibrations : Path
        Folder of the calibration files (``FACE_CALIBRATION``, ``FINGER_CALIBRATION``).
    face_report : Path
        ``report.json`` of ``tessera eval lfw`` for the default face algorithm: its calibration
        check counts the 1:1 refusals and the missed duplicates on people the calibration never
        saw, and its searches on galleries of a given size check the calibration's figure.
    fusion_report : Path
        ``report.json`` of ``tessera eval fusion``.
    """

    calibrations: Path
    face_report: Path
    fusion_report: Path


def programme_summary(sources: Sources, settings: Settings | None = None) -> dict[str, Any]:
    """The summary as data: one entry per modality (face, finger, both), each with its source.

    Parameters
    ----------
    sources : Sources
        The calibration folder and the fusion report.
    settings : Settings, optional
        The service's thresholds; the defaults when omitted.

    Returns
    -------
    dict
        ``{"settings": {...}, "gallery_sizes": [...], "modalities": [...]}``; each modality has
        ``verification`` (``wrongly_refused_per_100``, ``stranger_accepted_one_in``) and
        ``duplicates`` (per gallery size ``missed_per_100``, ``found_per_100``,
        ``wrongly_flagged_per_100``), every value ``None`` where not measured, with a ``note``.
    """
    settings = settings or Settings()
    face = load_calibration(sources.calibrations / FACE_CALIBRATION)
    finger = load_calibration(sources.calibrations / FINGER_CALIBRATION)
    fusion = json.loads(sources.fusion_report.read_text(encoding="utf-8"))
    face_report = json.loads(sources.face_report.read_text(encoding="utf-8"))
    face_searches = _searches_by_size(face_report, sources.face_report)
    return {
        "settings": {
            "verify_target_fmr": settings.verify_target_fmr,
            "identify_expected_false_candidates": settings.identify_expected_false_candidates,
            "fusion_fmr_safety_factor": settings.fusion_fmr_safety_factor,
        },
        "gallery_sizes": list(GALLERY_SIZES),
        "modalities": [
            _from_calibration(
                "Face only",
                face,
                _shown(sources.calibrations, FACE_CALIBRATION),
                FACE_COMMAND,
                settings,
                face_searches,
                face_report,
                str(sources.face_report),
            ),
            _from_calibration(
                "One finger only (contact scanner)",
                finger,
                _shown(sources.calibrations, FINGER_CALIBRATION),
                FINGER_COMMAND,
                settings,
                {},
                None,
                None,
            ),
            _from_fusion(fusion, sources.fusion_report, settings, face.algorithm),
        ],
    }


def _shown(folder: Path, name: str) -> str:
    """How a calibration file is named on the page: by its place in the repository when it is the service's own."""
    if folder.resolve() == CALIBRATIONS_DIR.resolve():
        return f"tessera/match/calibrations/{name}"
    return str(folder / name)


def _searches_by_size(report: dict[str, Any], path: Path) -> dict[int, dict[str, Any]]:
    """Real searches at the service's threshold, by gallery size, from an evaluation report."""
    searches = {}
    for row in report["identification"]["by_gallery_size"]:
        service = row["service"]
        searches[row["gallery_size"]] = {
            "missed_per_100": 100 * service["fnir"],
            "wrongly_flagged_per_100": 100 * service["fpir"],
            "mated_searches": service["mated_searches"],
            "nonmated_searches": service["nonmated_searches"],
            "algorithm": report["tessera_eval"]["pipeline"]["algorithm"],
            "source": str(path),
        }
    return searches


def _from_calibration(
    name: str,
    calibration: Calibration,
    source: str,
    command: str,
    settings: Settings,
    searches: dict[int, dict[str, Any]],
    report: dict[str, Any] | None,
    report_source: str | None,
) -> dict[str, Any]:
    """One modality's figures from its calibration; duplicates missed by :func:`missed_duplicates`.

    ``report`` (read from ``report_source``) is the evaluation whose calibration check counts the
    1:1 refusals and the missed duplicates on held-out people; without one, or for another
    calibration, they are the calibration's own.
    """
    verification = _verification(calibration, report, settings)
    duplicates = []
    for size in GALLERY_SIZES:
        missed = missed_duplicates(calibration, report, size, settings.identify_expected_false_candidates)
        if missed.threshold is None or missed.missed_per_100 is None:
            duplicates.append(
                _not_measured(
                    size,
                    f"the service refuses this search: it needs a false-match rate of "
                    f"{missed.target_fmr:.0e}, below the {calibration.min_fmr:.1e} "
                    f"the calibration vouches for; measure with `{command}` on more data",
                )
            )
            continue
        estimate = calibration.fmr_at(missed.threshold)
        duplicates.append(
            {
                "gallery_size": size,
                "missed_per_100": missed.missed_per_100,
                "found_per_100": 100 - missed.missed_per_100,
                "wrongly_flagged_per_100": 100 * size * estimate.value,
                "threshold": round(missed.threshold, 6),
                "fmr_basis": estimate.basis,
                "counted_on": missed.counted_on,
                "counted_on_words": _counted_on_words(
                    missed.counted_on, missed.genuine_pairs, missed.people, 100 * (missed.missed_on_fitting_data or 0.0)
                ),
                "note": None if estimate.basis == "measured" else f"false-match rate {estimate.basis}, not counted",
                "searched": _same_algorithm(searches.get(size), calibration.algorithm),
            }
        )
    held_out = [
        *(["wrongly refused (1:1)"] if verification["counted_on"] == HELD_OUT else []),
        *(["duplicates missed"] if any(row.get("counted_on") == HELD_OUT for row in duplicates) else []),
    ]
    return {
        "name": name,
        "caveat": None,
        "algorithm": calibration.algorithm,
        "source": source,
        "data": f"{calibration.data.get('dataset', '?')}: the {calibration.n_genuine:,} genuine and "
        f"{calibration.n_impostor:,} impostor comparisons the calibration was fitted on",
        "command": command,
        "held_out_source": report_source if held_out else None,
        "held_out_figures": held_out,
        "verification": verification,
        "duplicates": duplicates,
    }


def _verification(calibration: Calibration, report: dict[str, Any] | None, settings: Settings) -> dict[str, Any]:
    """The 1:1 check at the service's threshold: how often the right person is refused, a stranger accepted.

    The refusals are the false-non-match rate counted on held-out people when ``report``'s calibration
    check was run against this calibration file and has a row at exactly ``verify_target_fmr``
    (:func:`tessera.evaluation.duplicates.held_out_level`, the rule the duplicates use); else the
    calibration's own, on the genuine comparisons it was fitted on.
    """
    threshold = calibration.threshold_for_fmr(settings.verify_target_fmr)
    fitting = 100 * calibration.fnmr_at(threshold)
    level = held_out_level(calibration, report, threshold, settings.verify_target_fmr)
    if level is None or report is None:
        refused, counted_on, pairs, people = fitting, FITTING, calibration.n_genuine, None
    else:
        check = report["calibration_check"]
        refused = 100 * float(level["measured_fnmr"])
        counted_on, pairs, people = HELD_OUT, int(check["n_genuine"]), int(check["held_out_subjects"])
    return {
        "wrongly_refused_per_100": refused,
        "wrongly_refused_on_fitting_data_per_100": fitting,
        "counted_on": counted_on,
        "counted_on_words": _counted_on_words(counted_on, pairs, people, fitting, decimals=1),
        "stranger_accepted_one_in": round(1 / calibration.fmr_at(threshold).value),
        "threshold": round(threshold, 6),
    }


def _from_fusion(report: dict[str, Any], path: Path, settings: Settings, face_algorithm: str) -> dict[str, Any]:
    """Face and four fingers: the fusion evaluation's figures at the rates the service's thresholds are set for.

    The service sets a fused threshold for the stated rate divided by ``fusion_fmr_safety_factor``, so
    the rate to look up is that quotient; the evaluation measured only some rates.
    """
    fusion = report["fusion"]
    configuration = fusion["configurations"][FUSED_CONFIGURATION]
    measured = {float(rate): row for rate, row in configuration["at_fmr"].items()}
    factor = settings.fusion_fmr_safety_factor

    def at_rate(rate: float) -> dict[str, Any] | None:
        row = measured.get(_round_rate(rate / factor))
        return None if row is None or row["at_model_threshold"]["fnmr"] is None else row["at_model_threshold"]

    def missed(rate: float) -> float | None:
        row = at_rate(rate)
        return None if row is None else 100 * row["fnmr"]

    duplicates = []
    for size in GALLERY_SIZES:
        rate = settings.identify_expected_false_candidates / size
        value = missed(rate)
        if value is None:
            duplicates.append(
                _not_measured(
                    size, f"no fused figure at a rate of {rate / factor:.0e}: measure with `{FUSION_COMMAND}`"
                )
            )
            continue
        duplicates.append(
            {
                "gallery_size": size,
                "missed_per_100": value,
                "found_per_100": 100 - value,
                "wrongly_flagged_per_100": 100 * settings.identify_expected_false_candidates,
                "threshold": None,
                "fmr_basis": "stated",
                "note": _fused_note(at_rate(rate), factor),
                "searched": None,
            }
        )
    refused = missed(settings.verify_target_fmr)
    fused_face = fusion["models"]["face"]["algorithm"]
    return {
        "caveat": None
        if fused_face == face_algorithm
        else f"These fused figures were measured with the face algorithm {fused_face}, not the service's default "
        f"{face_algorithm}; with the default they are not yet measured (`{FUSION_COMMAND}`).",
        "name": "Face and four fingers (fused)",
        "algorithm": f"{fusion['models']['face']['algorithm']} + {fusion['models']['finger']['algorithm']}",
        "source": str(path),
        "data": f"{configuration['genuine_comparisons']} chimeric people (LFW faces, FVC/CrossMatch fingers); "
        f"impostor rates: {configuration['at_fmr'][next(iter(configuration['at_fmr']))]['fmr_rests_on']}",
        "command": FUSION_COMMAND,
        "verification": {
            "wrongly_refused_per_100": refused,
            "stranger_accepted_one_in": round(1 / settings.verify_target_fmr),
            "threshold": None,
        },
        "duplicates": duplicates,
    }


def _fused_note(row: dict[str, Any] | None, factor: float) -> str:
    if row is None:
        return ""
    upper = row["fnmr_ci95"][1] * 100
    ratio = row["test_fmr_over_target"]
    return (
        f"{row['false_non_matches']} of {row['genuine_comparisons']} missed (95 % upper bound {upper:.1f} per 100); "
        f"on held-out impostors the fused rate was {ratio:g} times the model's, "
        + ("inside" if ratio <= factor else "beyond")
        + f" the service's safety factor of {factor:g}"
    )


def _counted_on_words(
    counted_on: str, genuine_pairs: int | None, people: int | None, fitting_per_100: float, decimals: int = 0
) -> str:
    """Which people's photos a "refused" or "missed" figure is counted on, in words.

    ``fitting_per_100`` is the same figure on the calibration's fitting photos, written with
    ``decimals`` digits after the point when the figure is held out.
    """
    if counted_on == HELD_OUT:
        return (
            f"counted on {genuine_pairs or 0:,} pairs of photos of {people or 0:,} people the calibration never "
            f"saw; on the photos it was fitted on, {fitting_per_100:.{decimals}f} of 100"
        )
    return f"counted on the {genuine_pairs or 0:,} genuine pairs the calibration was fitted on"


def _same_algorithm(search: dict[str, Any] | None, algorithm: str) -> dict[str, Any] | None:
    # A report of another algorithm checks nothing about this one's calibration.
    return search if search is not None and search["algorithm"] == algorithm else None


def _round_rate(rate: float) -> float:
    return float(f"{rate:.6g}")


def _not_measured(size: int, note: str) -> dict[str, Any]:
    return {
        "gallery_size": size,
        "missed_per_100": None,
        "found_per_100": None,
        "wrongly_flagged_per_100": None,
        "threshold": None,
        "fmr_basis": None,
        "note": note,
        "searched": None,
    }
