"""The liveness API: every refusal, a passed burst's token on enrol and verify, and the gallery policy.

The face reader of burst frames and photos is replaced by synthetic landmarks of a 3D head (tests/liveness/heads.py)
and fixed embeddings, so that these tests run without face networks; the checks themselves are the real ones.
The same routes on real ORL photos and synthetic replays: tests/liveness/test_orl_bursts.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from tessera.face.algorithms import FACE_ALGORITHMS
from tessera.liveness.burst import FrameReading
from tessera.liveness.frames import StillFace
from tessera.primitives import Box
from tessera.settings import Settings
from tessera.store.models import AuditEntry, LivenessToken
from tessera.workflows import liveness as workflow
from tests.fakes import face_image, register_fakes
from tests.liveness.heads import live_landmarks, picture_landmarks
from tests.service_fixtures import Api, png

FACE = np.ones(128, dtype=np.float32) / np.sqrt(128)
OTHER_FACE = (np.tile([1.0, -1.0], 64) / np.sqrt(128)).astype(np.float32)


@pytest.fixture
def settings(tmp_path):
    """Fake face algorithms: enrolment and verification run without face networks. They are unregistered after
    the test if it registered them, so that tests listing the registered algorithms do not see them."""
    before = set(FACE_ALGORITHMS)
    register_fakes(tmp_path / "calibrations")
    yield Settings(data_dir=tmp_path / "var", face_algorithms=("fake-a/1",))
    for added in set(FACE_ALGORITHMS) - before:
        del FACE_ALGORITHMS[added]


@pytest.fixture
def liveness_api(client, headers, monkeypatch):
    """The API with burst frames read as a queue of synthetic landmarks, and photos read as ``FACE``."""
    queue: list = []
    still = {"embedding": FACE}
    monkeypatch.setattr(workflow, "read_frame", lambda image: queue.pop(0))
    monkeypatch.setattr(workflow, "read_still", lambda image: StillFace(Box(10, 10, 80, 80), still["embedding"], None))
    api = Api(client, headers)
    api.queue, api.still = queue, still  # type: ignore[attr-defined]
    return api


def unsupervised_gallery(api: Api) -> str:
    gallery = api.gallery()
    response = api.client.post(
        "/v1/galleries",
        json={"name": "Remote cash transfers", "purpose": "Cash", "liveness": "unsupervised"},
        headers=api.headers["admin"],
    )
    assert response.status_code == 201, response.text
    assert gallery  # the consent text is registered by api.gallery()
    return response.json()["id"]


def challenge(api: Api, gallery: str, purpose: str = "verify", role: str = "verifier") -> dict:
    response = api.client.post(
        "/v1/liveness/challenges", json={"gallery_id": gallery, "purpose": purpose}, headers=api.headers[role]
    )
    assert response.status_code == 201, response.text
    return response.json()


def burst(api: Api, issued: dict, frames: int | None = None, nonce: str | None = None, role: str = "verifier"):
    count = frames if frames is not None else 2 * len(issued["steps"]) + 1
    files = [("frame", (f"{n}.png", png(face_image(1, photo=n)), "image/png")) for n in range(count)]
    return api.client.post(
        f"/v1/liveness/challenges/{issued['challenge_id']}/burst",
        data={"nonce": nonce or issued["nonce"]},
        files=files,
        headers=api.headers[role],
    )


def live(api: Api, issued: dict, embedding=FACE) -> None:
    api.queue[:] = [FrameReading.embedded(points, embedding) for points in live_landmarks(issued["steps"])]


def outcomes(api: Api, action: str) -> list[str]:
    instance = api.client.app.state.instance
    with instance.sessions() as session:
        return list(session.scalars(select(AuditEntry.outcome).where(AuditEntry.action == action)))


def test_a_challenge_is_random_short_lived_and_audited(liveness_api):
    gallery = liveness_api.gallery()
    issued = challenge(liveness_api, gallery)
    assert 2 <= len(issued["steps"]) <= 3 and set(issued["instructions"]) == set(issued["steps"])
    expires = datetime.fromisoformat(issued["expires_at"].replace("Z", "+00:00"))
    assert timedelta(0) < expires - datetime.now(UTC) <= timedelta(seconds=60)
    assert (issued["min_frames"], issued["max_frames"]) == (5, 10)
    assert outcomes(liveness_api, "liveness.challenge") == ["ok"]
    second = challenge(liveness_api, gallery)
    assert second["nonce"] != issued["nonce"] and second["challenge_id"] != issued["challenge_id"]


def test_a_key_that_may_not_enrol_gets_no_enrolment_challenge(liveness_api):
    gallery = liveness_api.gallery()
    response = liveness_api.client.post(
        "/v1/liveness/challenges",
        json={"gallery_id": gallery, "purpose": "enrol"},
        headers=liveness_api.headers["verifier"],
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    unknown = liveness_api.client.post(
        "/v1/liveness/challenges",
        json={"gallery_id": "no-such-gallery", "purpose": "verify"},
        headers=liveness_api.headers["verifier"],
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "gallery_not_found"


def test_a_passed_burst_gives_a_token_and_a_challenge_is_answered_once(liveness_api):
    issued = challenge(liveness_api, liveness_api.gallery())
    live(liveness_api, issued)
    answer = burst(liveness_api, issued)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["liveness"] == "passed" and body["reason"] is None
    assert body["checks"] == dict.fromkeys(
        ("fresh", "bound", "quality", "same_face", "motion_as_asked", "parallax"), True
    )
    assert body["liveness_token"].startswith("tlt_")
    again = burst(liveness_api, issued)
    assert again.status_code == 409 and again.json()["error"]["code"] == "challenge_used"
    assert outcomes(liveness_api, "liveness.burst") == ["ok", "refused:challenge_used"]


def test_a_flat_picture_fails_and_gets_no_token(liveness_api):
    from tessera.evaluation.pad_replay import PlaneMotion

    issued = challenge(liveness_api, liveness_api.gallery())
    motions = [PlaneMotion()] + [
        PlaneMotion(yaw=35 * (-1) ** n, pitch=25, closer=1.2) for n in range(2 * len(issued["steps"]))
    ]
    liveness_api.queue[:] = [FrameReading.embedded(points, FACE) for points in picture_landmarks(motions)]
    body = burst(liveness_api, issued).json()
    assert body["liveness"] == "failed" and body["reason"] in ("no_motion", "flat_image")
    assert body["liveness_token"] is None and body["message"]
    assert outcomes(liveness_api, "liveness.burst") == [f"failed:{body['reason']}"]


def test_refusals_before_the_checks(liveness_api):
    gallery = liveness_api.gallery()
    issued = challenge(liveness_api, gallery)
    other_key = burst(liveness_api, issued, role="enroller")
    assert other_key.status_code == 403 and other_key.json()["error"]["code"] == "challenge_not_yours"
    too_few = burst(liveness_api, issued, frames=4)
    assert too_few.status_code == 422 and too_few.json()["error"]["code"] == "too_few_frames"
    too_many = burst(liveness_api, issued, frames=11)
    assert too_many.status_code == 422 and too_many.json()["error"]["code"] == "too_many_images"
    wrong_nonce = burst(liveness_api, issued, nonce="not-the-nonce")
    assert wrong_nonce.status_code == 422 and wrong_nonce.json()["error"]["code"] == "challenge_mismatch"
    consumed = burst(liveness_api, issued)  # a wrong nonce consumed it
    assert consumed.json()["error"]["code"] == "challenge_used"
    missing = burst(liveness_api, {**issued, "challenge_id": "no-such-challenge"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "challenge_not_found"


def test_an_expired_challenge_is_refused(liveness_api):
    instance = liveness_api.client.app.state.instance
    issued = challenge(liveness_api, liveness_api.gallery())
    instance.clock = lambda: datetime.now(UTC) + timedelta(seconds=61)
    answer = burst(liveness_api, issued)
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "challenge_expired"
    assert "new one" in answer.json()["error"]["message"]


def test_an_unsupervised_gallery_needs_a_token_of_the_same_face_once(liveness_api):
    api = liveness_api
    gallery = unsupervised_gallery(api)
    subject = api.subject(gallery)
    photo = png(face_image(7))
    refused = api.enrol(subject, photo)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "liveness_required"

    issued = challenge(api, gallery, purpose="enrol", role="enroller")
    live(api, issued)
    token = burst(api, issued, role="enroller").json()["liveness_token"]
    enrolled = api.client.post(
        f"/v1/subjects/{subject}/faces",
        files={"image": ("f.png", photo, "image/png")},
        data={"liveness_token": token},
        headers=api.headers["enroller"],
    )
    assert enrolled.status_code == 201, enrolled.text
    liveness = enrolled.json()["liveness"]
    assert liveness["policy"] == "unsupervised" and liveness["challenge"] == "passed"
    assert liveness["similarity"] == pytest.approx(1.0) and liveness["passive"]["measured"] is True

    reused = api.client.post(
        "/v1/verify",
        data={"subject_id": subject, "liveness_token": token},
        files={"image": ("p.png", photo, "image/png")},
        headers=api.headers["enroller"],
    )
    assert reused.status_code == 422 and reused.json()["error"]["code"] == "liveness_token_invalid"
    no_token = api.verify(subject, photo)
    assert no_token.status_code == 422 and no_token.json()["error"]["code"] == "liveness_required"
    assert "challenge" in no_token.json()["error"]["message"]


def test_a_token_is_bound_to_its_face_purpose_and_key(liveness_api):
    api = liveness_api
    gallery = unsupervised_gallery(api)
    subject = api.subject(gallery)

    def verify_with(token: str, role: str = "verifier"):
        return api.client.post(
            "/v1/verify",
            data={"subject_id": subject, "liveness_token": token},
            files={"image": ("p.png", png(face_image(7)), "image/png")},
            headers=api.headers[role],
        )

    def passed_token(purpose: str = "verify", role: str = "verifier") -> str:
        issued = challenge(api, gallery, purpose=purpose, role=role)
        live(api, issued)
        return burst(api, issued, role=role).json()["liveness_token"]

    api.still["embedding"] = OTHER_FACE  # the photo shows someone else than the burst
    mismatch = verify_with(passed_token())
    assert mismatch.status_code == 422 and mismatch.json()["error"]["code"] == "liveness_face_mismatch"
    api.still["embedding"] = FACE
    other_purpose = verify_with(passed_token(purpose="identify", role="enroller"), role="enroller")
    assert other_purpose.json()["error"]["code"] == "liveness_token_invalid"
    other_key = verify_with(passed_token(), role="enroller")
    assert other_key.json()["error"]["code"] == "liveness_token_invalid"
    assert verify_with("tlt_made-up").json()["error"]["code"] == "liveness_token_invalid"
    assert outcomes(api, "liveness.token").count("refused:liveness_token_invalid") == 3


def test_a_supervised_gallery_reports_the_passive_score_and_keeps_no_token(liveness_api):
    api = liveness_api
    gallery = api.gallery()
    subject = api.subject(gallery)
    enrolled = api.enrol(subject, png(face_image(3)))
    assert enrolled.status_code == 201, enrolled.text
    liveness = enrolled.json()["liveness"]
    assert liveness["policy"] == "supervised" and liveness["challenge"] == "not_done"
    passive = liveness["passive"]
    assert passive["measured"] is True and isinstance(passive["score"], float)
    assert passive["calibration"] == "pad-passive-v1" and passive["attack_suspected"] in (True, False)
    assert outcomes(api, "liveness.passive") == ["ok"]
    with api.client.app.state.instance.sessions() as session:
        assert session.scalar(select(LivenessToken.token_sha256)) is None


def test_the_policy_rule_is_what_refuses(liveness_api, monkeypatch):
    """Mutation: with the unsupervised rule switched off, the same enrolment without a token goes through, so the
    refusal above comes from the rule and not from anything else in the request."""
    gallery = unsupervised_gallery(liveness_api)
    subject = liveness_api.subject(gallery)
    assert liveness_api.enrol(subject, png(face_image(9))).json()["error"]["code"] == "liveness_required"
    monkeypatch.setattr(workflow, "REQUIRED_FOR", ())
    assert liveness_api.enrol(subject, png(face_image(9))).status_code == 201


@pytest.fixture
def decodes(monkeypatch) -> list[int]:
    """Every call of the one image decoder, wherever it was imported: the size in bytes of each image decoded."""
    import sys

    from tessera.capture import decode as decode_module

    original = decode_module.decode_image
    calls: list[int] = []

    def counting(data, *args, **kwargs):
        calls.append(len(data))
        return original(data, *args, **kwargs)

    for module in list(sys.modules.values()):
        if getattr(module, "decode_image", None) is original and module.__name__.startswith(("tessera", "tests")):
            monkeypatch.setattr(module, "decode_image", counting)
    return calls


def test_a_face_photo_is_decoded_once_per_request(liveness_api, decodes):
    """The passive score and the enrolment, verification or search read one decoded photo."""
    api = liveness_api
    gallery = api.gallery()
    subject = api.subject(gallery)
    photo = png(face_image(4))
    enrolled = api.enrol(subject, photo)
    assert enrolled.status_code == 201 and enrolled.json()["liveness"]["passive"]["measured"] is True
    assert decodes == [len(photo)]
    decodes.clear()
    verified = api.verify(subject, png(face_image(4, photo=1)))
    assert verified.status_code == 200 and verified.json()["liveness"]["passive"] is not None
    assert len(decodes) == 1
    decodes.clear()
    issued = challenge(api, gallery, purpose="verify")
    live(api, issued)
    assert burst(api, issued).json()["liveness"] == "passed"
    assert len(decodes) == 2 * len(issued["steps"]) + 1  # each frame once


def test_fingers_alone_in_an_unsupervised_gallery_get_an_answer_a_person_can_act_on(liveness_api):
    """The challenge is face-only: a fingers-only enrolment (one finger or a hand) or verification in an
    unsupervised gallery is refused with liveness_unavailable_for_fingers (audited), before the finger is read; in a
    supervised gallery it is not."""
    api = liveness_api
    gallery = unsupervised_gallery(api)
    subject = api.subject(gallery, modalities=("face", "finger"))
    finger = {"finger_position": "2", "capture": "contact"}
    enrol = api.client.post(
        f"/v1/subjects/{subject}/fingers",
        files={"image": ("finger.png", b"never read", "image/png")},
        data=finger,
        headers=api.headers["enroller"],
    )
    hand = api.client.post(
        f"/v1/subjects/{subject}/hands",
        files={"image": ("hand.jpg", b"never read", "image/jpeg")},
        data={"landmarks": json.dumps([[0.3 + 0.02 * n, 0.8 - 0.03 * n] for n in range(21)]), "hand": "right"},
        headers=api.headers["enroller"],
    )
    verify = api.client.post(
        "/v1/verify",
        files={"finger_image": ("finger.png", b"never read", "image/png")},
        data={"subject_id": subject, **finger},
        headers=api.headers["verifier"],
    )
    for response, words in (
        (enrol, "supervised programme"),
        (hand, "supervised programme"),
        (verify, "liveness_token"),
    ):
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "liveness_unavailable_for_fingers"
        assert "fingers" in error["message"] or "finger" in error["message"]
        assert words in error["message"]
    assert outcomes(api, "liveness.token") == ["refused:liveness_unavailable_for_fingers"] * 3
    with_face = api.client.post(
        "/v1/verify",
        files=[("image", ("p.png", png(face_image(7)), "image/png")), ("finger_image", ("f.png", b"x", "image/png"))],
        data={"subject_id": subject, **finger},
        headers=api.headers["verifier"],
    )
    assert with_face.json()["error"]["code"] == "liveness_required"  # a face is there: the challenge can be done

    supervised = api.subject(api.gallery(name="Supervised point"), modalities=("face", "finger"))
    read = api.client.post(
        f"/v1/subjects/{supervised}/fingers",
        files={"image": ("finger.png", b"never read", "image/png")},
        data=finger,
        headers=api.headers["enroller"],
    )
    assert read.json()["error"]["code"] != "liveness_unavailable_for_fingers"  # the finger itself is judged


def test_a_search_with_fingers_in_an_unsupervised_gallery_needs_a_face_that_passed_the_check(liveness_api):
    """A search is held to the same rule as a verification: in a self-service programme fingers count only beside
    a face that passed the challenge. Fingers alone (single fingers or a hand) get liveness_unavailable_for_fingers,
    fingers beside a face without a token liveness_required, both audited and before any image is read; a face
    alone needs no token for a search (docs/liveness.md), and a supervised gallery searches fingers as before."""
    api = liveness_api
    gallery = searchable_unsupervised_gallery(api)
    search = {"gallery_id": gallery, "purpose": "deduplicate", "case_reference": "CASE-L"}
    finger = {"finger_position": "2", "capture": "contact"}
    unread = ("finger.png", b"never read", "image/png")
    hand = {"hand_landmarks": json.dumps([[0.3 + 0.02 * n, 0.8 - 0.03 * n] for n in range(21)]), "hand": "right"}
    face = ("face.png", png(face_image(7)), "image/png")

    def identify(data: dict, files: list):
        return api.client.post("/v1/identify", data={**search, **data}, files=files, headers=api.headers["enroller"])

    fingers_alone = identify(finger, [("finger_image", unread)])
    hand_alone = identify(hand, [("hand_image", unread)])
    for response in (fingers_alone, hand_alone):
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "liveness_unavailable_for_fingers"
        assert "purpose identify" in error["message"] and "liveness_token" in error["message"]
    beside_a_face = identify(finger, [("image", face), ("finger_image", unread)])
    assert beside_a_face.status_code == 422, beside_a_face.text
    assert beside_a_face.json()["error"]["code"] == "liveness_required"
    assert "face photo alone" in beside_a_face.json()["error"]["message"]
    assert outcomes(api, "liveness.token") == [
        "refused:liveness_unavailable_for_fingers",
        "refused:liveness_unavailable_for_fingers",
        "refused:liveness_required",
    ]
    face_alone = identify({}, [("image", face)])
    assert face_alone.status_code == 200, face_alone.text

    supervised = {**search, "gallery_id": api.gallery(name="Supervised point")}
    read = api.client.post(
        "/v1/identify", data={**supervised, **finger}, files=[("finger_image", unread)], headers=api.headers["enroller"]
    )
    assert read.json()["error"]["code"] == "not_an_image"  # the finger itself is read


def searchable_unsupervised_gallery(api: Api) -> str:
    gallery = unsupervised_gallery(api)
    enabled = api.client.post(
        f"/v1/galleries/{gallery}/identification",
        json={"dpia_reference": "DPIA-2026-011"},
        headers=api.headers["admin"],
    )
    assert enabled.status_code == 200, enabled.text
    return gallery


def test_a_search_takes_a_token_as_a_verification_does(liveness_api):
    """A search's token is held to a verification's rules: single use, bound to its purpose, key and face, each
    refusal with the same code and audited; with it, fingers beside the face pass the policy and are themselves
    judged (this unread finger is refused as an image, not for liveness)."""
    api = liveness_api
    gallery = searchable_unsupervised_gallery(api)
    search = {"gallery_id": gallery, "purpose": "deduplicate", "case_reference": "CASE-T"}
    face = ("face.png", png(face_image(7)), "image/png")

    def identify(token: str, fingers: bool = False):
        files = [("image", face)] + ([("finger_image", ("f.png", b"never read", "image/png"))] if fingers else [])
        data = {
            **search,
            "liveness_token": token,
            **({"finger_position": "2", "capture": "contact"} if fingers else {}),
        }
        return api.client.post("/v1/identify", data=data, files=files, headers=api.headers["enroller"])

    def passed_token(purpose: str = "identify") -> str:
        issued = challenge(api, gallery, purpose=purpose, role="enroller")
        live(api, issued)
        return burst(api, issued, role="enroller").json()["liveness_token"]

    token = passed_token()
    searched = identify(token)
    assert searched.status_code == 200, searched.text
    liveness = searched.json()["liveness"]
    assert liveness["policy"] == "unsupervised" and liveness["challenge"] == "passed"
    assert liveness["similarity"] == pytest.approx(1.0) and liveness["passive"]["measured"] is True
    assert identify(token).json()["error"]["code"] == "liveness_token_invalid"  # used
    assert identify(passed_token(purpose="verify")).json()["error"]["code"] == "liveness_token_invalid"
    with_fingers = identify(passed_token(), fingers=True)
    assert with_fingers.status_code == 422 and with_fingers.json()["error"]["code"] == "not_an_image", with_fingers.text
    api.still["embedding"] = OTHER_FACE
    mismatch = identify(passed_token())
    assert mismatch.status_code == 422 and mismatch.json()["error"]["code"] == "liveness_face_mismatch"
    assert "same person" in mismatch.json()["error"]["message"]
    assert outcomes(api, "liveness.token") == [
        "ok",
        "refused:liveness_token_invalid",
        "refused:liveness_token_invalid",
        "ok",
        "refused:liveness_face_mismatch",
    ]


def test_the_checks_before_the_camera_apply_the_policy_when_told_whether_a_check_comes(liveness_api):
    """The console asks before it opens a camera (GET /v1/preflight/...), saying what it will send and whether the
    liveness check comes first: the answer is then the refusal the request itself would give first, with the same
    code and words, audited; a caller that does not say is not judged on the policy."""
    api = liveness_api
    gallery = searchable_unsupervised_gallery(api)

    def identify(*modalities: str, check: str | None):
        params = [("gallery_id", gallery), ("purpose", "deduplicate"), *(("modality", m) for m in modalities)]
        params += [("liveness_check", check)] if check is not None else []
        return api.client.get("/v1/preflight/identify", params=params, headers=api.headers["enroller"])

    fingers_alone = identify("finger", check="false")
    assert fingers_alone.status_code == 422, fingers_alone.text
    assert fingers_alone.json()["error"] == {
        "code": "liveness_unavailable_for_fingers",
        "message": workflow.FINGERS_UNSUPERVISED["identify"],
    }
    assert identify("finger", check="true").json()["error"]["code"] == "liveness_needs_face"  # the check is of a face
    beside_a_face = identify("face", "finger", check="false")
    assert beside_a_face.status_code == 422 and beside_a_face.json()["error"]["code"] == "liveness_required"
    for ready in (identify("face", "finger", check="true"), identify("face", check="false"), identify(check=None)):
        assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text
    assert identify("finger", check=None).status_code == 200  # not told: the policy is the request's to apply

    subject = api.subject(gallery)
    verify = {"subject_id": subject, "modality": "face"}
    no_check = api.client.get(
        "/v1/preflight/verify", params={**verify, "liveness_check": "false"}, headers=api.headers["verifier"]
    )
    assert no_check.status_code == 422 and no_check.json()["error"]["code"] == "liveness_required"
    with_check = api.client.get(
        "/v1/preflight/verify", params={**verify, "liveness_check": "true"}, headers=api.headers["verifier"]
    )
    assert with_check.json()["error"]["code"] == "no_reference"  # then, as the request: its references
    assert outcomes(api, "preflight.identify") == [
        "refused:liveness_unavailable_for_fingers",
        "refused:liveness_needs_face",
        "refused:liveness_required",
    ]
    assert outcomes(api, "preflight.verify") == ["refused:liveness_required", "refused:no_reference"]


def test_the_check_before_an_enrolment_applies_the_policy_when_told_whether_a_check_comes(liveness_api):
    """An enrolment's check before the camera (GET /v1/preflight/enrol) takes ``liveness_check`` as a verification's
    does: in a self-service gallery a face without the check and a finger whatever comes are refused with the
    request's own code and words, audited; the face with the check is ready, and so is a caller that does not say.
    The consent is still read first, as the enrolment reads it before its liveness policy."""
    api = liveness_api
    gallery = unsupervised_gallery(api)
    subject = api.subject(gallery, modalities=("face", "finger"))

    def enrol(modality: str, check: str | None, person: str = subject):
        params = {"subject_id": person, "modality": modality, **({"liveness_check": check} if check else {})}
        return api.client.get("/v1/preflight/enrol", params=params, headers=api.headers["enroller"])

    face_alone = enrol("face", "false")
    assert face_alone.status_code == 422, face_alone.text
    assert face_alone.json()["error"] == {"code": "liveness_required", "message": workflow.LIVENESS_REQUIRED["face"]}
    assert api.enrol(subject, png(face_image(9))).json() == face_alone.json()  # what the upload would have heard
    finger = enrol("finger", "false")
    assert finger.status_code == 422, finger.text
    assert finger.json()["error"] == {
        "code": "liveness_unavailable_for_fingers",
        "message": workflow.FINGERS_UNSUPERVISED["enrol"],
    }
    assert enrol("finger", "true").json()["error"]["code"] == "liveness_needs_face"  # the check is of a face
    for ready in (enrol("face", "true"), enrol("face", None), enrol("finger", None)):
        assert ready.status_code == 200 and ready.json()["ready"] is True, ready.text
    face_only = api.subject(gallery, modalities=("face",))
    assert enrol("finger", "false", face_only).json()["error"]["code"] == "modality_not_consented"  # consent first

    supervised = api.subject(api.gallery(name="Supervised point"), modalities=("face", "finger"))
    for modality in ("face", "finger"):
        assert enrol(modality, "false", supervised).status_code == 200  # a worker sees the person: no check needed
    assert outcomes(api, "preflight.enrol") == [
        "refused:liveness_required",
        "refused:liveness_unavailable_for_fingers",
        "refused:liveness_needs_face",
        *["ok"] * 3,  # a ready answer about a person is audited too: it read their consent
        "refused:modality_not_consented",
        *["ok"] * 2,
    ]
