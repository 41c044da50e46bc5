from __future__ import annotations

import json

from tessera.workflows.transparency import counts_per_period


def test_counts_per_period_without_personal_data(api, instance, lfw_person):
    gallery = api.gallery()
    photos = lfw_person("Colin_Powell", 2)
    subject = api.subject(gallery)
    api.enrol(subject, photos[0])
    api.verify(subject, photos[1])
    api.identify(gallery, photos[1])
    api.identify(gallery, b"not a photo")  # a refusal is counted by reason
    api.client.delete(f"/v1/subjects/{subject}", headers=api.headers["enroller"])

    response = api.client.get("/v1/transparency", params={"period": "day"}, headers=api.headers["auditor"])
    assert response.status_code == 200
    report = response.json()
    (day,) = counts_per_period(instance, "day").values()  # counted exactly...
    assert day["enrolments"] == 1 and day["face_captures"] == 1 and day["withdrawals"] == 1
    assert day["verifications.match"] == 1 and day["searches.deduplicate"] == 1
    (published,) = report["periods"].values()  # ...and published as "fewer than 5", or not listed at all
    assert published == {"enrolments": {"fewer_than": 5}, "withdrawals": {"fewer_than": 5}}
    text = json.dumps(report)
    assert subject not in text and "signed_by" not in text and "Field officer" not in text
    bad = api.client.get("/v1/transparency", params={"period": "week"}, headers=api.headers["auditor"])
    assert bad.status_code == 422
