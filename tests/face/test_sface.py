"""The YuNet + SFace pipeline on real LFW photos: its contract, its scores and its refusals (dlib's reasons)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields, replace

import cv2
import numpy as np
import pytest

from tessera.face.pipeline import FaceRefusal, FaceTemplate
from tessera.face.refusal import MESSAGES, REFUSAL_REASONS, RetakeAdvice
from tessera.face.sface import (
    SFACE_ALGORITHM,
    SFACE_CHIP_SIZE,
    align_sface,
    extract_face_sface,
    similarity_transform,
)
from tessera.face.sface_config import DEFAULT_SFACE_CONFIG, SFaceConfig
from tessera.face.sface_models import SFACE_FILE, load_sface_models, sface_model_path
from tessera.face.yunet import detect_faces_yunet
from tessera.primitives import DictTrace
from tests.face.samples import REFERENCE, gaussian_blur, rescale, scale_brightness

MATES = [
    (("Abdullah_Gul", 13), ("Abdullah_Gul", 14)),
    (("Abdullatif_Sener", 1), ("Abdullatif_Sener", 2)),
    (("Adel_Al-Jubeir", 1), ("Adel_Al-Jubeir", 3)),
    (("Al_Pacino", 1), ("Al_Pacino", 2)),
]
NON_MATES = [
    (("AJ_Lamas", 1), ("Zach_Safrin", 1)),
    (("Aaron_Guiel", 1), ("Reese_Witherspoon", 3)),
    (("Aaron_Tippin", 1), ("Jose_Luis_Rodriguez_Zapatero", 1)),
    (("Abdul_Majeed_Shobokshi", 1), ("Charles_Cope", 1)),
]
"""The pairs tests/face/test_embed.py holds dlib's pipeline to."""


@pytest.fixture(scope="module")
def sface_template(lfw_rgb):
    def extract(name: str, index: int) -> FaceTemplate:
        template = extract_face_sface(lfw_rgb(name, index))
        assert isinstance(template, FaceTemplate), f"{name} {index} must be usable; got {template}"
        return template

    return extract


def score(a: FaceTemplate, b: FaceTemplate) -> float:
    return float(np.dot(a.embedding, b.embedding))


def test_a_template_holds_a_unit_128_d_embedding_and_its_algorithm(sface_template):
    template = sface_template(*REFERENCE)
    assert template.embedding.shape == (128,) and template.embedding.dtype == np.float32
    assert np.linalg.norm(template.embedding) == pytest.approx(1.0, abs=1e-5)
    assert not template.embedding.flags.writeable
    assert template.algorithm == SFACE_ALGORITHM == "yunet-sface-2021dec/1"
    assert template.quality.detector == "yunet" and template.quality.faces_found == 1
    assert 0 <= template.box.top < template.box.bottom <= 250 and 0 <= template.box.left < template.box.right <= 250


def test_mates_score_far_above_non_mates(sface_template):
    mates = [score(sface_template(*a), sface_template(*b)) for a, b in MATES]
    non_mates = [score(sface_template(*a), sface_template(*b)) for a, b in NON_MATES]
    # Measured: mates 0.74-0.82, non-mates 0.10-0.27 (OpenCV Zoo's own cosine threshold is 0.363).
    assert min(mates) > 0.6
    assert max(non_mates) < 0.363
    assert min(mates) - max(non_mates) > 0.3


def test_the_trace_receives_every_checkpoint(lfw_rgb):
    trace = DictTrace()
    extract_face_sface(lfw_rgb(*REFERENCE), trace=trace)
    assert list(trace.items) == [
        "face-detections",
        "face-chosen",
        "face-landmarks",
        "face-chip",
        "face-quality",
        "face-embedding",
        "face-retake-advice",
    ]
    assert trace.items["face-landmarks"].shape == (5, 2)
    assert trace.items["face-chip"].shape == (112, 112, 3) and trace.items["face-chip"].dtype == np.uint8


def test_the_chip_is_the_one_opencvs_face_recognizer_cuts(lfw_rgb):
    photo = lfw_rgb(*REFERENCE)
    face = detect_faces_yunet(photo, DEFAULT_SFACE_CONFIG, load_sface_models())[0]
    box = face.detection.box
    row = np.r_[[box.left, box.top, box.width, box.height], face.landmarks[:, ::-1].ravel(), [face.detection.score]]
    recognizer = cv2.FaceRecognizerSF.create(str(sface_model_path(SFACE_FILE)), "")
    theirs = recognizer.alignCrop(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), row[None].astype(np.float32))
    ours = align_sface(photo, face.landmarks)
    assert ours.shape == (SFACE_CHIP_SIZE, SFACE_CHIP_SIZE, 3)
    assert np.abs(ours.astype(int) - theirs[:, :, ::-1].astype(int)).max() <= 1


