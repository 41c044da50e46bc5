"""The programme accuracy summary: its numbers come from the shipped calibration files and reports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tessera.cli import app
from tessera.evaluation import programme
from tessera.evaluation.programme import FACE_CALIBRATION, FINGER_CALIBRATION, Sources, programme_summary
from tessera.evaluation.programme_page import COMMAND, render_html, render_markdown
from tessera.match.calibration import load_calibration
from tessera.match.matchers import CALIBRATIONS_DIR
from tessera.settings import Settings

REPO = Path(__file__).resolve().parents[2]
FACE_REPORT = REPO / "docs" / "accuracy" / "lfw-sface" / "report.json"
FUSION_REPORT = REPO / "docs" / "accuracy" / "fusion-sface" / "report.json"


def _sources(calibrations: Path = CALIBRATIONS_DIR) -> Sources:
    return Sources(calibrations, FACE_REPORT, FUSION_REPORT)


def _copy_calibrations(tmp_path: Path) -> Path:
    folder = tmp_path / "calibrations"
    folder.mkdir()
    for name in (FACE_CALIBRATION, FINGER_CALIBRATION):
        shutil.copy(CALIBRATIONS_DIR / name, folder / name)
    return folder


def _double_fnmr(path: Path) -> None:
    """Double every false-non-match rate in a calibration file (capped at 1), keeping it valid."""
    document = json.loads(path.read_text())
    column = document["table"]["columns"].index("fnmr")
    for row in document["table"]["rows"]:
        row[column] = min(1.0, 2 * row[column])
    path.write_text(json.dumps(document))


def _face(summary: dict) -> dict:
    return summary["modalities"][0]


def test_face_figures_are_the_calibration_files_at_the_service_thresholds() -> None:
    settings = Settings()
    calibration = load_calibration(CALIBRATIONS_DIR / FACE_CALIBRATION)
    face = _face(programme_summary(_sources(), settings))

    verify = calibration.threshold_for_fmr(settings.verify_target_fmr)
    assert face["verification"]["threshold"] == pytest.approx(verify, abs=1e-6)
    assert face["verification"]["wrongly_refused_on_fitting_data_per_100"] == pytest.approx(
        100 * calibration.fnmr_at(verify)
    )
    assert face["verification"]["stranger_accepted_one_in"] == 1000
    thousand = face["duplicates"][0]
    assert thousand["gallery_size"] == 1000
    search = calibration.identify_threshold(1000, settings.identify_expected_false_candidates)
    assert thousand["threshold"] == pytest.approx(search, abs=1e-6)
    # Missed duplicates are counted on the held-out people of the report's calibration check at that threshold.
    level = next(
        level
        for level in json.loads(FACE_REPORT.read_text())["calibration_check"]["levels"]
        if level["target_fmr"] == 1e-5
    )
    assert thousand["missed_per_100"] == pytest.approx(100 * level["measured_fnmr"])
    assert thousand["counted_on"] == "held-out"
    assert thousand["missed_per_100"] + thousand["found_per_100"] == pytest.approx(100)
    # The real searches on 1,000-person galleries in the shipped evaluation report.
    assert thousand["searched"]["mated_searches"] > 1000


def test_changing_a_calibration_value_changes_the_summary(tmp_path: Path) -> None:
    """Doubling the FNMR column of a temp copy of the face calibration doubles what the summary says is missed."""
    folder = _copy_calibrations(tmp_path)
    before = _face(programme_summary(_sources(folder)))
    _double_fnmr(folder / FACE_CALIBRATION)
    after = _face(programme_summary(_sources(folder)))

    assert after["verification"]["wrongly_refused_on_fitting_data_per_100"] == pytest.approx(
        2 * before["verification"]["wrongly_refused_on_fitting_data_per_100"]
    )
    # The 1:1 refusals are counted on held-out people too: only the words about the fitting photos move.
    assert after["verification"]["wrongly_refused_per_100"] == pytest.approx(
        before["verification"]["wrongly_refused_per_100"]
    )
    assert after["verification"]["counted_on_words"] != before["verification"]["counted_on_words"]
    for old, new in zip(before["duplicates"], after["duplicates"], strict=True):
        if old["missed_per_100"] is not None:
            # Counted on held-out people, not on the calibration's FNMR column: only the words about the
            # fitting photos' figure move.
            assert new["missed_per_100"] == pytest.approx(old["missed_per_100"])
            assert new["counted_on_words"] != old["counted_on_words"]
    assert render_markdown(programme_summary(_sources(folder))) != render_markdown(programme_summary(_sources()))


def test_a_hard_coded_summary_would_be_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: if the summary ignored the calibration (a fixed number), the check above would fail."""
    folder = _copy_calibrations(tmp_path)
    _double_fnmr(folder / FACE_CALIBRATION)
    monkeypatch.setattr(programme.Calibration, "fnmr_at", lambda self, score: 0.05)
    changed = _face(programme_summary(_sources(folder)))
    unchanged = _face(programme_summary(_sources()))
    assert (
        changed["verification"]["wrongly_refused_on_fitting_data_per_100"]
        == unchanged["verification"]["wrongly_refused_on_fitting_data_per_100"]
    )


