"""An image costs bounded memory and CPU whatever its bytes (issue 14, items 1 and 2).

Every attack image is generated here: a blank PNG of millions of pixels that
compresses to a few kilobytes, and a small progressive JPEG whose last scan is
repeated hundreds of times.
"""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from tessera.capture.decode import DecodeLimits, count_jpeg_scans, decode_image
from tessera.errors import NotAnImage, PayloadTooLarge
from tessera.settings import Settings
from tessera.workflows.captures import Capture, decode, decode_limits
from tests.service_fixtures import Api


def blank_png(side: int) -> bytes:
    """A white ``side`` x ``side`` grey PNG: tens of megapixels in tens of kilobytes."""
    buffer = io.BytesIO()
    Image.new("L", (side, side), 255).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def repeated_scans(side: int, repeats: int) -> bytes:
    """A progressive JPEG of a flat ``side`` x ``side`` image with its last scan sent ``repeats`` more times.

    Entropy-coded data never holds FF DA (a 0xFF there is followed by 0x00), so
    the last FF DA of the file starts its last scan, which runs to the EOI.
    """
    data = jpeg(Image.new("RGB", (side, side), (200, 180, 160)), progressive=True, quality=90)
    last_scan = data.rindex(b"\xff\xda")
    assert data.endswith(b"\xff\xd9")
    return data[:-2] + data[last_scan:-2] * repeats + b"\xff\xd9"


@pytest.fixture
def subject(api: Api) -> str:
    return api.subject(api.gallery(), modalities=("face", "finger"))


def enrol_finger(api: Api, subject: str, image: bytes, capture: str):
    return api.client.post(
        f"/v1/subjects/{subject}/fingers",
        data={"finger_position": "2", "capture": capture},
        files={"image": ("finger.png", image, "image/png")},
        headers=api.headers["enroller"],
    )


def verify_finger(api: Api, subject: str, image: bytes, capture: str):
    return api.client.post(
        "/v1/verify",
        data={"subject_id": subject, "finger_position": "2", "capture": capture},
        files={"finger_image": ("finger.png", image, "image/png")},
        headers=api.headers["verifier"],
    )


def test_the_issue_s_6300_pixel_blank_png_is_refused_as_a_contact_scan_before_decoding():
    data = blank_png(6300)
    assert len(data) < 64 * 1024  # 39.7 MP, under the 40 MP limit of any image
    capture = Capture.finger(data, 2, "contact")
    limits = decode_limits(Settings(), capture)
    with pytest.raises(PayloadTooLarge, match=r"contact finger scan declares 6300x6300 pixels; at most 1,500,000"):
        decode_image(data, limits)


@pytest.mark.parametrize("send", [enrol_finger, verify_finger], ids=["enrol", "verify"])
def test_a_contact_scan_larger_than_any_finger_is_refused_with_413(api: Api, subject: str, send):
    response = send(api, subject, blank_png(2000), "contact")  # 4 MP: 1.3 GB in the finger pipeline
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "too_large"
    assert "contact finger scan declares 2000x2000 pixels" in error["message"]


def test_a_contactless_photo_is_shrunk_to_the_finger_limit_while_it_is_decoded(instance):
    rows, cols = np.mgrid[0:4000, 0:6000]
    photo = Image.fromarray(((rows // 7 + cols // 5) % 256).astype(np.uint8)).convert("RGB")
    capture = Capture.finger(jpeg(photo, quality=80), 2, "contactless")
    tracemalloc.start()
    try:
        image = decode(instance, capture)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    most = instance.settings.max_finger_pixels
    assert image.shape[0] * image.shape[1] <= most
    assert image.shape[0] * image.shape[1] > 0.99 * most
    assert abs(image.shape[1] / image.shape[0] - 1.5) < 0.01  # the aspect is kept
    assert peak < 40 * 1024 * 1024  # the 24 MP photo itself (72 MB as RGB) is never held


def test_a_face_photo_keeps_its_pixels(instance):
    photo = Image.new("RGB", (3000, 2000), (120, 110, 100))
    assert decode(instance, Capture.face(jpeg(photo))).shape == (2000, 3000, 3)


def test_scans_are_counted_from_the_markers():
    flat = Image.new("RGB", (64, 48), (90, 80, 70))
    assert count_jpeg_scans(jpeg(flat), stop_after=100) == 1
    assert count_jpeg_scans(jpeg(flat, progressive=True), stop_after=100) == 10
    assert count_jpeg_scans(jpeg(flat.convert("L"), progressive=True), stop_after=100) == 6
    assert count_jpeg_scans(repeated_scans(64, 500), stop_after=100) == 101  # stops counting past the limit
    assert count_jpeg_scans(repeated_scans(64, 500), stop_after=10_000) == 510


def test_a_jpeg_of_many_repeated_scans_is_refused_before_it_is_decoded():
    attack = repeated_scans(2000, 300)
    assert len(attack) < 64 * 1024
    with pytest.raises(NotAnImage, match=r"more than 32 scans; at most 32 are accepted") as refused:
        decode_image(attack)
    assert refused.value.code == "too_many_scans"
    assert decode_image(repeated_scans(200, 0), DecodeLimits()).shape == (200, 200, 3)


@pytest.mark.parametrize("capture", ["contactless", "contact"])
def test_the_scan_limit_holds_on_finger_routes(api: Api, subject: str, capture: str):
    response = verify_finger(api, subject, repeated_scans(1000, 200), capture)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "too_many_scans"


def test_the_scan_limit_holds_on_face_routes(api: Api, subject: str):
    attack = repeated_scans(1000, 200)
    enrolled = api.enrol(subject, attack)
    verified = api.verify(subject, attack)
    for response in (enrolled, verified):
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "too_many_scans"


def test_decoding_costs_are_bounded_before_decoding_by_format():
    """Each limit refuses its attack from the header alone (413/422), and the largest image each allows still decodes.

    Mutated by raising each setting past its attack: the corresponding case then decodes (and costs ~1 s of CPU).
    """
    from tests.security.malicious_images import blank_png, webp_declaring

    cases = [
        (blank_png(16_385, 1), PayloadTooLarge, r"its sides may be at most 16,384 pixels long"),
        (
            blank_png(4000, 4000, bit_depth=16, colour=6),
            PayloadTooLarge,
            r"of 8 bytes each \(RGBA\); at most 120,000,000",
        ),
        (webp_declaring(5000, 4000), PayloadTooLarge, r"\(WebP\) declares 5000x4000 pixels; at most 16,000,000"),
        (repeated_scans(4000, 16), NotAnImage, r"JPEG of 26 scans over 16,000,000 pixels; at most 400,000,000"),
    ]
    for data, error, message in cases:
        with pytest.raises(error, match=message):
            decode_image(data)
    assert decode_image(blank_png(16_384, 1)).shape == (1, 16_384, 3)
    assert decode_image(blank_png(2000, 2000, bit_depth=16, colour=6)).shape == (2000, 2000, 3)
    assert decode_image(repeated_scans(2000, 10)).shape == (2000, 2000, 3)
