"""A secret orthonormal rotation of face templates, one per gallery, applied before they leave for an external index.

An external engine (:mod:`tessera.index.milvus`) holds face embeddings in
the clear for its own arithmetic. Tessera gives it ``R v`` instead of ``v``,
with ``R`` a random orthonormal (d, d) matrix drawn from a secret seed that
only the vault derives (:meth:`tessera.store.vault.Vault.template_rotation`),
one per gallery and rotation generation. Since ``R`` is orthonormal,
``(R q) . (R v) = q . v``: cosine scores, and so every threshold and
false-match rate, are unchanged (up to float32 rounding, ~1e-7).

What it gives, in the terms of ISO/IEC 24745 (biometric information
protection): *unlinkability* across galleries (two galleries' copies of one
person's template are rotated by unrelated matrices), *renewability* (a new
generation re-rotates a gallery; the old copies no longer match the new
ones: :func:`tessera.workflows.rotation_renewal.renew_gallery_rotation`), and templates that an engine's
operator or a stolen engine backup
cannot compare with embeddings computed elsewhere, nor invert with a public
model, without the seed. What it does not give: *irreversibility* against
someone who holds the seed, or who can submit chosen probes and read the
scores (a rotation is linear: d probes and their scores recover it), nor
protection of the Tessera process itself, which sees templates in the clear.
See docs/security.md.

A gallery's first rotation is derived from the master key (nothing stored:
every process derives it, and whoever holds the master key can derive it
again). Each renewal draws a random seed kept in the vault's rotation key
folder and destroys the previous one, so that after a renewal an engine
backup taken before it can no longer be rotated back, not even with the
master key: the copies it holds of subjects erased since stay unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

SEED_BYTES = 32


@dataclass(frozen=True)
class GalleryRotation:
    """The rotation in use for one gallery's templates in an external index.

    Attributes
    ----------
    renewal : int
        0 for the gallery's first rotation (derived from the master key), then 1, 2, ... for each renewal
        (a random seed in the vault). The index stores it beside each row, so that rows of two renewals are
        never compared with one probe.
    matrix : numpy.ndarray, shape (d, d), float64
        The orthonormal matrix ``R``: the index holds ``R v`` for a template ``v``.
    """

    renewal: int
    matrix: np.ndarray


def orthonormal_rotation(seed: bytes, dimension: int) -> np.ndarray:
    """The Haar-random orthonormal matrix drawn from ``seed``: the same seed gives the same matrix, anywhere.

    Parameters
    ----------
    seed : bytes
        32 secret bytes (a ChaCha20 key); the keystream gives the matrix's normal draws.
    dimension : int
        d, the embedding length (>= 1).

    Returns
    -------
    numpy.ndarray, shape (d, d), float64
        ``R`` with ``R @ R.T == I`` (to ~1e-15).

    Notes
    -----
    Q of the QR decomposition of a matrix of independent standard normal
    draws, with the signs of R's diagonal moved into Q, is Haar-distributed
    (F. Mezzadri, "How to generate random matrices from the classical compact
    groups", Notices of the AMS 54(5), 2007, section 5). The normal draws come
    from a ChaCha20 keystream (Box-Muller), so that the matrix is as
    unpredictable as the seed.
    """
    if len(seed) != SEED_BYTES:
        raise ValueError(f"seed must be {SEED_BYTES} bytes; got {len(seed)}")
    if dimension < 1:
        raise ValueError(f"dimension must be at least 1; got {dimension}")
    count = dimension * dimension
    stream = Cipher(algorithms.ChaCha20(seed, b"\0" * 16), mode=None).encryptor().update(b"\0" * (8 * 2 * count))
    uniform = (np.frombuffer(stream, dtype="<u8") >> np.uint64(11)).astype(np.float64) + 0.5
    uniform /= float(1 << 53)  # in (0, 1): never 0, so the logarithm is finite
    radius = np.sqrt(-2.0 * np.log(uniform[:count]))
    normal = (radius * np.cos(2.0 * np.pi * uniform[count:])).reshape(dimension, dimension)
    q, r = np.linalg.qr(normal)
    rotation: np.ndarray = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    return rotation
