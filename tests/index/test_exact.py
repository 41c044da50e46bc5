"""The exact in-process index meets the index contract, for face vectors (cosine) and finger templates (MCC)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tessera.index.base import FACE, FINGER, matcher_key
from tessera.index.exact import ExactIndex
from tessera.match.face import CosineScorer
from tessera.match.mcc import ALGORITHM as MCC_ALGORITHM
from tessera.match.mcc import DEFAULT_MCC_CONFIG, MccScorer, MccTemplate, mcc_score, mcc_template
from tessera.match.minutiae import Minutiae
from tessera.primitives import unit_vector
from tests.index.contract import Backend, IndexContract

# -- faces: unit vectors, cosine ------------------------------------------------------------------------------

FACE_MATCHER = matcher_key(FACE, "dlib-resnet-v1/5pt-flip/1")
DIMENSION = 128


def random_vector(rng: np.random.Generator) -> np.ndarray:
    return unit_vector(rng.normal(size=DIMENSION))


def vector_variant(rng: np.random.Generator, vector: np.ndarray, amount: float) -> np.ndarray:
    """A unit vector at angle ``amount`` x 90° from ``vector``: cosine ``cos(amount π/2)``."""
    other = rng.normal(size=DIMENSION)
    other -= (other @ vector) * vector
    angle = amount * np.pi / 2
    return unit_vector(np.cos(angle) * vector + np.sin(angle) * unit_vector(other))


def vector_tie(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A basis vector: its cosine with any probe is one of the probe's components, exact in any summation order."""
    probe = random_vector(rng)
    return probe, np.eye(DIMENSION, dtype=np.float32)[int(np.argmax(probe))]


def malformed_vectors(rng: np.random.Generator) -> list[object]:
    return [
        unit_vector(rng.normal(size=64)),  # another length than those indexed
        rng.normal(size=DIMENSION).astype(np.float32) * 3,  # not unit
        np.full(DIMENSION, np.nan, np.float32),
        unit_vector(rng.normal(size=DIMENSION)).reshape(8, 16),
    ]


COSINE = Backend(
    new_index=lambda: ExactIndex(FACE_MATCHER, CosineScorer()),
    matcher=FACE_MATCHER,
    foreign_matcher=matcher_key(FACE, "dlib-resnet-v1/5pt/1"),
    parts=(0,),
    invalid_part=2,
    features=random_vector,
    variant=vector_variant,
    exact_tie=vector_tie,
    malformed=malformed_vectors,
    reference_score=lambda probe, vector: float(np.dot(probe.astype(np.float64), vector.astype(np.float64))),
)

# -- fingers: made-up minutiae, MCC ---------------------------------------------------------------------------

FINGER_MATCHER = matcher_key(FINGER, MCC_ALGORITHM, sensor="contact")
MINUTIAE = 30


def cylinders(points: np.ndarray, angles: np.ndarray) -> MccTemplate:
    count = len(angles)
    return mcc_template(
        Minutiae(points=points, angles=angles, kinds=np.ones(count, np.uint8), qualities=np.full(count, 0.8))
    )


def random_minutiae(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    return rng.uniform(60, 260, (MINUTIAE, 2)), rng.uniform(0, 2 * np.pi, MINUTIAE)


_MINUTIAE_OF: dict[int, tuple[np.ndarray, np.ndarray]] = {}
"""The minutiae each test template was made from (by id), so that a variant can move some of them."""


def random_template(rng: np.random.Generator) -> MccTemplate:
    points, angles = random_minutiae(rng)
    template = cylinders(points, angles)
    _MINUTIAE_OF[id(template)] = (points, angles)
    return template


def template_variant(rng: np.random.Generator, template: MccTemplate, amount: float) -> MccTemplate:
    """The same finger with ``amount`` of its minutiae replaced by others, and every one jittered a little."""
    points, angles = (array.copy() for array in _MINUTIAE_OF[id(template)])
    moved = rng.choice(MINUTIAE, int(round(amount * MINUTIAE)), replace=False)
    points[moved], angles[moved] = random_minutiae(rng)[0][: moved.size], random_minutiae(rng)[1][: moved.size]
    variant = cylinders(points + rng.normal(0, 1.0, points.shape), angles + rng.normal(0, 0.05, angles.shape))
    _MINUTIAE_OF[id(variant)] = (points, angles)
    return variant


def template_tie(rng: np.random.Generator) -> tuple[MccTemplate, MccTemplate]:
    """A print with too few minutiae for any cylinder: it scores exactly 0 against everything."""
    points, angles = random_minutiae(rng)
    return random_template(rng), cylinders(points[:2], angles[:2])


def malformed_templates(rng: np.random.Generator) -> list[object]:
    points, angles = random_minutiae(rng)
    count = len(angles)
    other_layout = mcc_template(
        Minutiae(points=points, angles=angles, kinds=np.ones(count, np.uint8), qualities=np.full(count, 0.8)),
        replace(DEFAULT_MCC_CONFIG, spatial_cells=16),
    )
    return [other_layout, unit_vector(rng.normal(size=DIMENSION))]


MCC = Backend(
    new_index=lambda: ExactIndex(FINGER_MATCHER, MccScorer(DEFAULT_MCC_CONFIG)),
    matcher=FINGER_MATCHER,
    foreign_matcher=matcher_key(FINGER, MCC_ALGORITHM, sensor="contactless"),
    parts=(2, 7),
    invalid_part=0,
    features=random_template,
    variant=template_variant,
    exact_tie=template_tie,
    malformed=malformed_templates,
    reference_score=mcc_score,
    atol=1e-4,
)


class TestExactIndex(IndexContract):
    @pytest.fixture(params=[COSINE, MCC], ids=["cosine", "mcc"])
    def backend(self, request) -> Backend:
        return request.param


def test_finger_positions_outside_1_to_10_are_refused():
    index = MCC.new_index()
    rng = np.random.default_rng(3)
    from tests.index.contract import make_entry

    for position in (0, 11, -1):
        with pytest.raises(ValueError, match=rf"entry\.part must be in 1-10 for 'finger:contact:.*'; got {position}"):
            index.upsert([make_entry(MCC, "t1", "s1", random_template(rng), part=position)])
    index.upsert([make_entry(MCC, f"t{p}", "s1", random_template(rng), part=p) for p in (1, 10)])
    assert index.size() == 2


def test_matcher_keys():
    assert matcher_key(FACE, "dlib-resnet-v1/5pt-flip/1") == "face:dlib-resnet-v1/5pt-flip/1"
    assert matcher_key(FINGER, "tessera-mcc-lssr-2", "contactless") == "finger:contactless:tessera-mcc-lssr-2"
    with pytest.raises(ValueError, match="sensor must name the capture kind of a finger matcher"):
        matcher_key(FINGER, "tessera-mcc-lssr-2")
    with pytest.raises(ValueError, match="modality must be 'face' or 'finger'; got 'iris'"):
        matcher_key("iris", "x")
    with pytest.raises(ValueError, match="matcher must be a key made by matcher_key"):
        ExactIndex("iris:x", CosineScorer())
