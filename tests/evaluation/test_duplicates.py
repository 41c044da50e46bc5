"""Duplicates missed by gallery size: one definition, shared by the programme page and docs/accuracy.md's table."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tessera.cli import app
from tessera.evaluation.duplicates import BEYOND, FITTING, HELD_OUT, duplicates_table, missed_duplicates
from tessera.evaluation.programme import FACE_CALIBRATION, GALLERY_SIZES, Sources, programme_summary
from tessera.match.calibration import load_calibration
from tessera.match.matchers import CALIBRATIONS_DIR

REPO = Path(__file__).resolve().parents[2]
FACE_REPORT = REPO / "docs" / "accuracy" / "lfw-sface" / "report.json"
DLIB_REPORT = REPO / "docs" / "accuracy" / "lfw" / "report.json"
FUSION_REPORT = REPO / "docs" / "accuracy" / "fusion-sface" / "report.json"
EXPECTED_FALSE_CANDIDATES = 0.01
TABLE_COMMAND = [
    "report",
    "duplicates",
    "dlib=docs/accuracy/lfw/report.json",
    "SFace=docs/accuracy/lfw-sface/report.json",
]


def _report(path: Path = FACE_REPORT) -> dict:
    return json.loads(path.read_text())


def _table_cells(table: str, column: int) -> dict[int, str]:
    """``{gallery size: cell}`` of one column of a Markdown table written by :func:`duplicates_table`."""
    cells = {}
    for line in table.splitlines()[2:]:
        row = [cell.strip() for cell in line.strip("|").split("|")]
        cells[int(row[0].replace(",", ""))] = row[column]
    return cells


def _programme_missed(report_path: Path) -> dict[int, float]:
    face = programme_summary(Sources(CALIBRATIONS_DIR, report_path, FUSION_REPORT))["modalities"][0]
    return {row["gallery_size"]: row["missed_per_100"] for row in face["duplicates"]}


def test_the_figure_is_the_calibration_checks_count_on_held_out_people() -> None:
    calibration = load_calibration(CALIBRATIONS_DIR / FACE_CALIBRATION)
    report = _report()
    row = missed_duplicates(calibration, report, 10_000, EXPECTED_FALSE_CANDIDATES)
    level = next(level for level in report["calibration_check"]["levels"] if level["target_fmr"] == 1e-6)
    assert row.counted_on == HELD_OUT
    assert row.threshold == pytest.approx(level["threshold"], rel=1e-5)
    assert row.missed == level["measured_fnmr"]
    assert row.genuine_pairs == report["calibration_check"]["n_genuine"]
    # The calibration's own genuine comparisons give a lower figure: kept beside it, never in its place.
    assert row.missed_on_fitting_data == pytest.approx(calibration.fnmr_at(row.threshold))
    assert row.missed_on_fitting_data < row.missed


def test_a_check_of_another_calibration_falls_back_to_the_fitting_data() -> None:
    calibration = load_calibration(CALIBRATIONS_DIR / FACE_CALIBRATION)
    report = _report()
    report["calibration_check"]["calibration_created"] = "2000-01-01T00:00:00Z"
    row = missed_duplicates(calibration, report, 10_000, EXPECTED_FALSE_CANDIDATES)
    assert row.counted_on == FITTING
    assert row.missed == pytest.approx(calibration.fnmr_at(row.threshold))
    assert missed_duplicates(calibration, None, 10_000, EXPECTED_FALSE_CANDIDATES).counted_on == FITTING


def test_a_search_beyond_the_calibration_is_not_counted() -> None:
    calibration = load_calibration(CALIBRATIONS_DIR / FACE_CALIBRATION)
    size = 10 * round(EXPECTED_FALSE_CANDIDATES / calibration.min_fmr)
    row = missed_duplicates(calibration, _report(), size, EXPECTED_FALSE_CANDIDATES)
    assert (row.counted_on, row.missed, row.threshold) == (BEYOND, None, None)
    table = duplicates_table([("SFace", calibration, _report())], EXPECTED_FALSE_CANDIDATES, sizes=(size,))
    assert "the service refuses this search" in table


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_the_programme_page_and_the_accuracy_table_agree_for_the_same_inputs(tmp_path: Path, scale: float) -> None:
    """Both read one definition: halving the held-out counts in a report moves both the same way."""
    report = copy.deepcopy(_report())
    for level in report["calibration_check"]["levels"]:
        level["measured_fnmr"] *= scale
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    calibration = load_calibration(CALIBRATIONS_DIR / FACE_CALIBRATION)

    programme = _programme_missed(path)
    table = _table_cells(duplicates_table([("SFace", calibration, report)], EXPECTED_FALSE_CANDIDATES), 2)
    for size in GALLERY_SIZES:
        level = missed_duplicates(calibration, report, size, EXPECTED_FALSE_CANDIDATES)
        assert programme[size] == pytest.approx(level.missed_per_100)
        assert re.match(rf"about {programme[size]:.0f} of 100\b", table[size]), (size, table[size])
    if scale != 1.0:
        shipped = _programme_missed(FACE_REPORT)
        assert programme[10_000] == pytest.approx(scale * shipped[10_000])


def test_accuracy_md_holds_the_table_the_command_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, TABLE_COMMAND)
    assert result.exit_code == 0, result.output
    accuracy = (REPO / "docs" / "accuracy.md").read_text()
    assert result.output in accuracy, "regenerate with `tessera " + " ".join(TABLE_COMMAND) + "`"
    assert "tessera " + " ".join(TABLE_COMMAND) in accuracy
    # The programme page says the same number at 10,000 people.
    ten_thousand = _table_cells(result.output, 3)[10_000]
    programme = (REPO / "docs" / "programme-accuracy.md").read_text()
    missed = int(re.match(r"about (\d+) of 100", ten_thousand).group(1))
    sentence = f"out of 100 people who enrol a second time, **{100 - missed} are found and {missed} missed**"
    assert f"Duplicate check among 10,000 people enrolled: {sentence}" in programme


def test_the_command_names_a_bad_column() -> None:
    result = CliRunner().invoke(app, ["report", "duplicates", "no-such-report.json"])
    assert result.exit_code == 1
    assert "NAME=REPORT" in result.output
