"""A face photo sent with a liveness token is detected and embedded once, on an instance that compares faces with
YuNet + SFace, the liveness step's own algorithm: the passive score, the token's same-face check and the
enrolment, verification or search all rest on one reading (real networks, real LFW photos).

The burst itself is read as synthetic landmarks of a 3D head (tests/liveness/heads.py) carrying the photo's real
embedding, as in tests/api/test_liveness.py: what is counted here is the work done on the photo.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tessera.capture.decode import decode_image
from tessera.face import sface
from tessera.face.sface import SFACE_ALGORITHM, SFaceEmbedder, extract_face_sface
from tessera.liveness.burst import FrameReading
from tessera.settings import Settings
from tessera.workflows import liveness as workflow
from tests.api.test_liveness import burst, challenge, unsupervised_gallery
from tests.liveness.heads import live_landmarks

pytestmark = pytest.mark.slow


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "var", face_algorithms=(SFACE_ALGORITHM,))


@pytest.fixture
def network_calls(monkeypatch) -> Counter:
    """Every YuNet detection and SFace embedding of a whole photo (burst frames are read by a queue here)."""
    calls: Counter = Counter()
    detect, embed = sface.detect_faces_yunet, SFaceEmbedder.embed

    def counted_detect(*args, **kwargs):
        calls["yunet"] += 1
        return detect(*args, **kwargs)

    def counted_embed(self, chip):
        calls["sface"] += 1
        return embed(self, chip)

    monkeypatch.setattr(sface, "detect_faces_yunet", counted_detect)
    monkeypatch.setattr(SFaceEmbedder, "embed", counted_embed)
    return calls


def test_a_face_photo_with_a_token_is_detected_and_embedded_once(api, lfw_person, monkeypatch, network_calls):
    photos = lfw_person("Colin_Powell", 2)
    embeddings = [extract_face_sface(decode_image(photo)).embedding for photo in photos]  # type: ignore[union-attr]
    queue: list = []
    monkeypatch.setattr(workflow, "read_frame", lambda image: queue.pop(0))
    gallery = unsupervised_gallery(api)
    subject = api.subject(gallery)

    def token_for(embedding: np.ndarray, purpose: str, role: str) -> str:
        issued = challenge(api, gallery, purpose=purpose, role=role)
        queue[:] = [FrameReading.embedded(points, embedding) for points in live_landmarks(issued["steps"])]
        answer = burst(api, issued, role=role).json()
        assert answer["liveness"] == "passed", answer
        return answer["liveness_token"]

    token = token_for(embeddings[0], "enrol", "enroller")
    network_calls.clear()
    enrolled = api.client.post(
        f"/v1/subjects/{subject}/faces",
        files={"image": ("face.jpg", photos[0], "image/jpeg")},
        data={"liveness_token": token},
        headers=api.headers["enroller"],
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["liveness"]["challenge"] == "passed"
    assert enrolled.json()["liveness"]["similarity"] == pytest.approx(1.0, abs=1e-3)  # the same pipeline's embedding
    assert network_calls == Counter(yunet=1, sface=1)

    token = token_for(embeddings[1], "verify", "verifier")
    network_calls.clear()
    verified = api.client.post(
        "/v1/verify",
        data={"subject_id": subject, "liveness_token": token},
        files={"image": ("probe.jpg", photos[1], "image/jpeg")},
        headers=api.headers["verifier"],
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["decision"] == "match" and verified.json()["liveness"]["challenge"] == "passed"
    assert network_calls == Counter(yunet=1, sface=1)

    supervised = api.gallery(
        name="Walk-in registration"
    )  # no token: the photo is still read for the passive score, and only once
    network_calls.clear()
    searched = api.identify(supervised, photos[1])
    assert searched.status_code == 200, searched.text
    assert searched.json()["liveness"]["passive"]["measured"] is True
    assert network_calls == Counter(yunet=1, sface=1)
