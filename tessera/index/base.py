"""The search index contract: what Tessera needs of an index, and what a backend must guarantee.

The in-process indexes (:mod:`tessera.index.matrix` for faces,
:mod:`tessera.index.exact` for any matcher) meet this contract;
an adapter to a distributed engine (Milvus, pgvector, ...) must meet it too,
and proves it by passing the contract suite ``tests/index/contract.py``
(add one factory there). Callers (:mod:`tessera.workflows.identify`) see
only :class:`SearchIndex`.

One index, one matcher
    An index holds the templates of ONE matcher: one comparison algorithm,
    named by a matcher key (:func:`matcher_key`, e.g.
    ``face:dlib-resnet-v1/5pt-flip/1`` or ``finger:contact:tessera-mcc-lssr-2``).
    Scores of two matchers mean different things and are never ranked
    together, so an entry of another matcher is refused (``ValueError``
    naming both keys). An instance holds one index per matcher.

Shards
    Inside an index, templates are grouped by ``(gallery_id, part)``: a search
    runs in one gallery and one part. ``part`` is the finger position (1-10,
    ISO/IEC 19794-2) for a finger matcher, so a right index finger is only
    compared with right index fingers; it is 0 for a face.

Entries
    An :class:`IndexEntry` is a template's features (whatever the matcher's
    :class:`Scorer` packs: a unit float32 vector for a face, an
    :class:`~tessera.match.mcc.MccTemplate` for a finger) with the ids and the
    consent scope that filter a search. The index holds no other personal
    data.

Eligibility
    A search only returns entries whose consent covers the search's
    ``purpose`` and has not expired at the search's ``now``
    (``consent_expires_at > now``). An index must apply this filter itself
    (it is a legal rule, not a ranking preference): post-filtering a top-k
    that ignored it would return fewer than ``limit`` subjects.

Scores and order
    Higher scores mean more alike. A subject is represented by its best
    template (highest score; between equal scores, the smallest
    ``template_id``). Subjects come highest score first; subjects with equal
    scores come by ``subject_id`` ascending, so that every backend orders
    alike and a case's candidate list does not depend on the engine.

Thread safety
    Every method may be called from several threads at once. A search sees the
    index as it was before or after a concurrent :meth:`SearchIndex.upsert`
    or :meth:`SearchIndex.remove_subject`, never half of one.

Not the source of truth
    The store is. The index is filled from the store (through a sealed
    snapshot checked against it, :mod:`tessera.workflows.snapshot`) at every
    start (:meth:`tessera.workflows.instance.Instance.open`) and may lag it by one
    enrolment or erasure in flight. In particular, the index does not say who
    may be searched or how many: the gallery size N behind a 1:N threshold
    is counted by the store (:func:`tessera.store.counts.count_searchable`),
    never by the index, whose top-k answers cannot count a gallery anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

F = TypeVar("F")
"""The features of one template, as a matcher compares them."""
G = TypeVar("G")
"""Many templates' features packed for one-to-many scoring."""
F_contra = TypeVar("F_contra", contravariant=True)

FACE = "face"
FINGER = "finger"
FACE_PART = 0
"""The part of every face entry: a face has one."""
FINGER_PARTS = range(1, 11)
"""The parts of finger entries: ISO/IEC 19794-2 finger positions, 1 (right thumb) to 10 (left little)."""


def matcher_key(modality: str, algorithm: str, sensor: str | None = None) -> str:
    """The key of the matcher that compares ``modality`` templates with ``algorithm``.

    Parameters
    ----------
    modality : str
        ``face`` or ``finger``.
    algorithm : str
        The comparison algorithm: a face's template algorithm (its embeddings
        are compared by cosine), or a finger matcher's id
        (:data:`tessera.match.mcc.ALGORITHM`).
    sensor : str, optional
        The capture kind, which fingers must give (``contact`` or
        ``contactless``: the two are never compared, NIST SP 500-334r1).

    Returns
    -------
    str
        ``face:<algorithm>``, ``finger:<sensor>:<algorithm>``.

    Raises
    ------
    ValueError
        Unknown modality, empty algorithm, a finger without ``sensor``, or a
        ``:`` in ``sensor`` (the key could not be read back).
    """
    if modality not in (FACE, FINGER):
        raise ValueError(f"modality must be {FACE!r} or {FINGER!r}; got {modality!r}")
    if not algorithm:
        raise ValueError(f"algorithm must be a non-empty algorithm id; got {algorithm!r}")
    if modality == FINGER and not sensor:
        raise ValueError(f"sensor must name the capture kind of a finger matcher (e.g. 'contact'); got {sensor!r}")
    if sensor is not None and (not sensor or ":" in sensor):
        raise ValueError(f"sensor must be a non-empty name without ':'; got {sensor!r}")
    return f"{modality}:{sensor}:{algorithm}" if sensor else f"{modality}:{algorithm}"


