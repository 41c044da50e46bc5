"""The command line does the same workflows as the API, on its own data folder."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from tessera.cli import app
from tests.service_fixtures import CONSENT_TEXT, consent

runner = CliRunner()


def run(*args: str, data_dir) -> str:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_keys_create_prints_a_working_key(tmp_path):
    key = run("keys", "create", "--role", "auditor", data_dir=tmp_path).strip().splitlines()[-1]
    assert key.startswith("tsk_")
    from tessera.settings import Settings
    from tessera.workflows.instance import Instance
    from tessera.workflows.keys import authenticate

    assert authenticate(Instance.open(Settings(data_dir=tmp_path), build_index=False), key).role == "auditor"


def test_keys_create_limits_a_key_to_galleries_and_keys_list_shows_them(tmp_path):
    gallery = run("gallery", "create", "Clinic 4", "--purpose", "Clinic visits", data_dir=tmp_path).strip()
    key = run("keys", "create", "--role", "verifier", "--gallery", gallery, data_dir=tmp_path).strip().splitlines()[-1]
    from tessera.settings import Settings
    from tessera.workflows.instance import Instance
    from tessera.workflows.keys import authenticate

    instance = Instance.open(Settings(data_dir=tmp_path), build_index=False)
    assert authenticate(instance, key).galleries == {gallery}
    instance.close()
    listed = runner.invoke(app, ["keys", "list", "--data-dir", str(tmp_path)])
    assert listed.exit_code == 0 and f"role=verifier galleries={gallery} " in listed.stdout
    assert re.search(r"created_by=cli:\S+", listed.stdout), listed.stdout  # who created the key (issue 17)
    refused = runner.invoke(
        app, ["keys", "create", "--role", "admin", "--gallery", gallery, "--data-dir", str(tmp_path)]
    )
    assert refused.exit_code == 1 and "admin_key_is_global" in refused.output


def test_enrol_verify_identify_erase_audit(tmp_path, lfw_dir):
    photos = sorted((lfw_dir / "images" / "Colin_Powell").glob("*.jpg"))[:2]
    other = sorted((lfw_dir / "images" / "Tony_Blair").glob("*.jpg"))[0]
    consent_file = tmp_path / "consent.json"
    consent_file.write_text(json.dumps(consent()))
    data = tmp_path / "instance"

    gallery = run("gallery", "create", "Clinic 4", "--purpose", "Vaccination records", data_dir=data).strip()
    text_file = tmp_path / "consent.txt"
    text_file.write_text(CONSENT_TEXT)
    run(
        "consent-text",
        "add",
        str(text_file),
        "--version",
        "2026-01",
        "--shared",
        "--modality",
        "face",
        "--purpose",
        "verify",
        "--purpose",
        "deduplicate",
        data_dir=data,
    )
    run("gallery", "enable-identification", gallery, "--dpia-reference", "DPIA-1", data_dir=data)
    subject = run(
        "enrol", "--gallery-id", gallery, "--consent-file", str(consent_file), str(photos[0]), data_dir=data
    ).strip()

    assert json.loads(run("verify", subject, str(photos[1]), data_dir=data))["decision"] == "match"
    assert json.loads(run("verify", subject, str(other), data_dir=data))["decision"] == "no_match"
    found = json.loads(run("identify", gallery, str(photos[1]), "--case-reference", "C-1", data_dir=data))
    assert found["status"] == "sent_for_review" and subject not in json.dumps(found)  # no one named before review

    receipt = json.loads(run("erase", subject, data_dir=data))
    assert receipt["subject_id"] == subject and receipt["data_key_destroyed"]
    again = json.loads(run("identify", gallery, str(photos[1]), "--case-reference", "C-1", data_dir=data))
    assert again["status"] == "no_likely_match"
    assert json.loads(run("audit", "verify", data_dir=data))["ok"] is True


def test_errors_are_messages_not_tracebacks(tmp_path):
    result = runner.invoke(app, ["erase", "no-such-subject", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "subject_not_found" in result.output and "Traceback" not in result.output


def test_data_dir_from_environment(tmp_path):
    result = runner.invoke(
        app, ["gallery", "create", "g", "--purpose", "p"], env={"TESSERA_DATA_DIR": str(tmp_path / "env")}
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env" / "tessera.db").exists()


def test_eval_fusion_without_data_says_where_to_point_it(tmp_path):
    result = runner.invoke(app, ["eval", "fusion", "--data", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "no fusion data" in result.output and "face/lfw" in result.output
    assert not (tmp_path / "out").exists()


def test_a_finger_position_outside_1_to_10_is_a_bad_parameter_on_every_command(tmp_path):
    (tmp_path / "finger.png").write_bytes(b"not read")
    (tmp_path / "consent.json").write_text(json.dumps(consent(modalities=("finger",))))
    commands = {
        "enrol": ["enrol", "--gallery-id", "g", "--consent-file", str(tmp_path / "consent.json")],
        "verify": ["verify", "subject"],
        "identify": ["identify", "gallery", "--case-reference", "CASE-1"],
    }
    for command in commands.values():
        args = [*command, "--finger", str(tmp_path / "finger.png"), "--finger-position", "11"]
        result = runner.invoke(app, [*args, "--data-dir", str(tmp_path / "instance")])
        assert result.exit_code == 2, result.output
        message = " ".join(result.output.replace("│", " ").split())  # rich draws the message in a box
        assert "--finger-position must be an ISO/IEC 19794-2 finger position from 1 (right thumb) to 10" in message
        assert "(left little); got 11" in message
        assert not (tmp_path / "instance").exists()  # refused before any instance is opened


def test_calibrate_refuses_an_unknown_face_algorithm_naming_the_registered_ones():
    result = runner.invoke(app, ["calibrate", "--algorithm", "someone-elses-network/9"])
    assert result.exit_code == 2
    assert "unknown face algorithm 'someone-elses-network/9'" in result.output
    assert "yunet-sface-2021dec/1" in result.output and "dlib-resnet-v1/5pt-flip/1" in result.output


def test_algorithms_lists_the_face_algorithms_and_who_lacks_the_default(tmp_path):
    report = json.loads(run("algorithms", data_dir=tmp_path))
    rows = {row["algorithm"]: row for row in report["algorithms"]}
    assert rows["yunet-sface-2021dec/1"]["default"] is True and rows["yunet-sface-2021dec/1"]["served"] is True
    assert rows["dlib-resnet-v1/5pt-flip/1"]["default"] is False and rows["dlib-resnet-v1/5pt-flip/1"]["served"] is True
    assert (report["subjects_with_a_face"], report["lacking_default"]) == (0, 0)


def test_python_dash_m_tessera_cli_runs_the_command():
    """`python -m tessera.cli` runs the same command as the `tessera` entry point (it once failed with a circular
    import of tessera.cli_lists)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "tessera.cli", "galleries", "--help"], cwd=repo, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "galleries" in done.stdout
