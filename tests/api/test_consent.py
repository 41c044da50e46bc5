"""Nothing is captured or compared outside the subject's consent, and refusals are audited."""

from __future__ import annotations

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
