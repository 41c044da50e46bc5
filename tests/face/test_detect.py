"""Face detection and the choice of the subject's face, on real photos."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from tessera.face.config import DEFAULT_FACE_CONFIG, FaceConfig
from tessera.face.detect import Detection, centre_offset, choose_face, detect_faces, shrink_to, visible_area
from tessera.face.models import Guarded, load_face_models
from tessera.face.pipeline import extract_face
from tessera.primitives import Box
from tests.face.samples import MATE_ABOVE, rescale, score


def test_detects_the_face_in_an_lfw_photo(reference_photo):
    detections = detect_faces(reference_photo, DEFAULT_FACE_CONFIG, load_face_models())
    assert len(detections) == 1
    face = detections[0]
    assert face.detector == "hog" and face.score > 0.5
    # LFW photos are cropped around the face: it is centred and ~100 px wide in 250 px.
    centre_row, centre_col = (face.box.top + face.box.bottom) / 2, (face.box.left + face.box.right) / 2
    assert abs(centre_row - 125) < 30 and abs(centre_col - 125) < 30
    assert 80 <= face.box.width <= 140


def test_cnn_fallback_finds_a_face_hog_misses(lfw_rgb):
    # HOG finds no face in this photo (sunglasses) at any upsampling; the CNN detector does.
    photo = lfw_rgb("Jane_Fonda", 2)
    hog_only = FaceConfig(detectors=("hog", "hog-upsampled"))
    assert detect_faces(photo, hog_only, load_face_models()) == ()
    detections = detect_faces(photo, DEFAULT_FACE_CONFIG, load_face_models())
    assert [d.detector for d in detections] == ["cnn"]


def _plaster_wall(rng: np.random.Generator, rows: int = 480, cols: int = 640) -> np.ndarray:
    """A photo-like plain wall: warm off-white paint, blotchy low-frequency shading, fine grain, a light gradient."""
    blotches = cv2.resize(rng.normal(0, 1, (rows // 40, cols // 40)), (cols, rows), interpolation=cv2.INTER_CUBIC)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (rows, cols)), (0, 0), 1.2)
    light = np.linspace(0.85, 1.1, cols)[None, :]
    grey = (180 + 10 * blotches + 6 * grain) * light
    paint = np.array([1.0, 0.96, 0.88])
    return np.clip(grey[..., None] * paint, 0, 255).astype(np.uint8)


@pytest.mark.slow
@pytest.mark.parametrize(
    "make_image",
    [
        pytest.param(lambda rng: np.full((300, 400, 3), 128, np.uint8), id="blank"),
        pytest.param(lambda rng: rng.integers(0, 256, (300, 400, 3), dtype=np.uint8), id="noise"),
        pytest.param(_plaster_wall, id="wall"),
        pytest.param(lambda rng: np.zeros((1, 1, 3), np.uint8), id="one-pixel"),
    ],
)
def test_no_face_is_refused_as_no_face(make_image):
    result = extract_face(make_image(np.random.default_rng(7)))
    assert not result
    assert result.reason == "no_face"
    assert "No face found" in result.message
    assert result.detail == {"measure": "faces_found", "value": 0, "minimum": 1}


def test_two_faces_of_equal_size_are_refused(reference_photo, lfw_rgb):
    side_by_side = np.hstack([reference_photo, lfw_rgb("Aaron_Eckhart", 1)])
    result = extract_face(side_by_side)
    assert not result and result.reason == "multiple_faces"
    assert result.detail["faces_found"] >= 2
    assert result.detail["value"] < DEFAULT_FACE_CONFIG.dominance_ratio
    assert "More than one face" in result.message


def test_a_clearly_larger_face_is_taken_over_a_small_one(reference_photo, reference_template, lfw_rgb):
    # The subject at full size, another person at half size beside them (box area ~1/4).
    canvas = np.full((250, 375, 3), 90, np.uint8)
    canvas[:, :250] = reference_photo
    canvas[60:185, 250:375] = rescale(lfw_rgb("Aaron_Eckhart", 1), 0.5)
    result = extract_face(canvas)
    assert result, f"expected a template, got {result}"
    assert result.quality.faces_found == 2
    assert result.box.right <= 250, "the chosen face must be the large one on the left"
    assert score(result, reference_template) > MATE_ABOVE


def test_dominance_rule_compares_the_two_largest_boxes():
    def face(side: int, left: int = 0) -> Detection:
        return Detection(Box(0, left, side, left + side), 1.0, "hog")

    config = FaceConfig(dominance_ratio=2.0)
    shape = (1000, 1000, 3)
    large, just_dominated, not_dominated = face(100), face(70, 200), face(71, 200)  # 10000/4900 >= 2 > 10000/5041
    assert choose_face((just_dominated, large), shape, config) == large
    refusal = choose_face((large, not_dominated), shape, config)
    assert not refusal and refusal.reason == "multiple_faces"
    assert refusal.detail == {
        "measure": "area_ratio_largest_to_next",
        "value": 1.984,
        "minimum": 2.0,
        "faces_found": 2,
    }
    assert choose_face((face(100), face(100, 300)), shape, FaceConfig(dominance_ratio=1.0))
    assert choose_face((), shape, config).reason == "no_face"


def _box_face(top: int, left: int, side: int) -> Detection:
    return Detection(Box(top, left, top + side, left + side), 1.0, "hog")


def test_the_face_framed_in_the_centre_is_taken_over_one_of_the_same_size_beside_it():
    shape = (250, 250, 3)
    subject, bystander = _box_face(75, 80, 100), _box_face(60, 190, 100)  # centre offset 0.02 and 0.46
    assert centre_offset(subject.box, shape) == pytest.approx(0.02)
    assert choose_face((bystander, subject), shape, DEFAULT_FACE_CONFIG) == subject
    # Two faces equally near the centre (a couple side by side) stay ambiguous.
    left, right = _box_face(75, 40, 80), _box_face(75, 130, 80)
    refusal = choose_face((left, right), shape, DEFAULT_FACE_CONFIG)
    assert not refusal and refusal.reason == "multiple_faces"


def test_a_small_face_near_the_centre_does_not_beat_a_much_larger_one():
    # A background face at the centre, the subject (3x its area) off to the side: the area rule decides.
    shape = (1000, 1000, 3)
    small_central, large_aside = _box_face(470, 470, 60), _box_face(420, 700, 104)
    assert choose_face((small_central, large_aside), shape, DEFAULT_FACE_CONFIG) == large_aside
    config = FaceConfig(min_central_area_fraction=0.0)
    assert choose_face((small_central, large_aside), shape, config) == small_central


@pytest.mark.parametrize(
    ("photo", "mate"),
    [
        (("Colin_Farrell", 3), ("Colin_Farrell", 1)),  # two faces of similar size: refused before the centre rule
        (("Charles_Schumer", 2), ("Charles_Schumer", 1)),  # a larger bystander: the area rule took the wrong person
    ],
)
def test_lfw_photos_with_several_faces_give_the_framed_persons_template(lfw_rgb, photo, mate):
    result = extract_face(lfw_rgb(*photo))
    assert result, f"expected a template, got {result}"
    assert result.quality.faces_found >= 2
    assert centre_offset(result.box, (250, 250)) < DEFAULT_FACE_CONFIG.max_centre_offset
    assert score(result, extract_face(lfw_rgb(*mate))) > MATE_ABOVE


def test_a_face_cut_off_by_the_frame_counts_only_its_visible_part():
    subject = Detection(Box(100, 100, 200, 200), 1.0, "hog")
    bystander = Detection(Box(100, -80, 200, 20), 1.0, "hog")  # same size, 80 % outside the image
    assert visible_area(bystander.box, (300, 300, 3)) == 2000
    assert choose_face((bystander, subject), (300, 300, 3), DEFAULT_FACE_CONFIG) == subject


def test_shrink_to_caps_the_longer_side():
    image = np.zeros((4000, 3000, 3), np.uint8)
    small, scale = shrink_to(image, 640)
    assert small.shape == (640, 480, 3) and scale == pytest.approx(0.16)
    same, scale = shrink_to(np.zeros((250, 250, 3), np.uint8), 640)
    assert same.shape == (250, 250, 3) and scale == 1.0


class SeenSizes:
    """A HOG detector that notes the size of every image it is run on, then runs the real one."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self.shapes: list[tuple[int, ...]] = []

    def run(self, image, upsample, threshold):
        self.shapes.append(image.shape)
        return self.detector.run(image, upsample, threshold)