def test_the_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 200, size=(5, 2))
    angle, scale, shift = np.radians(17.0), 0.6, np.array([12.0, -5.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = scale * source @ rotation.T + shift
    expected = np.hstack([scale * rotation, shift[:, None]])
    np.testing.assert_allclose(similarity_transform(source, target), expected, atol=1e-9)


def blank(_photo: np.ndarray) -> np.ndarray:
    return np.full((250, 250, 3), 128, np.uint8)


def tiny_face(photo: np.ndarray) -> np.ndarray:
    canvas = np.full((250, 250, 3), 120, np.uint8)
    canvas[100:160, 100:160] = rescale(photo, 60 / 250)  # eyes ~10 px apart
    return canvas


@pytest.mark.parametrize(
    ("make", "reason", "message_key"),
    [
        (blank, "no_face", "no_face"),
        (tiny_face, "face_too_small", "face_too_small"),
        (lambda photo: gaussian_blur(photo, 6.0), "too_blurred", "too_blurred"),
        (lambda photo: scale_brightness(photo, 0.12), "bad_exposure", "too_dark"),
    ],
    ids=["blank", "tiny", "blurred", "dark"],
)
def test_each_bad_photo_is_refused_with_dlibs_reason_and_message(lfw_rgb, make, reason, message_key):
    trace = DictTrace()
    refusal = extract_face_sface(make(lfw_rgb(*REFERENCE)), trace=trace)
    assert isinstance(refusal, FaceRefusal) and not refusal
    assert refusal.reason == reason
    assert refusal.message == MESSAGES[message_key]
    assert json.loads(json.dumps(refusal.detail)) == refusal.detail
    assert "face-refusal" in trace.items and "face-embedding" not in trace.items


TURNED = ("Ahmad_Masood", 2)
"""Turned about 34 degrees (YuNet's landmarks): past the retake limit, within the refusal gate."""


def test_a_turned_face_is_kept_with_a_retake_advised_in_dlibs_words(lfw_rgb):
    trace = DictTrace()
    template = extract_face_sface(lfw_rgb(*TURNED), trace=trace)
    assert isinstance(template, FaceTemplate)
    advice = template.retake_advised
    assert advice is not None and advice.reason == "face_turned" and advice.message == MESSAGES["face_turned"]
    assert advice.detail["value"] > advice.detail["maximum"] == DEFAULT_SFACE_CONFIG.retake.max_abs_yaw
    assert trace.items["face-retake-advice"] == advice
    record = template.quality_record()
    assert record["retake_advised"]["reason"] == "face_turned" and record["yaw"] == template.quality.yaw
    assert json.loads(json.dumps(record)) == record


def test_the_retake_limits_used_as_refusals_refuse_what_they_advise_on(lfw_rgb):
    # One set of limits, two uses: the advice is exactly the refusal the retake limits would give as a gate.
    retake = DEFAULT_SFACE_CONFIG.retake
    strict = replace(DEFAULT_SFACE_CONFIG, **{f.name: getattr(retake, f.name) for f in fields(retake)}, retake=None)
    kept = extract_face_sface(lfw_rgb(*TURNED))
    refused = extract_face_sface(lfw_rgb(*TURNED), strict)
    assert isinstance(refused, FaceRefusal) and RetakeAdvice.of(refused) == kept.retake_advised


def test_a_frontal_well_lit_face_gets_no_advice(sface_template):
    template = sface_template(*REFERENCE)
    assert template.retake_advised is None and template.quality_record()["retake_advised"] is None


def test_an_overexposed_face_short_of_the_refusal_is_kept_with_too_bright_advice(lfw_rgb):
    template = extract_face_sface(scale_brightness(lfw_rgb(*REFERENCE), 2.0))
    assert isinstance(template, FaceTemplate), template
    retake = DEFAULT_SFACE_CONFIG.retake
    assert retake.max_brightness < template.quality.brightness <= DEFAULT_SFACE_CONFIG.max_brightness
    assert (
        template.retake_advised.reason == "bad_exposure" and template.retake_advised.message == MESSAGES["too_bright"]
    )


@pytest.mark.parametrize("shape", [(1, 16_384, 3), (2, 16_384, 3), (1, 1, 3), (16_384, 1, 3)])
def test_a_photo_a_few_pixels_thin_is_refused_not_an_error(shape):
    # YuNet's grid degenerates on such an image: it reports boxes of infinite size (which raised an
    # OverflowError, a 500 for a 196-byte PNG) or a "face" the quality gate then refuses. Sides of 32,767 px
    # or more (which OpenCV's warps refuse) never get here: decoding refuses sides over 16,384.
    refusal = extract_face_sface(np.zeros(shape, np.uint8))
    assert not refusal and refusal.reason in REFUSAL_REASONS


def test_wrong_input_raises_a_value_error_naming_the_argument():
    with pytest.raises(ValueError, match="image must have dtype uint8"):
        extract_face_sface(np.zeros((100, 100, 3), np.float32))


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"min_detection_score": 1.5}, r"min_detection_score must be in \(0, 1\); got 1.5"),
        ({"dominance_ratio": 0.5}, "dominance_ratio must be at least 1.0; got 0.5"),
        ({"face_region": (0.5, 0.2, 0.4, 0.8)}, "face_region must be"),
        ({"nose_depth_ratio": 0.0}, "nose_depth_ratio must be positive; got 0.0"),
        ({"max_abs_yaw": 20.0}, "retake limits must each be at least as strict as the refusal limits"),
        ({"min_sharpness": 0.35}, "retake limits must each be at least as strict as the refusal limits"),
    ],
)
def test_an_invalid_config_is_refused_naming_the_field(changes, complaint):
    with pytest.raises(ValueError, match=complaint):
        SFaceConfig(**changes)


def test_threads_sharing_the_models_get_the_same_results_as_one_thread(lfw_rgb):
    photos = [lfw_rgb(name, 1) for name in ("Abel_Pacheco", "Aaron_Eckhart", "AJ_Cook", "Akhmed_Zakayev")] * 3
    alone = [extract_face_sface(photo) for photo in photos[:4]]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(extract_face_sface, photos))
    for index, result in enumerate(together):
        np.testing.assert_array_equal(result.embedding, alone[index % 4].embedding)
