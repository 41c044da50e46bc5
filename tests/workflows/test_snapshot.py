"""The sealed index snapshot: a start loads it instead of opening every template, in step with the store, and an
erased person never comes back from it, not even from an old copy of its files."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from alembic.script import ScriptDirectory
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.face.codec import embedding_to_bytes
from tessera.settings import Settings
from tessera.store import db
from tessera.store.crypto import unwrap_key
from tessera.store.vault import SealedDataUnreadable, Vault, snapshot_associated_data, snapshot_segment
from tessera.workflows import enrolment, snapshot
from tessera.workflows.captures import Capture
from tessera.workflows.indexing import open_templates, prune
from tessera.workflows.instance import Instance, RestoreAcknowledgement
from tessera.workflows.keys import create_key
from tests.fakes import extract, face_image, register_fakes
from tests.service_fixtures import Api, lead_ids, png
from tests.workflows.test_algorithms import open_api

ALGORITHM = "fake-a/1"


class PowerCut(Exception):
    pass


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    return register_fakes(tmp_path_factory.mktemp("fake-calibrations"))


@pytest.fixture
def opened_rows(monkeypatch) -> list[int]:
    """How many template rows the vault opened, per call (a start from the snapshot opens none)."""
    calls: list[int] = []
    original = Vault.open_templates

    def counted(self, rows):
        calls.append(len(rows))
        return original(self, rows)

    monkeypatch.setattr(Vault, "open_templates", counted)
    return calls


def enrolled(data_dir: Path, people: int, database_url: str | None = None) -> tuple[str, list[str]]:
    """A gallery of ``people`` enrolled through the API (person i: face_image(i)); the instance is closed after."""
    instance, api = restart(data_dir, database_url=database_url)
    gallery = api.gallery()
    subjects = [api.subject(gallery) for _ in range(people)]
    for number, subject in enumerate(subjects):
        assert api.enrol(subject, png(face_image(number))).status_code == 201
    instance.close()
    return gallery, subjects


def found(api, gallery: str, person: int) -> list[str]:
    return lead_ids(api.client, api.identify(gallery, png(face_image(person, photo=9))))


def restart(
    data_dir: Path,
    algorithms: tuple[str, ...] = (ALGORITHM,),
    database_url: str | None = None,
    acknowledge_restore: RestoreAcknowledgement | None = None,
):
    settings = Settings(data_dir=data_dir, face_algorithms=algorithms, catch_trial_rate=0.0, database_url=database_url)
    instance = Instance.open(settings, acknowledge_restore=acknowledge_restore)
    client = TestClient(create_app(instance), raise_server_exceptions=False)
    headers = {
        role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"}
        for role in ("admin", "enroller", "verifier")
    }
    return instance, Api(client, headers)


def segment_files(data_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((data_dir / "index-snapshot").glob("*.sealed"))}


def test_a_restart_loads_the_snapshot_and_opens_no_template(fakes, tmp_path, opened_rows, database_url):
    data_dir = tmp_path / "var"
    database_url = None if database_url.startswith("sqlite") else database_url  # SQLite: the file in data_dir
    gallery, subjects = enrolled(data_dir, 3, database_url)
    opened_rows.clear()
    instance, api = restart(data_dir, database_url=database_url)  # no snapshot yet: all opened, snapshot written
    assert sum(opened_rows) == 3 and instance.matchers.indexed() == 3
    assert len(segment_files(data_dir)) == len({snapshot_segment(s) for s in subjects})
    before = [found(api, gallery, person) for person in range(3)]
    instance.close()

    opened_rows.clear()
    instance, api = restart(data_dir, database_url=database_url)
    assert sum(opened_rows) == 0 and instance.matchers.indexed() == 3
    assert [found(api, gallery, person) for person in range(3)] == before == [[s] for s in subjects]
    instance.close()


def test_a_segment_reads_back_every_field_of_its_entries(fakes, tmp_path):
    data_dir = tmp_path / "var"
    enrolled(data_dir, 4)
    instance, _ = open_api(data_dir, (ALGORITHM,), build_index=False)
    entries = [item for chunk in open_templates(instance, None) for item in chunk]
    identity = snapshot.current_identity(instance)
    folder = data_dir / "round-trip"
    folder.mkdir()
    segment = snapshot_segment(entries[0].entry.subject_id)
    mine = [item for item in entries if snapshot_segment(item.entry.subject_id) == segment]
    key = mine[0].matcher.key
    snapshot.write_segment(instance, folder, segment, identity, [snapshot.Table.of_opened(key, mine)], outbox_seq=7)

    tables = snapshot.read_segment(instance, folder, segment, identity)
    assert tables is not None and [table.key for table in tables] == [key]
    back = snapshot.table_entries(instance, tables[0])
    assert len(back) == len(mine)
    for written, read in zip(mine, back):
        assert read.matcher.key == written.matcher.key and read.payload == written.payload
        for field in ("template_id", "subject_id", "gallery_id", "matcher", "part", "purposes", "consent_expires_at"):
            assert getattr(read.entry, field) == getattr(written.entry, field), field
        assert (read.entry.features == written.entry.features).all()
    # Sealed: the file holds no template in clear, and another instance's identity does not load it.
    sealed = snapshot.segment_path(folder, segment).read_bytes()
    assert all(item.payload not in sealed for item in mine)
    for other in (
        replace(identity, matchers=(*identity.matchers, "face:fake-b/1")),
        replace(identity, store_revision="0001", same_indexed_data=frozenset({"0001"})),  # before 0007's `status`
    ):
        assert snapshot.read_segment(instance, folder, segment, other) is None
    instance.close()


MIGRATION = """\"\"\"A migration a test adds on top of the store's own.\"\"\"

