"""Every malicious image, sent to every upload route, is refused with a reason code: never a 5xx (issue 14).

The set (``tests/security/malicious_images.py``) holds decompression bombs,
huge dimensions in tiny files, many-scan progressive JPEGs, truncated and
corrupt files, polyglots, EXIF orientation tricks, 16-bit, CMYK, alpha,
palette and 1-bit images and empty files. Each goes through the real service
(real face and finger pipelines) as a face and as a finger of both capture
kinds, on each of the six upload routes: enrol a face, enrol a finger, verify
with a face or finger images, identify with a face or finger images.

Verification reads a probe only when the subject has references of its kind:
with the evaluation data present, the subject is first enrolled with a real
face (LFW), contact print (FVC2004) and contactless photo (IIITD), so that
every image reaches the pipelines on every route; without it, verification
still decodes each image (it decodes before it looks for references).

What each request costs in CPU and memory on each route: ``python -m tests.security.measure_route_cost``; each
image as a face and as a finger: ``python -m tests.security.measure_image_cost --all``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from PIL import Image

from tests.conftest import SHARED_DATA
from tests.security.malicious_images import MALICIOUS_IMAGES, malicious_image
from tests.service_fixtures import Api

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Route:
    """One way to send an image: the path, the form fields beside it and the key's role."""

    name: str
    path: str
    field: str
    form: dict[str, str]
    role: str


def routes(subject: str, gallery: str) -> list[Route]:
    finger = {"finger_position": "2"}
    search = {"gallery_id": gallery, "purpose": "deduplicate", "case_reference": "CASE-1"}
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


@pytest.fixture
def targets(api: Api) -> list[Route]:
    gallery = api.gallery()
    subject = api.subject(gallery, modalities=("face", "finger"))
    enrol_references(api, subject)
    return routes(subject, gallery)


@pytest.mark.parametrize("name", list(MALICIOUS_IMAGES))
def test_a_malicious_image_is_answered_4xx_with_a_reason_code_on_every_upload_route(api: Api, targets, name):
    data = malicious_image(name)
    answers = {}
    for route in targets:
        response = api.client.post(
            route.path,
            data=route.form,
            files={route.field: (f"{name}.bin", data, "application/octet-stream")},
            headers=api.headers[route.role],
        )
        answers[route.name] = response
    for route_name, response in answers.items():
        assert_refused_with_a_reason(response, f"{name} on {route_name}")


def assert_refused_with_a_reason(response, what: str) -> None:
    """A 4xx in the one error shape with a reason code, or (verification) a 200 ``inconclusive`` with its reason.

    A verification answers an unusable probe with ``decision: inconclusive`` and the refusal's reason
    (``no_face``, ``not_a_finger``, ...) rather than an error, so that a fused request still reports the
    other modalities; it must never be a match.
    """
    if response.status_code == 200 and "decision" in response.json():
        answer = response.json()
        assert answer["decision"] == "inconclusive", f"{what}: {response.text}"
        assert isinstance(answer["reason"], str) and answer["reason"], f"{what}: {response.text}"
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
