"""Consent texts, evidence, tombstones and the checks before the camera, on the fake face algorithm (no evaluation
data needed)."""

from __future__ import annotations

import base64
import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from tessera.settings import Settings
from tests.fakes import face_image, register_fakes
from tests.service_fixtures import Api, consent, png

FACE_ONLY_TEXT = "We ask your consent to take photos of your face, only to confirm who you are when you come back."
FACE_ONLY_TEXT_FR = "Nous vous demandons de photographier votre visage, seulement pour confirmer qui vous êtes."


@pytest.fixture(scope="module")
def fake_algorithms(tmp_path_factory):
    return register_fakes(tmp_path_factory.mktemp("fake-calibrations"))


@pytest.fixture
def settings(tmp_path, fake_algorithms) -> Settings:
    return Settings(data_dir=tmp_path / "var", face_algorithms=("fake-a/1",), catch_trial_rate=0.0)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def register(
    api: Api, text: str, *, version: str, gallery_id=None, language="en", modalities=("face",), purposes=("verify",)
):
    body = {
        "version": version,
        "text": text,
        "language": language,
        "modalities": list(modalities),
        "purposes": list(purposes),
        **({"gallery_id": gallery_id} if gallery_id else {"shared": True}),
    }
    return api.client.post("/v1/consent-texts", json=body, headers=api.headers["admin"])


def consent_under(text: str, version: str, **options) -> dict:
    """A consent record citing ``text`` (``consent``'s options: purposes, modalities, signed_by ...)."""
    return {**consent(**options), "text_version": version, "text_sha256": sha(text)}


def create(api: Api, gallery_id: str, record: dict, headers=None):
    return api.client.post(
        "/v1/subjects", json={"gallery_id": gallery_id, "consent": record}, headers=headers or api.headers["enroller"]
    )


def signature_png() -> bytes:
    """A small drawn line, as the console's signature pad sends it."""
    canvas = np.full((60, 200), 255, dtype=np.uint8)
    canvas[28:32, 20:180] = 0
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(image: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(image).decode()


def face_png(person: int, photo: int = 0) -> bytes:
    return png(face_image(person, photo))