import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down_revision!r}
branch_labels = None
depends_on = None
CHANGES_INDEXED_DATA = {changes}


def upgrade() -> None:
    {upgrade}


def downgrade() -> None:
    pass
"""
AN_UNRELATED_TABLE = 'op.create_table("test_notes", sa.Column("id", sa.Integer(), primary_key=True))'
CONSENTS_NARROWED_TO_VERIFICATION = """op.execute("UPDATE consents SET purposes = '[\\"verify\\"]'")"""


def migration_on_top(folder: Path, monkeypatch, revision: str, *, changes_indexed_data: bool, upgrade: str) -> None:
    """From now on, instances migrate their store with the migrations they ran so far and ``revision`` on top."""
    shutil.copytree(db.MIGRATIONS_DIR, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / f"{revision}_of_a_test.py").write_text(
        MIGRATION.format(
            revision=revision,
            down_revision=ScriptDirectory(str(db.MIGRATIONS_DIR)).get_current_head(),
            changes=changes_indexed_data,
            upgrade=upgrade,
        )
    )
    monkeypatch.setattr(db, "MIGRATIONS_DIR", folder)


def test_a_migration_keeps_the_snapshot_unless_it_changes_what_the_indexes_read(
    fakes, tmp_path, opened_rows, starts, monkeypatch, database_url
):
    data_dir = tmp_path / "var"
    database_url = None if database_url.startswith("sqlite") else database_url  # SQLite: the file in data_dir
    gallery, subjects = enrolled(data_dir, 3, database_url)
    restart(data_dir, database_url=database_url)[0].close()  # writes the snapshot
    files = with_files(data_dir)

    migration_on_top(tmp_path / "m1", monkeypatch, "9001", changes_indexed_data=False, upgrade=AN_UNRELATED_TABLE)
    opened_rows.clear()
    instance, api = restart(data_dir, database_url=database_url)
    assert (starts[-1].loaded, starts[-1].rebuilt, sum(opened_rows)) == (len(files), 0, 0)
    assert [found(api, gallery, person) for person in range(3)] == [[s] for s in subjects]
    instance.close()

    migration_on_top(
        tmp_path / "m2", monkeypatch, "9002", changes_indexed_data=True, upgrade=CONSENTS_NARROWED_TO_VERIFICATION
    )
    opened_rows.clear()
    instance, api = restart(data_dir, database_url=database_url)
    assert (starts[-1].loaded, starts[-1].rebuilt, sum(opened_rows)) == (0, len(files), 3)
    # The indexes read the consents as the migration left them: no one is searched for de-duplication any more.
    assert [found(api, gallery, person) for person in range(3)] == [[], [], []]
    instance.close()


def test_a_stale_snapshot_is_brought_in_step_with_enrolments_erasures_and_the_outbox(
    fakes, tmp_path, opened_rows, monkeypatch
):
    data_dir = tmp_path / "var"
    gallery, subjects = enrolled(data_dir, 3)
    instance, api = restart(data_dir)  # writes the snapshot of the three
    newcomer = api.subject(gallery)
    assert api.enrol(newcomer, png(face_image(3))).status_code == 201
    api.client.delete(f"/v1/subjects/{subjects[0]}", headers=api.headers["admin"]).raise_for_status()
    late = api.subject(gallery)
    drain = enrolment.drain
    monkeypatch.setattr(enrolment, "drain", lambda _instance: None)  # committed, never applied in this process
    enrolment.enrol(instance, "test", late, Capture.face(png(face_image(4))))
    monkeypatch.setattr(enrolment, "drain", drain)
    instance.close()

    opened_rows.clear()
    instance, api = restart(data_dir)
    assert instance.matchers.indexed() == 4
    assert sum(opened_rows) <= 2 + 2  # the two stored since (and the erased one's segment, rebuilt), not all
    assert found(api, gallery, 0) == []
    assert found(api, gallery, 3) == [newcomer] and found(api, gallery, 4) == [late]
    assert found(api, gallery, 1) == [subjects[1]]
    instance.close()


def test_a_corrupt_or_foreign_snapshot_is_rebuilt_from_the_store(fakes, tmp_path, opened_rows):
    data_dir = tmp_path / "var"
    gallery, subjects = enrolled(data_dir, 2)
    restart(data_dir)[0].close()
    files = segment_files(data_dir)
    name = sorted(files)[0]
    damaged = bytearray(files[name])
    damaged[len(damaged) // 2] ^= 0xFF
    (data_dir / "index-snapshot" / name).write_bytes(bytes(damaged))

    opened_rows.clear()
    instance, api = restart(data_dir)
    # the damaged segment's templates, from the store: a segment holds the subjects whose id starts with its hex
    assert sum(opened_rows) == sum(subject.startswith(name.removeprefix("segment-")[:2]) for subject in subjects) >= 1
    assert sorted(found(api, gallery, p)[0] for p in range(2)) == sorted(subjects)
    instance.close()
    assert segment_files(data_dir)[name] != bytes(damaged)  # written anew

    opened_rows.clear()
    instance, api = restart(data_dir, (ALGORITHM, "fake-b/1"))  # another set of matchers: every segment rebuilt
    assert sum(opened_rows) == 2 and instance.matchers.indexed() == 2
    instance.close()


def test_a_crash_while_a_segment_is_written_leaves_a_segment_that_is_rebuilt(fakes, tmp_path, monkeypatch):
    data_dir = tmp_path / "var"
    gallery, subjects = enrolled(data_dir, 2)
    restart(data_dir)[0].close()
    old = segment_files(data_dir)
    instance, api = restart(data_dir)
    erased = subjects[0]
    api.client.delete(f"/v1/subjects/{erased}", headers=api.headers["admin"]).raise_for_status()
    late = api.subject(gallery)
    assert api.enrol(late, png(face_image(5))).status_code == 201
    instance.close()

    def cut(_partial, _path):
        raise PowerCut("after the new key and the temporary file, before the rename")

    monkeypatch.setattr(snapshot, "_install", cut)
    with pytest.raises(PowerCut):
        restart(data_dir)
    monkeypatch.undo()
    # The rename never happened (a segment left with no one may have been removed before)...
    assert set(segment_files(data_dir).items()) <= set(old.items())
    assert list((data_dir / "index-snapshot").glob("*.partial"))
    instance, api = restart(data_dir)  # ...and the old file, under a replaced key, is rebuilt from the store
    assert found(api, gallery, 0) == [] and found(api, gallery, 5) == [late]
    assert found(api, gallery, 1) == [subjects[1]]
    instance.close()


def test_an_old_copy_of_the_snapshot_never_brings_an_erased_person_back(fakes, tmp_path):
    data_dir = tmp_path / "var"
    gallery, subjects = enrolled(data_dir, 3)
    instance, api = restart(data_dir)  # writes the snapshot
    erased = subjects[0]
    segment = snapshot_segment(erased)
    name = snapshot.segment_path(data_dir / "index-snapshot", segment).name
    kept = tmp_path / "copy-of-the-snapshot"
    shutil.copytree(data_dir / "index-snapshot", kept)
    old_segment = (kept / name).read_bytes()
    embedding = embedding_to_bytes(extract((2, 4), ALGORITHM, face_image(0)).embedding)
    # Before the erasure, the copy opens and holds the person's template: what the erasure must make unrecoverable.
    plaintext = instance.vault.open_snapshot_segment(segment, old_segment)
    assert erased.encode() in plaintext and embedding in plaintext

    api.client.delete(f"/v1/subjects/{erased}", headers=api.headers["admin"]).raise_for_status()
    instance.close()
    # At once, with no restart in between: the copy opens under no key left in any key folder of the instance.
    key_dir = instance.settings.resolved_key_dir
    master = (key_dir / "master.key").read_bytes()
    key_files = sorted(key_dir.glob("*/*.key"))
    assert any(path.parent.name == "snapshots" for path in key_files)
    for key_file in key_files:
        key = unwrap_key(master, key_file.read_bytes())
        with pytest.raises(InvalidTag):
            AESGCM(key).decrypt(old_segment[:12], old_segment[12:], snapshot_associated_data(segment))

    shutil.rmtree(data_dir / "index-snapshot")
    shutil.copytree(kept, data_dir / "index-snapshot")  # the old snapshot is put back
    instance, api = restart(data_dir)
    assert found(api, gallery, 0) == []
    assert instance.matchers.indexed() == 2 and found(api, gallery, 1) == [subjects[1]]
    with pytest.raises(SealedDataUnreadable):
        instance.vault.open_snapshot_segment(segment, old_segment)
    # Every segment file on disk that opens holds neither the person nor their template.
    for path in sorted((data_dir / "index-snapshot").glob("*.sealed")):
        try:
            opened = instance.vault.open_snapshot_segment(int(path.stem.split("-")[1], 16), path.read_bytes())
        except SealedDataUnreadable:
            continue
        assert erased.encode() not in opened and embedding not in opened
    instance.close()


def test_a_key_folder_and_snapshot_restored_from_before_an_erasure_do_not_bring_the_person_back(fakes, tmp_path):
    """A backup of the key folder and the snapshot, taken before an erasure and put back under the database that
    recorded it: the backup's files open (whoever holds them holds the template), but the next start destroys the
    erased person's keys, the segment's with them (their tombstone), and never returns the person."""
    data_dir = tmp_path / "var"
    gallery, subjects = enrolled(data_dir, 3)
    instance, api = restart(data_dir)  # writes the snapshot
    key_dir = instance.settings.resolved_key_dir
    instance.close()
    backup = tmp_path / "backup"
    shutil.copytree(key_dir, backup / "keys")
    shutil.copytree(data_dir / "index-snapshot", backup / "index-snapshot")
    erased = subjects[0]
    segment = snapshot_segment(erased)
    old_segment = snapshot.segment_path(backup / "index-snapshot", segment).read_bytes()

    instance, api = restart(data_dir)
    api.client.delete(f"/v1/subjects/{erased}", headers=api.headers["admin"]).raise_for_status()
    instance.close()
    shutil.rmtree(key_dir)
    shutil.rmtree(data_dir / "index-snapshot")
    shutil.copytree(backup / "keys", key_dir)
    shutil.copytree(backup / "index-snapshot", data_dir / "index-snapshot")
    assert instance.vault.holds_subject_key(erased)  # the backup brought the keys back, until the next start

    instance, api = restart(data_dir)
    assert found(api, gallery, 0) == [] and found(api, gallery, 1) == [subjects[1]]
    assert not instance.vault.holds_subject_key(erased)
    with pytest.raises(SealedDataUnreadable):
        instance.vault.open_snapshot_segment(segment, old_segment)
    instance.close()


def test_a_segment_written_while_another_process_erases_one_of_its_subjects_is_not_kept(fakes, tmp_path, monkeypatch):
    data_dir = tmp_path / "var"
    gallery, subjects = enrolled(data_dir, 2)
    erased = subjects[0]
    original = snapshot.write_segment

    def erased_meanwhile(instance, folder, segment, identity, tables, outbox_seq):
        if any(erased.encode() in table.subject_ids.tolist() for table in tables):
            instance.vault.erase_subject(erased)  # the other process: the subject's key, then its segment's
        original(instance, folder, segment, identity, tables, outbox_seq)

    monkeypatch.setattr(snapshot, "write_segment", erased_meanwhile)
    instance, _ = restart(data_dir)
    instance.close()
    monkeypatch.undo()
    path = snapshot.segment_path(data_dir / "index-snapshot", snapshot_segment(erased))
    with pytest.raises(SealedDataUnreadable):
        instance.vault.open_snapshot_segment(snapshot_segment(erased), path.read_bytes())


def test_a_segment_table_keeps_each_payload_and_scope_through_a_selection_and_a_join():
    """Rows taken out of a table, and tables joined, keep each entry's own payload (of any length, as a finger's
    record) and consent scope."""

    def table(rows: list[tuple[str, bytes, frozenset[str]]]) -> snapshot.Table:
        scopes = list(dict.fromkeys(scope for _, _, scope in rows))
        return snapshot.Table(
            key="finger:contact",
            template_ids=np.array([f"t-{name}".encode() for name, _, _ in rows]),
            subject_ids=np.array([f"s-{name}".encode() for name, _, _ in rows]),
            gallery_ids=np.array([b"g"] * len(rows)),
            parts=np.arange(len(rows), dtype=np.int16),
            expires_us=np.arange(len(rows), dtype=np.int64) * 1_000_000,
            scopes=np.array([scopes.index(scope) for _, _, scope in rows], np.int32),
            purposes=tuple(scopes),
            payload_ends=np.cumsum([len(payload) for _, payload, _ in rows], dtype=np.int64),
            payloads=np.frombuffer(b"".join(payload for _, payload, _ in rows), np.uint8),
        )

    verify, both = frozenset({"verify"}), frozenset({"verify", "deduplicate"})
    first = table([("a", b"alpha", verify), ("b", b"", both), ("c", b"charlie-record", both), ("d", b"d", verify)])
    second = table([("e", b"echo", both)])
    taken = first.take(np.array([False, True, True, True]))
    joined = snapshot.Table.joined([taken, second])

    def described(t: snapshot.Table) -> list[tuple[bytes, bytes, frozenset[str], int]]:
        starts = [0, *t.payload_ends[:-1].tolist()]
        return [
            (t.template_ids[i], t.payloads[starts[i] : int(t.payload_ends[i])].tobytes(), t.purposes[t.scopes[i]], p)
            for i, p in enumerate(t.parts.tolist())
        ]

    assert described(joined) == [
        (b"t-b", b"", both, 1),
        (b"t-c", b"charlie-record", both, 2),
        (b"t-d", b"d", verify, 3),
        (b"t-e", b"echo", both, 0),
    ]
    assert first.take(np.zeros(4, bool)).payloads.size == 0


@pytest.fixture
def starts(monkeypatch) -> list[snapshot.SnapshotStart]:
    """What each start from the snapshot did, in order."""
    seen: list[snapshot.SnapshotStart] = []
    original = snapshot.start_from_snapshot

    def recorded(instance, folder):
        seen.append(original(instance, folder))
        return seen[-1]

    monkeypatch.setattr(snapshot, "start_from_snapshot", recorded)
    return seen


@pytest.fixture
def store_reads(monkeypatch) -> list[int]:
    """The segments whose template ids were read from the store (of those with a file, a start the outbox covers
    reads none)."""
    read: list[int] = []
    original = snapshot.stored_in_segment

    def counted(instance, segment):
        read.append(segment)
        return original(instance, segment)

    monkeypatch.setattr(snapshot, "stored_in_segment", counted)
    return read


def with_files(data_dir: Path) -> set[int]:
    """The segments that have a file."""
    return {int(name.removeprefix("segment-").removesuffix(".sealed"), 16) for name in segment_files(data_dir)}


def in_segment_of(api: Api, gallery: str, neighbour: str, monkeypatch) -> str:
    """A new subject of ``gallery`` whose id starts like ``neighbour``'s: in the same snapshot segment."""
    with monkeypatch.context() as patch:
        patch.setattr(uuid, "uuid4", lambda: uuid.UUID(neighbour[:2] + uuid.UUID(bytes=np.random.bytes(16)).hex[2:]))
        subject = api.subject(gallery)
    assert snapshot_segment(subject) == snapshot_segment(neighbour)
    return subject


