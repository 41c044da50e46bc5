"""Quality limits refuse unusable captures with the right reason, and pass usable ones."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from tessera.face.config import DEFAULT_FACE_CONFIG
from tessera.face.pipeline import FaceQuality, extract_face
from tessera.face.quality import assess, clipped_fraction, inter_eye_distance, sharpness, yaw
from tessera.primitives import DictTrace
from tests.face.samples import gaussian_blur, rescale, scale_brightness


def test_a_good_photo_passes_every_limit(reference_template):
    quality = reference_template.quality
    assert assess(quality, DEFAULT_FACE_CONFIG) is None
    assert quality.faces_found == 1 and quality.detector == "hog"
    assert 35 < quality.inter_eye_px < 50
    assert quality.sharpness > DEFAULT_FACE_CONFIG.min_sharpness
    assert 60 < quality.brightness < 200 and quality.clipped_fraction < 0.01
    assert abs(quality.yaw) < 20


def test_a_tiny_face_is_refused_as_too_small(reference_photo):
    tiny = rescale(reference_photo, 0.3)  # face ~33 px wide, eyes ~12 px apart
    result = extract_face(tiny)
    assert not result and result.reason == "face_too_small"
    assert result.detail["measure"] == "inter_eye_px"
    assert result.detail["value"] < result.detail["minimum"] == DEFAULT_FACE_CONFIG.min_inter_eye_px
    assert "Move closer" in result.message


def test_a_strongly_blurred_photo_is_refused(reference_photo):
    result = extract_face(gaussian_blur(reference_photo, 6))
    assert not result and result.reason == "too_blurred"
    assert result.detail["value"] < result.detail["minimum"] == DEFAULT_FACE_CONFIG.min_sharpness
    assert "blurred" in result.message


def test_a_moderately_blurred_photo_is_refused_but_a_slightly_soft_one_passes(reference_photo):
    assert extract_face(gaussian_blur(reference_photo, 3)).reason == "too_blurred"
    assert extract_face(gaussian_blur(reference_photo, 0.8))


def test_a_very_dark_photo_is_refused_as_too_dark(reference_photo):
    result = extract_face(scale_brightness(reference_photo, 0.08))
    assert not result and result.reason == "bad_exposure"
    assert result.detail["measure"] == "brightness" and result.detail["value"] < result.detail["minimum"]
    assert "too dark" in result.message


def test_an_overexposed_photo_is_refused_as_too_bright(reference_photo):
    result = extract_face(scale_brightness(reference_photo, 3.0))
    assert not result and result.reason == "bad_exposure"
    assert result.detail["measure"] in ("brightness", "clipped_fraction")
    assert result.detail["value"] > result.detail["maximum"]
    assert "too bright" in result.message


def test_a_dim_but_usable_photo_passes(reference_photo):
    assert extract_face(scale_brightness(reference_photo, 0.5))


def test_a_face_turned_well_away_from_the_camera_is_refused(lfw_rgb):
    # The one LFW photo of a head turned beyond 45 degrees (about 50), otherwise sharp and well lit.
    result = extract_face(lfw_rgb("Abdullah_Gul", 16))
    assert not result and result.reason == "face_turned"
    assert abs(result.detail["value"]) > result.detail["maximum"] == DEFAULT_FACE_CONFIG.max_abs_yaw
    assert "look straight at the camera" in result.message


@pytest.mark.parametrize(("name", "index"), [("Victoria_Clarke", 1), ("Roman_Polanski", 3)])
def test_a_half_turned_face_still_gets_a_template(lfw_rgb, name, index):
    # Turned about 40 degrees: within the limit, and such View 2 pairs were all classified correctly.
    result = extract_face(lfw_rgb(name, index))
    assert result, result
    assert 35.0 < abs(result.quality.yaw) <= DEFAULT_FACE_CONFIG.max_abs_yaw


def test_mirroring_a_face_mirrors_its_yaw(lfw_rgb):
    photo = lfw_rgb("Hugh_Grant", 7)  # turned ~30 degrees to one side
    trace, mirrored_trace = DictTrace(), DictTrace()
    extract_face(photo, trace=trace)
    extract_face(np.ascontiguousarray(photo[:, ::-1]), trace=mirrored_trace)
    turned, mirrored = trace.items["face-quality"].yaw, mirrored_trace.items["face-quality"].yaw
    assert abs(turned) > 20
    assert mirrored == pytest.approx(-turned, abs=6)


def test_landmark_measures_on_known_points():
    # (row, col): eye on the image's right at cols 140-160, eye on its left at cols 90-110, nose base at col 125.
    frontal = np.array([[100, 160], [100, 140], [100, 90], [100, 110], [140, 125]], dtype=float)
    assert inter_eye_distance(frontal) == pytest.approx(50.0)
    assert yaw(frontal) == pytest.approx(0.0)
    turned = frontal.copy()
    turned[4, 1] += 20  # nose shifted towards the image's right by 0.4 inter-eye distances
    assert yaw(turned) == pytest.approx(np.degrees(np.arctan2(0.4, 0.65)))
    tilted = frontal @ np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    assert yaw(tilted) == pytest.approx(0.0, abs=1e-9), "rolling the head is not turning it"


def test_sharpness_falls_with_blur_and_ignores_contrast(reference_photo):
    region = np.asarray(reference_photo[90:170, 80:170].mean(axis=2), dtype=np.uint8)
    measure = lambda grey: sharpness(grey, 0.8, 9)  # noqa: E731
    sharp, soft, blurred = measure(region), measure(gaussian_blur(region, 1.5)), measure(gaussian_blur(region, 4))
    assert sharp > soft > blurred
    low_contrast = (region.astype(np.float32) * 0.5 + 64).astype(np.uint8)
    assert measure(low_contrast) == pytest.approx(sharp, rel=0.1)
    assert measure(np.full((50, 50), 128, np.uint8)) == 0.0


def test_clipped_fraction_counts_both_ends():
    grey = np.array([[0, 3, 4, 128], [251, 252, 255, 100]], dtype=np.uint8)
    assert clipped_fraction(grey, 3) == pytest.approx(4 / 8)


def test_the_first_broken_limit_names_the_cause(reference_template):
    good = reference_template.quality
    small_and_blurred = dataclasses.replace(good, inter_eye_px=10.0, sharpness=0.05)
    assert assess(small_and_blurred, DEFAULT_FACE_CONFIG).reason == "face_too_small"
    dark_and_blurred = dataclasses.replace(good, brightness=10.0, sharpness=0.05)
    assert assess(dark_and_blurred, DEFAULT_FACE_CONFIG).reason == "bad_exposure"


def test_quality_figures_are_plain_json(reference_template):
    figures = reference_template.quality.as_dict()
    assert list(figures) == [field.name for field in dataclasses.fields(FaceQuality)]
    assert json.loads(json.dumps(figures)) == figures
