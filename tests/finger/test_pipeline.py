"""The finger pipeline on real prints and photos: templates where there is a finger, scores that separate fingers."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from tessera.finger.pipeline import ALGORITHM, DEFAULT_FINGER_CONFIG, FingerConfig, extract_finger
from tessera.match.mcc import mcc_score, mcc_template
from tessera.primitives import DictTrace
from tests.match.test_mcc import MATE_ABOVE, NON_MATE_BELOW

TRACE_KEYS_CONTACTLESS = (
    "finger-skin",
    "finger-tip",
    "finger-located",
    "finger-normalised",
    "finger-segmentation",
    "finger-quality",
    "finger-enhanced",
    "finger-minutiae",
    "finger-template",
)


def score(a, b) -> float:
    return mcc_score(mcc_template(a.minutiae), mcc_template(b.minutiae))


def test_a_contact_print_gives_a_tagged_template(fvc_template):
    template = fvc_template("DB2_B", 103, 1)
    assert template.capture == "contact" and template.algorithm == ALGORITHM
    assert DEFAULT_FINGER_CONFIG.min_minutiae <= len(template.minutiae) <= DEFAULT_FINGER_CONFIG.max_minutiae
    assert template.resolution_ppi == 500.0
    rows, cols = template.image_size
    assert np.all((template.minutiae.points >= 0) & (template.minutiae.points < [rows, cols]))
    assert template.quality.minutiae_count == len(template.minutiae)
    assert 0 < template.quality.score <= 100
    assert 7.0 < template.quality.ridge_period_px < 12.0


def test_phone_photos_give_templates_with_a_sensible_minutiae_count(phone_template):
    for name in ("1_i_1_n_1", "1_o_1_w_1", "9_o_1_n_1"):
        template = phone_template(name)
        assert template.capture == "contactless"
        assert 20 <= len(template.minutiae) <= DEFAULT_FINGER_CONFIG.max_minutiae, name
        # A phone photo of an adult fingertip from 10-20 cm: several hundred pixels per inch.
        assert 500 < template.quality.source_ppi < 2500, name


def test_the_same_finger_photographed_twice_matches(phone_template):
    # Subject 1, finger 1: indoors with a natural background, outdoors with a white one.
    assert score(phone_template("1_i_1_n_1"), phone_template("1_o_1_w_1")) > MATE_ABOVE
    assert score(phone_template("1_i_1_n_1"), phone_template("9_o_1_n_1")) < NON_MATE_BELOW


def test_contactless_device_prints_of_one_finger_match(contactless_print):
    first = extract_finger(contactless_print(2, 6, 1), "contactless")
    second = extract_finger(contactless_print(2, 6, 2), "contactless")
    other = extract_finger(contactless_print(3, 1, 1), "contactless")
    assert first and second and other
    assert score(first, second) > MATE_ABOVE
    assert score(first, other) < NON_MATE_BELOW


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    rows, cols = image.shape[:2]
    size = int(math.ceil(math.hypot(rows, cols)))
    canvas = np.full((size, size), 255, np.uint8)  # contact background is white
    top, left = (size - rows) // 2, (size - cols) // 2
    canvas[top : top + rows, left : left + cols] = image
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), degrees, 1.0)
    return cv2.warpAffine(canvas, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=255)


def _translate(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    moved = np.full((image.shape[0] + abs(rows), image.shape[1] + abs(cols)), 255, np.uint8)
    moved[max(rows, 0) : max(rows, 0) + image.shape[0], max(cols, 0) : max(cols, 0) + image.shape[1]] = image
    return moved


def _crop(image: np.ndarray, fraction: float, random: np.random.Generator) -> np.ndarray:
    rows, cols = image.shape
    top, left = (int(random.uniform(0, fraction) * n) for n in (rows, cols))
    bottom, right = (int(random.uniform(0, fraction) * n) for n in (rows, cols))
    return np.ascontiguousarray(image[top : rows - bottom, left : cols - right])


def test_rotated_translated_and_cropped_prints_still_match_their_mate(fvc_print, fvc_template):
    random = np.random.default_rng(0)
    original = fvc_print("DB2_B", 102, 1)
    mate = fvc_template("DB2_B", 102, 2)
    assert score(fvc_template("DB2_B", 102, 1), mate) > MATE_ABOVE
    perturbed = {
        "rotate": _rotate(original, random.uniform(20, 40) * random.choice([-1, 1])),
        "translate": _translate(original, *random.integers(-60, 60, 2)),
        "crop": _crop(original, 0.12, random),
    }
    for name, image in perturbed.items():
        template = extract_finger(image, "contact")
        assert template, f"{name}: {template}"
        assert score(template, mate) > MATE_ABOVE, name


def test_every_trace_checkpoint_is_logged_in_order(phone_photo):
    trace = DictTrace()
    template = extract_finger(phone_photo("9_o_1_n_1"), "contactless", trace=trace)
    assert template
    assert tuple(trace.items) == TRACE_KEYS_CONTACTLESS
    assert trace.items["finger-template"] is template
    normalised = trace.items["finger-normalised"]
    assert normalised.dtype == np.uint8 and normalised.shape == template.image_size
    assert trace.items["finger-segmentation"].mask.shape == normalised.shape


def test_a_contact_print_is_not_located_and_keeps_its_resolution(fvc_print):
    trace = DictTrace()
    template = extract_finger(fvc_print("DB3_B", 101, 1), "contact", trace=trace, ppi=512.0)
    assert template and "finger-skin" not in trace.items
    assert template.quality.source_ppi == 512.0
    assert template.image_size == (round(480 * 500 / 512), round(300 * 500 / 512))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"capture": "scanner"}, "capture must be one of"),
        ({"capture": "contactless", "ppi": 500.0}, "ppi must not be given for a contactless photo"),
        ({"capture": "contact", "ppi": 90.0}, "ppi must be between 250 and 2000"),
        ({"capture": "contact", "finger_position": 11}, "finger_position must be 0"),
    ],
)
def test_bad_arguments_are_errors_that_name_the_argument(arguments, message):
    with pytest.raises(ValueError, match=message):
        extract_finger(np.zeros((300, 300), np.uint8), **arguments)


def test_an_image_of_the_wrong_type_is_an_error():
    with pytest.raises(ValueError, match="dtype uint8"):
        extract_finger(np.zeros((300, 300), np.float32), "contact")
    with pytest.raises(ValueError, match=r"shape \(rows, cols, 3\) or \(rows, cols\)"):
        extract_finger(np.zeros((300, 300, 4), np.uint8), "contact")
    with pytest.raises(ValueError, match="numpy.ndarray"):
        extract_finger([[0]], "contact")


def test_a_config_is_checked_when_made():
    with pytest.raises(ValueError, match="min_minutiae and max_minutiae"):
        FingerConfig(min_minutiae=300, max_minutiae=400)
    with pytest.raises(ValueError, match="period_range"):
        FingerConfig(period_range=(10.0, 8.0))
