"""The pipeline's contract: input checks, results, trace, configuration, models and threads."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tessera.face.config import FaceConfig
from tessera.face.models import LANDMARKS_5_FILE, load_face_models, model_path
from tessera.face.pipeline import (
    ALGORITHM,
    DEFAULT_FACE_CONFIG,
    REFUSAL_REASONS,
    FaceRefusal,
    FaceTemplate,
    extract_face,
)
from tessera.primitives import DictTrace


@pytest.mark.parametrize(
    ("image", "complaint"),
    [
        (np.zeros((100, 100, 3), np.float32), "image must have dtype uint8"),
        (np.zeros((100, 100), np.uint8), r"image must have shape \(rows, cols, 3\), RGB; got shape \(100, 100\)"),
        (np.zeros((100, 100, 4), np.uint8), r"got shape \(100, 100, 4\)"),
        (np.zeros((0, 100, 3), np.uint8), "image must have at least one row and one column"),
        ([[0, 0, 0]], "image must be a numpy.ndarray"),
    ],
)
def test_wrong_input_raises_a_value_error_naming_the_argument(image, complaint):
    with pytest.raises(ValueError, match=complaint):
        extract_face(image)


def test_a_template_holds_a_unit_float32_embedding_and_its_algorithm(reference_template):
    template = reference_template
    assert isinstance(template, FaceTemplate) and template
    assert template.embedding.shape == (128,) and template.embedding.dtype == np.float32
    assert np.linalg.norm(template.embedding) == pytest.approx(1.0, abs=1e-5)
    assert not template.embedding.flags.writeable
    assert template.algorithm == ALGORITHM == "dlib-resnet-v1/5pt-flip/1"
    assert 0 <= template.box.top < template.box.bottom <= 250 and 0 <= template.box.left < template.box.right <= 250


def test_extraction_is_deterministic(reference_photo, reference_template):
    again = extract_face(reference_photo)
    np.testing.assert_array_equal(again.embedding, reference_template.embedding)
    assert again.quality == reference_template.quality


def test_a_view_of_an_image_is_accepted(reference_photo, reference_template):
    padded = np.zeros((300, 300, 3), np.uint8)
    padded[25:275, 25:275] = reference_photo
    view = padded[25:275, 25:275]  # not contiguous in memory
    assert not view.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(extract_face(view).embedding, reference_template.embedding)


def test_the_trace_receives_every_checkpoint(reference_photo):
    trace = DictTrace()
    extract_face(reference_photo, trace=trace)
    assert list(trace.items) == [
        "face-detections",
        "face-chosen",
        "face-landmarks",
        "face-chip",
        "face-quality",
        "face-embedding",
    ]
    assert trace.items["face-landmarks"].shape == (5, 2)
    assert trace.items["face-chip"].shape == (150, 150, 3) and trace.items["face-chip"].dtype == np.uint8


def test_a_refusal_is_falsy_and_traced(reference_photo):
    trace = DictTrace()
    refusal = extract_face(reference_photo[:40, :40], trace=trace)  # a corner without the face
    assert isinstance(refusal, FaceRefusal) and not refusal
    assert refusal.reason in REFUSAL_REASONS
    assert list(trace.items) == ["face-detections", "face-refusal"]
    assert json.loads(json.dumps(refusal.detail)) == refusal.detail


def test_a_refusal_reason_must_be_known():
    with pytest.raises(ValueError, match="reason must be one of"):
        FaceRefusal(reason="too_ugly", message="", detail={})


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"detectors": ("hog", "viola-jones")}, "detectors must be a non-empty tuple"),
        ({"detectors": ()}, "detectors must be a non-empty tuple"),
        ({"dominance_ratio": 0.5}, "dominance_ratio must be at least 1.0; got 0.5"),
        ({"centre_dominance": 0.9}, "centre_dominance must be at least 1.0; got 0.9"),
        ({"max_centre_offset": 1.5}, r"max_centre_offset must be in \[0, 1\]; got 1.5"),
        ({"min_central_area_fraction": -0.1}, r"min_central_area_fraction must be in \[0, 1\]; got -0.1"),
        ({"hog_upsample": 7}, "hog_upsample must be an integer from 0 to 4; got 7"),
        ({"detection_max_side": 10}, "detection_max_side must be at least 32 pixels; got 10"),
        ({"min_brightness": 200, "max_brightness": 100}, "min_brightness and max_brightness"),
        ({"face_region": (0.5, 0.2, 0.4, 0.8)}, "face_region must be"),
        ({"embedder": "arcface"}, "embedder must be one of"),
    ],
)
def test_an_invalid_config_is_refused_naming_the_field(changes, complaint):
    with pytest.raises(ValueError, match=complaint):
        FaceConfig(**changes)


def test_config_is_frozen_and_serialisable():
    with pytest.raises(AttributeError):
        DEFAULT_FACE_CONFIG.min_sharpness = 0.0  # type: ignore[misc]
    figures = DEFAULT_FACE_CONFIG.as_dict()
    assert json.loads(json.dumps(figures)) == figures
    assert figures["dominance_ratio"] == 2.0 and figures["chip_size"] == 150


def test_models_load_once_and_come_from_the_installed_package():
    assert load_face_models() is load_face_models()
    assert model_path(LANDMARKS_5_FILE).name == "shape_predictor_5_face_landmarks.dat"
    with pytest.raises(FileNotFoundError, match="no_such_model.dat"):
        model_path("no_such_model.dat")


def test_threads_sharing_the_models_get_the_same_results_as_one_thread(lfw_rgb):
    photos = [lfw_rgb(name, 1) for name in ("Abel_Pacheco", "Aaron_Eckhart", "AJ_Cook", "Akhmed_Zakayev")] * 3
    alone = [extract_face(photo) for photo in photos[:4]]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(extract_face, photos))
    for index, result in enumerate(together):
        np.testing.assert_array_equal(result.embedding, alone[index % 4].embedding)
