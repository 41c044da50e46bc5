"""A contactless fingertip is read through a smaller network window than a contact print (issue 16: a slap to four
templates within 3 s of one core): ``FingerConfig.contactless_extractor_side`` (448 px) against
``max_extractor_side`` (512 px), measured side by side in ``FingerConfig``'s docstring."""

from __future__ import annotations

import pytest

from tessera.finger import minutiae
from tessera.finger.config import DEFAULT_FINGER_CONFIG, FingerConfig
from tessera.finger.pipeline import extract_finger
from tessera.finger.template import FingerTemplate


@pytest.fixture
def windows(monkeypatch) -> list[tuple[int, int]]:
    """The shape of every window the minutiae network is run on (the network itself still runs)."""
    seen: list[tuple[int, int]] = []
    network = minutiae.EXTRACTORS[DEFAULT_FINGER_CONFIG.extractor]

    def recording(image, min_quality, threads=minutiae.EXTRACTOR_THREADS):
        seen.append(image.shape[:2])
        return network(image, min_quality, threads)

    monkeypatch.setitem(minutiae.EXTRACTORS, DEFAULT_FINGER_CONFIG.extractor, recording)
    return seen


def test_a_contactless_fingertip_is_read_through_the_contactless_window(contactless_print, windows):
    template = extract_finger(contactless_print(1, 3, 1), "contactless", extractor_threads=1)
    assert isinstance(template, FingerTemplate)
    ((rows, cols),) = windows
    side = DEFAULT_FINGER_CONFIG.contactless_extractor_side
    assert side < DEFAULT_FINGER_CONFIG.max_extractor_side
    assert max(rows, cols) == side  # a DS1 fingertip is wider than the window: it is cut to it
    points = template.minutiae.points
    assert (points.max(axis=0) - points.min(axis=0) < side).all()  # every minutia found lies in one window


def test_a_contact_print_still_reads_the_larger_window(fvc_print, windows):
    # FVC2004 DB3 holds the longest prints of the shared data (480 px with their margin).
    template = extract_finger(fvc_print("DB3_B", 101, 1), "contact", ppi=500.0, extractor_threads=1)
    assert isinstance(template, FingerTemplate)
    ((rows, cols),) = windows
    config = DEFAULT_FINGER_CONFIG
    assert config.contactless_extractor_side < max(rows, cols) <= config.max_extractor_side  # DB3 101_1: 480 px


def test_the_bound_on_every_window_holds_for_a_contactless_fingertip_too(contactless_print, windows):
    with pytest.raises(ValueError, match=r"contactless_extractor_side must be at least 64 pixels; got 32"):
        FingerConfig(contactless_extractor_side=32)
    config = FingerConfig(max_extractor_side=256)
    assert config.contactless_extractor_side > config.max_extractor_side
    extract_finger(contactless_print(1, 3, 1), "contactless", config, extractor_threads=1)
    ((rows, cols),) = windows
    assert max(rows, cols) == 256