def test_a_start_the_outbox_covers_reads_no_template_id_of_the_store_and_is_exact(
    fakes, tmp_path, opened_rows, starts, store_reads, monkeypatch
):
    data_dir = tmp_path / "var"
    gallery, subjects = enrolled(data_dir, 3)
    restart(data_dir)[0].close()  # writes the snapshot and its outbox mark
    store_reads.clear()
    instance, api = restart(data_dir)
    assert starts[-1].compared == 0 and not with_files(data_dir) & set(store_reads)
    newcomer = in_segment_of(api, gallery, subjects[1], monkeypatch)
    assert api.enrol(newcomer, png(face_image(3))).status_code == 201
    api.client.delete(f"/v1/subjects/{subjects[0]}", headers=api.headers["admin"]).raise_for_status()
    instance.close()

    opened_rows.clear()
    store_reads.clear()
    files = with_files(data_dir)
    instance, api = restart(data_dir)
    # The erased subject's segment has no key any more (rebuilt from the store); the newcomer's segment is brought
    # in step through the outbox: the newcomer's template alone is opened, no template id of the store is read.
    assert starts[-1].compared == 0 and files & set(store_reads) == {snapshot_segment(subjects[0])}
    assert sum(opened_rows) == 1
    assert found(api, gallery, 0) == [] and found(api, gallery, 3) == [newcomer]
    assert found(api, gallery, 1) == [subjects[1]] and found(api, gallery, 2) == [subjects[2]]
    instance.close()


