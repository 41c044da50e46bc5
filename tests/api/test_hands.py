"""A slap through the service: one photo of four fingers enrols four templates and verifies with a decision.

No real four-finger photo is among the evaluation data: the photos are composed
(:mod:`tessera.evaluation.slap_photo`) from real contactless_ds1 fingertips (fingers 2-5, a right hand's index to
little) tinted to skin on a drawn hand, with their landmarks known by construction. Person 1's impression 1 is
enrolled; impression 2 of the same fingers is the mate, person 3's impression 1 the non-mate. These fingertips
are among those the shipped contactless calibration was fitted on: the test checks the slap path on real
ridges, not accuracy on unseen people.
"""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from tessera.api.app import create_app
from tessera.evaluation.slap_photo import compose_slap
from tessera.settings import Settings
from tessera.store.models import AuditEntry, Template
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.api.test_fingers import ROLES, FingerApi
from tests.conftest import SHARED_DATA, _require

DS1 = SHARED_DATA / "finger" / "contactless_ds1" / "data" / "DS1_sample"
SLAP_FINGERS = (2, 3, 4, 5)


def fingertips(person: int, impression: int) -> list[np.ndarray]:
    paths = [DS1 / str(person) / f"SIRE-{person}_{finger}_{impression}.bmp" for finger in SLAP_FINGERS]
    return [np.array(Image.open(_require(path, "contactless_ds1")).convert("L")) for path in paths]


def slap(person: int, impression: int, **options) -> tuple[bytes, list[dict[str, float]]]:
    photo, landmarks = compose_slap(fingertips(person, impression), **options)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue(), landmarks


class HandApi(FingerApi):
    def enrol_hand(self, subject_id, photo, landmarks, hand="right"):
        return self.client.post(
            f"/v1/subjects/{subject_id}/hands",
            files={"image": ("hand.jpg", photo, "image/jpeg")},
            data={"landmarks": landmarks if isinstance(landmarks, str) else json.dumps(landmarks), "hand": hand},
            headers=self.headers["enroller"],
        )

    def verify_hand(self, subject_id, photo, landmarks, hand="right"):
        return self.client.post(
            "/v1/verify",
            data={"subject_id": subject_id, "hand_landmarks": json.dumps(landmarks), "hand": hand},
            files={"hand_image": ("hand.jpg", photo, "image/jpeg")},
            headers=self.headers["verifier"],
        )

    def identify_hand(self, gallery_id, photo, landmarks, hand="right"):
        return self.client.post(
            "/v1/identify",
            data={
                "gallery_id": gallery_id,
                "purpose": "deduplicate",
                "case_reference": "CASE-H",
                "hand_landmarks": json.dumps(landmarks),
                "hand": hand,
            },
            files={"hand_image": ("hand.jpg", photo, "image/jpeg")},
            headers=self.headers["enroller"],
        )


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """An instance with the shipped calibrations; person 1's right hand enrolled from one slap photo."""
    # a loaded test machine reads four fingers slowly: the wall-clock limit is not what these tests check
    settings = Settings(data_dir=tmp_path_factory.mktemp("hands") / "var", request_timeout_seconds=1800.0)
    instance = Instance.open(settings)
    secrets = {role: create_key(instance, "test", role).secret for role in ROLES}
    api = HandApi(
        TestClient(create_app(instance), raise_server_exceptions=False),
        {role: {"Authorization": f"Bearer {secret}"} for role, secret in secrets.items()},
    )
    gallery = api.gallery("Slap gallery", score_disclosure="exact")
    person = api.subject(gallery, modalities=("finger",), signed_by="Person one")
    photo, landmarks = slap(1, 1, angle_deg=20.0)
    enrolled = api.enrol_hand(person, photo, landmarks)
    yield instance, api, gallery, person, enrolled
    instance.close()


