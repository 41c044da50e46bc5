"""Consent texts belong to a gallery (or are shared), name the modalities and purposes they ask for, and come in
language versions; a consent cannot reach beyond the text the person read (issue 15, item 5)."""

from __future__ import annotations

from sqlalchemy import select, update

from tessera.store.models import AuditEntry, Consent
from tessera.workflows import enrolment
from tests.governance.consent.conftest import (
    FACE_ONLY_TEXT,
    FACE_ONLY_TEXT_FR,
    consent_under,
    create,
    face_png,
    register,
)


def refused(instance, code: str) -> int:
    with instance.sessions() as session:
        return len(session.scalars(select(AuditEntry).where(AuditEntry.outcome == f"refused:{code}")).all())


def test_a_text_must_be_bound_to_a_gallery_or_explicitly_shared(api):
    gallery = api.gallery(identification=False)
    body = {"version": "v", "text": FACE_ONLY_TEXT, "modalities": ["face"], "purposes": ["verify"]}
    for extra in ({}, {"gallery_id": gallery, "shared": True}):
        response = api.client.post("/v1/consent-texts", json=body | extra, headers=api.headers["admin"])
        assert response.status_code == 422, response.text
        assert "gallery_id" in response.json()["error"]["message"]
    for missing in ("modalities", "purposes"):
        response = api.client.post(
            "/v1/consent-texts",
            json={k: v for k, v in body.items() if k != missing} | {"shared": True},
            headers=api.headers["admin"],
        )
        assert response.status_code == 422 and missing in response.json()["error"]["message"]
    unknown = api.client.post(
        "/v1/consent-texts", json=body | {"gallery_id": "no-such-gallery"}, headers=api.headers["admin"]
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "gallery_not_found"


def test_a_gallery_offers_only_its_own_and_shared_texts(api, instance):
    clinic = api.gallery("Clinic 4", identification=False)
    food = api.gallery("Food distribution", identification=False)
    assert register(api, FACE_ONLY_TEXT, version="clinic-1", gallery_id=clinic).status_code == 201
    offered = api.client.get("/v1/consent-texts", params={"gallery_id": food}, headers=api.headers["enroller"]).json()
    assert "clinic-1" not in {t["version"] for t in offered} and {t["shared"] for t in offered} == {True}
    in_clinic = api.client.get("/v1/consent-texts", params={"gallery_id": clinic}, headers=api.headers["enroller"])
    assert "clinic-1" in {t["version"] for t in in_clinic.json()}
    # The clinic's text cannot consent anyone into the food distribution, whatever the console offered.
    before = refused(instance, "consent_text_other_gallery")
    response = create(api, food, consent_under(FACE_ONLY_TEXT, "clinic-1", purposes=("verify",)))
    assert response.status_code == 409 and response.json()["error"]["code"] == "consent_text_other_gallery"
    assert refused(instance, "consent_text_other_gallery") == before + 1
    assert create(api, clinic, consent_under(FACE_ONLY_TEXT, "clinic-1", purposes=("verify",))).status_code == 201


def test_a_consent_cannot_reach_beyond_its_text(api):
    gallery = api.gallery(identification=False)
    register(api, FACE_ONLY_TEXT, version="face-1", gallery_id=gallery, modalities=("face",), purposes=("verify",))
    fingers = create(
        api, gallery, consent_under(FACE_ONLY_TEXT, "face-1", modalities=("face", "finger"), purposes=("verify",))
    )
    assert fingers.status_code == 409 and fingers.json()["error"]["code"] == "modality_not_in_consent_text"
    search = create(api, gallery, consent_under(FACE_ONLY_TEXT, "face-1", purposes=("verify", "deduplicate")))
    assert search.status_code == 409 and search.json()["error"]["code"] == "purpose_not_in_consent_text"


def test_language_versions_share_a_content_id_and_ask_for_the_same(api):
    gallery = api.gallery(identification=False)
    assert register(api, FACE_ONLY_TEXT, version="face-1", gallery_id=gallery).status_code == 201
    broader = register(
        api, FACE_ONLY_TEXT_FR, version="face-1", gallery_id=gallery, language="fr", modalities=("face", "finger")
    )
    assert broader.status_code == 409 and broader.json()["error"]["code"] == "consent_text_versions_differ"
    assert register(api, FACE_ONLY_TEXT_FR, version="face-1", gallery_id=gallery, language="fr").status_code == 201
    french = api.client.get(
        "/v1/consent-texts", params={"gallery_id": gallery, "language": "fr"}, headers=api.headers["enroller"]
    ).json()
    assert [(t["version"], t["language"], t["text"]) for t in french] == [("face-1", "fr", FACE_ONLY_TEXT_FR)]
    subject = create(api, gallery, consent_under(FACE_ONLY_TEXT_FR, "face-1", purposes=("verify",))).json()["id"]
    proof = api.client.get(f"/v1/subjects/{subject}/consent", headers=api.headers["enroller"]).json()
    assert proof["consent"]["text_language"] == "fr" and proof["text"]["language"] == "fr"


def test_an_uncovered_modality_is_refused_before_any_image_is_read(api, instance, monkeypatch):
    """A consent row that lists fingers under a face-only text (written before this rule, or restored) still
    cannot enrol a finger: the text is checked before the image is decoded (garbage bytes get the 409, not the
    422 a decoded image would get). With the text check switched off the same request reaches the decoder."""
    gallery = api.gallery(identification=False)
    register(api, FACE_ONLY_TEXT, version="face-1", gallery_id=gallery)
    subject = create(api, gallery, consent_under(FACE_ONLY_TEXT, "face-1", purposes=("verify",))).json()["id"]
    with instance.transaction() as session:
        session.execute(update(Consent).where(Consent.subject_id == subject).values(modalities=["face", "finger"]))
    finger = {"image": ("f.png", b"not an image at all", "image/png")}
    form = {"finger_position": "2", "capture": "contact"}
    response = api.client.post(
        f"/v1/subjects/{subject}/fingers", files=finger, data=form, headers=api.headers["enroller"]
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "modality_not_in_consent_text"
    assert refused(instance, "modality_not_in_consent_text") == 1
    monkeypatch.setattr(enrolment, "check_text_covers", lambda *args, **kwargs: None)
    broken = api.client.post(
        f"/v1/subjects/{subject}/fingers", files=finger, data=form, headers=api.headers["enroller"]
    )
    assert broken.status_code != 409 and broken.json()["error"]["code"] != "modality_not_in_consent_text"
    # The face the text does cover still enrols.
    assert api.enrol(subject, face_png(7)).status_code == 201


def test_gallery_settings_show_search_retention_evidence_and_texts(api):
    gallery = api.gallery("Clinic 4", identification=False)
    other = api.gallery("Clinic 5", identification=True)
    register(api, FACE_ONLY_TEXT, version="clinic-1", gallery_id=gallery)
    register(api, FACE_ONLY_TEXT_FR, version="clinic-5", gallery_id=other, language="fr")
    settings = api.client.get(f"/v1/galleries/{gallery}/settings", headers=api.headers["verifier"]).json()
    assert settings["identification"]["enabled"] is False and settings["retention_days"] == 1095
    assert {t["version"] for t in settings["consent_texts"]} == {"clinic-1", "2026-01"}
    assert all("text" not in t for t in settings["consent_texts"])
    assert "typed_name" in settings["consent_evidence"]
    on = api.client.get(f"/v1/galleries/{other}/settings", headers=api.headers["enroller"]).json()
    assert on["identification"]["enabled"] is True and on["identification"]["dpia_reference"] == "DPIA-2026-007"
    assert api.client.get(f"/v1/galleries/{gallery}/settings", headers=api.headers["adjudicator"]).status_code == 403
