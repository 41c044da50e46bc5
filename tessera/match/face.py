"""Face comparison score: the cosine similarity of two face embeddings.

Embeddings are unit vectors (see :mod:`tessera.primitives`), so the cosine is
their dot product: 1 for identical directions, 0 for orthogonal, -1 for
opposite. Higher means more alike. What a score *means* (the false-match
rate it stands for) is the job of :mod:`tessera.match.calibration`.

Every face score is computed here, clipped the same way: one pair
(:func:`similarity`, the service's 1:1), one probe against many
(:func:`similarities`), every row of one set against every row of another
(:func:`similarity_matrix`) and a list of pairs (:func:`paired_similarities`),
the last two used by the evaluations, which mark a refused capture as an
absent row that scores ``-inf``. The in-process 1:N index
(:mod:`tessera.index.exact`) scores its packed gallery with the same product.
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
    a = check_embedding(a, "a")
    b = check_embedding(b, "b")
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
    probe = check_embedding(probe, "probe")
    gallery = _unit_rows(gallery, "gallery", probe.shape[0], "probe")
    if gallery.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    scores: np.ndarray = np.clip(gallery @ probe, -1.0, 1.0).astype(np.float32, copy=False)
    return scores


def similarity_matrix(
    a: np.ndarray, b: np.ndarray, *, a_present: np.ndarray | None = None, b_present: np.ndarray | None = None
) -> np.ndarray:
    """Cosine similarity of every row of ``a`` to every row of ``b``.

    The whole (n, m) matrix is computed at once: to score more pairs than
    fit in memory, call it on blocks of rows of ``a`` (the evaluations do,
    :data:`tessera.evaluation.comparisons.BLOCK_ROWS` rows at a time).

    Parameters
    ----------
    a : numpy.ndarray, shape (n, d)
        One unit-norm embedding per row.
    b : numpy.ndarray, shape (m, d)
        One unit-norm embedding per row, of the same ``d``.
    a_present, b_present : numpy.ndarray, shape (n,) and (m,), bool, optional
        Which rows hold an embedding (default: all). A row that does not (a
        refused capture, kept as a row of zeros so that row numbers stay
        those of the samples) is not checked, and every score it takes part
        in is ``-inf``: a comparison that can never match.

    Returns
    -------
    numpy.ndarray, shape (n, m), float32
        ``a @ b.T``, clipped to [-1, 1]; ``-inf`` in the rows and columns
        of absent embeddings.

    Raises
    ------
    ValueError
        ``a`` or ``b`` is not a 2-D array of finite numbers, their widths
        differ, a present row is not a unit vector, or a mask does not have
        one entry per row.
    """
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 2 or a.shape[1] == 0:
        raise ValueError(f"a must have shape (n, d) with d >= 1; got shape {a.shape}")
    b = np.asarray(b, dtype=np.float32)
    if b.ndim != 2 or b.shape[1] != a.shape[1]:
        raise ValueError(f"b must have shape (m, {a.shape[1]}) to match a; got shape {b.shape}")
    a_present = _presence(a_present, a.shape[0], "a_present", "a")
    b_present = _presence(b_present, b.shape[0], "b_present", "b")
    a = _unit_rows(a, "a", a.shape[1], "a", a_present)
    b = _unit_rows(b, "b", a.shape[1], "a", b_present)
    matrix: np.ndarray = a @ b.T
    np.clip(matrix, -1.0, 1.0, out=matrix)
    if a_present is not None:
        matrix[~a_present, :] = -np.inf
    if b_present is not None:
        matrix[:, ~b_present] = -np.inf
    return matrix


def paired_similarities(a: np.ndarray, b: np.ndarray, *, present: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity of each row of ``a`` to the same row of ``b``: the scores of a list of pairs.

    Parameters
    ----------
    a, b : numpy.ndarray, shape (n, d)
        The two sides of ``n`` pairs, one unit-norm embedding per row.
    present : numpy.ndarray, shape (n,), bool, optional
        Which pairs have an embedding on both sides (default: all). The
        others (a refused capture on either side, its row all zeros) are
        not checked and score ``-inf``.

    Returns
    -------
    numpy.ndarray, shape (n,), float32
        ``sum(a * b, axis=1)``, clipped to [-1, 1]; ``-inf`` where a side is absent.

    Raises
    ------
    ValueError
        ``a`` and ``b`` differ in shape or are not 2-D arrays of finite
        numbers, a present row is not a unit vector, or ``present`` does not
        have one entry per pair.
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape (n, d); got a of shape {a.shape} and b of shape {b.shape}")
    present = _presence(present, a.shape[0], "present", "a")
    a = _unit_rows(a, "a", a.shape[1], "a", present)
    b = _unit_rows(b, "b", a.shape[1], "a", present)
    scores: np.ndarray = np.einsum("ij,ij->i", a, b)
    np.clip(scores, -1.0, 1.0, out=scores)
    if present is not None:
        scores[~present] = -np.inf
    return scores


class CosineScorer:
    """Scores face embeddings for an index (:class:`tessera.index.base.Scorer`): the cosine of :func:`similarities`.

    A shard packs into one (n, d) float32 matrix, each row a unit embedding;
    scoring is one matrix-vector product, clipped to [-1, 1] like
    :func:`similarities`. Rows are checked once, when they enter the index
    (:meth:`check`), not at every search.
    """

    def check(self, features: np.ndarray, like: np.ndarray | None) -> None:
        """Refuse (ValueError) anything but a unit (d,) embedding with the length of ``like``."""
        vector = check_embedding(features, "features")
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

    def views(self, features: Sequence[np.ndarray], packed: np.ndarray) -> list[np.ndarray]:
        """The rows of ``packed``, each a read-only view (the index then holds each embedding once)."""
        rows = packed.view()
        rows.flags.writeable = False
        return list(rows[: len(features)])

    def scores(self, probe: np.ndarray, packed: np.ndarray, members: np.ndarray) -> np.ndarray:
        """Cosine of ``probe`` with the rows ``members`` of ``packed``: shape (len(members),), float32."""
        probe = check_embedding(probe, "probe")
        if packed.shape[1] != probe.shape[0]:
            raise ValueError(f"probe must have length {packed.shape[1]} like the indexed embeddings; got {probe.shape}")
        # One product over the whole matrix, whichever rows are wanted: a BLAS kernel rounds a row by its place in a
        # block, so scoring a gathered copy could give a template another score than a search over the shard does.
        scores: np.ndarray = (packed @ probe)[members]
        clipped: np.ndarray = np.clip(scores, -1.0, 1.0).astype(np.float32, copy=False)
        return clipped


def check_embedding(vector: np.ndarray, name: str) -> np.ndarray:
    """``vector`` as float32, or ValueError naming ``name`` unless it is a finite unit (d,) embedding."""
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


def _unit_rows(rows: np.ndarray, name: str, width: int, width_of: str, present: np.ndarray | None = None) -> np.ndarray:
    """``rows`` as float32, checked to be an (n, width) array of finite unit rows (those ``present``)."""
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[1] != width:
        raise ValueError(f"{name} must have shape (n, {width}) to match {width_of}; got shape {rows.shape}")
    if rows.shape[0] == 0:
        return rows
    if not np.all(np.isfinite(rows)):
        raise ValueError(f"{name} must hold finite numbers; it contains NaN or infinity")
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    error = np.abs(norms - 1.0)
    if present is not None:
        error[~present] = 0.0
    worst = int(np.argmax(error))
    if error[worst] > UNIT_NORM_TOLERANCE:
        raise ValueError(
            f"{name} rows must be unit vectors (L2 norm 1 ± {UNIT_NORM_TOLERANCE}); row {worst} has norm "
            f"{norms[worst]:.6f}"
        )
    return rows


def _presence(mask: np.ndarray | None, count: int, name: str, rows_of: str) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != (count,):
        raise ValueError(
            f"{name} must be a bool array of shape ({count},), one entry per row of {rows_of}; got dtype "
            f"{mask.dtype} and shape {mask.shape}"
        )
    return mask
