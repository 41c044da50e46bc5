"""Face comparison score: the cosine similarity of two face embeddings.

Embeddings are unit vectors (see :mod:`tessera.primitives`), so the cosine is
their dot product: 1 for identical directions, 0 for orthogonal, -1 for
opposite. Higher means more alike. What a score *means* (the false-match
rate it stands for) is the job of :mod:`tessera.match.calibration`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

UNIT_NORM_TOLERANCE = 1e-3
"""How far from 1 an embedding's L2 norm may be: float32 rounding of a
normalised 128-D vector stays far below this; anything beyond is a caller
passing raw, unnormalised vectors, whose dot product would not be a cosine."""


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two unit embeddings.

    Parameters
    ----------
    a, b : numpy.ndarray, shape (d,)
        Unit-norm embeddings of the same length (dimensionless).

    Returns
    -------
    float
        The dot product, clipped to [-1, 1] against float rounding.

    Raises
    ------
    ValueError
        Either vector is not 1-D, is empty, has a non-finite entry or a norm
        other than 1, or the lengths differ.
    """
    a = _embedding(a, "a")
    b = _embedding(b, "b")
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same length; got a of length {a.shape[0]} and b of length {b.shape[0]}"
        )
    return float(np.clip(np.dot(a, b), -1.0, 1.0))


def similarities(probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Cosine similarity of one probe embedding to every row of a gallery.

    Parameters
    ----------
    probe : numpy.ndarray, shape (d,)
        Unit-norm embedding.
    gallery : numpy.ndarray, shape (n, d)
        One unit-norm embedding per row; ``n`` may be 0.

    Returns
    -------
    numpy.ndarray, shape (n,), float32
        ``gallery @ probe``, clipped to [-1, 1].

    Raises
    ------
    ValueError
        ``probe`` is not a unit (d,) vector, or ``gallery`` is not an
        (n, d) array of unit rows with the probe's ``d``.
    """
    probe = _embedding(probe, "probe")
    gallery = np.asarray(gallery, dtype=np.float32)
    if gallery.ndim != 2 or gallery.shape[1] != probe.shape[0]:
        raise ValueError(f"gallery must have shape (n, {probe.shape[0]}) to match probe; got shape {gallery.shape}")
    if gallery.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    if not np.all(np.isfinite(gallery)):
        raise ValueError("gallery must hold finite numbers; it contains NaN or infinity")
    norms = np.sqrt(np.einsum("ij,ij->i", gallery, gallery))
    worst = int(np.argmax(np.abs(norms - 1.0)))
    if abs(norms[worst] - 1.0) > UNIT_NORM_TOLERANCE:
        raise ValueError(
            f"gallery rows must be unit vectors (L2 norm 1 ± {UNIT_NORM_TOLERANCE}); row {worst} has norm "
            f"{norms[worst]:.6f}"
        )
    return np.clip(gallery @ probe, -1.0, 1.0).astype(np.float32, copy=False)


class CosineScorer:
    """Scores face embeddings for an index (:class:`tessera.index.base.Scorer`): the cosine of :func:`similarities`.

    A shard packs into one (n, d) float32 matrix, each row a unit embedding;
    scoring is one matrix-vector product, clipped to [-1, 1] like
    :func:`similarities`. Rows are checked once, when they enter the index
    (:meth:`check`), not at every search.
    """

    def check(self, features: np.ndarray, like: np.ndarray | None) -> None:
        """Refuse (ValueError) anything but a unit (d,) embedding with the length of ``like``."""
        vector = _embedding(features, "features")
        if like is not None and vector.shape != np.shape(like):
            raise ValueError(
                f"features must have the shape of the embeddings already indexed, {np.shape(like)}; "
                f"got shape {vector.shape}"
            )

    def pack(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """Stack the embeddings into an (n, d) float32 matrix (n may be 0, then d is 0)."""
        if not features:
            return np.zeros((0, 0), np.float32)
        return np.stack([np.asarray(vector, dtype=np.float32) for vector in features])

    def scores(self, probe: np.ndarray, packed: np.ndarray, members: np.ndarray) -> np.ndarray:
        """Cosine of ``probe`` with the rows ``members`` of ``packed``: shape (len(members),), float32."""
        probe = _embedding(probe, "probe")
        if packed.shape[1] != probe.shape[0]:
            raise ValueError(f"probe must have length {packed.shape[1]} like the indexed embeddings; got {probe.shape}")
        # With most rows wanted, one product over the whole matrix beats gathering the rows into a copy.
        scores: np.ndarray = (
            (packed @ probe)[members] if 2 * members.size > packed.shape[0] else packed[members] @ probe
        )
        clipped: np.ndarray = np.clip(scores, -1.0, 1.0).astype(np.float32, copy=False)
        return clipped


def _embedding(vector: np.ndarray, name: str) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    if vector.ndim != 1 or vector.shape[0] == 0:
        raise ValueError(f"{name} must be a 1-D embedding of shape (d,); got shape {vector.shape}")
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"{name} must hold finite numbers; it contains NaN or infinity")
    norm = float(np.linalg.norm(vector))
    if abs(norm - 1.0) > UNIT_NORM_TOLERANCE:
        raise ValueError(
            f"{name} must be a unit vector (L2 norm 1 ± {UNIT_NORM_TOLERANCE}); got norm {norm:.6f}. "
            "Normalise it with tessera.primitives.unit_vector."
        )
    return vector
