"""Retries cannot enrol someone twice."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tessera.face.sface import SFACE_ALGORITHM
from tessera.settings import Settings
from tessera.store.models import Subject, Template
from tests.service_fixtures import consent


@pytest.fixture
def settings(tmp_path) -> Settings:
    """One face algorithm (the default, SFace): these tests count the templates and index entries one enrolment
    makes, which is one per face algorithm served."""
    return Settings(data_dir=tmp_path / "var", face_algorithms=(SFACE_ALGORITHM,))


def count(instance, model) -> int:
    with instance.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_subject_retry_with_idempotency_key(api, instance):
    gallery = api.gallery()
    body = {"gallery_id": gallery, "consent": consent()}
    headers = {**api.headers["enroller"], "Idempotency-Key": "tablet-7/0001"}
    first = api.client.post("/v1/subjects", json=body, headers=headers)
    second = api.client.post("/v1/subjects", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert count(instance, Subject) == 1
    other = api.client.post(
        "/v1/subjects", json={"gallery_id": gallery, "consent": consent(signed_by="x")}, headers=headers
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"


def test_face_retry_with_and_without_key(api, instance, lfw_person):
    gallery = api.gallery()
    subject = api.subject(gallery)
    photo = lfw_person("Colin_Powell", 1)[0]
    headers = {**api.headers["enroller"], "Idempotency-Key": "k-1"}
    first = api.enrol(subject, photo, headers)
    again = api.enrol(subject, photo, headers)
    assert first.status_code == again.status_code == 201
    # The replay answers the stored enrolment; the photo's liveness report belongs to the first request only.
    assert {k: v for k, v in first.json().items() if k != "liveness"} == again.json()
    plain = api.enrol(subject, photo)  # same photo again without a key: refused, not stored twice
    assert plain.status_code == 409 and plain.json()["error"]["code"] == "duplicate_capture"
    assert plain.json()["error"]["detail"]["template_id"] == first.json()["template_id"]
    assert count(instance, Template) == 1
