"""A face template's payload: its embedding as little-endian float32 bytes, what the vault seals.

The finger counterpart is the ISO/IEC 19794-2 record,
:meth:`tessera.finger.template.FingerTemplate.to_bytes` and ``from_bytes``.
"""

from __future__ import annotations

import numpy as np

from tessera.face.embed import EMBEDDING_DIMS

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


def embedding_from_bytes(payload: bytes, algorithm: str) -> np.ndarray:
    """The embedding of a face template of ``algorithm`` from its payload.

    Parameters
    ----------
    payload : bytes
        What :func:`embedding_to_bytes` returned.
    algorithm : str
        The template's algorithm id; says how long the embedding is
        (:data:`tessera.face.embed.EMBEDDING_DIMS`).

    Returns
    -------
    numpy.ndarray, shape (dim,), float32

    Raises
    ------
    ValueError
        ``algorithm`` is not a known face algorithm, or ``payload`` is not
        ``4 * dim`` bytes long for it.
    """
    if algorithm not in EMBEDDING_DIMS:
        raise ValueError(f"algorithm must be a face algorithm, one of {sorted(EMBEDDING_DIMS)}; got {algorithm!r}")
    expected = EMBEDDING_DIMS[algorithm] * EMBEDDING_DTYPE.itemsize
    if len(payload) != expected:
        raise ValueError(
            f"payload of a {algorithm} face template must be {expected} bytes ({EMBEDDING_DIMS[algorithm]} float32); "
            f"got {len(payload)} bytes"
        )
    return np.frombuffer(payload, dtype=EMBEDDING_DTYPE).astype(np.float32)
