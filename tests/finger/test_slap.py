"""The slap crop on a composed photo of four real contactless fingertips (see :mod:`tessera.evaluation.slap_photo`:
no real four-finger photo is among the evaluation data; the fingertips are real, the hand around them drawn,
the landmarks known by construction)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tessera.evaluation.slap_photo import compose_slap
from tessera.finger.pipeline import extract_finger
from tessera.finger.slap import HandRefusal, Slap, chirality, crop_slap, finger_position, parse_landmarks
from tests.conftest import SHARED_DATA, _require

DS1 = SHARED_DATA / "finger" / "contactless_ds1" / "data" / "DS1_sample"


@pytest.fixture(scope="module")
def tips() -> list[np.ndarray]:
    """Person 1's fingers 2-5, impression 1: grey, tip up."""
    paths = [DS1 / "1" / f"SIRE-1_{finger}_1.bmp" for finger in (2, 3, 4, 5)]
    return [np.array(Image.open(_require(path, "contactless_ds1")).convert("L")) for path in paths]


def points(landmarks: list[dict[str, float]]) -> np.ndarray:
    return parse_landmarks(landmarks)


def finger_rows(crop: np.ndarray) -> np.ndarray:
    """Rows of the crop where skin-coloured pixels (red above blue) are."""
    skin = crop[..., 0].astype(int) - crop[..., 2].astype(int) > 25
    return np.flatnonzero(skin.mean(axis=1) > 0.2)


@pytest.mark.parametrize(("angle", "left"), [(0.0, False), (35.0, False), (-20.0, True), (180.0, False)])
def test_four_fingertips_are_cut_out_upright_at_their_positions(tips, angle, left):
    photo, landmarks = compose_slap(tips, angle_deg=angle, left=left)
    slap = crop_slap(photo, points(landmarks), "left" if left else "right")
    assert isinstance(slap, Slap)
    expected = (7, 8, 9, 10) if left else (2, 3, 4, 5)
    assert [(f.name, f.finger_position) for f in slap.fingers] == list(
        zip(("index", "middle", "ring", "little"), expected)
    )
    tip_widths = [tip.shape[1] * 0.92 for tip in tips]  # the fingertip images are nearly all finger across
    for finger, drawn_width in zip(slap.fingers, tip_widths):
        assert finger.refusal is None and finger.crop is not None
        assert finger.crop.width_measured and abs(finger.crop.width_px - drawn_width) < 0.15 * drawn_width
        rows = finger_rows(finger.crop.image)
        height = finger.crop.image.shape[0]
        # upright: background above the tip, finger down to the bottom edge
        assert 0.1 * height < rows[0] < 0.45 * height and rows[-1] > 0.95 * height


def test_positions_and_chirality():
    assert [finger_position("right", n) for n in ("index", "little")] == [2, 5]
    assert [finger_position("left", n) for n in ("index", "little")] == [7, 10]
    with pytest.raises(ValueError, match="hand must be one of left, right"):
        finger_position("both", "index")


def test_the_other_hand_or_a_mirrored_preview_is_refused(tips):
    photo, landmarks = compose_slap(tips)
    assert chirality(points(landmarks)) == "right"
    refusal = crop_slap(photo, points(landmarks), "left")
    assert isinstance(refusal, HandRefusal) and refusal.reason == "handedness_mismatch"
    assert refusal.detail == {"measure": "palm_side_shows", "value": "right", "expected": "left"}
    # landmarks found on a mirrored preview, sent with the unmirrored photo
    mirrored = [{"x": 1.0 - p["x"], "y": p["y"]} for p in landmarks]
    assert crop_slap(photo, points(mirrored), "right").reason == "handedness_mismatch"


def test_landmarks_that_are_no_hand_are_refused(tips):
    photo, landmarks = compose_slap(tips)
    squashed = [dict(p) for p in landmarks]
    for tip in (8, 12, 16, 20):  # every fingertip down at its knuckle: fingers a tenth of their length
        squashed[tip] = dict(squashed[tip - 3])
        squashed[tip]["y"] -= 0.01
        for joint in (tip - 2, tip - 1):
            squashed[joint] = dict(squashed[tip - 3])
            squashed[joint]["y"] -= 0.005 * (joint - tip + 3)
    refusal = crop_slap(photo, points(squashed), "right")
    assert isinstance(refusal, HandRefusal) and refusal.reason == "not_a_hand"
    assert refusal.detail["measure"] == "index_length_to_palm_width"
    swapped = [dict(p) for p in landmarks]
    swapped[5:9], swapped[13:17] = swapped[13:17], swapped[5:9]  # index and ring exchanged
    assert crop_slap(photo, points(swapped), "right").reason == "not_a_hand"


def test_each_finger_is_refused_for_its_own_reason(tips):
    photo, landmarks = compose_slap(tips)
    moved = [dict(p) for p in landmarks]
    for joint in (18, 19, 20):  # the little finger's tip beyond the left edge
        moved[joint]["x"] = -0.2
    for joint in (15, 16):  # the ring finger bent sideways at its middle joint
        moved[joint]["x"] = moved[14]["x"] - (moved[14]["y"] - moved[joint]["y"])
        moved[joint]["y"] = moved[14]["y"]
    slap = crop_slap(photo, points(moved), "right")
    assert isinstance(slap, Slap)
    reasons = [None if f.refusal is None else f.refusal.reason for f in slap.fingers]
    assert reasons == [None, None, "finger_not_flat", "finger_outside_image"]
    together = [dict(p) for p in landmarks]
    for joint in (10, 11, 12):  # the middle fingertip drawn onto the index finger's
        together[joint]["x"] = together[joint - 4]["x"] - 0.01
    slap = crop_slap(photo, points(together), "right")
    assert [None if f.refusal is None else f.refusal.reason for f in slap.fingers][:2] == ["fingers_together"] * 2


def test_a_crop_that_shows_no_finger_is_refused_by_the_finger_pipeline(tips):
    """The landmarks put the index finger where the photo shows the background: the crop is refused."""
    photo, landmarks = compose_slap(tips)
    shifted = [dict(p) for p in landmarks]
    for joint in range(5, 9):
        shifted[joint]["x"] = min(0.97, shifted[joint]["x"] + 0.03)  # keep the order of the knuckles
    blank = photo.copy()
    rows, cols = blank.shape[:2]
    index_col = int(landmarks[8]["x"] * cols)
    blank[: int(landmarks[5]["y"] * rows) - 300, index_col - 380 : index_col + 420] = (78, 92, 108)
    slap = crop_slap(blank, points(shifted), "right")
    index = slap.fingers[0]
    assert index.crop is not None  # the landmarks are plausible: only the pipeline can tell
    result = extract_finger(index.crop.image, "contactless", finger_position=index.finger_position)
    assert not result and result.reason == "not_a_finger"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([{"x": 0.5, "y": 0.5}] * 20, "must hold the 21 landmarks of one hand; got 20 points"),
        ([[0.5, 0.5]] * 20 + [[float("nan"), 0.5]], r"landmarks\[20\] must have finite numbers"),
        ([[0.5, 0.5]] * 20 + [[5.0, 0.5]], "must be normalised image coordinates"),
        ([[0.5, 0.5]] * 20 + ["a"], r"landmarks\[20\] must be"),
        ({"x": 1}, "must be a list of 21 points"),
        ([[True, 0.5]] * 21, "finite numbers"),
    ],
)
def test_unreadable_landmarks_are_named(value, message):
    with pytest.raises(ValueError, match=message):
        parse_landmarks(value)
