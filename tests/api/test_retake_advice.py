"""A face the quality gate keeps but would rather see again: enrolled and compared, with the retake advised.

On real LFW photos through the API: ``Ahmad_Masood_0002`` is turned about 34 degrees (past SFace's retake limit of
25, within its refusal gate), ``Ahmad_Masood_0001`` faces the camera.
"""

from __future__ import annotations

from tessera.face.refusal import MESSAGES
from tessera.face.sface_config import DEFAULT_SFACE_CONFIG


def advice(body: dict) -> dict | None:
    return (body["quality"] or {}).get("retake_advised")


def test_a_turned_face_is_enrolled_with_the_retake_advised_in_the_refusals_words(api, lfw_image):
    gallery = api.gallery()
    subject = api.subject(gallery)
    enrolled = api.enrol(subject, lfw_image("Ahmad_Masood", 2))
    assert enrolled.status_code == 201, enrolled.text
    advised = advice(enrolled.json())
    assert advised["reason"] == "face_turned" and advised["message"] == MESSAGES["face_turned"]
    assert advised["measure"] == "abs_yaw_degrees"
    assert advised["value"] > advised["maximum"] == DEFAULT_SFACE_CONFIG.retake.max_abs_yaw

    # The advice is kept with the reference, so a programme can find the references worth retaking.
    export = api.client.get(f"/v1/subjects/{subject}/export", headers=api.headers["enroller"])
    assert export.status_code == 200, export.text
    kept = [c["quality"].get("retake_advised") for c in export.json()["captures"] if c["modality"] == "face"]
    assert {"face_turned"} == {a["reason"] for a in kept if a}

    # A better photo of the same person is a second face capture, without advice.
    better = api.enrol(subject, lfw_image("Ahmad_Masood", 1))
    assert better.status_code == 201, better.text
    assert advice(better.json()) is None


def test_a_turned_probe_is_compared_and_answered_with_the_advice_beside_the_decision(api, lfw_image):
    gallery = api.gallery()
    subject = api.subject(gallery)
    assert api.enrol(subject, lfw_image("Ahmad_Masood", 1)).status_code == 201

    turned = api.verify(subject, lfw_image("Ahmad_Masood", 2))
    assert turned.status_code == 200, turned.text
    body = turned.json()
    assert body["decision"] in {"match", "no_match"}  # compared, not refused
    # A banded answer (the default) withholds the quality figures with the scores, and keeps the advice's words,
    # which say no more than a refusal would.
    assert body["score_disclosure"] == "banded" and body["score"] is None
    assert body["quality"] == {"retake_advised": {"reason": "face_turned", "message": MESSAGES["face_turned"]}}

    search = api.identify(gallery, lfw_image("Ahmad_Masood", 2))
    assert search.status_code == 200, search.text
    assert advice(search.json())["reason"] == "face_turned"

    frontal = api.verify(subject, lfw_image("Ahmad_Masood", 1))
    assert frontal.status_code == 200 and frontal.json()["quality"] is None


def test_an_exact_disclosure_gallery_shows_the_advice_with_its_figures(api, lfw_image):
    gallery = api.gallery(score_disclosure="exact")
    subject = api.subject(gallery)
    assert api.enrol(subject, lfw_image("Ahmad_Masood", 1)).status_code == 201
    body = api.verify(subject, lfw_image("Ahmad_Masood", 2)).json()
    assert body["quality"]["yaw"] < -25 and advice(body)["maximum"] == 25.0


def test_the_people_whose_only_reference_is_advised_to_be_retaken_are_counted(api, lfw_image, instance):
    from tessera.workflows.coverage import algorithm_coverage

    gallery = api.gallery()
    only_turned, retaken, frontal = (api.subject(gallery) for _ in range(3))
    assert api.enrol(only_turned, lfw_image("Ahmad_Masood", 2)).status_code == 201
    assert api.enrol(retaken, lfw_image("Abdoulaye_Wade", 3)).status_code == 201  # turned too
    assert api.enrol(retaken, lfw_image("Abdoulaye_Wade", 1)).status_code == 201  # the better photo
    assert api.enrol(frontal, lfw_image("Al_Pacino", 1)).status_code == 201
    coverage = algorithm_coverage(instance)
    assert coverage.subjects_with_a_face == 3 and coverage.default_retake_advised == 1