def test_a_slap_photo_enrols_four_fingers_at_their_positions(service):
    instance, _, _, person, enrolled = service
    assert enrolled.status_code == 201, enrolled.text
    body = enrolled.json()
    assert body["hand"] == "right" and body["status"] == "active"
    assert [(f["finger"], f["finger_position"], f["status"]) for f in body["fingers"]] == [
        ("index", 2, "enrolled"),
        ("middle", 3, "enrolled"),
        ("ring", 4, "enrolled"),
        ("little", 5, "enrolled"),
    ]
    assert all(f["quality"]["minutiae_count"] >= 12 for f in body["fingers"])
    with instance.sessions() as session:
        stored = session.scalars(select(Template).where(Template.subject_id == person)).all()
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "finger.enrol")).all()[-1]
    assert sorted((t.finger_position, t.capture) for t in stored) == [(p, "contactless") for p in SLAP_FINGERS]
    hand = json.loads(entry.body)["details"]["hand"]
    assert hand["hand"] == "right" and [f["finger_position"] for f in hand["fingers"]] == [2, 3, 4, 5]


def test_a_slap_verifies_with_a_decision_and_a_stated_fmr(service):
    instance, api, _, person, _ = service
    mate = api.verify_hand(person, *slap(1, 2, angle_deg=-15.0, seed=1))
    other = api.verify_hand(person, *slap(3, 1, seed=2))
    assert mate.status_code == other.status_code == 200, (mate.text, other.text)
    mate, other = mate.json(), other.json()
    assert mate["decision"] == "match" and other["decision"] == "no_match"
    for body in (mate, other):
        assert body["fmr"] <= instance.settings.verify_target_fmr
        assert body["fmr_detail"]["basis"] == "upper_bound"
        assert body["multi_finger"]["fingers"] == 4
        assert sorted(c["finger_position"] for c in body["comparisons"]) == list(SLAP_FINGERS)
        assert [f["status"] for f in body["hand"]["fingers"]] == ["cropped"] * 4


def test_refusals_name_the_hand_or_each_finger(service):
    _, api, _, person, _ = service
    photo, landmarks = slap(1, 2)
    mirrored = api.enrol_hand(person, photo, landmarks, hand="left")
    assert mirrored.status_code == 422 and mirrored.json()["error"]["code"] == "handedness_mismatch"
    outside = [{"x": p["x"] + 0.9, "y": p["y"], "z": 0.0} for p in landmarks]  # every fingertip beyond the right edge
    refused = api.enrol_hand(person, photo, outside)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "no_usable_finger"
    assert [f["reason"] for f in error["detail"]["fingers"]] == ["finger_outside_image"] * 4
    short = api.enrol_hand(person, photo, landmarks[:20])
    assert short.status_code == 422 and short.json()["error"]["code"] == "invalid_landmarks"
    assert "21 landmarks" in short.json()["error"]["message"]
    garbled = api.enrol_hand(person, photo, "[{")
    assert garbled.status_code == 422 and garbled.json()["error"]["code"] == "invalid_landmarks"
    no_hand = api.client.post(
        "/v1/verify",
        data={"subject_id": person, "hand_landmarks": json.dumps(landmarks), "hand": "right"},
        headers=api.headers["verifier"],
    )
    assert no_hand.status_code == 422 and no_hand.json()["error"]["code"] == "invalid_request"


def test_a_slap_searches_the_gallery_and_the_answer_says_what_was_cut_out(service):
    """A gallery of one person: each finger is searched at FMR 0.01 / 1, which the contactless calibration
    vouches for (its lowest is about 3e-3); a bigger gallery would be refused 409 beyond_calibration."""
    _, api, gallery, _, _ = service
    found = api.identify_hand(gallery, *slap(1, 2, seed=3))
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["gallery_size"] == 1 and body["status"] == "sent_for_review"
    assert [f["status"] for f in body["hand"]["fingers"]] == ["cropped"] * 4
    assert sorted(probe["finger_position"] for probe in body["probes"]) == list(SLAP_FINGERS)


