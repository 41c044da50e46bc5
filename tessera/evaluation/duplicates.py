"""Duplicates a de-duplication search misses, by gallery size: one definition for every page that says it.

A search among ``N`` enrolled people is set (:meth:`tessera.match.calibration.Calibration.identify_threshold`)
so that each comparison's false-match rate is ``expected_false_candidates / N``; a person enrolling a
second time is missed when their own earlier photo scores below that threshold. The share missed is
the false-non-match rate at that threshold, counted on

- ``"held-out"``: the genuine pairs of people the calibration never saw, from the calibration check
  of ``tessera eval lfw`` (``report.json`` ``calibration_check``), when that check was run against
  this very calibration file at this threshold; else
- ``"fitting"``: the genuine comparisons the calibration was fitted on (its own FNMR column), which
  flatters it: the threshold was set on those photos' impostors and the network may have seen the
  people; else
- ``"beyond"``: the rate is below what the calibration vouches for, and the service refuses the
  search: nothing is counted.

Neither count includes photos the quality gate refuses (a refused photo is retaken, not searched),
and a label error in the data (one person under two names) moves no genuine pair, so these figures
are the same with or without LFW's listed label errors.

:mod:`tessera.evaluation.programme` (``tessera report programme``) and the table of
``docs/accuracy.md`` (``tessera report duplicates``) both read this; the programme page's 1:1
"wrongly refused" figure looks up its held-out row with the same :func:`held_out_level`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tessera.match.calibration import Calibration, FmrBeyondCalibration

TABLE_GALLERY_SIZES = (1_000, 10_000, 100_000, 1_000_000)
"""The gallery sizes of the table in ``docs/accuracy.md``."""
HELD_OUT, FITTING, BEYOND = "held-out", "fitting", "beyond"


@dataclass(frozen=True)
class MissedDuplicates:
    """Out of the people who enrol a second time, the share a search of ``gallery_size`` people misses.

    Attributes
    ----------
    gallery_size : int
        People already enrolled.
    target_fmr : float
        The false-match rate per comparison the search is set for (``expected_false_candidates / gallery_size``).
    threshold : float or None
        The cosine (or score) threshold the calibration gives for it; None when ``counted_on`` is ``"beyond"``.
    fmr_basis : str or None
        How the calibration knows that rate: ``"measured"`` or ``"extrapolated"`` (a tail model).
    missed : float or None
        Fraction of genuine pairs scoring below ``threshold`` on ``counted_on``; None when ``"beyond"``.
    missed_on_fitting_data : float or None
        The same on the calibration's own fitting comparisons (equal to ``missed`` when that is all there is).
    counted_on : str
        ``"held-out"``, ``"fitting"`` or ``"beyond"`` (see the module's docstring).
    genuine_pairs : int or None
        Genuine pairs ``missed`` is counted on.
    people : int or None
        Held-out people those pairs come from (None for the fitting data).
    false_matches, expected_false_matches : int or float or None
        On the held-out impostors at ``threshold``: counted, and what the calibration predicts.
    """

    gallery_size: int
    target_fmr: float
    threshold: float | None
    fmr_basis: str | None
    missed: float | None
    missed_on_fitting_data: float | None
    counted_on: str
    genuine_pairs: int | None
    people: int | None
    false_matches: int | None = None
    expected_false_matches: float | None = None

    @property
    def missed_per_100(self) -> float | None:
        return None if self.missed is None else 100 * self.missed


def missed_duplicates(
    calibration: Calibration, report: dict[str, Any] | None, gallery_size: int, expected_false_candidates: float
) -> MissedDuplicates:
    """Duplicates missed by a search of ``gallery_size`` people at the service's threshold.

    Parameters
    ----------
    calibration : Calibration
        The calibration the service sets its threshold from.
    report : dict or None
        ``report.json`` of ``tessera eval lfw`` for the same algorithm; its ``calibration_check``
        gives the held-out count when it checked this calibration at this threshold.
    gallery_size : int
        People already enrolled.
    expected_false_candidates : float
        Wrong candidates per search the service allows on average (``identify_expected_false_candidates``).

    Returns
    -------
    MissedDuplicates
    """
    target = expected_false_candidates / gallery_size
    try:
        threshold = calibration.identify_threshold(gallery_size, expected_false_candidates)
    except FmrBeyondCalibration:
        return MissedDuplicates(gallery_size, target, None, None, None, None, BEYOND, None, None)
    basis = calibration.fmr_at(threshold).basis
    fitting = calibration.fnmr_at(threshold)
    level = held_out_level(calibration, report, threshold)
    if level is None:
        return MissedDuplicates(
            gallery_size, target, threshold, basis, fitting, fitting, FITTING, calibration.n_genuine, None
        )
    check = report["calibration_check"] if report is not None else {}
    return MissedDuplicates(
        gallery_size,
        target,
        threshold,
        basis,
        float(level["measured_fnmr"]),
        fitting,
        HELD_OUT,
        int(check["n_genuine"]),
        int(check["held_out_subjects"]),
        int(level["false_matches"]),
        float(level["expected_false_matches"]),
    )


def held_out_level(
    calibration: Calibration, report: dict[str, Any] | None, threshold: float, target_fmr: float | None = None
) -> dict[str, Any] | None:
    """The calibration check's row at ``threshold``, if that check was run against this calibration file.

    Parameters
    ----------
    calibration : Calibration
        The calibration ``threshold`` was read from.
    report : dict or None
        ``report.json`` of ``tessera eval lfw``; its ``calibration_check`` counts on held-out people.
    threshold : float
        The score threshold the service uses.
    target_fmr : float, optional
        When given, the row must also be the one checked at exactly this false-match rate (the 1:1
        check's ``verify_target_fmr``).

    Returns
    -------
    dict or None
        The row of ``calibration_check.levels`` (``measured_fnmr``, ``false_matches``, ...), or None
        when the report checked another calibration, or no row is at that threshold (and rate).
    """
    check = (report or {}).get("calibration_check") or {}
    if check.get("calibration_algorithm") != calibration.algorithm or check.get("calibration_created") != (
        calibration.created
    ):
        return None  # a check of another calibration says nothing about this one's thresholds
    for level in check.get("levels", []):
        if target_fmr is not None and level.get("target_fmr") != target_fmr:
            continue
        if level.get("threshold") is not None and math.isclose(level["threshold"], threshold, rel_tol=1e-5):
            return level
    return None


def duplicates_table(
    columns: Sequence[tuple[str, Calibration, dict[str, Any] | None]],
    expected_false_candidates: float,
    sizes: Sequence[int] = TABLE_GALLERY_SIZES,
) -> str:
    """The Markdown table of ``docs/accuracy.md``: duplicates missed out of 100, one column per algorithm.

    Parameters
    ----------
    columns : sequence of (name, Calibration, report or None)
        One column per algorithm, each from its calibration and its ``tessera eval lfw`` report.
    expected_false_candidates : float
        The service's ``identify_expected_false_candidates``.
    sizes : sequence of int
        Gallery sizes, one row each.

    Returns
    -------
    str
        The table, one line per row, ending in a newline.
    """
    header = ["people enrolled", "false match rate needed", *[f"{name} misses" for name, _, _ in columns]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for size in sizes:
        cells = [f"{size:,}", _rate_words(expected_false_candidates / size)]
        for _, calibration, report in columns:
            cells.append(_cell(missed_duplicates(calibration, report, size, expected_false_candidates)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(row: MissedDuplicates) -> str:
    if row.missed_per_100 is None:
        return "not known: the service refuses this search (beyond its calibration)"
    caveats = [
        *(["on the fitting photos"] if row.counted_on == FITTING else []),
        *(["at an extrapolated threshold"] if row.fmr_basis == "extrapolated" else []),
    ]
    return f"about {row.missed_per_100:.0f} of 100" + (f" ({', '.join(caveats)})" if caveats else "")


def _rate_words(rate: float) -> str:
    one_in = round(1 / rate)
    return f"1 in {_number_words(one_in)} ({rate:.0e})".replace("e-0", "e-")


def _number_words(value: int) -> str:
    for size, word in ((1_000_000_000, "billion"), (1_000_000, "million")):
        if value >= size and value % size == 0:
            count = value // size
            return f"a {word}" if count == 1 else f"{count:,} {word}"
    return f"{value:,}"