def test_a_segment_whose_changes_were_pruned_from_the_outbox_is_compared_with_the_store(
    fakes, tmp_path, starts, store_reads, monkeypatch
):
    """Mutation check: with ``OutboxSince.covers`` true whenever a segment has a mark, the first newcomer was never
    indexed (only the second's row is left in the outbox)."""
    data_dir = tmp_path / "var"
    gallery, subjects = enrolled(data_dir, 2)
    restart(data_dir)[0].close()
    instance, api = restart(data_dir)
    newcomers = [in_segment_of(api, gallery, subjects[0], monkeypatch) for _ in range(2)]
    for number, newcomer in enumerate(newcomers):
        assert api.enrol(newcomer, png(face_image(2 + number))).status_code == 201
    assert prune(instance, keep_seconds=-1) > 0  # every row but the newest: the first newcomer's row is gone
    instance.close()

    store_reads.clear()
    instance, api = restart(data_dir)
    assert found(api, gallery, 2) == [newcomers[0]] and found(api, gallery, 3) == [newcomers[1]]
    assert found(api, gallery, 0) == [subjects[0]]
    assert starts[-1].compared >= 1 and snapshot_segment(subjects[0]) in store_reads
    instance.close()

    store_reads.clear()
    instance, _ = restart(data_dir)  # written again with the outbox's position: covered from now on
    assert starts[-1].compared == 0 and not with_files(data_dir) & set(store_reads)
    assert instance.matchers.indexed() == 4
    instance.close()