def test_a_hand_refused_on_verify_or_identify_is_audited_like_any_refusal(api, instance):
    """A hand refused as a whole (not_a_hand) or with no usable finger (every fingertip outside the photo) on
    verify and identify is audited as an enrolment's is: ``refused:<reason>`` under the request's action, with
    the photo's SHA-256 and each finger's reason, never the photo. The photo is composed from flat grey
    fingertips (no ridges needed: nothing reaches the finger pipeline) and shrunk, so no shared data is read."""
    gallery = api.gallery()
    person = api.subject(gallery, modalities=("face", "finger"))
    photo, landmarks = compose_slap([np.full((300, 220), 128, np.uint8)] * 4)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(photo[::8, ::8])).save(buffer, format="PNG")
    outside = json.dumps([{"x": p["x"] + 0.9, "y": p["y"]} for p in landmarks])
    flat = json.dumps([[0.5, 0.5]] * 21)
    hand_photo = {"hand_image": ("hand.png", buffer.getvalue(), "image/png")}
    search = {"gallery_id": gallery, "purpose": "deduplicate", "case_reference": "CASE-R"}
    sent = {
        ("finger.verify", "no_usable_finger"): ("verifier", {"subject_id": person, "hand_landmarks": outside}),
        ("finger.verify", "not_a_hand"): ("verifier", {"subject_id": person, "hand_landmarks": flat}),
        ("finger.identify", "no_usable_finger"): ("enroller", {**search, "hand_landmarks": outside}),
    }
    for (action, reason), (role, data) in sent.items():
        path = "/v1/verify" if action == "finger.verify" else "/v1/identify"
        response = api.client.post(path, data={**data, "hand": "right"}, files=hand_photo, headers=api.headers[role])
        assert response.status_code == 422 and response.json()["error"]["code"] == reason, response.text
    with instance.sessions() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.outcome.like("refused:%"))).all()
        logged = {(e.action, e.outcome): (e.subject_id, e.gallery_id, json.loads(e.body)["details"]) for e in entries}
    sha256 = hashlib.sha256(buffer.getvalue()).hexdigest()
    assert set(logged) == {(action, f"refused:{reason}") for action, reason in sent}
    for (action, outcome), (subject_id, gallery_id, details) in logged.items():
        assert gallery_id == gallery and subject_id == (person if action == "finger.verify" else None)
        assert details["hand_photo_sha256"] == sha256 and details["purpose"] in ("verify", "deduplicate")
        assert len(json.dumps(details)) < 2_000  # reasons and measures, no image or template
        if outcome == "refused:no_usable_finger":
            assert [f["reason"] for f in details["fingers"]] == ["finger_outside_image"] * 4
        else:
            assert details["hand"] == "right" and details["measure"] == "palm_width_px"
    assert logged[("finger.identify", "refused:no_usable_finger")][2]["case_reference"] == "CASE-R"


def test_a_face_and_a_slap_are_decided_together_on_the_product_of_their_rates(service, lfw_person):
    instance, api, gallery, _, _ = service
    mine, other_face = lfw_person("Colin_Powell", 2), lfw_person("George_W_Bush", 1)[0]
    person = api.subject(gallery, modalities=("face", "finger"), signed_by="Person one, face and hand")
    assert api.enrol(person, mine[0]).status_code == 201
    assert api.enrol_hand(person, *slap(1, 1, angle_deg=20.0)).status_code == 201

    def verify(face: bytes, hand: tuple[bytes, list]) -> dict:
        photo, landmarks = hand
        response = api.client.post(
            "/v1/verify",
            data={"subject_id": person, "hand_landmarks": json.dumps(landmarks), "hand": "right"},
            files=[("image", ("face.jpg", face, "image/jpeg")), ("hand_image", ("hand.jpg", photo, "image/jpeg"))],
            headers=api.headers["verifier"],
        )
        assert response.status_code == 200, response.text
        return response.json()

    mate, impostor = verify(mine[1], slap(1, 2, seed=1)), verify(other_face, slap(3, 1, seed=2))
    assert (mate["decision"], impostor["decision"]) == ("match", "no_match")
    for body in (mate, impostor):
        assert body["fused"] is True and body["modalities_compared"] == ["face", "finger"]
        assert body["fusion"]["rule"] == "product_of_rates" and set(body["fusion"]["p_values"]) == {"face", "fingers"}
        assert body["fusion"]["fingers"]["fingers"] == 4
    assert mate["fmr"] <= instance.settings.verify_target_fmr < impostor["fmr"]
    with instance.sessions() as session:
        logged = session.scalars(select(AuditEntry).where(AuditEntry.action == "multimodal.verify")).all()[-2:]
    assert [entry.outcome for entry in logged] == ["match", "no_match"]
    assert json.loads(logged[0].body)["details"]["rule"] == "product_of_rates"