def _check_level(report: dict, target_fmr: float) -> dict:
    return next(level for level in report["calibration_check"]["levels"] if level["target_fmr"] == target_fmr)


def test_the_1_to_1_refusals_are_counted_on_people_the_calibration_never_saw() -> None:
    """The committed SFace report checked this very calibration at 1e-3: its held-out count is the figure."""
    settings = Settings()
    report = json.loads(FACE_REPORT.read_text())
    level = _check_level(report, settings.verify_target_fmr)
    calibration = load_calibration(CALIBRATIONS_DIR / FACE_CALIBRATION)
    own = 100 * calibration.fnmr_at(calibration.threshold_for_fmr(settings.verify_target_fmr))
    face = _face(programme_summary(_sources(), settings))

    verification = face["verification"]
    assert verification["counted_on"] == "held-out"
    assert verification["wrongly_refused_per_100"] == pytest.approx(100 * level["measured_fnmr"])
    assert verification["wrongly_refused_per_100"] != pytest.approx(own)  # not the calibration's own figure
    assert verification["wrongly_refused_on_fitting_data_per_100"] == pytest.approx(own)
    check = report["calibration_check"]
    words = verification["counted_on_words"]
    assert f"counted on {check['n_genuine']:,} pairs of photos of {check['held_out_subjects']:,} people" in words
    assert f"on the photos it was fitted on, {own:.1f} of 100" in words
    assert "wrongly refused (1:1)" in face["held_out_figures"]
    markdown = render_markdown(programme_summary(_sources(), settings))
    assert f" in 100** ({words}); a stranger" in markdown
    # A stricter service reads the check's row at its own rate.
    strict = _face(programme_summary(_sources(), Settings(verify_target_fmr=1e-4)))
    assert strict["verification"]["wrongly_refused_per_100"] == pytest.approx(
        100 * _check_level(report, 1e-4)["measured_fnmr"]
    )


def test_the_1_to_1_refusals_are_the_calibrations_own_without_a_matching_check(tmp_path: Path) -> None:
    """A check of another calibration, or none at the service's rate, leaves the calibration's own figure, said so."""
    calibration = load_calibration(CALIBRATIONS_DIR / FACE_CALIBRATION)
    report = json.loads(FACE_REPORT.read_text())
    report["calibration_check"]["calibration_created"] = "2000-01-01T00:00:00Z"  # fitted again since
    other = tmp_path / "report.json"
    other.write_text(json.dumps(report))
    unchecked_rate = Settings(verify_target_fmr=2e-3)  # the check has no row at this rate
    for sources, settings in (
        (Sources(CALIBRATIONS_DIR, other, FUSION_REPORT), Settings()),
        (_sources(), unchecked_rate),
    ):
        verification = _face(programme_summary(sources, settings))["verification"]
        own = 100 * calibration.fnmr_at(calibration.threshold_for_fmr(settings.verify_target_fmr))
        assert verification["counted_on"] == "fitting"
        assert verification["wrongly_refused_per_100"] == pytest.approx(own)
        assert verification["counted_on_words"] == (
            f"counted on the {calibration.n_genuine:,} genuine pairs the calibration was fitted on"
        )
    # The finger has no report at all: its own figure, and the page says so.
    finger = programme_summary(_sources())["modalities"][1]
    assert finger["verification"]["counted_on"] == "fitting"
    assert "wrongly refused (1:1)" not in finger["held_out_figures"]
    assert "the calibration was fitted on); a stranger" in render_markdown(programme_summary(_sources()))


