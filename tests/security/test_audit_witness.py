"""An external witness of the audit chain: a rollback below a signed checkpoint is refused, anchor or not (issue 14).

The witness folder holds Ed25519-signed checkpoints written by ``tessera audit checkpoint``; the key that
signs them lives in the key folder. A restored older database with its anchor file put back too (whoever can
write the data folder can do both) still misses the witnessed entry: the start, ``tessera audit verify`` and
``GET /v1/audit/verify`` say so, and an acknowledged restore cannot accept it.

Checked against a ``verify_chain`` with its witness check switched off: the first and third tests fail.
"""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tessera.api.app import create_app
from tessera.cli import app as cli_app
from tessera.governance import audit
from tessera.settings import Settings
from tessera.workflows.galleries import create_gallery
from tessera.workflows.instance import AuditChainBroken, Instance, RestoreAcknowledgement
from tessera.workflows.keys import create_key


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("TESSERA_AUDIT_WITNESS_DIR", str(tmp_path / "witness"))
    return Settings(data_dir=tmp_path / "var")


def checkpoint(settings: Settings) -> None:
    result = CliRunner().invoke(cli_app, ["audit", "checkpoint", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    assert "Checkpoint of audit entry" in result.output


def back_up(settings: Settings) -> None:
    """A copy of the whole data folder: the database and its anchor file."""
    shutil.copytree(settings.data_dir, settings.data_dir.parent / "backup")


def restore(settings: Settings) -> None:
    shutil.rmtree(settings.data_dir)
    shutil.copytree(settings.data_dir.parent / "backup", settings.data_dir)


def test_a_rollback_below_a_witnessed_checkpoint_is_refused_even_with_its_anchor_restored(settings):
    instance = Instance.open(settings, build_index=False)
    create_gallery(instance, "test", "kept", "a purpose")
    instance.close()
    back_up(settings)  # database and anchor, consistent with each other
    instance = Instance.open(settings, build_index=False)
    create_gallery(instance, "test", "lost", "a purpose")
    instance.close()
    checkpoint(settings)  # the witness sees the entry the restore will drop
    restore(settings)
    # Without the witness the restored folder looks intact: the anchor came back with the database.
    unwitnessed = Settings(data_dir=settings.data_dir, audit_witness_dir=None)
    Instance.open(unwitnessed, build_index=False).close()
    restore(settings)
    with pytest.raises(AuditChainBroken, match=r"was witnessed at .*, but the log ends at \d+: it was rolled back"):
        Instance.open(settings, build_index=False)
    with pytest.raises(AuditChainBroken, match=r"below its witness"):
        Instance.open(
            settings,
            build_index=False,
            acknowledge_restore=RestoreAcknowledgement(actor="cli:root", reason="routine restore"),
        )
    verified = CliRunner().invoke(cli_app, ["audit", "verify", "--data-dir", str(settings.data_dir)])
    assert verified.exit_code == 1
    assert "it was rolled back" in verified.output


def test_an_intact_chain_verifies_against_its_witness_over_the_api(settings):
    instance = Instance.open(settings, build_index=False)
    create_gallery(instance, "test", "g", "a purpose")
    instance.close()
    checkpoint(settings)
    instance = Instance.open(settings, build_index=False)
    create_gallery(instance, "test", "after", "a purpose")  # the chain may grow past its checkpoint
    client = TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False)
    admin = {"Authorization": f"Bearer {create_key(instance, 'test', 'admin').secret}"}
    answer = client.get("/v1/audit/verify", headers=admin).json()
    assert answer["ok"] is True, answer
    instance.close()


def test_a_forged_or_edited_checkpoint_is_reported_never_trusted(settings):
    instance = Instance.open(settings, build_index=False)
    create_gallery(instance, "test", "g", "a purpose")
    instance.close()
    checkpoint(settings)
    assert settings.audit_witness_dir is not None
    [written] = list(settings.audit_witness_dir.glob("checkpoint-*.json"))
    record = json.loads(written.read_text())
    record["head_hash"] = "0" * 64  # pretend another head was witnessed: the signature no longer matches
    written.write_text(json.dumps(record))
    instance = Instance.open(Settings(data_dir=settings.data_dir, audit_witness_dir=None), build_index=False)
    with instance.sessions() as session:
        check = audit.verify_chain(session, settings.audit_anchor_file, witness=instance_witness(settings))
    assert not check.ok
    assert any("does not verify with this instance's witness key" in problem for problem in check.problems)
    instance.close()


def instance_witness(settings: Settings):
    from tessera.governance.witness import load_or_create_signing_key, read_witness

    assert settings.audit_witness_dir is not None
    key = load_or_create_signing_key(settings.resolved_audit_witness_key_file)
    return read_witness(settings.audit_witness_dir, key.public_key())


def test_the_witness_must_live_outside_the_data_folder_and_apart_from_its_key(tmp_path):
    with pytest.raises(ValueError, match="audit_witness_dir .* is inside data_dir"):
        Settings(data_dir=tmp_path / "var", audit_witness_dir=tmp_path / "var" / "witness")
    with pytest.raises(ValueError, match="audit_witness_key_file must not be inside audit_witness_dir"):
        Settings(
            data_dir=tmp_path / "var",
            audit_witness_dir=tmp_path / "witness",
            audit_witness_key_file=tmp_path / "witness" / "key",
        )
