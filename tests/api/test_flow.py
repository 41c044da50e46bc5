"""The whole workflow through the API on real LFW photos."""

from __future__ import annotations

from tessera.governance.audit import verify_chain
from tests.service_fixtures import lead_ids, leads


def test_enrol_verify_identify_erase(api, lfw_person, instance):
    gallery = api.gallery(score_disclosure="exact")  # the test checks the scores; bands: test_score_disclosure.py
    powell, blair, serena = (lfw_person(name, 3) for name in ("Colin_Powell", "Tony_Blair", "Serena_Williams"))
    subjects = {}
    for name, photos in (("powell", powell), ("blair", blair), ("serena", serena)):
        subjects[name] = api.subject(gallery)
        enrolled = api.enrol(subjects[name], photos[0])
        assert enrolled.status_code == 201, enrolled.text
        body = enrolled.json()
        assert body["template_id"] and body["quality"]["inter_eye_px"] > 20

    same = api.verify(subjects["powell"], powell[1])
    assert same.status_code == 200, same.text
    same = same.json()
    assert same["decision"] == "match" and same["score"] >= same["threshold"]
    assert 0 < same["fmr"] <= 1e-3 * 1.0001 and same["fmr_detail"]["basis"] in {
        "measured",
        "upper_bound",
        "extrapolated",
    }

    other = api.verify(subjects["powell"], blair[1]).json()
    assert other["decision"] == "no_match" and other["score"] < other["threshold"]

    response = api.identify(gallery, serena[2])
    assert lead_ids(api.client, response) == [subjects["serena"]]
    search = response.json()
    assert search["gallery_size"] == 3 and search["status"] == "sent_for_review" and search["confirmed"] == []
    assert subjects["serena"] not in response.text  # the requester is told of no one before two reviewers confirm
    top = leads(api.client, search["search_id"])[0]
    assert top["rank"] == 1 and top["score"] >= search["threshold"] and top["fmr"] < 1e-3
    assert search["expected_false_candidates"] <= 0.01 * 1.0001

    receipt = api.client.delete(f"/v1/subjects/{subjects['serena']}", headers=api.headers["enroller"])
    assert receipt.status_code == 200, receipt.text
    receipt = receipt.json()
    served = len(instance.matchers.faces)  # SFace and dlib by default: a template of each
    assert receipt["templates_erased"] == served == receipt["index_entries_removed"] == 2
    assert receipt["data_key_destroyed"]

    again = api.identify(gallery, serena[2])
    assert lead_ids(api.client, again) == [] and again.json()["gallery_size"] == 2
    assert again.json()["status"] == "no_likely_match"
    gone = api.verify(subjects["serena"], serena[1])
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "subject_erased"

    audit = api.client.get("/v1/audit/verify", headers=api.headers["auditor"]).json()
    assert audit["ok"] is True and audit["entries"] >= 12
    with instance.sessions() as session:
        assert verify_chain(session).ok


def test_identify_threshold_rises_with_gallery_size(instance):
    calibration = instance.face_calibration
    small = calibration.identify_threshold(10, 0.01)
    large = calibration.identify_threshold(10_000, 0.01)
    assert large > small


def test_a_verify_only_subject_is_not_searched(api, lfw_person):
    gallery = api.gallery()
    photos = lfw_person("Colin_Powell", 2)
    subject = api.subject(gallery, purposes=("verify",))
    assert api.enrol(subject, photos[0]).status_code == 201
    search = api.identify(gallery, photos[1]).json()
    assert search["gallery_size"] == 0 and search["status"] == "no_likely_match"
    assert api.verify(subject, photos[1]).json()["decision"] == "match"
