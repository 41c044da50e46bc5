"""A liveness burst as an attacker with a valid key sends it: frame counts, costly frames, a clear 4xx.

A burst carries up to ``max_frames`` (10) images, each decoded with the limits of a face upload, at most 2560x1440
pixels declared, and then shrunk to 640x480. Ten of the costliest images a face upload accepts (a 30 MP RGBA PNG with
Paeth-filtered rows is 40 KB) cost about 0.8 s of CPU each to decode: a frame may not declare so many; the request's
CPU budget (``request_cpu_seconds``) must see that work and stop the
burst between two frames, as it stops every other request between two images. The malicious-image set itself is
sent as burst frames by ``test_malicious_images.py``; what each costs: ``python -m
tests.security.measure_route_cost``.
"""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.liveness import frames as frames_module
from tessera.settings import Settings
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.security.malicious_images import blank_png
from tests.service_fixtures import Api, png

COSTLY_FRAME = blank_png(1900, 1900, colour=6, row_filter=4)
"""A 3.6 MP RGBA PNG whose every row must be un-Paeth-filtered (a few KB): costly to decode, no face, and within the
pixels a frame may declare (``frame_max_upload_pixels``, 2560x1440)."""


def challenge(api: Api, gallery: str) -> dict:
    response = api.client.post(
        "/v1/liveness/challenges", json={"gallery_id": gallery, "purpose": "verify"}, headers=api.headers["verifier"]
    )
    assert response.status_code == 201, response.text
    return response.json()


def send_burst(api: Api, issued: dict, frames: list[bytes]):
    return api.client.post(
        f"/v1/liveness/challenges/{issued['challenge_id']}/burst",
        data={"nonce": issued["nonce"]},
        files=[("frame", (f"{number}.png", frame, "image/png")) for number, frame in enumerate(frames)],
        headers=api.headers["verifier"],
    )


@pytest.fixture
def decoded(monkeypatch) -> list[int]:
    """The size in bytes of every burst frame decoded."""
    original = frames_module.decode_image
    calls: list[int] = []

    def counting(data, *args, **kwargs):
        calls.append(len(data))
        return original(data, *args, **kwargs)

    monkeypatch.setattr(frames_module, "decode_image", counting)
    return calls


def test_a_burst_past_its_cpu_budget_stops_between_two_frames_before_it_decodes_the_rest(tmp_path, decoded):
    """Decoding the frames is the request's work: it counts against its CPU budget, checked before each frame."""
    instance = Instance.open(Settings(data_dir=tmp_path / "var", request_cpu_seconds=1e-9))
    headers = {"Authorization": f"Bearer {create_key(instance, 'test', 'verifier').secret}"}
    admin = {"Authorization": f"Bearer {create_key(instance, 'test', 'admin').secret}"}
    api = Api(TestClient(create_app(instance), raise_server_exceptions=False), {"verifier": headers, "admin": admin})
    response = send_burst(api, challenge(api, api.gallery()), [COSTLY_FRAME] * 10)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "too_costly"
    assert "before decoding burst frame 2" in response.json()["error"]["message"]
    assert len(decoded) == 1  # was 10: every frame decoded before the budget was first looked at
    instance.close()


def test_frame_counts_outside_the_limits_are_refused_before_any_frame_is_decoded(api: Api, decoded):
    gallery = api.gallery()
    frame = png(np.full((48, 64, 3), 128, np.uint8))
    for count, code in ((4, "too_few_frames"), (11, "too_many_images"), (12, "too_many_images")):
        response = send_burst(api, challenge(api, gallery), [frame] * count)
        assert response.status_code == 422, f"{count} frames: {response.text}"
        assert response.json()["error"]["code"] == code, f"{count} frames: {response.text}"
    issued = challenge(api, gallery)
    response = api.client.post(
        f"/v1/liveness/challenges/{issued['challenge_id']}/burst",
        data={"nonce": issued["nonce"]},
        headers=api.headers["verifier"],
    )
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_request", response.text
    assert decoded == []


def test_a_burst_with_an_overlong_nonce_or_challenge_id_is_refused_in_the_one_shape(api: Api):
    gallery = api.gallery()
    issued = challenge(api, gallery)
    frame = png(np.full((48, 64, 3), 128, np.uint8))
    long_nonce = send_burst(api, {**issued, "nonce": "n" * 100_000}, [frame] * 5)
    assert long_nonce.status_code == 422 and long_nonce.json()["error"]["code"] == "invalid_request"
    long_id = send_burst(api, {**issued, "challenge_id": "c" * 5_000}, [frame] * 5)
    assert long_id.status_code == 404 and long_id.json()["error"]["code"] == "challenge_not_found"


def test_a_frame_larger_than_a_live_view_is_refused_before_any_frame_is_decoded(api: Api, decoded):
    """A frame is a still of the live view: one declaring more than ``frame_max_upload_pixels`` (a 30 MP PNG of
    40 KB, which a face upload accepts) is refused from its header, before its pixels are decoded and before any
    frame after it is read."""
    from tessera.liveness.config import DEFAULT_LIVENESS_CONFIG

    limit = DEFAULT_LIVENESS_CONFIG.frame_max_upload_pixels
    assert limit < 40_000_000  # a face upload's own limit
    large = blank_png(6000, 5000, colour=6, row_filter=4)
    frame = png(np.full((48, 64, 3), 128, np.uint8))
    response = send_burst(api, challenge(api, api.gallery()), [large] + [frame] * 4)
    assert response.status_code in (413, 422), response.text
    assert response.json()["error"]["code"] == "too_large", response.text
    assert f"{limit:,}" in response.json()["error"]["message"]
    assert decoded == [len(large)]  # its header read, nothing decoded: refused before the pixels
