"""The duplicate check on real faces (LFW, the default face algorithm): the same person enrolled again under a new
subject is held for review; a different person is enrolled at once. Skips without ../shared/data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tessera.workflows.adjudication import record_training
from tessera.workflows.keys import create_key

RATIONALE = "Same face shape, same eyebrows and same hairline in both photos."


def test_the_same_real_person_twice_is_held_and_a_different_one_enrolled(api, instance, lfw_person):
    gallery = api.gallery()
    powell = lfw_person("Colin_Powell", 2)
    blair = lfw_person("Tony_Blair", 1)
    first = api.subject(gallery, signed_by="Officer 1")
    assert api.enrol(first, powell[0]).status_code == 201
    other = api.subject(gallery, signed_by="Officer 2")
    clear = api.enrol(other, blair[0])
    assert clear.status_code == 201 and clear.json()["status"] == "active"
    again = api.subject(gallery, signed_by="Officer 3")
    held = api.enrol(again, powell[1])
    assert held.status_code == 202, held.text
    assert held.json()["status"] == "pending_review" and first not in held.text
    verify = api.verify(again, powell[1])
    assert verify.status_code == 409 and verify.json()["error"]["code"] == "pending_review"

    now = datetime.now(UTC)
    reviewers = []
    for name in ("first", "second"):
        key = create_key(instance, "test", "adjudicator", name)
        record_training(
            instance, "key:second-admin", key.id, "Face review", now - timedelta(days=1), now + timedelta(days=9)
        )
        reviewers.append({"Authorization": f"Bearer {key.secret}"})
    cases = api.client.get("/v1/dedup-cases", headers=reviewers[0]).json()["cases"]
    (case,) = [c for c in cases if c["case_number"] == held.json()["review"]["case_number"]]
    for headers in reviewers:
        review = api.client.get(f"/v1/searches/{case['search_id']}/review", headers=headers).json()
        for candidate in review["candidates"]:
            decided = api.client.post(
                f"/v1/searches/{case['search_id']}/candidates/{candidate['candidate_id']}/decision",
                json={"decision": "confirm", "rationale": RATIONALE},
                headers=headers,
            )
            assert decided.status_code == 200, decided.text
    gone = api.client.get(f"/v1/subjects/{again}", headers=api.headers["admin"])
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "subject_erased"
    assert api.verify(first, powell[1]).json()["decision"] == "match"