def test_the_service_settings_move_the_numbers() -> None:
    strict = _face(programme_summary(_sources(), Settings(verify_target_fmr=1e-4)))
    default = _face(programme_summary(_sources()))
    assert strict["verification"]["stranger_accepted_one_in"] == 10_000
    assert strict["verification"]["wrongly_refused_per_100"] > default["verification"]["wrongly_refused_per_100"]


def test_searches_the_calibration_cannot_vouch_for_are_not_measured_with_a_command() -> None:
    summary = programme_summary(_sources())
    expected = Settings().identify_expected_false_candidates
    refused = 0
    for modality, name in zip(summary["modalities"], (FACE_CALIBRATION, FINGER_CALIBRATION)):
        lowest = load_calibration(CALIBRATIONS_DIR / name).min_fmr
        for row in modality["duplicates"]:
            if expected / row["gallery_size"] < lowest:  # beyond what the calibration vouches for: refused
                refused += 1
                assert row["missed_per_100"] is None
                assert "tessera eval" in row["note"]
            else:
                assert row["missed_per_100"] is not None
    assert refused > 0  # the single finger cannot vouch for 100,000 people
    fused_largest = summary["modalities"][2]["duplicates"][-1]
    assert fused_largest["gallery_size"] == 100_000 and fused_largest["missed_per_100"] is None
    markdown = render_markdown(summary)
    assert "**not measured**" in markdown
    assert "tessera eval fusion" in markdown


def test_fused_figures_name_the_face_algorithm_they_were_measured_with() -> None:
    fused = programme_summary(_sources())["modalities"][2]
    measured_with = json.loads(FUSION_REPORT.read_text())["fusion"]["models"]["face"]["algorithm"]
    assert measured_with in fused["algorithm"]
    if measured_with != _face(programme_summary(_sources()))["algorithm"]:
        assert "not yet measured" in fused["caveat"]


def test_the_committed_pages_are_what_the_command_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/programme-accuracy.md and the console's page are regenerated, never edited by hand."""
    monkeypatch.chdir(REPO)
    summary = programme_summary(
        Sources(CALIBRATIONS_DIR, FACE_REPORT.relative_to(REPO), FUSION_REPORT.relative_to(REPO))
    )
    assert (REPO / "docs" / "programme-accuracy.md").read_text() == render_markdown(summary), COMMAND
    assert (REPO / "tessera" / "web" / "static" / "programme-accuracy.html").read_text() == render_html(summary), (
        COMMAND
    )


def test_the_command_writes_both_pages_and_the_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(
        app,
        ["report", "programme", "--markdown", str(tmp_path / "p.md"), "--html", str(tmp_path / "web" / "p.html")],
    )
    assert result.exit_code == 1  # the HTML's folder does not exist: a clear error, not a traceback
    (tmp_path / "web").mkdir()
    result = CliRunner().invoke(
        app,
        ["report", "programme", "--markdown", str(tmp_path / "p.md"), "--html", str(tmp_path / "web" / "p.html")],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "programme-accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "web" / "programme-accuracy.css").is_file()
    assert "Face only" in (tmp_path / "web" / "p.html").read_text()


def test_a_missing_report_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "programme", "--fusion-report", str(tmp_path / "nope.json")])
    assert result.exit_code == 1
    assert "--fusion-report" in result.output
