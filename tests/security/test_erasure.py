"""Erasure is crash-safe: the data key goes first and durably, a retry finishes the job, a restart cleans up.

Issue 14, item 5. A crash is simulated at each point of an erasure: between
the key's destruction and the database commit (the commit fails), and after
the commit with the key file still there (a copy of the key file put back,
as a crash of the old order or a restored key folder would leave it).
"""

from __future__ import annotations

import os
import shutil
import time

import pytest
from sqlalchemy import select

from tessera.governance.consent import ConsentInput
from tessera.store.keystore import KeyMissing
from tessera.store.models import Subject, Tombstone
from tessera.workflows.consent_texts import register_consent_text
from tessera.workflows.galleries import create_gallery
from tessera.workflows.instance import Instance
from tessera.workflows.subjects import create_subject, erase_subject
from tests.service_fixtures import CONSENT_TEXT, consent


class PowerCut(RuntimeError):
    """The process dies here."""


def make_gallery(instance: Instance) -> str:
    gallery = create_gallery(instance, "test", "g", "p").id
    register_consent_text(instance, "test", "2026-01", CONSENT_TEXT, "en")
    return gallery


def make_subject(instance: Instance, gallery: str | None = None, signed_by: str = "Field officer A. Mensah") -> str:
    gallery = gallery or make_gallery(instance)
    return create_subject(instance, "test", gallery, ConsentInput.model_validate(consent(signed_by=signed_by))).id


def key_file(settings, subject_id: str):
    return settings.resolved_key_store_dir / f"{subject_id}.key"


def assert_no_usable_key(instance: Instance, settings, subject_id: str) -> None:
    assert not key_file(settings, subject_id).exists()
    with pytest.raises(KeyMissing):
        instance.vault.seal_template(template_id="t", subject_id=subject_id, algorithm="a", payload=b"x")


def crash_before_commit(instance: Instance, subject_id: str) -> None:
    """Erase, with the process dying inside the database transaction (the audit entry is never written)."""

    def failing_record(*args, **kwargs):
        raise PowerCut("power cut before the commit")

    record = instance.record
    instance.record = failing_record
    try:
        with pytest.raises(PowerCut):
            erase_subject(instance, "test", subject_id)
    finally:
        instance.record = record


def test_a_crash_before_the_commit_leaves_no_key_and_a_retry_finishes(settings):
    instance = Instance.open(settings)
    subject = make_subject(instance)
    crash_before_commit(instance, subject)
    assert_no_usable_key(instance, settings, subject)  # the person's templates are unreadable already
    with instance.sessions() as session:
        assert session.get(Subject, subject) is not None and session.get(Tombstone, subject) is None
    receipt = erase_subject(instance, "test", subject)
    assert receipt.subject_id == subject and receipt.data_key_destroyed
    with instance.sessions() as session:
        assert session.get(Subject, subject) is None and session.get(Tombstone, subject) is not None
    assert_no_usable_key(instance, settings, subject)
    instance.close()


def test_a_crash_before_the_commit_then_a_restart_leaves_no_key(settings):
    instance = Instance.open(settings)
    subject = make_subject(instance)
    crash_before_commit(instance, subject)
    instance.close()
    restarted = Instance.open(settings)
    assert_no_usable_key(restarted, settings, subject)
    receipt = erase_subject(restarted, "test", subject)  # the next attempt finishes the job
    assert receipt.subject_id == subject
    with restarted.sessions() as session:
        assert session.scalars(select(Tombstone.subject_id)).all() == [subject]
    restarted.close()


def test_a_key_left_after_the_commit_is_destroyed_by_a_retry(settings):
    instance = Instance.open(settings)
    subject = make_subject(instance)
    kept = settings.data_dir.parent / "key-copy"
    shutil.copy(key_file(settings, subject), kept)
    first = erase_subject(instance, "test", subject)
    shutil.copy(kept, key_file(settings, subject))  # committed, but the key file is still there
    again = erase_subject(instance, "test", subject)
    assert again == first
    assert_no_usable_key(instance, settings, subject)
    instance.close()


def test_a_key_left_after_the_commit_is_destroyed_at_start_even_if_fresh(settings):
    instance = Instance.open(settings)
    gallery = make_gallery(instance)
    subject, bystander = (
        make_subject(instance, gallery),
        make_subject(instance, gallery, signed_by="Field officer B. Owusu"),
    )
    kept = settings.data_dir.parent / "key-copy"
    shutil.copy(key_file(settings, subject), kept)
    erase_subject(instance, "test", subject)
    instance.close()
    shutil.copy(kept, key_file(settings, subject))
    now = time.time()
    os.utime(key_file(settings, subject), (now, now))  # younger than the sweep's hour of grace
    restarted = Instance.open(settings)
    assert_no_usable_key(restarted, settings, subject)
    assert restarted.vault.subjects_with_keys() == {bystander}
    restarted.close()


def test_a_fresh_key_of_no_subject_at_all_keeps_its_grace(settings):
    instance = Instance.open(settings)
    make_subject(instance)
    instance.close()
    in_flight = "0123abcd-0000-4000-8000-000000000000"  # a creation in another process, not yet committed
    Instance.open(settings).vault.create_subject(in_flight)
    restarted = Instance.open(settings)
    assert in_flight in restarted.vault.subjects_with_keys()
    restarted.close()


def test_a_retried_delete_answers_the_same_receipt(api, instance, settings):
    gallery = api.gallery()
    subject = api.subject(gallery)
    kept = settings.data_dir.parent / "key-copy"
    shutil.copy(key_file(settings, subject), kept)
    first = api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["enroller"])
    assert first.status_code == 200, first.text
    shutil.copy(kept, key_file(settings, subject))
    retried = api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["enroller"])
    assert retried.status_code == 200, retried.text
    assert retried.json() == first.json()
    assert retried.json()["receipt_sha256"] == first.json()["receipt_sha256"]
    assert not key_file(settings, subject).exists()


def test_deleting_a_subject_that_never_existed_is_still_404(api):
    missing = api.client.delete("/v1/subjects/0123abcd-0000-4000-8000-000000000001", headers=api.headers["enroller"])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "subject_not_found"


def test_an_old_key_of_no_subject_is_swept_behind_the_start_and_close_waits_for_it(settings):
    instance = Instance.open(settings)
    kept = make_subject(instance)
    instance.close()
    crashed = "0123abcd-0000-4000-8000-00000000dead"  # a creation that crashed before its commit, long ago
    instance.vault.create_subject(crashed)
    os.utime(key_file(settings, crashed), (1, 1))
    restarted = Instance.open(settings)  # answers before the sweep (a background thread) is done...
    restarted.close()  # ...and closing waits for it
    assert restarted.vault.subjects_with_keys() == {kept}
