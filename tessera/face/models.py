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
import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

import dlib

MODEL_PACKAGE = "face_recognition_models"
LANDMARKS_5_FILE = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR_FILE = "mmod_human_face_detector.dat"

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


def packaged_file(package: str, relative: str, provides: str, install: str) -> Path:
    """Return the path of ``relative`` inside the installed Python ``package`` (model weights ship in packages).

    Parameters
    ----------
    package : str
        Import name of the package (``face_recognition_models``).
    relative : str
        Path of the file inside the package's folder (``models/<file>``).
    provides : str
        What the package is for, in words, for the error message.
    install : str
        The command that installs it, for the error message.

    Raises
    ------
    FileNotFoundError
        The package is not installed or does not hold the file: a broken
        environment, not a bad capture.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the Python package {package!r} is not installed; it {provides} (install it with `{install}`, "
            "or run `make install`)"
        )
    path = Path(spec.submodule_search_locations[0]) / relative
    if not path.is_file():
        raise FileNotFoundError(f"model file {Path(relative).name!r} not found at {path}; reinstall with `{install}`")
    return path


def model_path(file_name: str) -> Path:
    """Return the path of ``file_name`` inside the installed ``face_recognition_models`` package."""
    return packaged_file(
        MODEL_PACKAGE, f"models/{file_name}", "provides the face models", "pip install face_recognition_models==0.3.0"
    )


@functools.cache
def load_face_models() -> FaceModels:
    """Load every face model on first use and return the same holder afterwards (about 0.4 s once)."""
    return FaceModels(
        hog_detector=Guarded(dlib.get_frontal_face_detector()),
        cnn_detector=Guarded(dlib.cnn_face_detection_model_v1(str(model_path(CNN_DETECTOR_FILE)))),
        landmarks=Guarded(dlib.shape_predictor(str(model_path(LANDMARKS_5_FILE)))),
        descriptor=Guarded(dlib.face_recognition_model_v1(str(model_path(DESCRIPTOR_FILE)))),
    )
