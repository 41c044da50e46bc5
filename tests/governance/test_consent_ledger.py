"""Consent records point at the exact stored text; proof and subject access can be exported."""

from __future__ import annotations

import hashlib
import json

import pytest

from tessera.face.sface import SFACE_ALGORITHM
from tessera.settings import Settings
from tests.service_fixtures import CONSENT_TEXT, SHARED_TEXT, consent


@pytest.fixture
def settings(tmp_path) -> Settings:
    """One face algorithm (the default, SFace): these tests count the templates and index entries one enrolment
    makes, which is one per face algorithm served."""
    return Settings(data_dir=tmp_path / "var", face_algorithms=(SFACE_ALGORITHM,))


def test_subject_needs_a_registered_text(api):
    gallery = api.gallery()
    record = consent()
    record["text_sha256"] = hashlib.sha256(b"some other wording").hexdigest()
    response = api.client.post(
        "/v1/subjects", json={"gallery_id": gallery, "consent": record}, headers=api.headers["enroller"]
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_consent_text"


def test_texts_are_versioned_and_immutable(api):
    api.gallery()
    admin = api.headers["admin"]
    again = api.client.post("/v1/consent-texts", json={**SHARED_TEXT, "version": "2026-02"}, headers=admin)
    assert again.status_code == 409 and again.json()["error"]["code"] == "consent_text_exists"
    reworded = api.client.post(
        "/v1/consent-texts", json={**SHARED_TEXT, "text": CONSENT_TEXT + " Reworded."}, headers=admin
    )
    assert reworded.status_code == 409 and reworded.json()["error"]["code"] == "consent_text_version_exists"
    listed = api.client.get("/v1/consent-texts", headers=api.headers["enroller"]).json()
    assert (
        listed[0]["text"] == CONSENT_TEXT and listed[0]["sha256"] == hashlib.sha256(CONSENT_TEXT.encode()).hexdigest()
    )


def test_consent_proof_and_subject_access(api, lfw_person):
    gallery = api.gallery()
    photos = lfw_person("Colin_Powell", 2)
    subject = api.subject(gallery)
    api.enrol(subject, photos[0])
    api.verify(subject, photos[1])
    api.identify(gallery, photos[1])

    proof = api.client.get(f"/v1/subjects/{subject}/consent", headers=api.headers["enroller"]).json()
    assert proof["text"]["text"] == CONSENT_TEXT
    assert proof["consent"]["text_sha256"] == hashlib.sha256(proof["text"]["text"].encode()).hexdigest()
    assert proof["audit"]["body"]["action"] == "subject.create"

    export = api.client.get(f"/v1/subjects/{subject}/export", headers=api.headers["enroller"])
    assert export.status_code == 200
    body = export.json()
    assert len(body["captures"]) == 1 and body["captures"][0]["quality"]["inter_eye_px"] > 0
    actions = {e["action"] for e in body["audit_entries"]}
    assert actions >= {"subject.create", "face.enrol", "face.verify"}
    # The search that listed them waits for review: the export (read by whoever may have run it) names it only
    # once two reviewers confirm (tests/security/test_candidate_disclosure.py shows it listed then).
    assert "face.identify" not in actions and body["searches_listing_them"] == []
    text = json.dumps(body)
    for secret in ("ciphertext", "embedding", "image_ciphertext"):
        assert secret not in text
    denied = api.client.get(f"/v1/subjects/{subject}/export", headers=api.headers["verifier"])
    assert denied.status_code == 403
