"""The passive score on a still: measured on a face inside the image, a value (never an exception) otherwise."""

from __future__ import annotations

import numpy as np

from tessera.liveness.passive import passive_score
from tessera.primitives import Box


def _image(rows: int, cols: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, size=(rows, cols, 3), dtype=np.uint8)


def test_a_face_inside_the_image_is_scored_with_the_shipped_calibration():
    score = passive_score(_image(240, 240), Box(top=60, left=60, bottom=180, right=180))
    assert score.measured and score.score is not None and score.reason is None
    assert score.attack_suspected in (True, False)


def test_a_box_outside_a_degenerate_image_gives_an_unmeasured_score_with_its_reason():
    # What a detector answered for a 16384x2 PNG: a box far outside the image (it once made a 500).
    box = Box(top=-3634747, left=-8969362, bottom=-3634747, right=-8969362)
    score = passive_score(_image(2, 16384), box)
    assert not score.measured and score.score is None and score.reason == "face_outside_image"
    assert passive_score(_image(2, 16384), None).reason == "no_face"
