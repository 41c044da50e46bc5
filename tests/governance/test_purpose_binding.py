"""1:N is off until enabled with a DPIA, bound to an allowed purpose and a case, and has a kill switch."""

from __future__ import annotations

from sqlalchemy import select

from tessera.store.models import AuditEntry


def audited(instance, outcome: str) -> bool:
    with instance.sessions() as session:
        return session.scalar(select(AuditEntry.seq).where(AuditEntry.outcome == outcome).limit(1)) is not None


def test_new_gallery_cannot_be_searched_until_enabled_with_a_dpia(api, instance, lfw_person):
    gallery = api.gallery(identification=False)
    photo = lfw_person("Colin_Powell", 1)[0]
    refused = api.identify(gallery, photo)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "identification_not_enabled"
    assert audited(instance, "refused:identification_not_enabled")
    missing = api.client.post(f"/v1/galleries/{gallery}/identification", json={}, headers=api.headers["admin"])
    assert missing.status_code == 422 and "dpia_reference" in missing.json()["error"]["message"]
    enabled = api.client.post(
        f"/v1/galleries/{gallery}/identification", json={"dpia_reference": "DPIA-9"}, headers=api.headers["admin"]
    )
    assert enabled.status_code == 200 and enabled.json()["dpia_reference"] == "DPIA-9"
    assert api.identify(gallery, photo).status_code == 200
    api.client.delete(f"/v1/galleries/{gallery}/identification", headers=api.headers["admin"])
    assert api.identify(gallery, photo).json()["error"]["code"] == "identification_not_enabled"


def test_search_needs_a_case_reference_and_an_allowed_purpose(api, lfw_person):
    gallery = api.gallery()
    photo = lfw_person("Colin_Powell", 1)[0]
    blank = api.identify(gallery, photo, case_reference="  ")
    assert blank.status_code == 422 and blank.json()["error"]["code"] == "case_reference_required"
    wrong = api.identify(gallery, photo, purpose="verify")
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "purpose_not_searchable"
    missing = api.client.post(
        "/v1/identify",
        data={"gallery_id": gallery, "purpose": "deduplicate"},
        files={"image": ("p.jpg", photo, "image/jpeg")},
        headers=api.headers["enroller"],
    )
    assert missing.status_code == 422 and "case_reference" in missing.json()["error"]["message"]


def test_kill_switch_stops_every_search_at_once(api, instance, lfw_person):
    galleries = [api.gallery("one"), api.gallery("two")]
    photo = lfw_person("Colin_Powell", 1)[0]
    admin = api.headers["admin"]
    engaged = api.client.post(
        "/v1/identification/suspension", json={"engaged": True, "reason": "court order 12/2026"}, headers=admin
    )
    assert engaged.status_code == 200 and engaged.json()["engaged"] is True
    for gallery in galleries:
        response = api.identify(gallery, photo)
        assert response.status_code == 503 and response.json()["error"]["code"] == "identification_suspended"
        assert "court order" in response.json()["error"]["message"]
    assert audited(instance, "refused:identification_suspended")
    api.client.post("/v1/identification/suspension", json={"engaged": False, "reason": "order lifted"}, headers=admin)
    assert all(api.identify(gallery, photo).status_code == 200 for gallery in galleries)


def test_search_is_recorded_with_gallery_version_times_and_probe_hash(api, instance, lfw_person):
    import hashlib
    import json

    gallery = api.gallery()
    photos = lfw_person("Colin_Powell", 2)
    subject = api.subject(gallery)
    api.enrol(subject, photos[0])
    answer = api.identify(gallery, photos[1], case_reference="FILE-77").json()
    assert answer["gallery_version"] == 1 and answer["case_reference"] == "FILE-77"
    with instance.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "face.identify")).one()
    details = json.loads(entry.body)["details"]
    assert details["search_id"] == answer["search_id"] and details["gallery_version"] == 1
    assert details["probe_sha256"] == hashlib.sha256(photos[1]).hexdigest()
    assert details["started_at"] <= details["ended_at"] and details["candidates"][0]["subject_id"] == subject
    outcome = api.client.get(f"/v1/searches/{answer['search_id']}", headers=api.headers["enroller"]).json()
    assert outcome["case_reference"] == "FILE-77" and outcome["status"] == "sent_for_review"
