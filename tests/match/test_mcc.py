"""Tessera's MCC matcher: properties on synthetic minutiae, and score bands on real FVC prints."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tessera.match.mcc import (
    DEFAULT_MCC_CONFIG,
    MccConfig,
    angle_difference,
    local_similarities,
    mcc_gallery,
    mcc_score,
    mcc_scores,
    mcc_template,
)
from tessera.match.minutiae import Minutiae, no_minutiae


def random_minutiae(count: int, seed: int, size: tuple[int, int] = (400, 320)) -> Minutiae:
    """Minutiae spread like a print's: uniform over an ellipse, directions following a smooth flow plus noise."""
    random = np.random.default_rng(seed)
    angle = random.uniform(0, 2 * math.pi, count)
    radius = np.sqrt(random.uniform(0, 1, count))
    rows = size[0] / 2 + radius * np.sin(angle) * size[0] * 0.42
    cols = size[1] / 2 + radius * np.cos(angle) * size[1] * 0.42
    flow = np.arctan2(rows - size[0] / 2, cols - size[1] / 2) + math.pi / 2
    directions = flow + random.choice([0, math.pi], count) + random.normal(0, 0.2, count)
    return Minutiae(
        np.stack([rows, cols], axis=1), directions, random.integers(1, 3, count), random.uniform(0.5, 1, count)
    )


def jittered(minutiae: Minutiae, seed: int, shift_px: float = 2.0, turn: float = 0.05, drop: float = 0.15) -> Minutiae:
    """The same finger seen again: positions and directions jittered, some minutiae missed."""
    random = np.random.default_rng(seed)
    kept = random.uniform(0, 1, len(minutiae)) >= drop
    points = minutiae.points + random.normal(0, shift_px, minutiae.points.shape)
    angles = minutiae.angles + random.normal(0, turn, len(minutiae))
    return Minutiae(points, angles, minutiae.kinds, minutiae.qualities).take(kept)


def test_a_template_scores_itself_near_one():
    template = mcc_template(random_minutiae(40, seed=1))
    assert len(template) > 30
    assert mcc_score(template, template) > 0.9


def test_a_moved_and_turned_finger_scores_as_itself():
    minutiae = random_minutiae(45, seed=2)
    original = mcc_template(minutiae)
    for seed in range(3):
        random = np.random.default_rng(seed)
        moved = minutiae.transformed(
            rotation=random.uniform(-math.pi, math.pi), shift=tuple(random.uniform(-80, 80, 2)), centre=(200, 160)
        )
        assert mcc_score(original, mcc_template(moved)) == pytest.approx(mcc_score(original, original), abs=0.03)


def test_a_mate_scores_well_above_a_non_mate():
    finger = random_minutiae(45, seed=3)
    mate = mcc_score(mcc_template(finger), mcc_template(jittered(finger, seed=4)))
    non_mates = [
        mcc_score(mcc_template(finger), mcc_template(random_minutiae(45, seed=seed))) for seed in range(10, 20)
    ]
    assert mate > 0.3
    assert max(non_mates) < 0.1
    assert mate > 3 * max(non_mates)


def test_the_score_is_almost_symmetric_and_within_zero_and_one():
    a = mcc_template(random_minutiae(40, seed=5))
    b = mcc_template(jittered(random_minutiae(40, seed=5), seed=6, drop=0.3))
    forward, backward = mcc_score(a, b), mcc_score(b, a)
    assert 0.0 <= forward <= 1.0 and 0.0 <= backward <= 1.0
    assert forward == pytest.approx(backward, abs=0.02)
    plain = MccConfig(relaxation=False)
    assert mcc_score(a, b, plain) == pytest.approx(mcc_score(b, a, plain), abs=1e-6)