def test_a_search_with_a_face_and_a_slap_ranks_people_on_the_product_of_their_rates(service, lfw_person):
    """A face and four contactless fingers search together: the face of a person whose slap is enrolled under
    another's name is no candidate by its face, yet the slap brings that record; a face and a slap of people who
    are not enrolled bring none."""
    from tests.service_fixtures import leads

    instance, api, _, _, _ = service
    gallery = api.gallery("Face and slap search", score_disclosure="exact")
    powell, bush = lfw_person("Colin_Powell", 2), lfw_person("George_W_Bush", 1)[0]
    stranger = lfw_person("Tony_Blair", 1)[0]
    people = {}
    for name, face, person in (("powell", powell[0], 1), ("bush", bush, 3)):
        people[name] = api.subject(gallery, modalities=("face", "finger"), signed_by=name)
        assert api.enrol(people[name], face).status_code == 201
        assert api.enrol_hand(people[name], *slap(person, 1, angle_deg=20.0)).status_code == 201

    def search(face: bytes, hand: tuple[bytes, list]) -> dict:
        photo, landmarks = hand
        response = api.client.post(
            "/v1/identify",
            data={
                "gallery_id": gallery,
                "purpose": "deduplicate",
                "case_reference": "CASE-FH",
                "hand_landmarks": json.dumps(landmarks),
                "hand": "right",
            },
            files=[("image", ("face.jpg", face, "image/jpeg")), ("hand_image", ("hand.jpg", photo, "image/jpeg"))],
            headers=api.headers["enroller"],
        )
        assert response.status_code == 200, response.text
        return response.json()

    nobody_fingers = [
        np.array(Image.open(_require(DS1 / "4" / f"SIRE-4_{finger}_1.bmp", "contactless_ds1")).convert("L"))
        for finger in (7, 8, 9, 10)
    ]
    photo, landmarks = compose_slap(nobody_fingers, seed=5)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, format="JPEG", quality=92)
    found = {
        "powell": search(powell[1], slap(1, 2, seed=1)),
        "bush's fingers": search(stranger, slap(3, 2, seed=2)),
        "nobody": search(stranger, (buffer.getvalue(), landmarks)),
    }
    for body in found.values():
        assert body["fused"] is True and body["fusion"]["rule"] == "product_of_rates"
        assert body["gallery_size"] == 2 and body["fusion"]["target_fmr"] == pytest.approx(0.01 / 2)
    listed = {name: leads(instance, body["search_id"]) for name, body in found.items()}
    assert [c["subject_id"] for c in listed["powell"]] == [people["powell"]]
    assert [c["subject_id"] for c in listed["bush's fingers"]] == [people["bush"]]
    assert listed["nobody"] == []
    for candidate in listed["powell"] + listed["bush's fingers"]:
        assert candidate["modality"] == "fused" and set(candidate["p_values"]) == {"face", "fingers"}
        assert candidate["fmr"] <= 0.01 / 2
    assert listed["bush's fingers"][0]["p_values"]["face"] > 0.01  # the face alone would not have listed them
