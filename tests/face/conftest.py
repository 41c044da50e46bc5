"""Fixtures for the face pipeline tests: LFW photos decoded the way the service decodes uploads."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.capture.decode import decode_image
from tessera.face.pipeline import FaceTemplate, extract_face
from tests.face.samples import REFERENCE


@pytest.fixture(scope="session")
def lfw_rgb(lfw_image):
    """Return LFW photo ``name`` number ``index`` as a (250, 250, 3) uint8 RGB array."""

    def load(name: str, index: int = 1) -> np.ndarray:
        return decode_image(lfw_image(name, index))

    return load


@pytest.fixture(scope="session")
def reference_photo(lfw_rgb) -> np.ndarray:
    return lfw_rgb(*REFERENCE)


@pytest.fixture(scope="session")
def reference_template(reference_photo) -> FaceTemplate:
    template = extract_face(reference_photo)
    assert template, f"the reference photo must be usable; got {template}"
    return template