def test_empty_and_single_minutia_templates_score_zero():
    empty = mcc_template(no_minutiae())
    single = mcc_template(random_minutiae(1, seed=7))
    full = mcc_template(random_minutiae(40, seed=7))
    assert len(empty) == 0 and len(single) == 0 and single.minutiae_count == 1
    for a, b in ((empty, full), (full, empty), (single, full), (single, single), (empty, empty)):
        assert mcc_score(a, b) == 0.0
    assert local_similarities(empty, full).shape == (0, len(full))


def test_one_to_many_gives_the_one_to_one_scores():
    probe = mcc_template(random_minutiae(35, seed=8))
    templates = [mcc_template(random_minutiae(count, seed=20 + count)) for count in (0, 1, 12, 30, 60)]
    templates.append(mcc_template(jittered(random_minutiae(35, seed=8), seed=9)))
    for config in (DEFAULT_MCC_CONFIG, MccConfig(relaxation=False), MccConfig(gallery_chunk=2)):
        gallery = mcc_gallery(templates, config)
        scores = mcc_scores(probe, gallery, config)
        assert scores.shape == (len(templates),)
        assert scores == pytest.approx([mcc_score(probe, template, config) for template in templates], abs=1e-5)
    assert mcc_scores(probe, mcc_gallery([])).shape == (0,)


def test_local_similarity_ignores_minutiae_turned_too_far_apart():
    minutiae = random_minutiae(30, seed=10)
    template = mcc_template(minutiae)
    similarity = local_similarities(template, template)
    turned = (
        np.abs(angle_difference(template.angles[:, None], template.angles[None, :]))
        > DEFAULT_MCC_CONFIG.max_angle_difference
    )
    assert np.all(similarity[turned] == 0.0)
    assert np.allclose(np.diag(similarity), 1.0, atol=2e-3)  # float32 rounding in |a - b|


def test_cylinders_hold_only_valid_cells():
    template = mcc_template(random_minutiae(40, seed=11))
    cells = DEFAULT_MCC_CONFIG.spatial_cells**2
    values = template.cylinders.reshape(len(template), cells, DEFAULT_MCC_CONFIG.directional_cells)
    assert np.all(values[template.validity == 0] == 0.0)
    assert values.min() >= 0.0 and values.max() <= 1.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("spatial_cells", 1, "spatial_cells must be 2-64"),
        ("radius", 0.0, "radius must be positive"),
        ("min_valid_cells", 1.5, r"min_valid_cells must lie in \[0, 1\]"),
        ("min_pairs", 20, "min_pairs and max_pairs"),
    ],
)
def test_a_bad_config_is_refused_with_its_field_name(field, value, message):
    with pytest.raises(ValueError, match=message):
        MccConfig(**{field: value})


def test_minutiae_refuse_mismatched_arrays():
    with pytest.raises(ValueError, match="angles must have one entry per point"):
        Minutiae(np.zeros((3, 2)), np.zeros(2), np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"qualities must lie in \[0, 1\]"):
        Minutiae(np.zeros((1, 2)), np.zeros(1), np.ones(1), np.array([2.0]))


# -- real prints -------------------------------------------------------------------

MATE_ABOVE = 0.04
"""A mate pair must score above this. Over FVC2004 DB1-3 (default pipeline and matcher), 91 % of the 840
genuine pairs do, and none of the 17,280 ordered impostor pairs (the highest scores 0.034)."""

NON_MATE_BELOW = 0.035
"""A non-mate pair must score below this: every one of the 17,280 FVC2004 DB1-3 impostor pairs does
(99.9th percentile 0.027)."""


@pytest.mark.parametrize("db", ["DB1_B", "DB2_B", "DB3_B"])
def test_fvc_mates_score_above_the_band_and_non_mates_below(fvc_template, db):
    probe = mcc_template(fvc_template(db, 103, 1).minutiae)
    mate = mcc_template(fvc_template(db, 103, 3).minutiae)
    non_mates = [mcc_template(fvc_template(db, finger, 1).minutiae) for finger in (104, 105)]
    assert mcc_score(probe, mate) > MATE_ABOVE
    assert all(mcc_score(probe, other) < NON_MATE_BELOW for other in non_mates)
