"""A face template's payload: its embedding as little-endian float32, the length checked against its algorithm."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pytest

from tessera.face.codec import embedding_from_bytes, embedding_to_bytes
from tessera.face.embed import ALGORITHM_IDS, DLIB_RESNET_V1, EMBEDDING_DIMS, DlibResNetEmbedder


def test_a_real_embedding_survives_the_round_trip(reference_template):
    payload = embedding_to_bytes(reference_template.embedding)
    assert len(payload) == 128 * 4
    copy = embedding_from_bytes(payload, reference_template.algorithm)
    assert copy.dtype == np.float32 and copy.shape == (128,)
    np.testing.assert_array_equal(copy, reference_template.embedding)
    assert float(copy @ reference_template.embedding) == pytest.approx(1.0, abs=1e-6)


def test_the_payload_is_little_endian_float32_whatever_the_input_dtype():
    embedding = np.linspace(-1.0, 1.0, 128)  # float64 in, float32 stored
    payload = embedding_to_bytes(embedding)
    assert payload[:8] == struct.pack("<ff", -1.0, embedding[1])
    np.testing.assert_allclose(embedding_from_bytes(payload, DLIB_RESNET_V1), embedding, atol=1e-7)


@pytest.mark.parametrize("length", [0, 127 * 4, 128 * 4 - 1, 129 * 4, 512 * 4])
def test_a_payload_of_the_wrong_length_is_refused(length):
    with pytest.raises(ValueError, match=rf"must be 512 bytes \(128 float32\); got {length} bytes"):
        embedding_from_bytes(bytes(length), DLIB_RESNET_V1)


def test_an_unknown_algorithm_is_refused():
    with pytest.raises(ValueError, match=r"algorithm must be a face algorithm, one of .*; got 'tessera-finger-1'"):
        embedding_from_bytes(bytes(512), "tessera-finger-1")


def test_only_a_vector_is_encoded():
    with pytest.raises(ValueError, match=r"embedding must be a one-dimensional array; got shape \(2, 64\)"):
        embedding_to_bytes(np.zeros((2, 64), np.float32))


def test_every_face_algorithm_has_its_embedding_length():
    assert set(ALGORITHM_IDS.values()) <= set(EMBEDDING_DIMS)
    dlib_dim = {field.name: field.default for field in dataclasses.fields(DlibResNetEmbedder)}["dim"]
    assert {
        EMBEDDING_DIMS[algorithm] for (name, _), algorithm in ALGORITHM_IDS.items() if name == "dlib-resnet-v1"
    } == {dlib_dim}
