"""Every malicious image, sent to every upload route, is refused with a reason code: never a 5xx (issue 14).

The set (``tests/security/malicious_images.py``) holds decompression bombs,
huge dimensions in tiny files, many-scan progressive JPEGs, truncated and
corrupt files, polyglots, EXIF orientation tricks, 16-bit, CMYK, alpha,
palette and 1-bit images and empty files. Each goes through the real service
(real face and finger pipelines) on every way of uploading an image:

- as a face and as a finger of both capture kinds, on the six original upload
  routes: enrol a face, enrol a finger, verify with a face or finger images,
  identify with a face or finger images;
- as the photo of a hand (a four-finger slap, with the 21 landmarks of a hand
  held flat and ``right``), on enrol, verify and identify by hand;
- as a liveness burst frame: the first of five (the others real ORL frames of
  one person when the evaluation data is there, else plain ones), and all ten
  of a burst of ten (the most a burst may carry: ten of the costliest accepted
  images cost about 8 s of CPU to decode);
- as a consent evidence image (a signature), base64 in the JSON that creates a
  subject.

A burst answers a frame that shows no usable face with 200 ``liveness: failed``
and its reason (never ``passed``), and a consent evidence image that is a
readable, non-blank PNG or JPEG (several of the set are: CMYK, 16-bit, alpha)
is kept (201): both are checked as such.

Verification reads a probe only when the subject has references of its kind:
with the evaluation data present, the subject is first enrolled with a real
face (LFW), contact print (FVC2004) and contactless photo (IIITD, as the right
index: a hand's index finger is compared with it), so that every image
reaches the pipelines on every route; without it, verification still decodes
each image (it decodes before it looks for references).

What each request costs in CPU and memory on each route: ``python -m tests.security.measure_route_cost``; each
image as a face and as a finger: ``python -m tests.security.measure_image_cost --all``.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tessera.api.app import create_app
from tessera.settings import Settings
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.conftest import SHARED_DATA
from tests.security.malicious_images import MALICIOUS_IMAGES, malicious_image
from tests.service_fixtures import Api, consent, png

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Route:
    """One way to send an image: the path, the form fields beside it and the key's role.

    ``kind`` is ``upload`` (the image in the multipart field ``field``), ``burst`` (the image as liveness burst
    frames: ``field`` says ``first`` of five or ``all`` of ten; ``form`` names the gallery of the challenge) or
    ``evidence`` (the image as a consent signature, base64 in the JSON at ``path``; ``form`` names the gallery).
    """

    name: str
    path: str
    field: str
    form: dict[str, str]
    role: str
    kind: str = "upload"


HAND_LANDMARKS = json.dumps(
    [[0.5, 0.95], [0.74, 0.79], [0.78, 0.73], [0.82, 0.67], [0.86, 0.61]]
    + [[x, y] for x in (0.62, 0.54, 0.46, 0.38) for y in (0.55, 0.42, 0.33, 0.26)]
)
"""A right hand held flat, palm side, fingers up and apart, normalised to the photo (MediaPipe order): the slap step
accepts it on any square photo and cuts four fingertips out of it, so that each image reaches the finger pipeline."""


def routes(subject: str, gallery: str) -> list[Route]:
    finger = {"finger_position": "2"}
    search = {"gallery_id": gallery, "purpose": "deduplicate", "case_reference": "CASE-1"}
    hand = {"hand": "right"}
    hand_fields = {**hand, "hand_landmarks": HAND_LANDMARKS}
    return [
        Route("enrol face", f"/v1/subjects/{subject}/faces", "image", {}, "enroller"),
        Route(
            "enrol contact finger",
            f"/v1/subjects/{subject}/fingers",
            "image",
            {**finger, "capture": "contact"},
            "enroller",
        ),
        Route(
            "enrol contactless finger",
            f"/v1/subjects/{subject}/fingers",
            "image",
            {**finger, "capture": "contactless"},
            "enroller",
        ),
        Route("verify face", "/v1/verify", "image", {"subject_id": subject}, "verifier"),
        Route(
            "verify contact finger",
            "/v1/verify",
            "finger_image",
            {"subject_id": subject, **finger, "capture": "contact"},
            "verifier",
        ),
        Route(
            "verify contactless finger",
            "/v1/verify",
            "finger_image",
            {"subject_id": subject, **finger, "capture": "contactless"},
            "verifier",
        ),
        Route("identify face", "/v1/identify", "image", search, "enroller"),
        Route(
            "identify contact finger",
            "/v1/identify",
            "finger_image",
            {**search, **finger, "capture": "contact"},
            "enroller",
        ),
        Route(
            "identify contactless finger",
            "/v1/identify",
            "finger_image",
            {**search, **finger, "capture": "contactless"},
            "enroller",
        ),
        Route(
            "enrol hand",
            f"/v1/subjects/{subject}/hands",
            "image",
            {**hand, "landmarks": HAND_LANDMARKS},
            "enroller",
        ),
        Route("verify hand", "/v1/verify", "hand_image", {"subject_id": subject, **hand_fields}, "verifier"),
        Route("identify hand", "/v1/identify", "hand_image", {**search, **hand_fields}, "enroller"),
        Route(
            "burst, first of 5 frames", "/v1/liveness/challenges", "first", {"gallery_id": gallery}, "verifier", "burst"
        ),
        Route(
            "burst, all of 10 frames", "/v1/liveness/challenges", "all", {"gallery_id": gallery}, "verifier", "burst"
        ),
        Route("consent evidence", "/v1/subjects", "signature", {"gallery_id": gallery}, "enroller", "evidence"),
    ]


def png_bytes(image) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def enrol_references(api: Api, subject: str) -> list[str]:
    """Enrol a real face, contact print and contactless photo when the evaluation data is there; say which."""
    references = {
        "face": ("/faces", SHARED_DATA / "face/lfw/images/Abel_Pacheco/Abel_Pacheco_0001.jpg", {}),
        "contact finger": ("/fingers", SHARED_DATA / "finger/fvc2004/DB1_B/101_1.png", {"capture": "contact"}),
        "contactless finger": (
            "/fingers",
            SHARED_DATA / "finger/phone_iiitd/data/raw/samples/1_i_1_n_1.jpg",
            {"capture": "contactless"},
        ),
    }
    enrolled = []
    for name, (path, file, form) in references.items():
        if not file.exists():
            continue
        response = api.client.post(
            f"/v1/subjects/{subject}{path}",
            data={"finger_position": "2", **form} if form else {},
            files={"image": (file.name, file.read_bytes(), "application/octet-stream")},
            headers=api.headers["enroller"],
        )
        if response.status_code == 201:
            enrolled.append(name)
    return enrolled


def prepare(api: Api, gallery: str) -> None:
    """Let the gallery take signatures as consent evidence (its subjects' typed names still count)."""
    accepted = {"accepted": ["signature", "thumbprint_mark", "typed_name"]}
    response = api.client.put(f"/v1/galleries/{gallery}/consent-evidence", json=accepted, headers=api.headers["admin"])
    assert response.status_code == 200, response.text


def burst_frames() -> list[bytes]:
    """Four frames to follow a malicious first one: ORL photos of one person when the data is there."""
    orl = SHARED_DATA / "face" / "orl" / "s1"
    if orl.exists():
        return [(orl / f"{number}.png").read_bytes() for number in range(2, 6)]
    return [png(np.full((112, 92, 3), 100 + 20 * number, np.uint8)) for number in range(4)]


def send(api: Api, route: Route, name: str, data: bytes):
    """Send image ``data`` (named ``name``) the way ``route`` takes an image; the response."""
    headers = api.headers[route.role]
    if route.kind == "burst":
        issued = api.client.post(route.path, json={**route.form, "purpose": "verify"}, headers=headers)
        assert issued.status_code == 201, issued.text
        challenge = issued.json()
        frames = [data] + burst_frames() if route.field == "first" else [data] * challenge["max_frames"]
        return api.client.post(
            f"{route.path}/{challenge['challenge_id']}/burst",
            data={"nonce": challenge["nonce"]},
            files=[
                ("frame", (f"{name}-{number}.bin", frame, "application/octet-stream"))
                for number, frame in enumerate(frames)
            ],
            headers=headers,
        )
    if route.kind == "evidence":
        signed = consent() | {"evidence": {"kind": route.field, "image": base64.b64encode(data).decode()}}
        return api.client.post(route.path, json={**route.form, "consent": signed}, headers=headers)
    return api.client.post(
        route.path,
        data=route.form,
        files={route.field: (f"{name}.bin", data, "application/octet-stream")},
        headers=headers,
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[tuple[Api, list[Route]]]:
    """One service for the whole set, its subject's references enrolled once (a few seconds of real reading).

    Every image is verified against that one subject: the verification limits are raised so that the service does
    not refuse the 31st with 429. The ten-frame burst is left out: it decodes each frame as the first of five does
    (``measure_route_cost`` sends it, for its cost).
    """
    limits = {"verify_limit_per_subject": 1_000_000, "verify_limit_per_key": 1_000_000}
    instance = Instance.open(Settings(data_dir=tmp_path_factory.mktemp("malicious") / "var", **limits))
    roles = ("admin", "enroller", "verifier")
    headers = {role: {"Authorization": f"Bearer {create_key(instance, 'test', role).secret}"} for role in roles}
    api = Api(TestClient(create_app(instance), raise_server_exceptions=False), headers)
    gallery = api.gallery()
    prepare(api, gallery)
    subject = api.subject(gallery, modalities=("face", "finger"))
    enrol_references(api, subject)
    yield api, [route for route in routes(subject, gallery) if route.field != "all"]
    instance.close()


@pytest.mark.parametrize("name", list(MALICIOUS_IMAGES))
def test_a_malicious_image_is_answered_4xx_with_a_reason_code_on_every_upload_route(service, name):
    api, targets = service
    data = malicious_image(name)
    answers = {route.name: send(api, route, name, data) for route in targets}
    for route_name, response in answers.items():
        assert_refused_with_a_reason(response, f"{name} on {route_name}")


def assert_refused_with_a_reason(response, what: str) -> None:
    """A 4xx in the one error shape with a reason code, or an answer that refuses the image in its own words.

    A verification answers an unusable probe with ``decision: inconclusive`` and the refusal's reason
    (``no_face``, ``not_a_finger``, ...) rather than an error, so that a fused request still reports the
    other modalities; it must never be a match. A burst is answered 200 ``liveness: failed`` with its reason
    (never ``passed``). A consent evidence image that decodes and shows a mark is kept (201).
    """
    answer = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code == 200 and "decision" in answer:
        assert answer["decision"] == "inconclusive", f"{what}: {response.text}"
        assert isinstance(answer["reason"], str) and answer["reason"], f"{what}: {response.text}"
        return
    if response.status_code == 200 and "liveness" in answer:
        assert answer["liveness"] == "failed", f"{what}: {response.text}"
        assert isinstance(answer["reason"], str) and answer["reason"], f"{what}: {response.text}"
        return
    if response.status_code == 201 and "consent evidence" in what:
        assert set(answer) >= {"id", "number"}, f"{what}: {response.text}"
        return
    assert 400 <= response.status_code < 500, f"{what}: {response.status_code} {response.text}"
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"], f"{what}: {response.text}"
    assert isinstance(error["message"], str) and error["message"], f"{what}: {response.text}"


def test_the_references_are_enrolled_when_the_data_is_there(api: Api):
    """Guards the test above against reaching no pipeline on verify because no reference could be enrolled."""
    if not (SHARED_DATA / "face" / "lfw").exists():
        pytest.skip("no evaluation data: verification only decodes the images")
    subject = api.subject(api.gallery(), modalities=("face", "finger"))
    assert enrol_references(api, subject) == ["face", "contact finger", "contactless finger"]
