"""``tessera galleries|subjects|searches list|show`` and ``keys list``: tables of what is held, no biometric data."""

from __future__ import annotations

from typer.testing import CliRunner

from tessera.cli import app
from tessera.governance.consent import ConsentInput
from tessera.settings import Settings
from tessera.workflows.consent_texts import register_consent_text
from tessera.workflows.galleries import create_gallery
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tessera.workflows.subjects import create_subject
from tests.service_fixtures import CONSENT_TEXT, consent

runner = CliRunner()


def run(*args: str, data_dir) -> str:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def _held(tmp_path):
    instance = Instance.open(Settings(data_dir=tmp_path), build_index=False)
    register_consent_text(instance, "test", "2026-01", CONSENT_TEXT, "en")
    gallery = create_gallery(instance, "test", "Kakuma 2026", "Food distribution").id
    subjects = [
        create_subject(
            instance, "test", gallery, ConsentInput.model_validate(consent(signed_by=f"Officer {n}")), None, f"WFP-{n}"
        )
        for n in range(3)
    ]
    key = create_key(instance, "test", "enroller", "field team")
    instance.close()
    return gallery, subjects, key


def test_galleries_list_and_show(tmp_path):
    gallery, _, _ = _held(tmp_path)
    listed = run("galleries", "list", data_dir=tmp_path)
    assert gallery in listed and "Kakuma 2026" in listed and "3 active" in listed
    shown = run("galleries", "show", gallery, data_dir=tmp_path)
    assert "dedup_at_enrolment" in shown and "retention_days" in shown
    missing = runner.invoke(app, ["galleries", "show", "nope", "--data-dir", str(tmp_path)])
    assert missing.exit_code == 1 and "gallery_not_found" in missing.output


def test_subjects_list_and_show_hold_no_biometric_data(tmp_path):
    gallery, subjects, _ = _held(tmp_path)
    listed = run("subjects", "list", "--gallery", gallery, data_dir=tmp_path)
    assert all(s.number in listed for s in subjects) and "WFP-1" in listed
    one = run("subjects", "list", "--external-id", "WFP-2", data_dir=tmp_path)
    assert subjects[2].number in one and subjects[0].number not in one
    shown = run("subjects", "show", subjects[0].number.lower(), data_dir=tmp_path)
    assert subjects[0].id in shown and "consent_expires_at" in shown
    for text in (listed, shown):
        assert "template" not in text.lower() and "score" not in text.lower()
    typo = subjects[0].number[:-1] + ("0" if subjects[0].number[-1] != "0" else "1")
    refused = runner.invoke(app, ["subjects", "show", typo, "--data-dir", str(tmp_path)])
    assert refused.exit_code == 1 and "number_check_failed" in refused.output


def test_searches_and_keys_list(tmp_path):
    _, _, key = _held(tmp_path)
    assert "Searches" in run("searches", "list", data_dir=tmp_path)
    keys = run("keys", "list", data_dir=tmp_path)
    assert key.id in keys and key.secret not in keys and "role=enroller" in keys
