"""Nothing is captured or compared outside the subject's consent, and refusals are audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tessera.store.models import AuditEntry
from tests.service_fixtures import consent


def refusals(instance) -> list[str]:
    with instance.sessions() as session:
        return [e.outcome for e in session.scalars(select(AuditEntry).where(AuditEntry.outcome.like("refused:%")))]


def test_expired_consent_cannot_create_a_subject(api):
    gallery = api.gallery()
    record = consent()
    record["signed_at"] = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    record["expires_at"] = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    response = api.client.post(
        "/v1/subjects", json={"gallery_id": gallery, "consent": record}, headers=api.headers["enroller"]
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "consent_expired"


def test_consent_dates_must_be_in_order_and_zoned(api):
    gallery = api.gallery()
    record = consent()
    record["expires_at"] = record["signed_at"]
    response = api.client.post(
        "/v1/subjects", json={"gallery_id": gallery, "consent": record}, headers=api.headers["enroller"]
    )
    assert response.status_code == 422 and "must be after signed_at" in response.json()["error"]["message"]
    record = consent()
    record["signed_at"] = "2026-01-01T10:00:00"
    response = api.client.post(
        "/v1/subjects", json={"gallery_id": gallery, "consent": record}, headers=api.headers["enroller"]
    )
    assert response.status_code == 422 and "signed_at" in response.json()["error"]["message"]


def test_modality_not_consented_is_refused_and_audited(api, instance, lfw_person):
    gallery = api.gallery()
    subject = api.subject(gallery, modalities=("finger",))
    response = api.enrol(subject, lfw_person("Colin_Powell", 1)[0])
    assert response.status_code == 409 and response.json()["error"]["code"] == "modality_not_consented"
    assert "refused:modality_not_consented" in refusals(instance)


def test_purpose_not_consented_is_refused_and_audited(api, instance, lfw_person):
    gallery = api.gallery()
    photos = lfw_person("Colin_Powell", 2)
    subject = api.subject(gallery, purposes=("deduplicate",))
    assert api.enrol(subject, photos[0]).status_code == 201
    response = api.verify(subject, photos[1])
    assert response.status_code == 409 and response.json()["error"]["code"] == "purpose_not_consented"
    assert "refused:purpose_not_consented" in refusals(instance)


def test_consent_that_expires_later_stops_verification_and_search(api, instance, lfw_person):
    gallery = api.gallery()
    photos = lfw_person("Colin_Powell", 2)
    subject = api.subject(gallery, expires_in_days=30)
    assert api.enrol(subject, photos[0]).status_code == 201
    assert api.identify(gallery, photos[1]).json()["status"] == "sent_for_review"
    real_clock = instance.clock
    instance.clock = lambda: real_clock() + timedelta(days=31)
    response = api.verify(subject, photos[1])
    assert response.status_code == 409 and response.json()["error"]["code"] == "consent_expired"
    search = api.identify(gallery, photos[1]).json()
    assert search["status"] == "no_likely_match" and search["gallery_size"] == 0
    assert "refused:consent_expired" in refusals(instance)


def test_withdrawn_consent_cannot_be_replayed(api):
    gallery = api.gallery()
    record = consent()
    first = api.client.post(
        "/v1/subjects", json={"gallery_id": gallery, "consent": record}, headers=api.headers["enroller"]
    )
    subject = first.json()["id"]
    assert api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["enroller"]).status_code == 200
    replay = api.client.post(
        "/v1/subjects", json={"gallery_id": gallery, "consent": record}, headers=api.headers["enroller"]
    )
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "consent_withdrawn"
    assert api.subject(gallery, signed_by="Field officer B") != subject  # a newly signed consent enrols again


NOT_AN_IMAGE = b"these bytes are no image"
"""An upload no decoder reads: a request whose answer is not ``not_an_image`` never decoded it."""
HAND_LANDMARKS = json.dumps([{"x": 0.3 + 0.02 * n, "y": 0.8 - 0.03 * n} for n in range(21)])
"""21 well-formed landmarks: what a hand photo needs for its request to be read at all."""


def _post(api, path: str, role: str, data: dict, files: dict):
    return api.client.post(path, data=data, files=files, headers=api.headers[role])


def _every_photo_route(subject: str, gallery: str, purpose: str) -> dict[str, tuple[str, str, dict, dict]]:
    """Each route that takes a photo, with an undecodable one: (path, role, form, files)."""
    hand = {"hand_landmarks": HAND_LANDMARKS, "hand": "right"}
    search = {"gallery_id": gallery, "purpose": purpose, "case_reference": "CASE-C"}
    face = {"image": ("face.jpg", NOT_AN_IMAGE, "image/jpeg")}
    hand_photo = {"hand_image": ("hand.jpg", NOT_AN_IMAGE, "image/jpeg")}
    return {
        "enrol face": (f"/v1/subjects/{subject}/faces", "enroller", {}, face),
        "enrol hand": (
            f"/v1/subjects/{subject}/hands",
            "enroller",
            {"landmarks": HAND_LANDMARKS, "hand": "right"},
            {"image": ("hand.jpg", NOT_AN_IMAGE, "image/jpeg")},
        ),
        "verify face": ("/v1/verify", "verifier", {"subject_id": subject}, face),
        "verify hand": ("/v1/verify", "verifier", {"subject_id": subject, **hand}, hand_photo),
        "identify face": ("/v1/identify", "enroller", search, face),
        "identify hand": ("/v1/identify", "enroller", {**search, **hand}, hand_photo),
    }


def test_consent_and_every_cheap_refusal_come_before_any_photo_is_read(api, instance):
    """A subject who did not consent to a modality gets the consent refusal (audited) and a search for a purpose
    the gallery does not allow gets the purpose refusal, with a photo no decoder reads: so the photo was never
    decoded, let alone cut into fingers or scored for liveness. The same photo for a consenting subject and an
    allowed purpose is refused as not_an_image: it really is unreadable."""
    gallery = api.gallery()
    face_only = api.subject(gallery, modalities=("face",))
    finger_only = api.subject(gallery, modalities=("finger",))
    refused = {
        **{name: r for name, r in _every_photo_route(face_only, gallery, "pay_salaries").items() if "hand" in name},
        **{name: r for name, r in _every_photo_route(finger_only, gallery, "pay_salaries").items() if "face" in name},
    }
    for name, (path, role, data, files) in refused.items():
        response = _post(api, path, role, data, files)
        expected = "purpose_not_searchable" if name.startswith("identify") else "modality_not_consented"
        assert response.status_code in (409, 422), (name, response.text)
        assert response.json()["error"]["code"] == expected, (name, response.text)
    assert refusals(instance).count("refused:modality_not_consented") == 4
    assert refusals(instance).count("refused:purpose_not_searchable") == 2

    both = api.subject(gallery, modalities=("face", "finger"))
    for name, (path, role, data, files) in _every_photo_route(both, gallery, "deduplicate").items():
        response = _post(api, path, role, data, files)
        assert response.json()["error"]["code"] == "not_an_image", (name, response.text)
