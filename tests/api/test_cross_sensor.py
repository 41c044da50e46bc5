"""A contactless photo against a contact reference: decided by the pair kind's own calibration, or not at all.

The shipped calibration of the pair kind vouches for nothing below FMR 1.2e-3 (9,144 impostor pairs, rule of three,
allowance x3.66): at the default target 1e-3 the answer is ``beyond_calibration``; an instance set to 3e-3 decides.

Real images: phone_iiitd (subject 1's iPhone photos of one finger and that finger's contact print 1_1_1.jpg; subject
9's photos of another person's finger). Subject 1 is enrolled with the contact print only; a photo of theirs is a
mate, a photo of subject 9 a non-mate. These images are among those the shipped calibration of the pair kind was
fitted on: the test checks the decision path on real scores, not accuracy on unseen people (docs/fingerprints.md
says what the data cannot show).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.match.cross_sensor import PAIR_KIND
from tessera.settings import Settings
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.api.test_fingers import ROLES, FingerApi
from tests.conftest import SHARED_DATA, _require

PHONE = SHARED_DATA / "finger" / "phone_iiitd" / "data" / "raw" / "samples"
POSITION = 2
MATE = "1_o_1_w_1"
"""Subject 1's photo that scores highest against their contact print (0.21; the other five 0.02-0.12)."""
NON_MATE = "9_o_1_n_1"


def phone(name: str) -> bytes:
    return _require(PHONE / f"{name}.jpg", f"phone_iiitd {name}.jpg").read_bytes()


def open_service(folder, **settings):
    """An instance with the shipped calibrations, subject 1 enrolled with their contact print only."""
    instance = Instance.open(Settings(data_dir=folder / "var", **settings))
    secrets = {role: create_key(instance, "test", role).secret for role in ROLES}
    api = FingerApi(
        TestClient(create_app(instance), raise_server_exceptions=False),
        {role: {"Authorization": f"Bearer {secret}"} for role, secret in secrets.items()},
    )
    gallery = api.gallery("Cross-sensor gallery", score_disclosure="exact")  # these tests check the scores
    person = api.subject(gallery, modalities=("finger",), signed_by="Person one")
    response = api.client.post(
        f"/v1/subjects/{person}/fingers",
        files={"image": ("print.jpg", phone("1_1_1"), "image/jpeg")},
        data={"finger_position": str(POSITION), "capture": "contact"},
        headers=api.headers["enroller"],
    )
    assert response.status_code == 201, response.text
    return instance, api, person


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    instance, api, person = open_service(tmp_path_factory.mktemp("cross-sensor"))
    yield instance, api, person
    instance.close()


@pytest.fixture(scope="module")
def service_at_3e3(tmp_path_factory):
    instance, api, person = open_service(tmp_path_factory.mktemp("cross-sensor-3e-3"), verify_target_fmr=3e-3)
    yield instance, api, person
    instance.close()


def verify_photo(api: FingerApi, person: str, name: str) -> dict:
    response = api.client.post(
        "/v1/verify",
        data={"subject_id": person, "finger_position": str(POSITION), "capture": "contactless"},
        files=[("finger_image", (f"{name}.jpg", phone(name), "image/jpeg"))],
        headers=api.headers["verifier"],
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_photo_is_decided_against_a_contact_print_by_the_pair_kinds_calibration(service_at_3e3):
    instance, api, person = service_at_3e3
    calibration = instance.matchers.finger("contactless").cross_calibration
    if calibration is None:
        pytest.fail(
            "the contactless-contact calibration is not shipped: tessera calibrate --modality contactless-contact"
        )
    mate, other = verify_photo(api, person, MATE), verify_photo(api, person, NON_MATE)
    assert mate["decision"] == "match" and other["decision"] == "no_match"
    for body in (mate, other):
        (comparison,) = body["comparisons"]
        assert comparison["pair_kind"] == PAIR_KIND and comparison["capture"] == "contactless"
        assert comparison["threshold"] == pytest.approx(calibration.threshold_for_fmr(3e-3))
        assert comparison["fmr"] <= 3e-3 and comparison["fmr_detail"]["upper_bound"]
        assert comparison["fmr"] == pytest.approx(calibration.fmr_at(comparison["threshold"]).value)
    assert mate["comparisons"][0]["score"] > mate["comparisons"][0]["threshold"] > other["comparisons"][0]["score"]


def test_at_the_default_target_the_pair_kind_is_beyond_its_calibration(service):
    instance, api, person = service
    calibration = instance.matchers.finger("contactless").cross_calibration
    assert calibration is not None and calibration.min_fmr > instance.settings.verify_target_fmr
    body = verify_photo(api, person, MATE)
    (comparison,) = body["comparisons"]
    assert body["decision"] == comparison["decision"] == "inconclusive"
    assert comparison["reason"] == "beyond_calibration" and comparison["pair_kind"] == PAIR_KIND
    assert comparison["score"] is not None and comparison["threshold"] is None
    assert "contact scanner" in comparison["message"] and "contactless reference" in comparison["message"]


def test_without_the_pair_kinds_calibration_the_answer_says_what_to_do(service):
    instance, api, person = service
    matcher = instance.matchers.finger("contactless")
    shipped, matcher.cross_calibration = matcher.cross_calibration, None
    try:
        body = verify_photo(api, person, MATE)
    finally:
        matcher.cross_calibration = shipped
    (comparison,) = body["comparisons"]
    assert body["decision"] == comparison["decision"] == "inconclusive"
    assert comparison["reason"] == "cross_sensor_not_calibrated" and comparison["pair_kind"] == PAIR_KIND
    assert comparison["threshold"] is None and comparison["fmr"] is None and comparison["calibrated"] is False
    assert "contact scanner" in comparison["message"] and "contactless reference" in comparison["message"]
