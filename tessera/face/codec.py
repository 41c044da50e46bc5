"""A face template's payload: its embedding as little-endian float32 bytes, what the vault seals.

The finger counterpart is the ISO/IEC 19794-2 record,
:meth:`tessera.finger.template.FingerTemplate.to_bytes` and ``from_bytes``.
"""

from __future__ import annotations

import numpy as np

EMBEDDING_DTYPE = np.dtype("<f4")
"""How an embedding is stored: little-endian float32, 4 bytes per dimension, whatever the machine."""


def embedding_to_bytes(embedding: np.ndarray) -> bytes:
    """The payload of a face template.

    Parameters
    ----------
    embedding : numpy.ndarray, shape (dim,)
        The template's embedding; converted to float32.

    Returns
    -------
    bytes
        ``4 * dim`` bytes, little-endian float32.

    Raises
    ------
    ValueError
        ``embedding`` is not one-dimensional.
    """
    vector = np.asarray(embedding)
    if vector.ndim != 1:
        raise ValueError(f"embedding must be a one-dimensional array; got shape {vector.shape}")
    return vector.astype(EMBEDDING_DTYPE).tobytes()


def embedding_from_bytes(payload: bytes, dim: int) -> np.ndarray:
    """The embedding of a face template from its payload.

    Parameters
    ----------
    payload : bytes
        What :func:`embedding_to_bytes` returned.
    dim : int
        Length of the template algorithm's embeddings
        (:attr:`tessera.face.algorithms.FaceAlgorithm.dim`).

    Returns
    -------
    numpy.ndarray, shape (dim,), float32

    Raises
    ------
    ValueError
        ``dim`` is not a positive integer, or ``payload`` is not ``4 * dim`` bytes long.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive integer (the embedding length); got {dim!r}")
    expected = dim * EMBEDDING_DTYPE.itemsize
    if len(payload) != expected:
        raise ValueError(
            f"payload of a face template must be {expected} bytes ({dim} float32); got {len(payload)} bytes"
        )
    return np.frombuffer(payload, dtype=EMBEDDING_DTYPE).astype(np.float32)
