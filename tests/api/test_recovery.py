"""Crashes and restarts lose nothing and leave nothing half-written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import func, select

from tessera.face.sface import SFACE_ALGORITHM
from tessera.governance.audit import verify_chain
from tessera.settings import Settings
from tessera.store.crypto import DecryptionError
from tessera.store.keystore import KeyMissing
from tessera.store.models import AuditEntry, Subject, Template
from tessera.workflows.captures import Capture
from tessera.workflows.consent_texts import register_consent_text
from tessera.workflows.enrolment import enrol
from tessera.workflows.galleries import create_gallery
from tessera.workflows.identify import identify
from tessera.workflows.instance import AuditChainBroken, Instance, RestoreAcknowledgement
from tessera.workflows.policy import enable_identification
from tessera.workflows.subjects import create_subject, erase_subject
from tests.service_fixtures import CONSENT_TEXT, consent


@pytest.fixture
def settings(tmp_path) -> Settings:
    """One face algorithm (the default, SFace): these tests count the templates and index entries one enrolment
    makes, which is one per face algorithm served."""
    return Settings(data_dir=tmp_path / "var", face_algorithms=(SFACE_ALGORITHM,))


def make_gallery(instance) -> str:
    gallery = create_gallery(instance, "test", "g", "p").id
    register_consent_text(instance, "test", "2026-01", CONSENT_TEXT, "en")
    enable_identification(instance, "test", gallery, "DPIA-1")
    return gallery


def make_subject(instance) -> tuple[str, str]:
    from tessera.governance.consent import ConsentInput

    gallery = make_gallery(instance)
    return gallery, create_subject(instance, "test", gallery, ConsentInput.model_validate(consent())).id


CRASHING_CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from tessera.settings import Settings
    from tessera.workflows.instance import AuditChainBroken, Instance, RestoreAcknowledgement
    from tessera.workflows import enrolment
    from tessera.workflows.captures import Capture

    data_dir, subject_id, image_path, crash_point = sys.argv[1:5]
    instance = Instance.open(Settings(data_dir=data_dir, face_algorithms=("yunet-sface-2021dec/1",)))
    original_record = instance.record

    def record(session, actor, action, outcome, **fields):
        entry = original_record(session, actor, action, outcome, **fields)
        if crash_point == "before_commit" and action == "face.enrol":
            session.flush()
            os._exit(9)  # killed with the template written but not committed
        return entry

    instance.record = record
    if crash_point == "after_commit":
        enrolment.drain = lambda instance: os._exit(9)  # killed after the commit, before the index
    enrolment.enrol(instance, "test", subject_id, Capture.face(Path(image_path).read_bytes()))
    print("finished without crashing")
    """
)


@pytest.mark.parametrize("crash_point", ["before_commit", "after_commit"])
def test_killed_in_the_middle_of_an_enrolment(settings, lfw_dir, tmp_path, crash_point):
    instance = Instance.open(settings)
    gallery, subject = make_subject(instance)
    instance.close()
    photo = next((lfw_dir / "images" / "Colin_Powell").glob("*.jpg"))
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_CHILD, str(settings.data_dir), subject, str(photo), crash_point],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert child.returncode == 9, child.stderr

    reopened = Instance.open(settings)
    with reopened.sessions() as session:
        templates = session.scalar(select(func.count()).select_from(Template))
        enrol_entries = session.scalar(select(func.count()).where(AuditEntry.action == "face.enrol"))
        assert verify_chain(session, settings.audit_anchor_file).ok
        assert all(s.consent is not None for s in session.scalars(select(Subject)))
    expected = 0 if crash_point == "before_commit" else 1
    assert templates == enrol_entries == expected
    assert reopened.matchers.indexed() == expected  # rebuilt from the store: no entry without a row, no row left out
    if expected:
        found = identify(reopened, "test", gallery, "deduplicate", "C-1", [Capture.face(photo.read_bytes())])
        assert [c.subject_id for c in found.candidates] == [subject]
    reopened.close()


def test_restart_rebuilds_the_index(settings, lfw_person):
    instance = Instance.open(settings)
    gallery, subject = make_subject(instance)
    photos = lfw_person("Colin_Powell", 2)
    enrol(instance, "test", subject, Capture.face(photos[0]))
    instance.close()
    restarted = Instance.open(settings)
    assert restarted.matchers.indexed() == 1
    assert [
        c.subject_id
        for c in identify(restarted, "test", gallery, "deduplicate", "C-1", [Capture.face(photos[1])]).candidates
    ] == [subject]


def test_a_template_of_an_older_face_algorithm_is_not_compared(settings, lfw_person):
    from tessera.errors import Conflict
    from tessera.face.embed import DLIB_RESNET_V1
    from tessera.workflows.verify import verify

    instance = Instance.open(settings)
    gallery, subject = make_subject(instance)
    photos = lfw_person("Colin_Powell", 2)
    enrol(instance, "test", subject, Capture.face(photos[0]))
    with instance.transaction() as session:  # as an earlier build (no flip augmentation) would have stored it
        template = session.scalars(select(Template)).one()
        template.ciphertext = instance.vault.seal_template(
            template_id=template.id,
            subject_id=subject,
            algorithm=DLIB_RESNET_V1,
            payload=instance.vault.open_template(template),
        )
        template.algorithm = DLIB_RESNET_V1
    instance.close()
    restarted = Instance.open(settings)
    assert restarted.matchers.indexed() == 0
    with pytest.raises(Conflict, match="another face algorithm") as refused:
        verify(restarted, "test", subject, [Capture.face(photos[1])])
    assert refused.value.code == "no_reference"


def test_restored_database_cannot_bring_erased_templates_back(settings, lfw_person):
    instance = Instance.open(settings)
    _, subject = make_subject(instance)
    enrol(instance, "test", subject, Capture.face(lfw_person("Colin_Powell", 1)[0]))
    database = settings.data_dir / "tessera.db"
    instance.close()  # checkpoints the WAL into the file (connections reopen on demand)
    backup = settings.data_dir.parent / "backup.db"
    shutil.copy(database, backup)
    erase_subject(instance, "test", subject)
    instance.close()
    shutil.copy(backup, database)  # an old copy of the database comes back...
    for suffix in ("-wal", "-shm"):
        (settings.data_dir / f"tessera.db{suffix}").unlink(missing_ok=True)
    with pytest.raises(AuditChainBroken, match="entries up to"):  # the lost erasure entry is noticed...
        Instance.open(settings)
    restored = Instance.open(  # ...and the operator acknowledges the restore (audited) to start
        settings, acknowledge_restore=RestoreAcknowledgement(actor="cli:operator", reason="disk failure, backup")
    )
    with restored.sessions() as session:
        template = session.scalars(select(Template).where(Template.subject_id == subject)).one()
    with pytest.raises((KeyMissing, DecryptionError)):
        restored.vault.open_template(template)  # ...but its templates stay sealed for good
    assert restored.matchers.indexed() == 0


def test_crash_while_creating_a_subject_leaves_no_subject(settings):
    instance = Instance.open(settings)
    gallery = make_gallery(instance)

    def failing_record(*args, **kwargs):
        raise RuntimeError("power cut")

    instance.record = failing_record
    from tessera.governance.consent import ConsentInput

    with pytest.raises(RuntimeError, match="power cut"):
        create_subject(instance, "test", gallery, ConsentInput.model_validate(consent()))
    with instance.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subject)) == 0
    assert instance.vault.subjects_with_keys() == set()  # the key made for it is destroyed too
