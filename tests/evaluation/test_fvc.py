"""The FVC evaluation: its error rates on known scores, its reading of the databases, and a small run end to end."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from tessera.evaluation.fvc import (
    find_databases,
    main,
    pair_error_rates,
    read_contactless_ds1,
)
from tessera.evaluation.metrics import equal_error_rate, fnmr_at_fmr


def fvc_equal_error_rate(genuine, impostor):
    """The EER alone: FVC's definition is the one every evaluation uses."""
    return equal_error_rate(genuine, impostor)[0]


def test_separated_scores_have_no_error():
    assert fvc_equal_error_rate(np.array([0.5, 0.6, 0.9]), np.array([0.0, 0.1, 0.2])) == 0.0
    assert fnmr_at_fmr(np.array([0.5, 0.6]), np.array([0.1] * 200), 0.01) == 0.0


def test_the_eer_is_where_the_error_rates_cross():
    genuine = np.array([0.1, 0.4, 0.6, 0.8])  # one genuine below 0.3
    impostor = np.array([0.0, 0.05, 0.2, 0.5])  # one impostor above 0.3
    assert fvc_equal_error_rate(genuine, impostor) == pytest.approx(0.25)
    assert fvc_equal_error_rate(np.array([0.5] * 4), np.array([0.5] * 4)) == pytest.approx(0.5)


def test_fmr100_is_the_fnmr_once_false_matches_are_rare_enough():
    impostor = np.concatenate([np.zeros(196), [0.2, 0.4, 0.7, 0.9]])  # 1 % of impostors at or above 0.7
    genuine = np.array([0.3, 0.5, 0.75, 0.95])
    assert fnmr_at_fmr(genuine, impostor, 0.01) == pytest.approx(0.25)  # any threshold in (0.4, 0.7]: FMR exactly 1 %
    assert fnmr_at_fmr(genuine, impostor, 0.001) == pytest.approx(0.75)  # above 0.9: no false match


def test_error_rates_report_their_own_limits():
    scores = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.2], [0.1, 0.2, 1.0]])
    rates = pair_error_rates(scores, [(0, 1)], [(0, 2), (1, 2)], fingers=["a", "a", "b"])
    assert rates.eer == 0.0 and rates.fmr1000 is None
    assert any("FMR1000 needs at least 1,000" in note for note in rates.notes)
    assert rates.eer_ci95 == (0.0, 0.0)


def test_the_fvc2004_folder_holds_four_databases_with_the_fvc_protocol(finger_data):
    databases = {database.name: database for database in find_databases(finger_data / "fvc2004")}
    assert sorted(databases) == ["DB1_B", "DB2_B", "DB3_B", "DB4_B"]
    db1 = databases["DB1_B"]
    assert len(db1.files) == 80 and len(set(db1.fingers)) == 10
    assert len(db1.genuine) == 280 and len(db1.impostor_fvc) == 45
    assert all(db1.fingers[a] == db1.fingers[b] for a, b in db1.genuine)
    assert databases["DB3_B"].ppi == 512.0 and db1.ppi == 500.0


def test_the_contactless_set_pairs_impressions_of_one_finger(finger_data):
    database = read_contactless_ds1(finger_data / "contactless_ds1")
    assert database.capture == "contactless" and database.ppi is None
    assert len(database.files) == 41 and len(set(database.fingers)) == 21
    assert len(database.genuine) == 20


def test_every_database_folder_is_found(finger_data):
    names = {database.name for database in find_databases(finger_data)}
    assert {"DB1_B", "DB2_B", "DB3_B", "DB4_B", "FVC2002_DB1_B", "CrossMatch", "DS1"} <= names


def test_a_missing_folder_says_what_it_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected index.csv"):
        find_databases(tmp_path)


@pytest.fixture(scope="module")
def tiny_database(finger_data, tmp_path_factory):
    """An FVC-style folder of 3 fingers x 3 impressions copied from FVC2004 DB2_B."""
    folder = tmp_path_factory.mktemp("tiny_fvc")
    (folder / "DB2_B").mkdir()
    rows, genuine, impostor = [], [], []
    for finger in (101, 102, 103):
        for impression in (1, 2, 3):
            name = f"DB2_B/{finger}_{impression}.png"
            shutil.copy(finger_data / "fvc2004" / name, folder / name)
            rows.append(
                {"file": name, "finger_id": f"DB2_B:{finger}", "impression": impression, "width": 328, "height": 364}
            )
        genuine += [
            (f"DB2_B/{finger}_{a}.png", f"DB2_B/{finger}_{b}.png", f"DB2_B:{finger}")
            for a, b in ((1, 2), (1, 3), (2, 3))
        ]
    impostor = [
        (f"DB2_B/{a}_1.png", f"DB2_B/{b}_1.png", f"DB2_B:{a}", f"DB2_B:{b}")
        for a, b in ((101, 102), (101, 103), (102, 103))
    ]
    for name, header, lines in (
        ("index.csv", ["file", "finger_id", "impression", "width", "height"], [list(row.values()) for row in rows]),
        ("pairs_genuine.csv", ["file_a", "file_b", "finger_id"], genuine),
        ("pairs_impostor.csv", ["file_a", "file_b", "finger_id_a", "finger_id_b"], impostor),
    ):
        with open(folder / name, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(lines)
    return folder


def test_the_command_writes_a_report_and_reuses_its_cache(tiny_database, tmp_path, capsys):
    arguments = [
        "--data",
        str(tiny_database),
        "--out",
        str(tmp_path / "out"),
        "--cache",
        str(tmp_path / "cache"),
        "--workers",
        "1",
        "--bench-seconds",
        "0",
    ]
    assert main(arguments) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())["fvc"]
    database = report["per_db"]["DB2_B"]
    assert database["images"] == 9 and database["failures_to_enrol"] == 0
    assert database["all_pairs"]["genuine_comparisons"] == 9 and database["all_pairs"]["impostor_comparisons"] == 27
    assert database["fvc_protocol"]["impostor_comparisons"] == 3
    assert 0.0 <= database["eer"] <= 0.2 and database["eer"] == database["all_pairs"]["eer"]
    assert "mean_eer_real" not in report  # DB1 and DB3 were not evaluated
    cached = list((tmp_path / "cache").rglob("*.fmr"))
    assert len(cached) == 9
    assert "DB2_B" in capsys.readouterr().out
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "DB2_B.png").is_file()
    # Second run: every template comes from the cache, the report is the same.
    assert main(arguments) == 0
    again = json.loads((tmp_path / "out" / "report.json").read_text())["fvc"]
    assert again["per_db"]["DB2_B"]["eer"] == database["eer"]
    assert again["per_db"]["DB2_B"]["mean_extraction_cpu_seconds"] is None
