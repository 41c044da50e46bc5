"""``tessera eval fvc``, the finger report files, the template cache's atomic writes and the finger calibration."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tessera.cli import app
from tessera.evaluation.calibrate import (
    DEFAULT_FINGER_CALIBRATION_PATH,
    DEFAULT_FINGER_SCORES_PATH,
    FINGER_CALIBRATION_DATABASES,
    finger_scores_document,
    held_out_check,
)
from tessera.evaluation.figures import named_figures
from tessera.evaluation.fvc import PHONE_CONTACT_PRINT, PHONE_FOLDER, DatabaseScores, _write_atomically, pipeline_key
from tessera.evaluation.fvc_report import has_finger_data, phone_folder
from tessera.match.calibration import fit_calibration, load_calibration

runner = CliRunner()


def test_a_cache_entry_is_written_whole_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "abc.contact.fmr"
    _write_atomically(target, b"first")
    _write_atomically(target, b"second, longer")  # replaced in one step, never appended to or truncated
    assert target.read_bytes() == b"second, longer"
    assert [path.name for path in tmp_path.iterdir()] == ["abc.contact.fmr"]


def test_a_failed_cache_write_leaves_nothing_behind(tmp_path):
    with pytest.raises(TypeError):
        _write_atomically(tmp_path / "x.fmr", "not bytes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_the_cache_key_ignores_the_refusal_messages():
    from tessera.evaluation import fvc

    assert "refusal.py" in fvc.KEY_EXCLUDED and pipeline_key().startswith("tessera-finger-")


def _scores(name: str, seed: int, genuine: int = 40, impostor: int = 4000) -> DatabaseScores:
    random = np.random.default_rng(seed)
    genuine_scores = np.clip(random.normal(0.45, 0.15, genuine), 0, 1)
    impostor_scores = np.clip(random.gamma(2.0, 0.02, impostor), 0, 1)
    impostor_scores[:3] = 0.0  # three comparisons with a refused print
    return DatabaseScores(
        name=name,
        capture="contact",
        genuine=genuine_scores,
        impostor=impostor_scores,
        impostor_fvc=impostor_scores[:45],
        genuine_templated=np.ones(genuine, bool),
        impostor_templated=np.arange(impostor) >= 3,
    )


def test_the_scores_file_holds_histograms_and_the_genuine_scores():
    scores = {"DB1_B": _scores("DB1_B", 0), "CrossMatch": _scores("CrossMatch", 1)}
    document = finger_scores_document(
        scores, algorithm="algo", created=datetime(2026, 1, 1, tzinfo=UTC), source="finger-x.json"
    )
    assert document["format"] == "tessera-finger-scores" and document["capture"] == "contact"
    assert document["genuine"]["n"] == 80 and document["impostor"]["n"] == 2 * 3997  # refused pairs left out
    assert document["bins"]["count"] == 10_000
    assert sum(count for _, count in document["impostor"]["histogram"]) == document["impostor"]["n"]
    bins = [k for k, _ in document["impostor"]["histogram"]]
    assert bins == sorted(bins) and bins[0] >= 0 and bins[-1] < 10_000
    assert document["genuine"]["scores"] == sorted(document["genuine"]["scores"])
    assert document["impostor"]["highest"] == sorted(document["impostor"]["highest"], reverse=True)[:100]
    assert sum(count for _, count in document["per_database"]["DB1_B"]["genuine"]["histogram"]) == 40
    # the bins the histogram gives agree with the scores it came from
    genuine = np.array(document["genuine"]["scores"])
    assert sum(count for _, count in document["genuine"]["histogram"]) == genuine.size
    json.dumps(document)  # plain JSON


def test_the_held_out_check_measures_rates_at_the_calibration_thresholds():
    fitted, held_out = _scores("DB1_B", 2), _scores("DB4_B", 3)
    calibration = fit_calibration(
        fitted.genuine, fitted.impostor[3:], modality="finger", algorithm="algo", data={}, score_range=(0.0, 1.0)
    )
    check = held_out_check(calibration, held_out)
    assert check["database"] == "DB4_B" and check["n_impostor"] == 3997
    first = check["rows"][0]
    assert first["target_fmr"] == 0.01 and 0.0 <= first["measured_fmr"] <= 0.05  # the same distribution: near 1 %


def test_the_shipped_finger_calibration_describes_the_current_pipeline():
    from tessera.finger.pipeline import ALGORITHM
    from tessera.match.matchers import load_finger_calibrations
    from tessera.match.mcc import ALGORITHM as MATCHER

    if not DEFAULT_FINGER_CALIBRATION_PATH.is_file():
        pytest.skip(
            f"no finger calibration at {DEFAULT_FINGER_CALIBRATION_PATH}: run `tessera calibrate --modality finger`"
        )
    calibration = load_calibration(DEFAULT_FINGER_CALIBRATION_PATH)
    assert calibration.modality == "finger" and calibration.data["capture"] == "contact"
    assert calibration.algorithm == f"{ALGORITHM}+{MATCHER}"
    assert sorted(calibration.data["databases"]) == sorted(FINGER_CALIBRATION_DATABASES)
    assert calibration.n_impostor == sum(db["n_impostor"] for db in calibration.data["databases"].values())
    assert "contact" in load_finger_calibrations(DEFAULT_FINGER_CALIBRATION_PATH.parent)
    scores = json.loads(DEFAULT_FINGER_SCORES_PATH.read_text())
    assert scores["algorithm"] == calibration.algorithm
    assert scores["genuine"]["n"] == calibration.n_genuine and scores["impostor"]["n"] == calibration.n_impostor


def test_eval_fvc_says_where_the_data_should_be(tmp_path):
    result = runner.invoke(app, ["eval", "fvc", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "no fingerprint data" in output and "nope" in output and "fvc2004" in output
    assert not (tmp_path / "out").exists()


def test_calibrate_finger_says_where_the_data_should_be(tmp_path):
    result = runner.invoke(
        app, ["calibrate", "--modality", "finger", "--data", str(tmp_path), "--out", str(tmp_path / "c.json")]
    )
    assert result.exit_code == 1
    assert "fingerprint data not found" in " ".join(result.output.split())


def test_the_finger_folders_are_recognised(finger_data, tmp_path):
    assert has_finger_data(finger_data) and has_finger_data(finger_data / "fvc2004")
    assert has_finger_data(finger_data / "contactless_ds1") and has_finger_data(finger_data / "phone_iiitd")
    assert phone_folder(finger_data) == phone_folder(finger_data / "phone_iiitd") is not None
    assert not has_finger_data(tmp_path)


def _fvc2004_subset(finger_data, folder, fingers, impressions):
    """An FVC-style folder holding the FVC2004 images of ``fingers`` (``DB1_B/101``, ...) x ``impressions``, with
    their rows of FVC2004's index and pair files."""
    wanted = {f"{finger}_{impression}.png" for finger in fingers for impression in impressions}
    for name in ("index.csv", "pairs_genuine.csv", "pairs_impostor.csv"):
        with open(finger_data / "fvc2004" / name, newline="") as handle:
            header, *rows = csv.reader(handle)
        rows = [row for row in rows if all(cell in wanted for cell in row if cell.endswith(".png"))]
        with open(folder / name, "w", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
        if name == "index.csv":
            for row in rows:
                (folder / row[0]).parent.mkdir(exist_ok=True)
                shutil.copy(finger_data / "fvc2004" / row[0], folder / row[0])
    return folder


@pytest.fixture(scope="module")
def two_fingers(finger_data, tmp_path_factory):
    """An FVC-style folder of 2 fingers x 3 impressions copied from FVC2004 DB1_B."""
    return _fvc2004_subset(finger_data, tmp_path_factory.mktemp("two_fingers"), ["DB1_B/101", "DB1_B/102"], (1, 2, 3))


def test_eval_fvc_writes_the_json_html_figures_and_scores(two_fingers, tmp_path):
    out = tmp_path / "out"
    command = [
        "eval",
        "fvc",
        "--data",
        str(two_fingers),
        "--out",
        str(out),
        "--workers",
        "1",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--bench-seconds",
        "0",
    ]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())["fvc"]
    database = report["per_db"]["DB1_B"]
    assert isinstance(database["eer"], float) and database["images"] == 6
    assert database["all_pairs"]["genuine_comparisons"] == 6 and database["all_pairs"]["impostor_comparisons"] == 9
    assert database["fvc_protocol"]["impostor_comparisons"] == 1
    assert database["eer"] <= 1 / 6  # two clean FVC2004 DB1 fingers: at most one genuine pair lost
    # The report names only the figures it saved, beside report.json.
    assert named_figures(report) == ["DB1_B.png"] and (out / "DB1_B.png").stat().st_size > 10_000
    page = (out / "report.html").read_text()
    assert 'src="DB1_B.png"' in page and "DB1_B" in page and "EER" in page
    with np.load(out / "scores.npz") as scores:
        assert scores["DB1_B/genuine"].shape == (6,) and scores["DB1_B/impostor"].shape == (9,)
        assert scores["DB1_B/impostor_templated"].all()
    assert "DB1_B" in result.output and "report.html" in result.output
    assert len(list((tmp_path / "cache").rglob("*.fmr"))) == 6
    assert not list((tmp_path / "cache").rglob("*.tmp"))


