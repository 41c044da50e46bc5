"""A face template's payload: its embedding as little-endian float32, its length checked on decoding."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest

from tessera.face.algorithms import FACE_ALGORITHMS
from tessera.face.codec import embedding_from_bytes, embedding_to_bytes
from tessera.face.embed import DlibResNetEmbedder


def test_a_real_embedding_survives_the_round_trip(reference_template):
    payload = embedding_to_bytes(reference_template.embedding)
    assert len(payload) == 128 * 4
    copy = embedding_from_bytes(payload, FACE_ALGORITHMS[reference_template.algorithm].dim)
    assert copy.dtype == np.float32 and copy.shape == (128,)
    np.testing.assert_array_equal(copy, reference_template.embedding)
    assert float(copy @ reference_template.embedding) == pytest.approx(1.0, abs=1e-6)


def test_the_payload_is_little_endian_float32_whatever_the_input_dtype():
    embedding = np.linspace(-1.0, 1.0, 128)  # float64 in, float32 stored
    payload = embedding_to_bytes(embedding)
    assert payload[:8] == struct.pack("<ff", -1.0, embedding[1])
    np.testing.assert_allclose(embedding_from_bytes(payload, 128), embedding, atol=1e-7)


@pytest.mark.parametrize("length", [0, 127 * 4, 128 * 4 - 1, 129 * 4, 512 * 4])
def test_a_payload_of_the_wrong_length_is_refused(length):
    with pytest.raises(ValueError, match=rf"must be 512 bytes \(128 float32\); got {length} bytes"):
        embedding_from_bytes(bytes(length), 128)


@pytest.mark.parametrize("dim", [0, -1, 1.5, True])
def test_a_dimension_that_is_not_a_positive_integer_is_refused(dim):
    with pytest.raises(ValueError, match=rf"dim must be a positive integer \(the embedding length\); got {dim!r}"):
        embedding_from_bytes(bytes(512), dim)


def test_only_a_vector_is_encoded():
    with pytest.raises(ValueError, match=r"embedding must be a one-dimensional array; got shape \(2, 64\)"):
        embedding_to_bytes(np.zeros((2, 64), np.float32))


def test_every_registered_face_algorithm_states_its_embedders_length():
    dlib_dim = {field.name: field.default for field in dataclasses.fields(DlibResNetEmbedder)}["dim"]
    assert FACE_ALGORITHMS["dlib-resnet-v1/5pt-flip/1"].dim == dlib_dim
