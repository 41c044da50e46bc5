"""Bad input gets a clear 4xx with a reason code, never a 500, and saves nothing."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.service_fixtures import consent, png

NOISE = np.random.default_rng(3).integers(0, 256, (300, 300, 3), dtype=np.uint8)
WALL = np.full((480, 640, 3), (182, 170, 150), np.uint8)


def jpeg(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG")
    return buffer.getvalue()


def giant_png() -> bytes:
    data = bytearray(png(np.zeros((1, 1, 3), np.uint8)))
    data[16:24] = (20000).to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


BAD_UPLOADS = {
    "empty": (b"", 422, "not_an_image"),
    "text": (b"this is not a photo\n" * 50, 422, "not_an_image"),
    "truncated": (jpeg(NOISE)[:2000], 422, "not_an_image"),
    "gif": (None, 415, "unsupported_media_type"),
    "giant": (giant_png(), 413, "too_large"),
}


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(NOISE).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.fixture
def enrolled(api):
    gallery = api.gallery()
    return gallery, api.subject(gallery)


def templates_stored(instance) -> int:
    from sqlalchemy import func, select

    from tessera.store.models import Template

    with instance.sessions() as session:
        return session.scalar(select(func.count()).select_from(Template))


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_upload_on_every_image_route(api, enrolled, instance, case):
    data, status, code = BAD_UPLOADS[case]
    data = gif() if data is None else data
    gallery, subject = enrolled
    for response in (api.enrol(subject, data), api.verify(subject, data), api.identify(gallery, data)):
        assert response.status_code == status, (response.request.url.path, response.text)
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"]
    assert templates_stored(instance) == 0


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_upload_on_every_finger_route(api, instance, case):
    data, status, code = BAD_UPLOADS[case]
    data = gif() if data is None else data
    gallery = api.gallery()
    subject = api.subject(gallery, modalities=("face", "finger"))
    finger = {"finger_position": "2", "capture": "contact"}
    enrol = api.client.post(
        f"/v1/subjects/{subject}/fingers",
        files={"image": ("finger.png", data, "image/png")},
        data=finger,
        headers=api.headers["enroller"],
    )
    search = api.client.post(
        "/v1/identify",
        files={"finger_image": ("finger.png", data, "image/png")},
        data={"gallery_id": gallery, "purpose": "deduplicate", "case_reference": "CASE-1", **finger},
        headers=api.headers["enroller"],
    )
    for response in (enrol, search):
        assert response.status_code == status, (response.request.url.path, response.text)
        assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert templates_stored(instance) == 0


def test_oversized_upload_is_refused_unread(api, enrolled, settings):
    _, subject = enrolled
    response = api.enrol(subject, b"\xff\xd8" + b"\0" * (settings.max_upload_bytes + 100_000))
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"


@pytest.mark.slow
@pytest.mark.parametrize("picture", [NOISE, WALL], ids=["noise", "wall"])
def test_no_face_is_refused_with_its_reason(api, enrolled, instance, picture):
    gallery, subject = enrolled
    response = api.enrol(subject, jpeg(picture))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "no_face" and "No face found" in error["message"]
    search = api.identify(gallery, jpeg(picture))
    assert search.status_code == 422 and search.json()["error"]["code"] == "no_face"
    assert templates_stored(instance) == 0


def test_unusable_verify_probe_is_inconclusive(api, lfw_person):
    gallery = api.gallery()
    subject = api.subject(gallery)
    assert api.enrol(subject, lfw_person("Colin_Powell", 1)[0]).status_code == 201
    answer = api.verify(subject, jpeg(WALL))
    assert answer.status_code == 200
    body = answer.json()
    assert body["decision"] == "inconclusive" and body["reason"] == "no_face" and body["score"] is None


def test_unknown_ids_are_404(api):
    gallery = api.gallery()
    image = jpeg(WALL)
    assert api.enrol("no-such-subject", image).json()["error"]["code"] == "subject_not_found"
    assert api.verify("no-such-subject", image).json()["error"]["code"] == "subject_not_found"
    assert api.identify("no-such-gallery", image).json()["error"]["code"] == "gallery_not_found"
    response = api.client.post(
        "/v1/subjects", json={"gallery_id": "nope", "consent": consent()}, headers=api.headers["enroller"]
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "gallery_not_found"
    response = api.client.delete("/v1/subjects/nope", headers=api.headers["enroller"])
    assert response.status_code == 404
    assert api.client.get("/v1/nothing-here").json()["error"]["code"] == "not_found"
    assert gallery


def test_malformed_requests_are_422_with_the_field_named(api):
    headers = api.headers["admin"]
    response = api.client.post("/v1/galleries", json={"name": ""}, headers=headers)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and "purpose" in error["message"]
    response = api.client.post(
        "/v1/galleries", content=b'{"name": "half', headers={**headers, "content-type": "application/json"}
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request"
    response = api.client.post("/v1/verify", data={"subject_id": "x"}, headers=api.headers["verifier"])
    assert response.status_code == 422 and "image" in response.json()["error"]["message"]
    response = api.client.post(
        "/v1/subjects", json={"gallery_id": "g", "consent": {"purposes": ["track"]}}, headers=api.headers["enroller"]
    )
    assert response.status_code == 422 and "purposes" in response.json()["error"]["message"]


def test_wrong_search_purpose(api):
    gallery = api.gallery()
    response = api.identify(gallery, jpeg(WALL), purpose="verify")
    assert response.status_code == 422 and response.json()["error"]["code"] == "purpose_not_searchable"


def test_duplicate_gallery_name_conflicts(api):
    api.gallery("one")
    response = api.client.post("/v1/galleries", json={"name": "one", "purpose": "p"}, headers=api.headers["admin"])
    assert response.status_code == 409 and response.json()["error"]["code"] == "gallery_exists"


@pytest.mark.parametrize("position", ["11", "0", "-3"])
def test_a_finger_position_outside_1_to_10_is_refused_by_name_on_every_finger_route(api, instance, position):
    gallery = api.gallery()
    subject = api.subject(gallery, modalities=("face", "finger"))
    finger = {"finger_position": position, "capture": "contact"}
    image = png(np.zeros((300, 300, 3), np.uint8))
    enrol = api.client.post(
        f"/v1/subjects/{subject}/fingers",
        files={"image": ("finger.png", image, "image/png")},
        data=finger,
        headers=api.headers["enroller"],
    )
    verify = api.client.post(
        "/v1/verify",
        files={"finger_image": ("finger.png", image, "image/png")},
        data={"subject_id": subject, **finger},
        headers=api.headers["verifier"],
    )
    search = api.client.post(
        "/v1/identify",
        files={"finger_image": ("finger.png", image, "image/png")},
        data={"gallery_id": gallery, "purpose": "deduplicate", "case_reference": "CASE-1", **finger},
        headers=api.headers["enroller"],
    )
    for response in (enrol, verify, search):
        assert response.status_code == 422, (response.request.url.path, response.text)
        assert response.json()["error"] == {
            "code": "invalid_finger_position",
            "message": "finger_position must be an ISO/IEC 19794-2 finger position from 1 (right thumb) to 10 "
            f"(left little); got {int(position)}.",
        }
    assert templates_stored(instance) == 0