def test_a_phone_size_photo_is_detected_on_a_shrunk_copy_and_boxed_in_its_own_pixels(
    reference_photo, reference_template
):
    # A 3000 x 4000 portrait: the LFW photo enlarged 12x, on a grey background.
    photo = np.full((4000, 3000, 3), 100, np.uint8)
    photo[500:3500, :] = rescale(reference_photo, 12)
    models = load_face_models()
    seen = SeenSizes(models.hog_detector.model)
    detections = detect_faces(photo, DEFAULT_FACE_CONFIG, replace(models, hog_detector=Guarded(seen)))
    # The detector never saw the 12-megapixel photo, only a copy whose longer side is detection_max_side.
    assert seen.shapes == [(DEFAULT_FACE_CONFIG.detection_max_side, 480, 3)]
    assert [d.detector for d in detections] == ["hog"]
    # Its box is mapped back to the photo's pixels: 12 times the face's width in the 250 px photo, not the
    # copy's (6.25 times smaller).
    assert detections[0].box.width == pytest.approx(12 * reference_template.box.width, rel=0.2)
    result = extract_face(photo)
    assert result, f"expected a template, got {result}"
    # Same place and size as in the 250 px photo, scaled by 12 (HOG boxes snap to its pyramid levels).
    expected = reference_template.box
    assert abs((result.box.top + result.box.bottom) / 2 - (500 + 12 * (expected.top + expected.bottom) / 2)) < 12 * 10
    assert abs((result.box.left + result.box.right) / 2 - 12 * (expected.left + expected.right) / 2) < 12 * 10
    assert result.box.width == pytest.approx(12 * expected.width, rel=0.2)
    assert result.quality.inter_eye_px > 400
    assert score(result, reference_template) > MATE_ABOVE
