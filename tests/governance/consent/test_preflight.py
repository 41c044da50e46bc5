"""Every pre-condition is checked before the camera opens (issue 15, item 6): the console asks
GET /v1/preflight/{enrol,verify,identify} and gets the refusal the real request would give, with its reason code,
before anyone is photographed; each refusal is audited and nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tessera.store.models import AuditEntry, Template
from tessera.workflows import preflight
from tests.governance.consent.conftest import face_png

UNKNOWN = "00000000-0000-0000-0000-000000000000"


def ask(api, action: str, role: str = "enroller", **params):
    return api.client.get(f"/v1/preflight/{action}", params=params, headers=api.headers[role])


def refusal(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def audited(instance, action: str) -> list[str]:
    with instance.sessions() as session:
        return [e.outcome for e in session.scalars(select(AuditEntry).where(AuditEntry.action == action))]


def templates(instance) -> int:
    with instance.sessions() as session:
        return session.scalar(select(func.count()).select_from(Template)) or 0


def test_enrol_refusals_come_before_the_camera(api, instance):
    gallery = api.gallery(identification=False)
    face_only = api.subject(gallery, modalities=("face",))
    assert refusal(ask(api, "enrol", subject_id=UNKNOWN)) == (404, "subject_not_found")
    assert refusal(ask(api, "enrol", subject_id=face_only, modality="finger")) == (409, "modality_not_consented")
    assert refusal(ask(api, "enrol", "verifier", subject_id=face_only)) == (403, "forbidden")
    assert ask(api, "enrol", subject_id=face_only, modality="bones").status_code == 422
    ready = ask(api, "enrol", subject_id=face_only, modality="face")
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["gallery_id"] == gallery
    # Refusals are audited; so is a ready answer: it read the person's consent (a read of their data).
    assert audited(instance, "preflight.enrol") == ["refused:subject_not_found", "refused:modality_not_consented", "ok"]
    assert templates(instance) == 0
    erased = api.subject(gallery)
    api.client.delete(f"/v1/subjects/{erased}", headers=api.headers["enroller"])
    assert refusal(ask(api, "enrol", subject_id=erased)) == (404, "subject_erased")


def test_verify_refusals_come_before_the_camera(api, instance):
    gallery = api.gallery(identification=False)
    subject = api.subject(gallery, purposes=("verify",))
    assert refusal(ask(api, "verify", "verifier", subject_id=UNKNOWN)) == (404, "subject_not_found")
    assert refusal(ask(api, "verify", "verifier", subject_id=subject)) == (409, "no_reference")
    assert refusal(ask(api, "verify", "verifier", subject_id=subject, modality="finger")) == (
        409,
        "modality_not_consented",
    )
    assert refusal(ask(api, "verify", "auditor", subject_id=subject)) == (403, "forbidden")
    no_verify = api.subject(gallery, purposes=("deduplicate",), signed_by="B. Other")
    assert refusal(ask(api, "verify", "verifier", subject_id=no_verify)) == (409, "purpose_not_consented")
    assert api.enrol(subject, face_png(11)).status_code == 201
    assert ask(api, "verify", "verifier", subject_id=subject).json()["ready"] is True
    assert audited(instance, "preflight.verify") == [
        "refused:subject_not_found",
        "refused:no_reference",
        "refused:modality_not_consented",
        "refused:purpose_not_consented",
        "ok",
    ]


def test_identify_refusals_come_before_the_camera(api, instance):
    closed_off = api.gallery("No 1:N here", identification=False)
    assert refusal(ask(api, "identify", gallery_id=closed_off)) == (409, "identification_not_enabled")
    assert refusal(ask(api, "identify", gallery_id=UNKNOWN)) == (404, "gallery_not_found")
    assert refusal(ask(api, "identify", "verifier", gallery_id=closed_off)) == (403, "forbidden")
    gallery = api.gallery("Searchable")
    assert refusal(ask(api, "identify", gallery_id=gallery, purpose="track")) == (422, "purpose_not_searchable")
    assert ask(api, "identify", gallery_id=gallery).json() == {
        "ready": True,
        "action": "identify",
        "gallery_id": gallery,
        "purpose": "deduplicate",
    }
    switch = {"engaged": True, "reason": "Court order 12"}
    assert (
        api.client.post("/v1/identification/suspension", json=switch, headers=api.headers["admin"]).status_code == 200
    )
    assert refusal(ask(api, "identify", gallery_id=gallery)) == (503, "identification_suspended")
    switch["engaged"] = False
    api.client.post("/v1/identification/suspension", json=switch, headers=api.headers["admin"])
    assert api.client.post(f"/v1/galleries/{gallery}/close", headers=api.headers["admin"]).status_code == 200
    assert refusal(ask(api, "identify", gallery_id=gallery)) == (409, "gallery_closed")
    assert "refused:identification_not_enabled" in audited(instance, "preflight.identify")


@pytest.mark.parametrize("action", ["identify", "enrol"])
def test_the_preflight_applies_the_real_rule(api, monkeypatch, action):
    """Mutation: with the rule the real request applies switched off inside the preflight, the refusal is gone;
    the preflight answers only because it runs that very rule."""
    gallery = api.gallery("Rules", identification=False)
    subject = api.subject(gallery, modalities=("face",))
    params = {"gallery_id": gallery} if action == "identify" else {"subject_id": subject, "modality": "finger"}
    assert ask(api, action, **params).status_code == 409
    if action == "identify":
        monkeypatch.setattr(preflight, "search_refusal", lambda *args: None)
    else:
        monkeypatch.setattr(preflight, "check_consent", lambda *args, **kwargs: None)
        monkeypatch.setattr(preflight, "check_text_covers", lambda *args, **kwargs: None)
    assert ask(api, action, **params).status_code == 200
