"""Fingerprint fixtures for every test (a plugin of tests/conftest.py): real prints and photos from
../shared/data/finger, skipped cleanly without them.

Extraction costs ~0.3-1 s per image (the LEADER network), so templates are
made once per session and shared.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from tessera.capture.decode import decode_image
from tessera.evaluation.fvc import read_image
from tessera.finger.pipeline import FingerTemplate, extract_finger
from tests.conftest import SHARED_DATA, _require

FINGER_DATA = SHARED_DATA / "finger"


@pytest.fixture(scope="session")
def finger_data() -> Path:
    return _require(FINGER_DATA, "fingerprint evaluation data (finger/)")


@pytest.fixture(scope="session")
def fvc_print(finger_data):
    """Return FVC2004 print ``<db>/<finger>_<impression>.png`` as (rows, cols) uint8."""

    def load(db: str, finger: int, impression: int) -> np.ndarray:
        path = _require(
            finger_data / "fvc2004" / db / f"{finger}_{impression}.png", f"FVC2004 {db} print {finger}_{impression}"
        )
        return read_image(path)

    return load


@pytest.fixture(scope="session")
def fvc_template(fvc_print):
    """Return the contact template of an FVC2004 print (made once per session)."""

    @functools.cache
    def make(db: str, finger: int, impression: int) -> FingerTemplate:
        template = extract_finger(fvc_print(db, finger, impression), "contact", ppi=512.0 if db == "DB3_B" else None)
        assert template, f"FVC2004 {db} {finger}_{impression} must give a template; got {template}"
        return template

    return make


@pytest.fixture(scope="session")
def phone_photo(finger_data):
    """Return IIITD phone photo ``name`` (without .jpg) decoded as the service decodes uploads: RGB, upright."""

    def load(name: str) -> np.ndarray:
        path = _require(finger_data / "phone_iiitd" / "data" / "raw" / "samples" / f"{name}.jpg", f"phone photo {name}")
        return decode_image(path.read_bytes())

    return load


@pytest.fixture(scope="session")
def phone_template(phone_photo):
    """Return the contactless template of a phone photo (made once per session)."""

    @functools.cache
    def make(name: str) -> FingerTemplate:
        template = extract_finger(phone_photo(name), "contactless")
        assert template, f"phone photo {name} must give a template; got {template}"
        return template

    return make


@pytest.fixture(scope="session")
def contactless_print(finger_data):
    """Return contactless_ds1 image ``SIRE-<subject>_<finger>_<n>.bmp`` as (rows, cols) uint8."""

    def load(subject: int, finger: int, impression: int) -> np.ndarray:
        path = (
            finger_data
            / "contactless_ds1"
            / "data"
            / "DS1_sample"
            / str(subject)
            / f"SIRE-{subject}_{finger}_{impression}.bmp"
        )
        return read_image(_require(path, f"contactless print {path.name}"))

    return load