def test_a_snapshot_newer_than_a_restored_database_keeps_nothing_the_database_lost(
    fakes, tmp_path, starts, monkeypatch
):
    """The restored database numbers a new change with the number of one it lost: the segment's mark tells them
    apart. Mutation check: with ``OutboxSince.covers`` not comparing the mark, the lost newcomer stayed indexed."""
    data_dir = tmp_path / "var"
    gallery, subjects = enrolled(data_dir, 2)
    instance, api = restart(data_dir)  # writes the snapshot
    instance.close()
    backup = tmp_path / "backup"
    shutil.copytree(data_dir, backup, ignore=shutil.ignore_patterns("index-snapshot"))
    instance, api = restart(data_dir)
    lost = in_segment_of(api, gallery, subjects[0], monkeypatch)
    assert api.enrol(lost, png(face_image(2))).status_code == 201
    instance.close()
    restart(data_dir)[0].close()  # the lost enrolment's segment is written again, with it

    for path in backup.glob("tessera.db*"):  # the older database comes back, the snapshot stays
        shutil.copy(path, data_dir / path.name)
    for suffix in ("-wal", "-shm"):
        if not (backup / f"tessera.db{suffix}").exists():
            (data_dir / f"tessera.db{suffix}").unlink(missing_ok=True)
    acknowledged = RestoreAcknowledgement(actor="cli:operator", reason="test restore")
    # A one-off command acknowledges the restore and enrols (its index is not filled, the snapshot not read): the
    # new enrolment takes the outbox number the lost one had.
    instance, api = open_api(data_dir, (ALGORITHM,), build_index=False, acknowledge_restore=acknowledged)
    other = in_segment_of(api, gallery, subjects[1], monkeypatch)
    assert api.enrol(other, png(face_image(3))).status_code == 201
    instance.close()

    instance, api = restart(data_dir)
    assert found(api, gallery, 2) == [] and instance.matchers.indexed() == 3
    assert found(api, gallery, 3) == [other] and found(api, gallery, 0) == [subjects[0]]
    assert starts[-1].compared >= 1
    instance.close()


