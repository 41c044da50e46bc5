"""YuNet and SFace as loaded (graphs edited in memory, YuNet decoded in Tessera) against the published graphs as
OpenCV and onnxruntime run them unedited, on real photos: the same faces, landmarks and embeddings to float rounding,
so that no template or calibration moves (skipped without the shared data)."""

from __future__ import annotations

import functools
import random
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import pytest

from tessera.capture.decode import decode_image
from tessera.evaluation.pad_challenge import read_orl_photo
from tessera.face.detect import shrink_to
from tessera.face.sface import SFaceEmbedder, align_sface
from tessera.face.sface_config import DEFAULT_SFACE_CONFIG
from tessera.face.sface_models import SFACE_FILE, YUNET_FILE, load_sface_models, sface_model_path
from tessera.face.yunet import detect_faces_yunet, yunet_rows
from tessera.primitives import unit_vector
from tests.conftest import SHARED_DATA, _require

pytestmark = pytest.mark.slow


def lfw_pair_list_photos(lfw: Path, count: int) -> list[np.ndarray]:
    """``count`` distinct photos named in pairsDevTrain.txt (random, seed 0), decoded as uploads are."""
    names = set()
    for line in (lfw / "pairsDevTrain.txt").read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) == 3:
            names |= {(parts[0], int(parts[1])), (parts[0], int(parts[2]))}
        elif len(parts) == 4:
            names |= {(parts[0], int(parts[1])), (parts[2], int(parts[3]))}
    chosen = random.Random(0).sample(sorted(names), count)
    return [decode_image((lfw / "images" / n / f"{n}_{i:04d}.jpg").read_bytes()) for n, i in chosen]


@pytest.fixture(scope="module")
def frames() -> dict[str, list[np.ndarray]]:
    """Real frames of each kind the service reads: NUAA's 640x480 webcam photos (live and printed, every sixth),
    ORL's 92x112 photos enlarged as the challenge evaluation enlarges them (every eighth), 100 LFW photos."""
    nuaa = _require(SHARED_DATA / "face" / "spoof_nuaa", "NUAA (face/spoof_nuaa)")
    orl = _require(SHARED_DATA / "face" / "orl", "ORL (face/orl)")
    lfw = _require(SHARED_DATA / "face" / "lfw", "LFW (face/lfw)")
    return {
        "nuaa": [decode_image(path.read_bytes()) for path in sorted(nuaa.rglob("*.jpg"))[::6]],
        "orl": [read_orl_photo(path) for path in sorted(orl.rglob("*.png"))[::8]],
        "lfw": lfw_pair_list_photos(lfw, 100),
    }


@functools.cache
def opencv_detector() -> cv2.FaceDetectorYN:
    """OpenCV's FaceDetectorYN, which read YuNet before, with the pipeline's limits (made once: it reads the file)."""
    detector = cv2.FaceDetectorYN.create(str(sface_model_path(YUNET_FILE)), "", (320, 320))
    detector.setScoreThreshold(DEFAULT_SFACE_CONFIG.min_detection_score)
    detector.setNMSThreshold(DEFAULT_SFACE_CONFIG.nms_threshold)
    return detector


def opencv_rows(image: np.ndarray) -> np.ndarray:
    """What OpenCV's FaceDetectorYN finds in ``image`` (RGB), as the pipeline called it before."""
    detector = opencv_detector()
    detector.setInputSize((image.shape[1], image.shape[0]))
    _, rows = detector.detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return np.zeros((0, 15), np.float32) if rows is None else rows


def by_score(rows: np.ndarray) -> np.ndarray:
    return rows[np.argsort(-rows[:, 14], kind="stable")]


@pytest.mark.parametrize("kind", ["nuaa", "orl", "lfw"])
def test_yunet_in_onnxruntime_finds_the_faces_and_landmarks_opencv_finds(frames, kind):
    session, faces = load_sface_models().detector, 0
    for image in frames[kind]:
        small, _ = shrink_to(image, DEFAULT_SFACE_CONFIG.detection_max_side)
        expected = by_score(opencv_rows(small))
        found = by_score(
            yunet_rows(session, small, DEFAULT_SFACE_CONFIG.min_detection_score, DEFAULT_SFACE_CONFIG.nms_threshold)
        )
        assert found.shape == expected.shape
        interocular = np.linalg.norm(expected[:, 4:6] - expected[:, 6:8], axis=1, keepdims=True)
        assert np.abs(found[:, 4:14] - expected[:, 4:14]).max(initial=0) < 1e-3  # pixels
        assert (np.abs(found[:, 4:14] - expected[:, 4:14]) / interocular).max(initial=0) < 1e-4
        assert np.abs(found[:, :4] - expected[:, :4]).max(initial=0) < 1e-3
        assert np.abs(found[:, 14] - expected[:, 14]).max(initial=0) < 1e-5
        faces += len(found)
    assert faces >= len(frames[kind])  # a face in every frame, or more: the comparison was not of empty lists


def test_sface_without_its_weights_among_its_inputs_embeds_as_the_published_graph(frames):
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # the published graph warns once per weight listed among its inputs
    options.intra_op_num_threads = 1
    published = onnxruntime.InferenceSession(
        str(sface_model_path(SFACE_FILE)), options, providers=["CPUExecutionProvider"]
    )
    models, largest = load_sface_models(), 0.0
    for image in frames["lfw"]:
        face = detect_faces_yunet(image, DEFAULT_SFACE_CONFIG, models)[0]
        chip = align_sface(image, face.landmarks)
        blob = np.ascontiguousarray(chip.transpose(2, 0, 1)[None], dtype=np.float32)
        expected = unit_vector(published.run(None, {"data": blob})[0])
        largest = max(largest, float(np.abs(SFaceEmbedder(models).embed(chip) - expected).max()))
    assert largest < 1e-5  # float rounding: 4e-7 measured