def parts_of(matcher: str) -> range:
    """The parts an entry of ``matcher`` may have: 0 for a face matcher, 1-10 for a finger matcher."""
    modality = matcher.split(":", 1)[0]
    if modality == FACE:
        return range(FACE_PART, FACE_PART + 1)
    if modality == FINGER:
        return FINGER_PARTS
    raise ValueError(f"matcher must be a key made by matcher_key ('face:...' or 'finger:...'); got {matcher!r}")


@dataclass(frozen=True)
class IndexEntry(Generic[F]):
    """One template in an index: its features and the ids and consent scope that filter a search.

    Attributes
    ----------
    template_id : str
        Unique in the index: upserting the same id replaces the entry.
    subject_id, gallery_id : str
    matcher : str
        The matcher key of the features (:func:`matcher_key`); must be the index's.
    part : int
        Finger position 1-10 for fingers, 0 for a face.
    features : F
        What the matcher's scorer compares (:class:`Scorer`): a unit float32
        vector of shape (d,) for a face, an :class:`~tessera.match.mcc.MccTemplate`
        for a finger.
    purposes : frozenset of str
        The purposes the subject consented to (e.g. ``deduplicate``).
    consent_expires_at : datetime
        Timezone-aware; the entry is not searched from this instant on.
    """

    template_id: str
    subject_id: str
    gallery_id: str
    matcher: str
    part: int
    features: F
    purposes: frozenset[str]
    consent_expires_at: datetime


def check_entries_belong(entries: Sequence[IndexEntry[Any]], matcher: str) -> None:
    """Raise ``ValueError`` naming the first of ``entries`` that is not ``matcher``'s or has a part it does not have.

    Every index applies this rule of the contract before anything of a batch
    (:meth:`SearchIndex.upsert`); the messages name the template, the value
    received and what is allowed.
    """
    parts = parts_of(matcher)
    if {entry.matcher for entry in entries} <= {matcher} and {entry.part for entry in entries} <= set(parts):
        return
    for entry in entries:
        if entry.matcher != matcher:
            raise ValueError(
                f"entry.matcher is {entry.matcher!r} (template {entry.template_id}); this index holds "
                f"{matcher!r} templates only"
            )
        if entry.part not in parts:
            raise ValueError(
                f"entry.part must be in {parts.start}-{parts.stop - 1} for {matcher!r}; "
                f"got {entry.part} (template {entry.template_id})"
            )


EXACT_SEARCH = "exact"
"""A search that scores every eligible template (:meth:`SearchIndex.search_method`)."""
PREFILTER_SEARCH = "prefilter"
"""A search that scores a shortlist of the eligible templates exactly (fingers: docs/fingerprints.md)."""
APPROXIMATE_SEARCH = "approximate"
"""A search by an approximate nearest-neighbour index (Milvus with an ANN index type)."""


@dataclass(frozen=True)
class Hit:
    """One subject found: its best-scoring template and that score (the matcher's scale, higher is more alike)."""

    subject_id: str
    template_id: str
    score: float


