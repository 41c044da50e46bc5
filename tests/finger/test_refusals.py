"""Bad input is refused with a reason a person can act on, never turned into a template of noise."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tessera.finger.pipeline import DEFAULT_FINGER_CONFIG, REFUSAL_REASONS, extract_finger
from tessera.finger.refusal import MESSAGES, FingerRefusal
from tessera.primitives import DictTrace
from tests.finger.synthetic import back_of_finger, back_of_hand, palm

pytestmark = pytest.mark.slow  # the finger pipeline's network on every image


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
    assert_refused(
        extract_finger(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), "contact"), "not_a_finger", "No fingerprint ridges"
    )


def _jpeg(photo: np.ndarray, quality: int = 92) -> np.ndarray:
    """``photo`` through a JPEG encoder, as a browser's canvas sends it."""
    from tessera.capture.decode import decode_image

    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return decode_image(encoded.tobytes())


def _through_the_fake_camera(frame) -> np.ndarray:
    """``frame`` (PIL) as the e2e test's browser sends it: 4:2:0 YUV of the fake camera, back to RGB, then JPEG."""
    from tests.e2e.y4m import rgb_to_yuv420

    cols, rows = frame.size
    planes = np.frombuffer(rgb_to_yuv420(frame), np.uint8).reshape(rows * 3 // 2, cols)
    return _jpeg(cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_I420))


@pytest.mark.parametrize("size", [(640, 480), (3000, 4000)], ids=["webcam", "phone"])
def test_a_textured_wall_in_uneven_light_is_not_a_finger(size):
    # Otsu cuts the wall along its light gradient: half the frame looks like "the finger". Without an
    # edge along that cut it is no finger (it used to be refused as out of focus, which misleads).
    from tests.e2e.y4m import plain_wall

    frame = plain_wall(size)
    for photo in (np.asarray(frame), _jpeg(np.asarray(frame)), _through_the_fake_camera(frame)):
        refusal = assert_refused(extract_finger(photo, "contactless"), "not_a_finger", "No fingertip")
        assert refusal.detail["measure"] == "outline_contrast"
        assert refusal.detail["value"] < refusal.detail["minimum"]


@pytest.mark.parametrize("tone", ["light", "medium", "dark"])
def test_the_back_of_a_hand_is_refused_with_the_palm_side_asked_for(tone):
    # The tip of one finger is found and cut out, but it shows no ridges: knuckle wrinkles and a nail only.
    refusal = assert_refused(extract_finger(back_of_hand(tone), "contactless"), "finger_out_of_focus", "palm side")
    assert refusal.detail["measure"] in ("finger_clarity", "ridge_area_mm2")


def test_a_palm_is_refused():
    # A close-up (the hand fills the frame): the creases flow, but not one minutia is found in them.
    refusal = assert_refused(extract_finger(palm(), "contactless"), "too_few_minutiae", "fingertip")
    assert refusal.detail["value"] < DEFAULT_FINGER_CONFIG.min_minutiae


def test_the_back_of_a_finger_is_refused(phone_photo):
    # The silhouette, colour and background of a real photo, with no ridges: it cannot be told from a
    # finger whose ridges are out of focus, and the message asks for the palm side and for focus.
    for name in ("1_i_1_n_1", "9_o_2_n_1"):
        refusal = assert_refused(
            extract_finger(back_of_finger(phone_photo(name)), "contactless"), "finger_out_of_focus", "palm side"
        )
        assert refusal.detail["measure"] == "finger_clarity"


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
        refusal = assert_refused(
            extract_finger(np.full((60, 80, 3), 128, np.uint8), capture), "image_too_small", "full-resolution"
        )
        assert refusal.detail == {
            "measure": "shorter_side_px",
            "value": 60,
            "minimum": DEFAULT_FINGER_CONFIG.min_image_side,
        }


def test_a_huge_image_is_too_large():
    huge = np.zeros((8000, 8000), np.uint8)  # 64 MP
    refusal = assert_refused(extract_finger(huge, "contact"), "image_too_large", "larger than any camera photo")
    assert refusal.detail["value"] == 64_000_000


def test_a_contact_image_of_nothing_is_not_a_print():
    for image in (
        np.full((400, 300), 255, np.uint8),
        np.random.default_rng(1).integers(0, 256, (400, 300), dtype=np.uint8),
    ):
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
