"""Bad input is refused with a reason a person can act on, never turned into a template of noise."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from tessera.finger.pipeline import DEFAULT_FINGER_CONFIG, REFUSAL_REASONS, extract_finger
from tessera.finger.refusal import MESSAGES, FingerRefusal
from tessera.primitives import DictTrace


def wall(colour: tuple[int, int, int], seed: int, shape: tuple[int, int] = (1200, 1600)) -> np.ndarray:
    """A photo of a painted wall: plaster grain plus uneven light, in ``colour`` (RGB)."""
    random = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(random.normal(0, 1, shape).astype(np.float32), (0, 0), 2.5) * 25
    light = cv2.GaussianBlur(random.normal(0, 1, shape).astype(np.float32), (0, 0), 40) * 60
    return np.clip(np.array(colour, np.float32) + (grain + light)[..., None], 0, 255).astype(np.uint8)


def assert_refused(result, reason: str, *words: str) -> FingerRefusal:
    assert not result, f"expected a refusal ({reason}); got a template with {len(result.minutiae)} minutiae"
    assert result.reason == reason, f"expected {reason}; got {result.reason}: {result.detail}"
    for word in words:
        assert word in result.message
    return result


@pytest.mark.parametrize("colour", [(200, 190, 170), (220, 170, 150), (128, 128, 128), (90, 60, 50)])
def test_a_wall_is_not_a_finger(colour):
    photo = wall(colour, seed=sum(colour))
    assert_refused(extract_finger(photo, "contactless"), "not_a_finger", "No fingertip")
    assert_refused(extract_finger(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), "contact"), "not_a_finger", "No fingerprint ridges")


def test_a_face_where_a_finger_is_expected_is_named_as_a_face(lfw_person):
    from tessera.capture.decode import decode_image

    face = decode_image(lfw_person("Abel_Pacheco", 1)[0])
    for photo in (face, cv2.resize(face, (1000, 1000), interpolation=cv2.INTER_CUBIC)):
        refusal = assert_refused(extract_finger(photo, "contactless"), "not_a_finger", "face")
        assert refusal.detail["measure"] == "face_detected"
    assert not extract_finger(face, "contact")


def test_a_blurred_finger_is_out_of_focus(phone_photo):
    blurred = cv2.GaussianBlur(phone_photo("1_i_1_n_1"), (0, 0), 8)
    refusal = assert_refused(extract_finger(blurred, "contactless"), "finger_out_of_focus", "focus")
    assert refusal.detail["value"] < refusal.detail["minimum"]


def test_a_dark_finger_is_too_dark(phone_photo):
    dark = (phone_photo("1_i_1_n_1").astype(np.float32) * 0.12).astype(np.uint8)
    refusal = assert_refused(extract_finger(dark, "contactless"), "too_dark", "brighter")
    assert refusal.detail["value"] < DEFAULT_FINGER_CONFIG.min_brightness


def test_a_blown_out_photo_is_too_bright(phone_photo):
    bright = np.clip(phone_photo("1_i_1_n_1").astype(np.float32) * 4 + 60, 0, 255).astype(np.uint8)
    assert_refused(extract_finger(bright, "contactless"), "too_bright", "overexposed")


def test_a_distant_finger_is_asked_to_come_closer(phone_photo):
    distant = cv2.resize(phone_photo("9_o_1_n_1"), (300, 400), interpolation=cv2.INTER_AREA)
    refusal = assert_refused(extract_finger(distant, "contactless"), "move_closer", "closer")
    assert refusal.detail["measure"] == "finger_width_px"


def test_a_tiny_image_is_too_small():
    for capture in ("contact", "contactless"):
        refusal = assert_refused(extract_finger(np.full((60, 80, 3), 128, np.uint8), capture), "image_too_small", "full-resolution")
        assert refusal.detail == {"measure": "shorter_side_px", "value": 60, "minimum": DEFAULT_FINGER_CONFIG.min_image_side}


def test_a_huge_image_is_too_large():
    huge = np.zeros((8000, 8000), np.uint8)  # 64 MP
    refusal = assert_refused(extract_finger(huge, "contact"), "image_too_large", "larger than any camera photo")
    assert refusal.detail["value"] == 64_000_000


def test_a_contact_image_of_nothing_is_not_a_print():
    for image in (np.full((400, 300), 255, np.uint8), np.random.default_rng(1).integers(0, 256, (400, 300), dtype=np.uint8)):
        assert_refused(extract_finger(image, "contact"), "not_a_finger", "No fingerprint ridges")


def test_a_refusal_is_falsy_logged_and_serialisable(phone_photo):
    import json

    trace = DictTrace()
    refusal = extract_finger(np.full((300, 300, 3), 90, np.uint8), "contactless", trace=trace)
    assert not refusal and trace.items["finger-refusal"] is refusal
    assert refusal.reason in REFUSAL_REASONS
    json.dumps(refusal.detail)


def test_every_reason_has_a_message():
    assert set(REFUSAL_REASONS) <= set(MESSAGES)
    with pytest.raises(ValueError, match="reason must be one of"):
        FingerRefusal(reason="smudged", message="")
