"""A better face photo replaces the one kept with a retake advised: ``POST /v1/subjects/{id}/faces`` with ``replaces``.

On real LFW photos: ``Ahmad_Masood_0002`` is turned about 34 degrees (kept, ``face_turned`` advised),
``Ahmad_Masood_0001`` faces the camera. After the replacement the turned photo is no reference of the person any
more: compared with itself it no longer scores as the same photo, in a verification or a search.
"""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import select

from tessera.store.models import AuditEntry, Template
from tests.service_fixtures import leads, png


def face_templates(api, subject_id: str) -> list[str]:
    """The subject's face template ids, as the subject-access export lists them."""
    export = api.client.get(f"/v1/subjects/{subject_id}/export", headers=api.headers["enroller"])
    assert export.status_code == 200, export.text
    return sorted(c["template_id"] for c in export.json()["captures"] if c["modality"] == "face")


def stored(instance, subject_id: str) -> list[str]:
    with instance.sessions() as session:
        return sorted(session.scalars(select(Template.id).where(Template.subject_id == subject_id)))


def audited(instance, action: str, subject_id: str) -> list[dict]:
    with instance.sessions() as session:
        bodies = session.scalars(
            select(AuditEntry.body).where(AuditEntry.action == action, AuditEntry.subject_id == subject_id)
        ).all()
    return [json.loads(body) for body in bodies]


def replace(api, subject_id: str, image: bytes, replaces: str, headers=None):
    return api.client.post(
        f"/v1/subjects/{subject_id}/faces",
        files={"image": ("face.jpg", image, "image/jpeg")},
        data={"replaces": replaces},
        headers=headers or api.headers["enroller"],
    )


def test_a_better_photo_replaces_the_turned_one_in_the_store_the_comparisons_and_the_searches(api, lfw_image, instance):
    gallery = api.gallery(score_disclosure="exact")
    subject = api.subject(gallery)
    turned, frontal = lfw_image("Ahmad_Masood", 2), lfw_image("Ahmad_Masood", 1)
    kept = api.enrol(subject, turned)
    assert kept.status_code == 201 and kept.json()["quality"]["retake_advised"]["reason"] == "face_turned"
    old = stored(instance, subject)
    assert kept.json()["template_id"] in old and face_templates(api, subject) == old

    # While the turned photo is a reference, comparing it with itself finds the very same photo.
    assert api.verify(subject, turned).json()["score"] > 0.99
    (lead,) = leads(api.client, api.identify(gallery, turned).json()["search_id"])
    assert lead["subject_id"] == subject and lead["score"] > 0.99

    better = replace(api, subject, frontal, kept.json()["template_id"])
    assert better.status_code == 201, better.text
    body = better.json()
    assert body["quality"]["retake_advised"] is None and sorted(body["replaced"]) == old
    new = stored(instance, subject)
    assert body["template_id"] in new and not set(new) & set(old)
    assert face_templates(api, subject) == new

    # Only the frontal photo is compared now: the turned probe is another photo of the person to it.
    verified = api.verify(subject, turned).json()
    assert verified["score"] < 0.99, verified
    assert api.verify(subject, frontal).json()["score"] > 0.99
    (lead,) = leads(api.client, api.identify(gallery, turned, case_reference="CASE-2").json()["search_id"])
    assert lead["subject_id"] == subject and lead["score"] < 0.99

    # Audited on its own, by ids only; the enrolment's own entry names what it replaced.
    (entry,) = audited(instance, "template.replaced", subject)
    assert entry["outcome"] == "ok" and entry["gallery_id"] == gallery
    assert entry["details"] == {"template_id": body["template_id"], "replaced_template_ids": old}
    enrolments = audited(instance, "face.enrol", subject)
    assert [e["details"].get("replaces") for e in enrolments] == [None, kept.json()["template_id"]]


def test_a_refused_replacement_leaves_the_earlier_capture_as_it_was(api, lfw_image, instance):
    gallery = api.gallery()
    subject, someone_else = api.subject(gallery), api.subject(gallery)
    turned = lfw_image("Ahmad_Masood", 2)
    kept = api.enrol(subject, turned).json()["template_id"]
    theirs = api.enrol(someone_else, lfw_image("Al_Pacino", 1)).json()["template_id"]
    before, others = stored(instance, subject), stored(instance, someone_else)

    unusable = png(np.full((120, 120, 3), 128, "uint8"))  # no face: the quality gate refuses it
    refused = replace(api, subject, unusable, kept)
    assert refused.status_code == 422, refused.text
    duplicate = replace(api, subject, turned, kept)  # the same photo again
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "duplicate_capture"
    for named in ("00000000-0000-0000-0000-000000000000", theirs):  # no such template; another person's
        missing = replace(api, subject, lfw_image("Ahmad_Masood", 1), named)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "template_not_found", missing.text
    assert stored(instance, subject) == before and stored(instance, someone_else) == others
    assert face_templates(api, subject) == before
    assert audited(instance, "template.replaced", subject) == []
    outcomes = [e["outcome"] for e in audited(instance, "face.enrol", subject)]
    assert outcomes.count("refused:template_not_found") == 2


def test_a_face_does_not_replace_a_finger(api, lfw_image, fvc_print, instance):
    gallery = api.gallery()
    subject = api.subject(gallery, modalities=("face", "finger"))
    assert api.enrol(subject, lfw_image("Ahmad_Masood", 2)).status_code == 201
    finger = api.client.post(
        f"/v1/subjects/{subject}/fingers",
        files={"image": ("finger.png", png(fvc_print("DB1_B", 101, 1)), "image/png")},
        data={"finger_position": "2", "capture": "contact"},
        headers=api.headers["enroller"],
    )
    assert finger.status_code == 201, finger.text
    before = stored(instance, subject)
    refused = replace(api, subject, lfw_image("Ahmad_Masood", 1), finger.json()["template_id"])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "template_not_a_face", refused.text
    assert stored(instance, subject) == before


def test_whoever_may_enrol_a_face_may_replace_one_and_a_retry_answers_the_same(api, lfw_image, instance, headers):
    gallery = api.gallery()
    subject = api.subject(gallery)
    kept = api.enrol(subject, lfw_image("Ahmad_Masood", 2)).json()["template_id"]
    frontal = lfw_image("Ahmad_Masood", 1)
    assert replace(api, subject, frontal, kept, headers=headers["verifier"]).status_code == 403
    assert kept in stored(instance, subject)
    retry = {**headers["enroller"], "Idempotency-Key": "replace-once"}
    first = replace(api, subject, frontal, kept, headers=retry)
    again = replace(api, subject, frontal, kept, headers=retry)
    assert first.status_code == again.status_code == 201, again.text
    assert {k: again.json()[k] for k in ("template_id", "replaced")} == {
        k: first.json()[k] for k in ("template_id", "replaced")
    }
    assert kept in first.json()["replaced"] and kept not in stored(instance, subject)
    assert len(audited(instance, "template.replaced", subject)) == 1
