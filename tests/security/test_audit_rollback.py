"""A restored older database is noticed at start, every start, until an operator acknowledges it (issue 14 item 3)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from tessera.api.app import create_app
from tessera.cli import app as cli_app
from tessera.errors import Conflict
from tessera.governance.audit import read_anchor, verify_chain
from tessera.settings import Settings
from tessera.store.models import AuditEntry
from tessera.workflows.galleries import create_gallery
from tessera.workflows.instance import AuditChainBroken, Instance, RestoreAcknowledgement
from tessera.workflows.keys import create_key


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "var")


def open_instance(settings: Settings, **options) -> Instance:
    options.setdefault("build_index", False)
    return Instance.open(settings, **options)


def restore_older_database(settings: Settings) -> tuple[int, int]:
    """Back the database up, record two more changes, put the backup back; the anchor's and the database's head."""
    instance = open_instance(settings)
    create_gallery(instance, "test", "kept", "a purpose")
    instance.close()  # checkpoints the WAL into the file
    database = settings.data_dir / "tessera.db"
    backup = settings.data_dir.parent / "backup.db"
    shutil.copy(database, backup)
    with instance.sessions() as session:
        database_head = session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
    create_gallery(instance, "test", "lost 1", "a purpose")
    create_gallery(instance, "test", "lost 2", "a purpose")
    instance.close()
    shutil.copy(backup, database)
    for suffix in ("-wal", "-shm"):
        (settings.data_dir / f"tessera.db{suffix}").unlink(missing_ok=True)
    anchor = read_anchor(settings.audit_anchor_file)
    assert anchor is not None and database_head is not None
    return anchor[0], database_head


def seqs(instance: Instance) -> list[int]:
    with instance.sessions() as session:
        return list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))


def test_an_untouched_chain_starts_as_before(settings):
    instance = open_instance(settings)
    create_gallery(instance, "test", "g", "a purpose")
    instance.close()
    shutil.copytree(settings.data_dir, settings.data_dir.parent / "copy")  # a copied folder keeps its anchor
    for data_dir in (settings.data_dir, settings.data_dir.parent / "copy"):
        reopened = open_instance(Settings(data_dir=data_dir), announce=True)
        with reopened.sessions() as session:
            assert verify_chain(session, reopened.settings.audit_anchor_file).ok
        assert seqs(reopened) == [1, 2]
        reopened.close()


def test_a_restored_older_database_is_refused_at_every_start(settings):
    anchored, database_head = restore_older_database(settings)
    assert anchored == database_head + 2
    for _ in range(3):  # nothing is appended by a refused start, so the refusal never wears off
        with pytest.raises(AuditChainBroken, match=f"entries up to {anchored} were recorded") as refused:
            open_instance(settings, announce=True)
        assert "tessera audit acknowledge-restore" in str(refused.value)
        assert not refused.value.check.ok
    assert read_anchor(settings.audit_anchor_file)[0] == anchored


def test_an_edited_entry_is_refused(settings):
    instance = open_instance(settings)
    create_gallery(instance, "test", "g", "a purpose")
    with instance.transaction() as session:
        session.scalars(select(AuditEntry).where(AuditEntry.seq == 1)).one().actor = "someone else"
    instance.close()
    with pytest.raises(AuditChainBroken, match="entry 1 was altered"):
        open_instance(settings)
    with pytest.raises(AuditChainBroken, match="cannot be acknowledged as a restore"):
        open_instance(settings, acknowledge_restore=RestoreAcknowledgement(actor="cli:op", reason="tried"))


def test_an_acknowledged_restore_starts_and_the_gap_stays_visible(settings):
    anchored, database_head = restore_older_database(settings)
    acknowledgement = RestoreAcknowledgement(actor="cli:operator", reason="restored last night's backup, ticket 7")
    instance = open_instance(settings, acknowledge_restore=acknowledgement)
    with instance.sessions() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert entry.seq == anchored + 1  # the lost numbers are never handed out again
    assert (entry.actor, entry.action) == ("cli:operator", "audit.restore_acknowledged")
    details = json.loads(entry.body)["details"]
    assert details["reason"] == "restored last night's backup, ticket 7"
    assert details["anchor_seq"] == anchored
    assert details["database_head_seq"] == database_head
    assert len(details["anchor_hash"]) == len(details["database_head_hash"]) == 64
    assert read_anchor(settings.audit_anchor_file) == (entry.seq, entry.entry_hash)
    instance.close()

    restarted = open_instance(settings, announce=True)  # plain starts work again, and carry on after the gap
    assert seqs(restarted) == [*range(1, database_head + 1), anchored + 1, anchored + 2]
    auditor = create_key(restarted, "test", "auditor").secret
    client = TestClient(create_app(restarted, background_jobs=False))
    check = client.get("/v1/audit/verify", headers={"Authorization": f"Bearer {auditor}"}).json()
    assert check["ok"] is True, check
    assert check["problems"] == []
    assert len(check["acknowledged_gaps"]) == 1
    gap = check["acknowledged_gaps"][0]
    assert f"entries {database_head + 1} to {anchored}" in gap and f"entry {anchored + 1}" in gap
    restarted.close()


def test_acknowledging_an_intact_chain_is_refused(settings):
    open_instance(settings).close()
    with pytest.raises(Conflict, match="nothing to acknowledge"):
        open_instance(settings, acknowledge_restore=RestoreAcknowledgement(actor="cli:op", reason="just in case"))


def test_the_command_line_refuses_to_serve_until_the_restore_is_acknowledged(settings):
    anchored, _ = restore_older_database(settings)
    runner = CliRunner()
    data_dir = ["--data-dir", str(settings.data_dir)]
    served = runner.invoke(cli_app, ["serve", *data_dir])
    assert served.exit_code == 1
    assert "audit chain" in served.output and "acknowledge-restore" in served.output
    acknowledged = runner.invoke(cli_app, ["audit", "acknowledge-restore", "--reason", "backup of 1 Dec", *data_dir])
    assert acknowledged.exit_code == 0, acknowledged.output
    verified = runner.invoke(cli_app, ["audit", "verify", *data_dir])
    assert verified.exit_code == 0, verified.output
    assert read_anchor(Path(settings.audit_anchor_file))[0] == anchored + 1


def test_a_deleted_anchor_does_not_hide_a_restore(settings):
    restore_older_database(settings)
    settings.audit_anchor_file.unlink()
    with pytest.raises(AuditChainBroken, match="anchor file .* is missing, but the log holds"):
        open_instance(settings)
    instance = open_instance(settings, acknowledge_restore=RestoreAcknowledgement(actor="cli:op", reason="lost it"))
    with instance.sessions() as session:
        assert verify_chain(session, settings.audit_anchor_file).ok
    instance.close()
