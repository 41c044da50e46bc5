"""The face score: cosine similarity of unit embeddings, with shapes checked at the door."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.match.face import similarities, similarity
from tessera.primitives import unit_vector


def _random_units(count: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, dim))
    return np.stack([unit_vector(vector) for vector in vectors])


def test_similarity_is_the_cosine():
    a, b = _random_units(2)
    assert similarity(a, a) == pytest.approx(1.0, abs=1e-6)
    assert similarity(a, -a) == pytest.approx(-1.0, abs=1e-6)
    assert similarity(a, b) == pytest.approx(float(np.dot(a, b)), abs=1e-6)
    assert similarity(a, b) == pytest.approx(similarity(b, a))
    assert isinstance(similarity(a, b), float)


def test_similarity_of_orthogonal_vectors_is_zero():
    assert similarity(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 0.0


def test_similarities_matches_similarity_row_by_row():
    probe, *rows = _random_units(6)
    gallery = np.stack(rows)
    scores = similarities(probe, gallery)
    assert scores.shape == (5,) and scores.dtype == np.float32
    assert scores == pytest.approx([similarity(probe, row) for row in rows], abs=1e-6)


def test_similarities_of_an_empty_gallery_is_empty():
    probe = _random_units(1)[0]
    scores = similarities(probe, np.zeros((0, 128), dtype=np.float32))
    assert scores.shape == (0,) and scores.dtype == np.float32


def test_similarity_refuses_vectors_of_different_lengths():
    with pytest.raises(ValueError, match=r"a and b must have the same length; got a of length 128 and b of length 64"):
        similarity(_random_units(1)[0], _random_units(1, dim=64)[0])


def test_similarity_refuses_a_matrix():
    with pytest.raises(ValueError, match=r"a must be a 1-D embedding of shape \(d,\); got shape \(2, 128\)"):
        similarity(_random_units(2), _random_units(1)[0])


def test_similarity_refuses_a_raw_unnormalised_vector():
    with pytest.raises(ValueError, match=r"b must be a unit vector .*got norm 2\.000000.*unit_vector"):
        similarity(np.array([1.0, 0.0]), np.array([2.0, 0.0]))


def test_similarity_refuses_nan():
    with pytest.raises(ValueError, match=r"a must hold finite numbers"):
        similarity(np.array([np.nan, 1.0]), np.array([1.0, 0.0]))


def test_similarities_refuses_a_gallery_of_the_wrong_width():
    with pytest.raises(ValueError, match=r"gallery must have shape \(n, 128\) to match probe; got shape \(3, 64\)"):
        similarities(_random_units(1)[0], _random_units(3, dim=64))


def test_similarities_refuses_a_one_dimensional_gallery():
    with pytest.raises(ValueError, match=r"gallery must have shape \(n, 128\) to match probe; got shape \(128,\)"):
        similarities(_random_units(1)[0], _random_units(1)[0])


def test_similarities_names_the_gallery_row_that_is_not_a_unit_vector():
    gallery = _random_units(4)
    gallery[2] *= 3
    with pytest.raises(ValueError, match=r"gallery rows must be unit vectors .*row 2 has norm 3\.000000"):
        similarities(_random_units(1, seed=1)[0], gallery)
