"""Score every pair of images of a dataset, refused images included as never-matching.

Turns the outcomes of :func:`~tessera.evaluation.templating.template_files`
into the comparison scores the protocols work on. A refused image takes part
in every comparison it would have been in, with the score ``-inf``: ISO/IEC
19795-1 counts it, it is not dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tessera.evaluation.metrics import ScoreSet, equal_error_rate
from tessera.match.face import paired_similarities, similarity_matrix

BLOCK_ROWS = 512
"""Rows of the similarity matrix computed at once: 512 x 9,056 float32 is 19 MB."""

MIN_TAIL_FRACTION = 0.025
"""Smallest share of the impostor scores, the highest, kept with their subjects for the bootstrap:
enough for FMR targets up to 1e-2 in every replicate."""


@dataclass(frozen=True)
class Templates:
    """The embeddings of a dataset's samples, with a row of zeros for each refused one.

    Attributes
    ----------
    embeddings : numpy.ndarray, shape (n, d), float32
        Unit rows; zero rows where ``templated`` is False.
    templated : numpy.ndarray, shape (n,), bool
    subject : numpy.ndarray, shape (n,), int64
        Subject index of each sample.
    n_subjects : int
    """

    embeddings: np.ndarray
    templated: np.ndarray
    subject: np.ndarray
    n_subjects: int

    def pair_scores(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Score of each listed pair (``a[i]``, ``b[i]``): the cosine, or ``-inf`` when either side was refused."""
        present = self.templated[a] & self.templated[b]
        return paired_similarities(self.embeddings[a], self.embeddings[b], present=present).astype(np.float64)


def all_pairs(templates: Templates, min_tail_fraction: float = MIN_TAIL_FRACTION, seed: int = 0) -> ScoreSet:
    """Every unordered pair of samples, as genuine or impostor comparisons.

    One pass over the similarity matrix, in blocks of :data:`BLOCK_ROWS`
    rows, collects every score (genuine ones with their subject) and keeps
    the highest impostor scores with their two subjects, as many as the
    bootstrap needs: at least ``min_tail_fraction`` of them and three times
    the EER. The cut is set beforehand from :data:`CUT_SAMPLE` random
    impostor pairs (``seed``), with a margin; should the sample mislead, a
    second pass takes the tail again at the exact cut.

    Returns
    -------
    ScoreSet
        With ``subject_images`` set: all pairs of two subjects' images are
        impostor comparisons.
    """
    fraction = _tail_fraction(templates, min_tail_fraction, seed)
    genuine, genuine_subject, impostor, tail = [], [], [], []
    cut = _sampled_cut(templates, fraction * TAIL_MARGIN, seed)
    for block, upper, same, start in _blocks(templates):
        mated = upper & same
        genuine.append(block[mated])
        genuine_subject.append(np.repeat(templates.subject[start : start + block.shape[0]], mated.sum(axis=1)))
        impostor.append(block[upper & ~same])
        tail.append(_tail_of(block, upper & ~same & (block >= cut), start, templates))
    genuine_scores = np.concatenate(genuine).astype(np.float64)
    impostor_scores = np.concatenate(impostor)
    impostor_scores.sort()
    keep = min(impostor_scores.size, max(1, math.ceil(fraction * impostor_scores.size)))
    exact_cut = impostor_scores[-keep] if impostor_scores.size else math.inf
    if exact_cut < cut:
        tail = [
            _tail_of(block, upper & ~same & (block >= exact_cut), start, templates)
            for block, upper, same, start in _blocks(templates)
        ]
    tail_scores = np.concatenate([part[0] for part in tail]).astype(np.float64)
    order = np.argsort(-tail_scores, kind="stable")
    return ScoreSet(
        genuine=genuine_scores,
        genuine_subject=np.concatenate(genuine_subject).astype(np.int64),
        impostor=impostor_scores,
        tail=tail_scores[order],
        tail_a=np.concatenate([part[1] for part in tail])[order].astype(np.int64),
        tail_b=np.concatenate([part[2] for part in tail])[order].astype(np.int64),
        n_subjects=templates.n_subjects,
        subject_images=np.bincount(templates.subject, minlength=templates.n_subjects).astype(np.int64),
    )


@dataclass(frozen=True)
class ImagePairs:
    """Every genuine comparison and the highest impostor ones, each with its two images.

    Attributes
    ----------
    genuine_a, genuine_b : numpy.ndarray, shape (g,), int64
        Image (row) numbers of each genuine comparison, ``a < b``.
    genuine : numpy.ndarray, shape (g,), float64
        Their scores (``-inf`` where an image was refused).
    impostor_a, impostor_b : numpy.ndarray, shape (k,), int64
        Image numbers of the ``k`` highest impostor comparisons, ``a < b``.
    impostor : numpy.ndarray, shape (k,), float64
        Their scores, descending.
    n_impostor : int
        Every impostor comparison, those below the kept ones included.
    """

    genuine_a: np.ndarray
    genuine_b: np.ndarray
    genuine: np.ndarray
    impostor_a: np.ndarray
    impostor_b: np.ndarray
    impostor: np.ndarray
    n_impostor: int


