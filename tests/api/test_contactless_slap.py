"""Contactless fingers through the service: four fingers give match / no_match with a stated FMR, never
"not calibrated"; one or two fingers give no decision at 1e-3, because the data behind the contactless
calibration cannot vouch for it.

Real images: contactless_ds1 (a lab contactless device; people 1 and 3 both gave positions 1-5). Person 1 is
enrolled with impression 1 of positions 1-4 and verified with impression 2 of the same fingers (a mate), and
with person 3's impression 1 of the same positions (a non-mate). These images are among those the shipped
contactless calibration was fitted on: the test checks the decision path on real scores, not accuracy on
unseen people (docs/fingerprints.md says what the data cannot show).
"""

from __future__ import annotations

import io
import json

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from tessera.api.app import create_app
from tessera.settings import Settings
from tessera.store.models import AuditEntry
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.api.test_fingers import ROLES, FingerApi
from tests.conftest import SHARED_DATA, _require

DS1 = SHARED_DATA / "finger" / "contactless_ds1" / "data" / "DS1_sample"
POSITIONS = (1, 2, 3, 4)


def ds1_png(person: int, position: int, impression: int) -> bytes:
    path = _require(DS1 / str(person) / f"SIRE-{person}_{position}_{impression}.bmp", "contactless_ds1")
    buffer = io.BytesIO()
    Image.open(path).save(buffer, format="PNG")  # the service takes JPEG or PNG; BMP is for evaluation only
    return buffer.getvalue()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """An instance with the shipped calibrations, person 1 enrolled with four contactless fingers."""
    instance = Instance.open(Settings(data_dir=tmp_path_factory.mktemp("contactless") / "var"))
    if instance.matchers.finger("contactless").calibration is None:
        instance.close()
        pytest.fail("the contactless calibration is not shipped: run `tessera calibrate --modality contactless`")
    secrets = {role: create_key(instance, "test", role).secret for role in ROLES}
    api = FingerApi(
        TestClient(create_app(instance), raise_server_exceptions=False),
        {role: {"Authorization": f"Bearer {secret}"} for role, secret in secrets.items()},
    )
    gallery = api.gallery("Contactless gallery", score_disclosure="exact")  # these tests check the scores
    person = api.subject(gallery, modalities=("finger",), signed_by="Person one")
    for position in POSITIONS:
        response = api.enrol_finger(person, ds1_png(1, position, 1), position=position, capture="contactless")
        assert response.status_code == 201, response.text
    yield instance, api, person
    instance.close()


def test_four_contactless_fingers_are_decided_with_a_stated_upper_bound(service):
    instance, api, person = service
    mate = api.verify_fingers(person, [(ds1_png(1, p, 2), p, "contactless") for p in POSITIONS])
    other = api.verify_fingers(person, [(ds1_png(3, p, 1), p, "contactless") for p in POSITIONS])
    assert mate.status_code == other.status_code == 200, (mate.text, other.text)
    mate, other = mate.json(), other.json()
    assert mate["decision"] == "match" and other["decision"] == "no_match"
    for body in (mate, other):
        assert body["fmr"] <= instance.settings.verify_target_fmr
        assert body["fmr_detail"] == {"value": body["fmr"], "upper_bound": True, "basis": "upper_bound"}
        rule = body["multi_finger"]
        assert rule["fingers"] == 4 and rule["groups"] == 2 and rule["misses_allowed"] == 1
        assert body["threshold"] == rule["threshold"] and "independent groups" in rule["assumption"]
        # each finger alone: scored, but beyond what the calibration vouches for at 1e-3
        assert all(c["score"] is not None and c["reason"] == "beyond_calibration" for c in body["comparisons"])
    assert mate["multi_finger"]["fingers_at_or_above"] >= 3 and other["multi_finger"]["fingers_at_or_above"] <= 2
    with instance.sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "finger.verify")).all()
    outcomes = [(entry.outcome, json.loads(entry.body)["details"]["multi_finger"]["fmr"]) for entry in entries[-2:]]
    assert [outcome for outcome, _ in outcomes] == ["match", "no_match"]


def test_one_or_two_contactless_fingers_get_no_decision_at_the_verify_target(service):
    _, api, person = service
    one = api.verify_fingers(person, [(ds1_png(1, 1, 2), 1, "contactless")]).json()
    assert one["decision"] == "inconclusive" and one["reason"] == "beyond_calibration"  # calibrated, not enough
    assert one["comparisons"][0]["calibrated"] is False and one["comparisons"][0]["score"] > 0
    two = api.verify_fingers(person, [(ds1_png(1, p, 2), p, "contactless") for p in (1, 2)]).json()
    assert two["decision"] == "inconclusive" and two["reason"] == "beyond_calibration"
    assert two["multi_finger"]["fingers"] == 2 and two["fmr"] is None