COMMITTED_FVC_REPORT = Path(__file__).resolve().parents[2] / "docs" / "accuracy" / "fvc" / "report.json"


@pytest.fixture(scope="module")
def fingers_and_a_phone_print(finger_data, tmp_path_factory):
    """FVC2004 DB1-3 (2 fingers x 2 impressions each: ``mean_eer_real`` is reported) and the phone set's contact
    print, as ``phone_iiitd`` (a figure of the phone photos is drawn for it), with a template cache for both runs."""
    folder = tmp_path_factory.mktemp("fingers_and_a_phone_print")
    fingers = [f"DB{number}_B/{finger}" for number in (1, 2, 3) for finger in (101, 102)]
    _fvc2004_subset(finger_data, folder, fingers, (1, 2))
    (folder / PHONE_FOLDER).mkdir(parents=True)
    shutil.copy(finger_data / PHONE_FOLDER / f"{PHONE_CONTACT_PRINT}.jpg", folder / PHONE_FOLDER)
    return folder, tmp_path_factory.mktemp("fingers_and_a_phone_print_cache")


def _eval_fvc(data_and_cache, out, *options):
    data, cache = data_and_cache
    command = ["eval", "fvc", "--data", str(data), "--out", str(out), "--workers", "1", "--cache-dir", str(cache)]
    result = runner.invoke(app, [*command, *options])
    assert result.exit_code == 0, result.output
    return result