class SearchIndex(Protocol[F]):
    """A 1:N index of one matcher's templates (see the module docstring for the whole contract)."""

    @property
    def matcher(self) -> str:
        """The matcher key of every entry held (:func:`matcher_key`)."""
        ...

    def upsert(self, entries: Sequence[IndexEntry[F]]) -> None:
        """Add ``entries``, each replacing any held entry with its ``template_id``.

        A replaced entry takes its new features, consent scope, gallery and
        part; upserting the same entries twice changes nothing. The batch is
        applied whole or not at all: a search never sees part of it.

        Raises
        ------
        ValueError
            An entry's ``matcher`` is not the index's (the message names both
            keys), its ``part`` is not one of the matcher's (0 for a face,
            1-10 for a finger), or its features cannot be scored by this
            index's matcher. Nothing of the batch is applied.
        """
        ...

    def remove_subject(self, subject_id: str) -> int:
        """Remove every entry of ``subject_id`` (erasure); returns how many were removed, 0 for an unknown subject.

        Takes effect before returning: no later search returns the subject.
        """
        ...

    def remove_templates(self, template_ids: Sequence[str]) -> int:
        """Remove the entries of ``template_ids`` (a capture replaced by a better one); returns how many were held.

        The subject's other entries stay, and are never missing from a search meanwhile (removing the subject
        and adding the rest back would leave a moment without them). Takes effect before returning; unknown ids
        are ignored.
        """
        ...

    def search(
        self,
        probe: F,
        *,
        gallery_id: str,
        part: int,
        purpose: str,
        now: datetime,
        limit: int,
        threshold: float | None = None,
    ) -> list[Hit]:
        """The subjects of shard ``(gallery_id, part)`` most like ``probe``, best first.

        Parameters
        ----------
        probe : F
            Features of the matcher's kind.
        gallery_id, part
            The shard searched; an unknown one has no entries (empty result).
        purpose : str
            Only entries consented to this purpose are compared...
        now : datetime
            ... and whose consent has not expired at this instant.
        limit : int
            At most this many subjects (>= 1).
        threshold : float, optional
            Subjects whose best score is below it are left out (the rule is
            ``score >= threshold``).

        Returns
        -------
        list of Hit
            One per subject (its best template), highest score first, equal
            scores by ``subject_id`` ascending.

        Raises
        ------
        ValueError
            ``limit`` below 1.
        """
        ...

    def search_method(self, *, gallery_id: str, part: int, purpose: str, now: datetime) -> str:
        """How :meth:`search` compares a probe with the templates of shard ``(gallery_id, part)`` eligible for
        ``purpose`` at ``now``: :data:`EXACT_SEARCH` (every one of them), :data:`PREFILTER_SEARCH` (a
        shortlist, then exact scores: :class:`tessera.index.finger.FingerIndex`) or :data:`APPROXIMATE_SEARCH`
        (an engine's approximate nearest-neighbour index). Asked after a search, it describes that search
        unless the shard changed in between."""
        ...

    def scores_for(
        self,
        probe: F,
        *,
        gallery_id: str,
        part: int,
        subject_ids: Sequence[str],
        purpose: str,
        now: datetime,
    ) -> list[Hit]:
        """The best score of each of ``subject_ids`` in shard ``(gallery_id, part)`` (for score fusion).

        A listed subject that is unknown in the shard, or has no entry
        eligible for ``purpose`` at ``now``, is simply absent. Order as
        :meth:`search`: highest score first, equal scores by ``subject_id``.
        """
        ...

    def size(self) -> int:
        """How many templates the index holds, eligible or not, in every shard."""
        ...


class Scorer(Protocol[F_contra, G]):
    """How an in-process index scores one matcher's features: pack a shard once, score a probe against it.

    ``F`` is one template's features, ``G`` a shard of them packed for
    one-to-many scoring. :class:`tessera.match.face.CosineScorer` and
    :class:`tessera.match.mcc.MccScorer` implement it.
    """

    def check(self, features: F_contra, like: F_contra | None) -> None:
        """Raise ``ValueError`` (naming what is wrong) if ``features`` cannot be scored, or not against ``like``.

        ``like`` is the features of an entry the index already holds, or
        None; one matcher's features are all comparable with one another.
        """
        ...

    def pack(self, features: Sequence[F_contra]) -> G:
        """Pack the features of a shard, in order, for :meth:`scores` (done once per change, not per search)."""
        ...

    def views(self, features: Sequence[F_contra], packed: G) -> Sequence[Any]:
        """The same ``features``, in order, as read-only views into ``packed`` (no copy), each of the type of
        ``features`` (typed ``Any`` only because the protocol's type variable is contravariant).

        An index keeps these in place of its entries' own arrays once a shard
        is packed, so that each template is held in memory once, not twice.
        ``features`` is the sequence :meth:`pack` made ``packed`` from.
        """
        ...

    def scores(self, probe: F_contra, packed: G, members: np.ndarray) -> np.ndarray:
        """Scores of ``probe`` against the packed rows at ``members``.

        Parameters
        ----------
        probe : F
        packed : G
            What :meth:`pack` returned.
        members : numpy.ndarray, shape (m,), int64
            Row positions into the sequence that was packed, ascending.

        Returns
        -------
        numpy.ndarray, shape (m,), float
            ``scores[i]`` is the score of row ``members[i]``; higher is more alike.
        """
        ...


@dataclass(frozen=True)
class Eligibility:
    """Who in one shard of an index may be searched, as arrays, so that filtering is vectorised.

    Built from the shard's entries in order (each with ``subject_id``,
    ``purposes`` and ``consent_expires_at``); row ``i`` describes entry ``i``.

    Attributes
    ----------
    subject_codes : numpy.ndarray, shape (n,), int64
        A code per subject, in order of first appearance: when the entries are
        sorted by ``subject_id`` (as :func:`best_per_subject` needs), codes
        increase with ``subject_id`` and a subject's rows are contiguous.
    expires : numpy.ndarray, shape (n,), float64
        Consent expiry, POSIX seconds.
    purpose_masks : dict of str to numpy.ndarray, shape (n,), bool
        Per consented purpose, which entries consented to it.
    """

    subject_codes: np.ndarray
    expires: np.ndarray
    purpose_masks: dict[str, np.ndarray]

    @classmethod
    def of(cls, entries: Sequence[IndexEntry[Any]]) -> Eligibility:
        codes: dict[str, int] = {}
        return cls(
            subject_codes=np.array([codes.setdefault(e.subject_id, len(codes)) for e in entries], dtype=np.int64),
            expires=np.array([e.consent_expires_at.timestamp() for e in entries], dtype=np.float64),
            purpose_masks={
                purpose: np.array([purpose in e.purposes for e in entries], dtype=bool)
                for purpose in {p for e in entries for p in e.purposes}
            },
        )

    def eligible(self, purpose: str, now: datetime) -> np.ndarray:
        """Bool per entry, shape (n,): consented to ``purpose`` and not expired at ``now``."""
        mask = self.purpose_masks.get(purpose)
        if mask is None:
            return np.zeros(self.expires.shape[0], bool)
        return mask & (self.expires > now.timestamp())