def image_pairs(templates: Templates, impostor_share: float) -> ImagePairs:
    """Every genuine comparison and the highest ``impostor_share`` of the impostor ones, with their images.

    For measures that leave images out afterwards (a quality gate applied to
    a gate-off run): dropping an image's comparisons from these lists gives
    the same scores as templating without it, as long as enough of the kept
    impostor comparisons remain for the rates wanted.

    Parameters
    ----------
    templates : Templates
    impostor_share : float
        In (0, 1]: share of the impostor comparisons kept, the highest (ties at the cut broken by order).
    """
    if not 0.0 < impostor_share <= 1.0:
        raise ValueError(f"impostor_share must be in (0, 1]; got {impostor_share!r}")
    count = templates.subject.size
    n_genuine = int(sum(k * (k - 1) // 2 for k in np.bincount(templates.subject)))
    n_impostor = count * (count - 1) // 2 - n_genuine
    keep = max(1, math.ceil(impostor_share * n_impostor))
    genuine, top = [], []
    for block, upper, same, start in _blocks(templates):
        rows, columns = np.nonzero(upper & same)
        genuine.append((rows + start, columns, block[rows, columns]))
        candidates = np.flatnonzero(upper & ~same)
        if candidates.size > keep:
            candidates = candidates[np.argpartition(-block.ravel()[candidates], keep - 1)[:keep]]
        rows, columns = np.unravel_index(candidates, block.shape)
        top.append((rows + start, columns, block[rows, columns]))
    impostor_a, impostor_b, impostor = (np.concatenate(part) for part in zip(*top))
    order = np.argsort(-impostor, kind="stable")[:keep]
    genuine_a, genuine_b, genuine_scores = (np.concatenate(part) for part in zip(*genuine))
    return ImagePairs(
        genuine_a=genuine_a.astype(np.int64),
        genuine_b=genuine_b.astype(np.int64),
        genuine=genuine_scores.astype(np.float64),
        impostor_a=impostor_a[order].astype(np.int64),
        impostor_b=impostor_b[order].astype(np.int64),
        impostor=impostor[order].astype(np.float64),
        n_impostor=n_impostor,
    )


CUT_SAMPLE = 50_000
"""Random impostor pairs scored to place the tail cut before the full pass."""
TAIL_MARGIN = 1.5
"""The sampled cut keeps this many times the wanted tail, so that sampling error rarely forces a second pass."""


def _tail_of(block, chosen, start, templates):
    rows, columns = np.nonzero(chosen)
    return block[rows, columns], templates.subject[rows + start], templates.subject[columns]


def _random_impostor_scores(templates: Templates, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    count = templates.subject.size
    a = rng.integers(0, count, CUT_SAMPLE)
    b = rng.integers(0, count, CUT_SAMPLE)
    keep = templates.subject[a] != templates.subject[b]
    return np.sort(templates.pair_scores(a[keep], b[keep]))


def _tail_fraction(templates: Templates, min_tail_fraction: float, seed: int) -> float:
    """Share of impostor scores to keep: at least ``min_tail_fraction`` and three times the (sampled) EER."""
    genuine = []
    for subject_rows in np.split(
        np.argsort(templates.subject, kind="stable"), np.cumsum(np.bincount(templates.subject))[:-1]
    ):
        if subject_rows.size > 1:
            a, b = np.triu_indices(subject_rows.size, k=1)
            genuine.append(templates.pair_scores(subject_rows[a], subject_rows[b]))
    sample = _random_impostor_scores(templates, seed)
    if not genuine or sample.size == 0:
        return 1.0
    eer, _ = equal_error_rate(np.sort(np.concatenate(genuine)), sample)
    return min(1.0, max(min_tail_fraction, 3 * eer))


def _sampled_cut(templates: Templates, fraction: float, seed: int) -> float:
    sample = _random_impostor_scores(templates, seed + 1)
    if fraction >= 1.0 or sample.size == 0:
        return -math.inf
    return float(sample[max(0, int(sample.size * (1 - fraction)) - 1)])


def _blocks(templates: Templates):
    """(similarity, upper, same, start) for each block of rows of the similarity matrix.

    ``similarity`` is the (rows, n) block, ``-inf`` where either side was
    refused; ``upper`` marks the pairs with column > row (each pair once);
    ``same`` the pairs of one subject; ``start`` the block's first row.
    """
    count = templates.embeddings.shape[0]
    columns = np.arange(count)
    for start in range(0, count, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, count)
        block = similarity_matrix(
            templates.embeddings[start:stop],
            templates.embeddings,
            a_present=templates.templated[start:stop],
            b_present=templates.templated,
        )
        upper = columns[None, :] > np.arange(start, stop)[:, None]
        same = templates.subject[start:stop, None] == templates.subject[None, :]
        yield block, upper, same, start
