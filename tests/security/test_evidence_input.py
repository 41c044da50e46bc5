"""Consent evidence images (a signature, a thumbprint mark) as an attacker with a valid key sends them.

The evidence image travels as base64 inside the JSON that creates a subject, and is kept sealed as the person's
proof of consent. It was checked by its header only (Pillow's ``verify`` reads a PNG's chunks and none of a JPEG's
data): a truncated JPEG, a lossless JPEG no decoder here reads, a JPEG of 1,000 scans and a blank mark were all
kept as proof that a person agreed. (A JPEG whose entropy-coded data is garbled decodes, to noise: a picture,
kept.) Now the image is decoded within the limits every upload
has (bytes, pixels, sides, JPEG scans) and a mark with no stroke (every pixel alike) is refused.
The whole malicious-image set is sent as evidence by ``test_malicious_images.py``.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tests.security.malicious_images import (
    blank_png,
    encoded,
    lossless_jpeg,
    malicious_image,
    noise,
)
from tests.security.test_image_limits import repeated_scans
from tests.service_fixtures import Api, consent


def signature() -> bytes:
    """A drawn line on white, as the console's signature pad sends it."""
    canvas = np.full((60, 200), 255, dtype=np.uint8)
    canvas[28:32, 20:180] = 0
    return encoded(Image.fromarray(canvas), "PNG")


def transparent_signature() -> bytes:
    """Black strokes on a transparent background: every colour sample is black, only the alpha band is drawn."""
    pixels = np.zeros((60, 200, 4), dtype=np.uint8)
    pixels[28:32, 20:180, 3] = 255
    return encoded(Image.fromarray(pixels, "RGBA"), "PNG")


@pytest.fixture
def evidence_gallery(api: Api) -> str:
    gallery = api.gallery()
    chosen = api.client.put(
        f"/v1/galleries/{gallery}/consent-evidence",
        json={"accepted": ["signature", "thumbprint_mark", "typed_name"]},
        headers=api.headers["admin"],
    )
    assert chosen.status_code == 200, chosen.text
    return gallery


def with_evidence(api: Api, gallery: str, image: bytes, kind: str = "signature"):
    signed = consent() | {"evidence": {"kind": kind, "image": base64.b64encode(image).decode()}}
    return api.client.post(
        "/v1/subjects", json={"gallery_id": gallery, "consent": signed}, headers=api.headers["enroller"]
    )


def a_jpeg_of_noise() -> bytes:
    return encoded(noise(120, 160), "JPEG", quality=90)


UNREADABLE = {
    "a truncated JPEG": lambda: a_jpeg_of_noise()[:2_000],
    "a lossless JPEG (SOF3)": lossless_jpeg,
    "a JPEG of 1,000 scans": lambda: repeated_scans(400, 1000),
}

BLANK = {
    "a blank white signature": lambda: encoded(Image.new("L", (200, 60), 255), "PNG"),
    "a one-pixel image": lambda: malicious_image("png-1x1"),
    "a 1 x 16,000 strip of zeros": lambda: blank_png(1, 16_000),
    "a 1-bit blank image": lambda: blank_png(64, 64, bit_depth=1, colour=0),
    "a transparent image": lambda: encoded(Image.new("RGBA", (200, 60), (0, 0, 0, 0)), "PNG"),
}


@pytest.mark.parametrize("what", list(UNREADABLE))
def test_an_evidence_image_that_cannot_be_decoded_is_refused(api: Api, evidence_gallery, what):
    response = with_evidence(api, evidence_gallery, UNREADABLE[what]())
    assert response.status_code == 422, f"{what}: {response.status_code} {response.text}"
    assert response.json()["error"]["code"] == "evidence_not_an_image", f"{what}: {response.text}"


@pytest.mark.parametrize("what", list(BLANK))
def test_a_blank_evidence_image_is_refused(api: Api, evidence_gallery, what):
    for kind in ("signature", "thumbprint_mark"):
        response = with_evidence(api, evidence_gallery, BLANK[what](), kind)
        assert response.status_code == 422, f"{what} as {kind}: {response.status_code} {response.text}"
        assert response.json()["error"]["code"] == "evidence_blank", f"{what} as {kind}: {response.text}"


def test_a_drawn_mark_is_still_kept_whatever_its_background(api: Api, evidence_gallery):
    photo = io.BytesIO()
    Image.fromarray(np.asarray(Image.open(io.BytesIO(a_jpeg_of_noise())))).save(photo, format="JPEG")
    for image in (signature(), transparent_signature(), photo.getvalue()):
        response = with_evidence(api, evidence_gallery, image)
        assert response.status_code == 201, response.text
