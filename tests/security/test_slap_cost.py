"""The hand photo ``measure_slap_cost`` times as the costliest is still costly: every finger reaches the network."""

from __future__ import annotations

from tessera.evaluation.contactless import time_slap_photo
from tessera.finger.minutiae import extractor_window
from tessera.finger.pipeline import DEFAULT_FINGER_CONFIG
from tests.security.measure_slap_cost import costly_slap


def test_the_photo_drawn_to_be_costly_brings_four_fingers_to_the_networks_largest_window(monkeypatch):
    windows = []

    def watched(mask, margin, max_side):
        window = extractor_window(mask, margin, max_side)
        windows.append(None if window is None else (window.bottom - window.top, window.right - window.left))
        return window

    monkeypatch.setattr("tessera.finger.minutiae.extractor_window", watched)
    timed = time_slap_photo(*costly_slap())
    side = DEFAULT_FINGER_CONFIG.contactless_extractor_side
    assert windows == [(side, side)] * 4  # a cheaper drawing would understate the route's worst cost
    assert timed["refusals"] == ["too_few_minutiae"] * 4
    assert timed["templates"] == 0