def test_the_ranges_between_the_segments_hold_exactly_the_ids_of_no_segment():
    """A start finds the templates of subjects in no segment through these ranges (one indexed query each) instead
    of reading every template id; an id in a range must be one :func:`snapshot._segments` puts in no segment."""
    ranges = snapshot._unsegmented_ranges()
    odd = ["", "0", "f", "0g1", "0A2", "Ab", "9:", "9`x", "a/", "fg", "~~", "-1", "0\x7f", "ZZ"]
    hexed = [f"{n:02x}" + rest for n in range(256) for rest in ("", "-x", "ffff")]
    for subject_id in odd + hexed + [str(uuid.uuid4()) for _ in range(200)]:
        in_a_range = any(subject_id >= low and (high is None or subject_id < high) for low, high in ranges)
        segment = int(snapshot._segments(np.array([subject_id.encode() or b"x"]))[0]) if subject_id else -1
        assert in_a_range == (segment == snapshot.UNSEGMENTED), subject_id


def test_no_segment_keeps_the_id_of_a_person_erased_after_it_was_written(fakes, tmp_path):
    data_dir = tmp_path / "var"
    _, subjects = enrolled(data_dir, 3)
    instance, api = restart(data_dir)  # writes the segments: the last enrolment is the newest outbox row
    erased = subjects[-1]
    api.client.delete(f"/v1/subjects/{erased}", headers=api.headers["admin"]).raise_for_status()
    instance.close()
    instance, _ = restart(data_dir)
    headers = []
    for path in sorted((data_dir / "index-snapshot").glob("*.sealed")):
        segment = int(path.stem.split("-")[1], 16)
        try:
            plaintext = instance.vault.open_snapshot_segment(segment, path.read_bytes())
        except SealedDataUnreadable:
            continue
        headers.append(snapshot._unpack(plaintext)[0])
    assert headers
    assert not any(erased in str(header) for header in headers)  # the header's mark named them
    assert all(set(header["outbox_mark"]) == {"seq", "digest"} for header in headers)
    instance.close()
