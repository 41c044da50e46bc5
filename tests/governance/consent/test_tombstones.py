"""An erased person's consent cannot come back (issue 17, item 7): not through a replayed request, not through a
row restored from a backup, not through the same signed consent under a new id."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tessera.store.models import AuditEntry, Consent, Subject, Tombstone
from tessera.workflows import subjects as subjects_workflow
from tessera.workflows.retention import run_retention
from tests.governance.consent.conftest import face_png
from tests.service_fixtures import consent


def restore(instance, rows: list) -> None:
    """Put copies of ``rows`` (detached Subject and Consent rows read before the erasure) back, as a restore does."""
    with instance.transaction() as session:
        for row in rows:
            session.merge(row)


def snapshot(instance, subject_id: str, new_id: str | None = None) -> list:
    with instance.sessions() as session:
        subject, consent = session.get_one(Subject, subject_id), session.get_one(Consent, subject_id)
        subject_columns = {c.key: getattr(subject, c.key) for c in Subject.__table__.columns}
        consent_columns = {c.key: getattr(consent, c.key) for c in Consent.__table__.columns}
    if new_id is not None:
        subject_columns["id"] = consent_columns["subject_id"] = new_id
    return [Subject(**subject_columns), Consent(**consent_columns)]


def test_a_replayed_creation_after_erasure_is_refused(api, instance):
    gallery = api.gallery(identification=False)
    body = {"gallery_id": gallery, "consent": consent()}
    replay = {**api.headers["enroller"], "Idempotency-Key": "consent-form-17"}
    created = api.client.post("/v1/subjects", json=body, headers=replay)
    assert created.status_code == 201
    assert api.client.delete(f"/v1/subjects/{created.json()['id']}", headers=api.headers["enroller"]).status_code == 200
    again = api.client.post("/v1/subjects", json=body, headers=replay)
    assert again.status_code == 409 and again.json()["error"]["code"] == "consent_withdrawn"
    other_key = api.client.post("/v1/subjects", json=body, headers=api.headers["admin"])
    assert other_key.status_code == 409 and other_key.json()["error"]["code"] == "consent_withdrawn"
    with instance.sessions() as session:
        assert session.scalar(select(Subject.id)) is None


def test_a_restored_row_of_an_erased_subject_is_treated_as_erased_and_erased_again(api, instance):
    gallery = api.gallery(identification=False)
    subject = api.subject(gallery)
    assert api.enrol(subject, face_png(3)).status_code == 201
    kept = snapshot(instance, subject)
    receipt = api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["enroller"]).json()
    restore(instance, kept)  # a backup taken before the erasure, restored row by row

    for method, url in (
        ("GET", f"/v1/subjects/{subject}/consent"),
        ("GET", f"/v1/subjects/{subject}/export"),
        ("GET", f"/v1/preflight/enrol?subject_id={subject}"),
    ):
        response = api.client.request(method, url, headers=api.headers["enroller"])
        assert response.status_code == 404 and response.json()["error"]["code"] == "subject_erased", (
            url,
            response.text,
        )
    enrol = api.enrol(subject, face_png(3, 1))
    assert enrol.status_code == 404 and enrol.json()["error"]["code"] == "subject_erased"
    verify = api.verify(subject, face_png(3, 2))
    assert verify.status_code == 404 and verify.json()["error"]["code"] == "subject_erased"

    erased = run_retention(instance)
    assert [r.receipt_sha256 for r in erased] == [receipt["receipt_sha256"]]
    with instance.sessions() as session:
        assert session.get(Subject, subject) is None and session.get(Consent, subject) is None
        assert session.get_one(Tombstone, subject).receipt_sha256 == receipt["receipt_sha256"]
        again = session.scalars(select(AuditEntry).where(AuditEntry.outcome == "ok:restored_row")).all()
    assert [e.subject_id for e in again] == [subject]


def test_the_same_signed_consent_under_a_new_id_is_treated_as_erased(api, instance):
    gallery = api.gallery(identification=False)
    subject = api.subject(gallery)
    new_id = str(uuid.uuid4())
    kept = snapshot(instance, subject, new_id=new_id)
    assert api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["enroller"]).status_code == 200
    restore(instance, kept)
    response = api.client.get(f"/v1/subjects/{new_id}/consent", headers=api.headers["enroller"])
    assert response.status_code == 404 and response.json()["error"]["code"] == "subject_erased"
    assert subjects_workflow.restored_subjects(instance) == [new_id]
    run_retention(instance)
    with instance.sessions() as session:
        assert session.get(Subject, new_id) is None


def test_the_tombstone_check_is_what_refuses_a_restored_row(api, instance, monkeypatch):
    """Mutation: with the tombstone lookup switched off, the restored row's consent is answered as if the person
    had never withdrawn; with it on (the tests above) it is refused."""
    gallery = api.gallery(identification=False)
    subject = api.subject(gallery)
    kept = snapshot(instance, subject)
    assert api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["enroller"]).status_code == 200
    restore(instance, kept)
    monkeypatch.setattr(subjects_workflow, "tombstone_of", lambda session, subject: None)
    broken = api.client.get(f"/v1/subjects/{subject}/consent", headers=api.headers["enroller"])
    assert broken.status_code == 200