def best_per_subject(
    scores: np.ndarray,
    members: np.ndarray,
    entries: Sequence[IndexEntry[Any]],
    subject_codes: np.ndarray,
    *,
    threshold: float | None,
    limit: int | None,
) -> list[Hit]:
    """Each subject's best-scoring entry, highest score first, equal scores by ``subject_id``.

    Parameters
    ----------
    scores : numpy.ndarray, shape (m,)
        ``scores[i]`` is the score of ``entries[members[i]]``.
    members : numpy.ndarray, shape (m,), int64
        The rows scored (the eligible ones), ascending.
    entries : sequence of IndexEntry, length n
        The shard's entries, sorted by ``(subject_id, template_id)``: then a
        lower row is the smaller id, so ties are broken by row.
    subject_codes : numpy.ndarray, shape (n,), int64
        :attr:`Eligibility.subject_codes` of ``entries``.
    threshold : float or None
        Subjects whose best score is below it are left out.
    limit : int or None
        At most this many subjects.

    Returns
    -------
    list of Hit
        One per subject: its best template (equal scores: the smallest
        ``template_id``).
    """
    scores = np.asarray(scores)
    candidates = np.arange(members.size) if threshold is None else np.flatnonzero(scores >= threshold)
    if limit is not None:
        # Rank only the best rows when they hold enough subjects: every row left out scores below all of them,
        # so no subject left out could rank among the first ``limit`` (ties at the cut are all kept).
        taken = PREFILTER_ROWS_PER_SUBJECT * limit
        while taken < candidates.size:
            cut = np.partition(scores[candidates], candidates.size - taken)[candidates.size - taken]
            best = _best_rows(scores, members, subject_codes, candidates[scores[candidates] >= cut])
            if best.size >= limit:
                return _hits(scores, members, entries, best[:limit])
            taken *= PREFILTER_ROWS_PER_SUBJECT
    best = _best_rows(scores, members, subject_codes, candidates)
    return _hits(scores, members, entries, best if limit is None else best[:limit])


PREFILTER_ROWS_PER_SUBJECT = 4
""":func:`best_per_subject` first ranks only this many rows per subject asked for (more if too few subjects are
among them): sorting a whole large shard costs more than the scoring itself."""


def _best_rows(scores: np.ndarray, members: np.ndarray, subject_codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Of ``rows`` (positions into ``scores``), each subject's best one, in ranking order (see best_per_subject)."""
    ranked = rows[np.lexsort((members[rows], -scores[rows].astype(np.float64)))]  # score down, then row up
    _, first = np.unique(subject_codes[members[ranked]], return_index=True)
    result: np.ndarray = ranked[np.sort(first)]  # each subject's first row in the ranking, in ranking order
    return result


def _hits(scores: np.ndarray, members: np.ndarray, entries: Sequence[IndexEntry[Any]], best: np.ndarray) -> list[Hit]:
    return [
        Hit(entries[row].subject_id, entries[row].template_id, float(scores[i]))
        for i, row in zip(best.tolist(), members[best].tolist())
    ]


def rows_of_subjects(subject_codes: np.ndarray, code_of: dict[str, int], subject_ids: Sequence[str]) -> np.ndarray:
    """The rows of a shard that hold the listed subjects' templates, ascending (unknown subjects have none).

    ``subject_codes`` is :attr:`Eligibility.subject_codes` of entries sorted by
    subject, so each subject's rows are one run of its code; ``code_of`` maps a
    subject id to that code.
    """
    codes = np.array(sorted({code_of[s] for s in subject_ids if s in code_of}), dtype=np.int64)
    starts = np.searchsorted(subject_codes, codes, side="left")
    ends = np.searchsorted(subject_codes, codes, side="right")
    return np.concatenate([np.arange(start, end) for start, end in zip(starts, ends)] or [np.zeros(0, np.int64)])
