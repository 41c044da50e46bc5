"""The face score: cosine similarity of unit embeddings, with shapes checked at the door."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.match.face import paired_similarities, similarities, similarity, similarity_matrix
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


def test_similarity_matrix_matches_similarity_pair_by_pair():
    a, b = _random_units(4), _random_units(6, seed=1)
    matrix = similarity_matrix(a, b)
    assert matrix.shape == (4, 6) and matrix.dtype == np.float32
    assert matrix == pytest.approx(np.array([[similarity(x, y) for y in b] for x in a]), abs=1e-6)


def test_similarity_matrix_in_blocks_of_rows_agrees_with_the_whole_matrix():
    # Within float32 rounding only: the BLAS product may sum a block's rows in another order.
    a, b = _random_units(50), _random_units(70, seed=1)
    whole = similarity_matrix(a, b)
    blocks = np.concatenate([similarity_matrix(a[start : start + 16], b) for start in range(0, 50, 16)])
    assert blocks.shape == whole.shape and blocks == pytest.approx(whole, abs=1e-6)


def test_similarity_matrix_clips_to_the_cosine_range():
    a = _random_units(3)
    matrix = similarity_matrix(a, a)
    assert matrix.max() <= 1.0 and matrix.min() >= -1.0
    assert similarity_matrix(a, -a).min() >= -1.0


def test_an_absent_embedding_is_not_checked_and_never_matches():
    a, b = _random_units(3), _random_units(4, seed=1)
    a[1] = 0.0  # a refused capture: a row of zeros, not a unit vector
    b[2] = 0.0
    matrix = similarity_matrix(
        a, b, a_present=np.array([True, False, True]), b_present=np.array([True, True, False, True])
    )
    assert np.all(matrix[1] == -np.inf) and np.all(matrix[:, 2] == -np.inf)
    assert matrix[0, 0] == pytest.approx(similarity(a[0], b[0]), abs=1e-6)
    with pytest.raises(ValueError, match=r"a rows must be unit vectors .*row 1 has norm 0\.000000"):
        similarity_matrix(a, b, b_present=np.array([True, True, False, True]))


def test_similarity_matrix_refuses_rows_of_another_width():
    with pytest.raises(ValueError, match=r"b must have shape \(m, 128\) to match a; got shape \(2, 64\)"):
        similarity_matrix(_random_units(3), _random_units(2, dim=64))


def test_similarity_matrix_refuses_a_mask_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"a_present must be a bool array of shape \(3,\), one entry per row of a"):
        similarity_matrix(_random_units(3), _random_units(2), a_present=np.ones(2, dtype=bool))


def test_paired_similarities_scores_row_i_against_row_i():
    a, b = _random_units(5), _random_units(5, seed=1)
    scores = paired_similarities(a, b)
    assert scores.shape == (5,) and scores.dtype == np.float32
    assert scores == pytest.approx([similarity(x, y) for x, y in zip(a, b)], abs=1e-6)
    b[3] = 0.0
    present = np.array([True, True, True, False, True])
    scored = paired_similarities(a, b, present=present)
    assert scored[3] == -np.inf and np.array_equal(scored[present], scores[present])


def test_paired_similarities_refuses_sides_of_different_shapes():
    with pytest.raises(ValueError, match=r"a and b must have the same shape \(n, d\); got a of shape \(5, 128\)"):
        paired_similarities(_random_units(5), _random_units(4))