def test_the_docs_copy_is_the_committed_reports_shape_and_holds_no_photo(fingers_and_a_phone_print, tmp_path):
    out = tmp_path / "docs"
    _eval_fvc(fingers_and_a_phone_print, out, "--for-docs", "--bench-seconds", "0.05")
    # No phone_iiitd.png, no report.html (it would show it), no scores.npz: the databases' figures and the report.
    assert sorted(path.name for path in out.iterdir()) == ["DB1_B.png", "DB2_B.png", "DB3_B.png", "report.json"]
    report = json.loads((out / "report.json").read_text())
    committed = json.loads(COMMITTED_FVC_REPORT.read_text())
    assert list(report) == list(committed)  # flat, not under "fvc"
    assert list(report["phone_iiitd"]) == list(committed["phone_iiitd"]) == ["note", "images", "scores"]
    assert report["phone_iiitd"]["note"] == committed["phone_iiitd"]["note"]
    assert list(report["phone_iiitd"]["images"]) == [PHONE_CONTACT_PRINT]
    assert sorted(named_figures(report)) == ["DB1_B.png", "DB2_B.png", "DB3_B.png"]


def test_without_for_docs_the_full_report_is_written_with_the_photos_figure(fingers_and_a_phone_print, tmp_path):
    out = tmp_path / "full"
    _eval_fvc(fingers_and_a_phone_print, out, "--bench-seconds", "0")
    assert sorted(path.name for path in out.iterdir()) == [
        "DB1_B.png",
        "DB2_B.png",
        "DB3_B.png",
        "phone_iiitd.png",
        "report.html",
        "report.json",
        "scores.npz",
    ]
    document = json.loads((out / "report.json").read_text())
    assert list(document) == ["fvc"]
    assert list(document["fvc"]["phone_iiitd"]) == ["images", "scores", "figure"]
    assert 'src="phone_iiitd.png"' in (out / "report.html").read_text()


def test_for_docs_is_refused_for_a_face_dataset(tmp_path):
    result = runner.invoke(app, ["eval", "lfw", "--data", str(tmp_path), "--out", str(tmp_path / "out"), "--for-docs"])
    assert result.exit_code == 2 and "--for-docs applies to fvc and finger only" in " ".join(result.output.split())


def test_the_matcher_benchmark_reports_rates_on_one_core():
    from tessera.evaluation.fvc import matcher_benchmark
    from tests.match.test_mcc import random_minutiae

    speed = matcher_benchmark([random_minutiae(40, seed) for seed in range(6)], seconds=0.05, gallery_size=50)
    assert speed["one_to_one_per_second"] > 0 and speed["one_to_many_per_second"] > 0
    assert speed["gallery_size"] == 50 and speed["mean_cylinders"] > 20


def test_calibrate_refuses_an_unknown_modality(tmp_path):
    result = runner.invoke(app, ["calibrate", "--modality", "iris", "--out", str(tmp_path / "c.json")])
    assert result.exit_code == 2 and "unknown modality 'iris'" in result.output
