"""Exact 1:N search in process for embedding matchers (faces), held as columns: the default face index.

Every probe is compared with every eligible template of its shard, as
:class:`~tessera.index.exact.ExactIndex` does, but the index holds no Python
object per template, so that a million templates cost little more than their
vectors and a search costs little more than one matrix-vector product:

- per shard ``(gallery_id, part)``: one contiguous float32 matrix of unit
  rows, grown by amortised appends (capacity x :data:`GROWTH`), with a column
  per row of the template it holds, its consent expiry (int64 microseconds)
  and its consented purposes (a uint32 bitmask, one bit per purpose seen);
- template ids and subject ids: fixed-width byte strings in numpy columns,
  found through a sorted column of 64-bit hashes (:class:`_IdTable`); a
  subject's templates are a linked list through a ``next`` column.

A search is one float32 matrix-vector product with one BLAS thread
(``threadpoolctl``: concurrent searches on a busy machine do not fight over
cores), one vectorised eligibility mask, a partial selection of the best rows
and the contract's per-subject rule among those rows only. A change touches
only its own rows: an upsert appends, a removal moves the shard's last row
into the hole (swap with last); nothing is ever re-packed. ``scores_for``
scores only the listed subjects' rows.

Why float32 and not float16: numpy has no half-precision BLAS, so a float16
product is several times slower than float32 (docs/scale.md gives the
figures), which a halved memory does not buy back.

Meets the contract of :mod:`tessera.index.base` (tested by
``tests/index/contract.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from tessera.index.base import EXACT_SEARCH, PREFILTER_ROWS_PER_SUBJECT, Hit, IndexEntry, check_entries_belong, parts_of
from tessera.match.face import UNIT_NORM_TOLERANCE, check_embedding

GROWTH = 1.5
"""Factor by which a full column grows: appends cost amortised O(1) per row, and at most a third of a column's
allocation is spare (pages never written stay unallocated by the operating system)."""
MIN_CAPACITY = 256
"""Rows allocated at least when a column first grows."""
MAX_PURPOSES = 32
"""Distinct purposes an index tells apart (bits of the purpose mask)."""
BLAS_THREADS = 1
"""BLAS threads per search: one, so that searches running side by side on a busy machine do not oversubscribe it."""


@dataclass(frozen=True)
class IndexCounters:
    """What an index has done since it was made: shows that changes touch their own rows only.

    Attributes
    ----------
    rows_written : int
        Vector rows written by upserts (one per template added or replaced).
    rows_moved : int
        Vector rows moved to fill the hole of a removed one (at most one per removal).
    reallocations : int
        Times a column outgrew its allocation and was copied to a larger one (logarithmic in the size).
    rows_scored : int
        Rows compared with a probe (a search scores its shard; ``scores_for`` the listed subjects' rows only).
    id_merges : int
        Times an id table's recent hashes were merged into its main ones (one copy of them, see :data:`MERGE_AT`).
    """

    rows_written: int
    rows_moved: int
    reallocations: int
    rows_scored: int
    id_merges: int


class _ReadWriteLock:
    """Many searches at once, or one change: a search sees the index before or after a change, never half of it."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            while self._writing or self._writers_waiting:  # a waiting writer goes first: no starvation
                self._condition.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                if not self._readers:
                    self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._condition:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._condition.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._condition:
                self._writing = False
                self._condition.notify_all()


@cache
def blas_libraries() -> ThreadpoolController:
    """The process's BLAS libraries, found once (finding them costs milliseconds; limiting them microseconds)."""
    return ThreadpoolController()


def _micros(moment: datetime) -> int:
    """``moment`` as integer POSIX microseconds (a naive datetime is local time, as ``datetime.timestamp``)."""
    return int(_micros_of([moment])[0])


def _micros_of(moments: Sequence[datetime]) -> np.ndarray:
    """Each of ``moments`` as POSIX microseconds, int64: exact, as ``timestamp()`` is correctly rounded and a float64
    holds today's POSIX seconds to 0.3 microseconds, so rounding the product gives the microsecond itself."""
    seconds = np.array([moment.timestamp() for moment in moments], np.float64)
    micros: np.ndarray = np.rint(seconds * 1_000_000).astype(np.int64)
    return micros


def _encoded(ids: Sequence[str], name: str) -> np.ndarray:
    """``ids`` as a numpy byte-string column (UTF-8), refusing an empty id or one holding a NUL character."""
    if ids and (not min(map(len, ids)) or "\x00" in "".join(ids)):
        value = next(value for value in ids if not value or "\x00" in value)
        raise ValueError(f"{name} must be a non-empty string without NUL characters; got {value!r}")
    return np.array([value.encode() for value in ids], dtype=np.bytes_) if ids else np.zeros(0, "S1")


def _check_id_column(ids: np.ndarray, name: str) -> None:
    """Refuse a column that is not of byte strings, or holds an empty id or one with a NUL byte inside."""
    if ids.dtype.kind != "S":
        raise ValueError(f"{name} must be a column of UTF-8 byte strings (dtype S); got dtype {ids.dtype}")
    if not ids.shape[0]:
        return
    present = np.ascontiguousarray(ids).view(np.uint8).reshape(ids.shape[0], ids.dtype.itemsize) != 0
    bad = np.flatnonzero(~present[:, 0] | (~present[:, :-1] & present[:, 1:]).any(axis=1))  # empty, or NUL inside
    if bad.size:
        raise ValueError(f"{name} must be non-empty strings without NUL characters; got {ids[int(bad[0])]!r}")


def _last_of_each(ids: np.ndarray) -> np.ndarray | None:
    """Rows keeping the last of each repeated id, in order; None when no id repeats (the usual case)."""
    hashes = _hashes(ids)
    if np.unique(hashes).shape[0] == ids.shape[0]:
        return None
    reversed_ids = ids[::-1]
    _, first_from_end = np.unique(reversed_ids, return_index=True)
    return np.sort(ids.shape[0] - 1 - first_from_end)


def _shards_of(gallery_ids: np.ndarray, parts: np.ndarray) -> tuple[list[tuple[str, int]], np.ndarray]:
    """The distinct ``(gallery_id, part)`` of the rows, and each row's number among them."""
    if (gallery_ids == gallery_ids[0]).all() and (parts == parts[0]).all():  # the usual bulk load: one shard
        return [(gallery_ids[0].decode(), int(parts[0]))], np.zeros(gallery_ids.shape[0], np.int64)
    galleries, gallery_of = np.unique(gallery_ids, return_inverse=True)
    keys, shard_of = np.unique(gallery_of.reshape(-1) * (int(parts.max()) + 1) + parts, return_inverse=True)
    shards = [(galleries[key // (int(parts.max()) + 1)].decode(), int(key % (int(parts.max()) + 1))) for key in keys]
    return shards, shard_of.reshape(-1).astype(np.int64)


_U64 = np.uint64


def _mix(words: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser (Steele, Lea & Flood, OOPSLA 2014): every input bit moves every output bit."""
    words = (words ^ (words >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    words = (words ^ (words >> _U64(27))) * _U64(0x94D049BB133111EB)
    mixed: np.ndarray = words ^ (words >> _U64(31))
    return mixed


def _hashes(ids: np.ndarray) -> np.ndarray:
    """A 64-bit hash per byte string, the same whatever the column's width (ids hold no NUL byte)."""
    width = -(-max(ids.dtype.itemsize, 1) // 8) * 8
    words = np.ascontiguousarray(ids, dtype=f"S{width}").view(_U64).reshape(ids.shape[0], width // 8)
    hashes = np.full(ids.shape[0], 0x9E3779B97F4A7C15, _U64)
    for column in words.T:
        # An all-zero word is padding (an id has no NUL byte): skipping it keeps the hash independent of the width.
        hashes = np.where(column != 0, _mix(hashes ^ column), hashes)
    return hashes


def _grown(column: np.ndarray, used: int, needed: int) -> np.ndarray:
    """``column`` with room for ``needed`` rows: itself if it has it, else a larger copy of its first ``used`` rows."""
    if needed <= column.shape[0]:
        return column
    capacity = max(needed, int(column.shape[0] * GROWTH), MIN_CAPACITY)
    larger = np.empty((capacity, *column.shape[1:]), column.dtype)
    larger[:used] = column[:used]
    return larger


class _SortedHashes:
    """64-bit id hashes kept sorted, each with its slot: a binary search finds an id's candidate slots.

    A deleted entry is marked (slot -1) rather than cut out, so that an
    erasure does not copy the run; marked entries are dropped when the run
    is next copied (an insert) or when they outnumber :data:`MERGE_AT` of it.
    """

    def __init__(self) -> None:
        self.hashes = np.zeros(0, _U64)
        self.slots = np.zeros(0, np.int32)
        self.dead = 0

    def __len__(self) -> int:
        return int(self.hashes.shape[0]) - self.dead

    def compact(self) -> None:
        """Drop the entries marked deleted."""
        keep = self.slots >= 0
        self.hashes, self.slots, self.dead = self.hashes[keep], self.slots[keep], 0

    def insert(self, hashes: np.ndarray, slots: np.ndarray) -> None:
        """Add ``hashes`` with their ``slots``: one copy of the held arrays (a merge of sorted runs)."""
        if self.dead:
            self.compact()
        order = np.argsort(hashes, kind="stable")
        at = np.searchsorted(self.hashes, hashes[order])
        self.hashes = np.insert(self.hashes, at, hashes[order])
        self.slots = np.insert(self.slots, at, slots[order].astype(np.int32))

    def find(self, hashes: np.ndarray, ids: np.ndarray, held: np.ndarray, found: np.ndarray) -> None:
        """Write into ``found`` the slot of each of ``ids`` held here (``held``: the ids of every slot)."""
        left = np.searchsorted(self.hashes, hashes, side="left")
        right = np.searchsorted(self.hashes, hashes, side="right")
        single = np.flatnonzero(right - left == 1)
        slots = self.slots[left[single]]
        live = slots >= 0
        single, slots = single[live], slots[live]
        same = held[slots] == ids[single]
        found[single[same]] = slots[same]
        for i in np.flatnonzero(right - left > 1).tolist():  # a hash collision: compare the ids themselves
            for slot in self.slots[left[i] : right[i]].tolist():
                if slot >= 0 and held[slot] == ids[i]:
                    found[i] = slot

    def delete(self, hashes: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Delete the entries of ``slots`` (with their ``hashes``) held here; returns which of them were."""
        left = np.searchsorted(self.hashes, hashes, side="left")
        right = np.searchsorted(self.hashes, hashes, side="right")
        positions, deleted = [], np.zeros(slots.shape[0], bool)
        for i, (start, stop, slot) in enumerate(zip(left.tolist(), right.tolist(), slots.tolist())):
            for position in range(start, stop):  # one position but where hashes collide
                if int(self.slots[position]) == slot:
                    positions.append(position)
                    deleted[i] = True
                    break
        self.slots[positions] = -1
        self.dead += len(positions)
        if self.dead > MERGE_AT * self.hashes.shape[0]:
            self.compact()
        return deleted

    def nbytes(self) -> int:
        return int(self.hashes.nbytes + self.slots.nbytes)


MERGE_AT = 1 / 8
"""An id table's recent hashes are merged into its main ones when they outnumber this share of them (or
:data:`MERGE_MIN`): a small upsert copies the recent run only, and each held id is copied O(1) times amortised."""
MERGE_MIN = 65_536


class _IdTable:
    """String ids to stable integer slots, with numpy columns per slot and no Python object per id.

    The ids live in one byte-string column. Their 64-bit hashes, each with
    its slot, are kept sorted in two runs, a main one and a small recent one
    (a log-structured merge: adding to the recent run copies it alone), and
    found by binary search, a whole batch at once. Hash collisions are
    resolved by comparing the ids themselves. Freed slots are reused.
    """

    def __init__(self, columns: dict[str, Any]) -> None:
        self.ids = np.zeros(0, "S1")
        self.columns = {name: np.zeros(0, dtype) for name, dtype in columns.items()}
        self.main = _SortedHashes()
        self.recent = _SortedHashes()
        self.used = 0
        """Slots ever handed out (the high-water mark); freed ones are in ``self.free``."""
        self.free: list[int] = []
        self.reallocations = 0
        self.merges = 0

    def __len__(self) -> int:
        return len(self.main) + len(self.recent)

    def find(self, ids: np.ndarray) -> np.ndarray:
        """The slot of each id, -1 for those not held; shape (len(ids),), int64."""
        found = np.full(ids.shape[0], -1, np.int64)
        if not len(self) or not ids.shape[0]:
            return found
        hashes = _hashes(ids)
        self.main.find(hashes, ids, self.ids, found)
        if len(self.recent):
            missing = np.flatnonzero(found < 0)
            rest = np.full(missing.shape[0], -1, np.int64)
            self.recent.find(hashes[missing], ids[missing], self.ids, rest)
            found[missing] = rest
        return found

    def add(self, ids: np.ndarray) -> np.ndarray:
        """Give each of ``ids`` (not held, each once) a slot; returns the slots, int64."""
        count = ids.shape[0]
        reused = self.free[-count:] if count else []
        del self.free[len(self.free) - len(reused) :]
        fresh = np.arange(self.used, self.used + count - len(reused), dtype=np.int64)
        slots = np.concatenate([np.array(reused, np.int64), fresh])
        needed = self.used + fresh.shape[0]
        if needed > self.ids.shape[0] or ids.dtype.itemsize > self.ids.dtype.itemsize:
            self.reallocations += 1
            width = max(ids.dtype.itemsize, self.ids.dtype.itemsize)
            self.ids = _grown(self.ids.astype(f"S{width}"), self.used, needed)
            self.columns = {name: _grown(column, self.used, needed) for name, column in self.columns.items()}
        self.used = needed
        self.ids[slots] = ids
        self.recent.insert(_hashes(ids), slots)
        if len(self.recent) > max(MERGE_MIN, MERGE_AT * len(self.main)):
            self.main.insert(self.recent.hashes, self.recent.slots)
            self.recent = _SortedHashes()
            self.merges += 1
        return slots

    def remove(self, slots: np.ndarray) -> None:
        """Forget the ids at ``slots`` (held, each once) and free the slots."""
        hashes = _hashes(self.ids[slots])
        rest = ~self.recent.delete(hashes, slots)
        self.main.delete(hashes[rest], slots[rest])
        self.ids[slots] = b""
        self.free.extend(slots.tolist())

    def nbytes(self) -> int:
        arrays = [self.ids, *self.columns.values()]
        return sum(array.nbytes for array in arrays) + self.main.nbytes() + self.recent.nbytes()


class _Shard:
    """One ``(gallery_id, part)``: a row per template, in no particular order (a removal moves the last row)."""

    def __init__(self, number: int, dim: int) -> None:
        self.number = number
        self.size = 0
        self.vectors = np.zeros((0, dim), np.float32)
        self.templates = np.zeros(0, np.int32)
        """The template slot (:class:`_IdTable`) of each row."""
        self.expires = np.zeros(0, np.int64)
        """Consent expiry, POSIX microseconds."""
        self.purposes = np.zeros(0, np.uint32)
        """Bit ``b`` set: consented to the purpose of bit ``b``."""
        self.reallocations = 0

    def append(self, vectors: np.ndarray, templates: np.ndarray, expires: np.ndarray, purposes: np.ndarray) -> int:
        """Add rows at the end; returns the first one's number."""
        start, needed = self.size, self.size + vectors.shape[0]
        if needed > self.vectors.shape[0]:
            self.reallocations += 1
            self.vectors = _grown(self.vectors, start, needed)
            self.templates = _grown(self.templates, start, needed)
            self.expires = _grown(self.expires, start, needed)
            self.purposes = _grown(self.purposes, start, needed)
        self.vectors[start:needed] = vectors
        self.templates[start:needed] = templates
        self.expires[start:needed] = expires
        self.purposes[start:needed] = purposes
        self.size = needed
        return start

    def remove(self, row: int) -> int:
        """Remove ``row`` by moving the last row into it; returns the template slot moved there, or -1 if none."""
        last = self.size - 1
        moved = -1
        if row != last:
            self.vectors[row] = self.vectors[last]
            self.templates[row] = self.templates[last]
            self.expires[row] = self.expires[last]
            self.purposes[row] = self.purposes[last]
            moved = int(self.templates[row])
        self.size = last
        return moved

    def eligible(self, bit: int, now: int, rows: np.ndarray | slice) -> np.ndarray:
        """Bool per row of ``rows``: consented to the purpose of ``bit`` and not expired at ``now`` (microseconds)."""
        consented: np.ndarray = (self.purposes[rows] & np.uint32(1 << bit)) != 0
        consented &= self.expires[rows] > now
        return consented

    def nbytes(self) -> int:
        return sum(array.nbytes for array in (self.vectors, self.templates, self.expires, self.purposes))


@dataclass(frozen=True)
class EntryColumns:
    """Index entries of one matcher as columns, row ``i`` being entry ``i``: what :meth:`MatrixIndex.upsert_columns`
    takes, so that a bulk load (the start from the index snapshot) makes no Python object per entry.

    Attributes
    ----------
    template_ids, subject_ids, gallery_ids : numpy.ndarray, shape (n,), bytes
        UTF-8 ids (a fixed-width byte-string column), each non-empty and without NUL bytes.
    parts : numpy.ndarray, shape (n,), int
        The entry's part (0 for a face).
    vectors : numpy.ndarray, shape (n, d), float32
        Unit rows: each template's embedding.
    expires_us : numpy.ndarray, shape (n,), int64
        Consent expiry, POSIX microseconds.
    scopes : numpy.ndarray, shape (n,), int
        Index into ``purposes`` of each entry's consented purposes.
    purposes : tuple of frozenset of str
        The distinct consent scopes.
    """

    template_ids: np.ndarray
    subject_ids: np.ndarray
    gallery_ids: np.ndarray
    parts: np.ndarray
    vectors: np.ndarray
    expires_us: np.ndarray
    scopes: np.ndarray
    purposes: tuple[frozenset[str], ...]

    def __len__(self) -> int:
        return int(self.template_ids.shape[0])


@dataclass(frozen=True)
class _Batch:
    """An upsert batch, checked and turned into columns (the last entry of a repeated template id wins).

    Shards and consent scopes are given once each (``shard_keys``, ``scopes``), and per row by number.
    """

    template_ids: np.ndarray
    subject_ids: np.ndarray
    shard_keys: list[tuple[str, int]]
    shard_of: np.ndarray
    vectors: np.ndarray
    expires: np.ndarray
    scopes: list[frozenset[str]]
    scope_of: np.ndarray

    def __len__(self) -> int:
        return int(self.template_ids.shape[0])


class MatrixIndex:
    """Thread-safe exact search over the unit-vector templates of one matcher, held as columns.

    Parameters
    ----------
    matcher : str
        The matcher key every entry must carry (:func:`~tessera.index.base.matcher_key`).
    scorer : object, optional
        Ignored: the score is always the cosine of unit vectors
        (:class:`~tessera.match.face.CosineScorer`'s); accepted so that the
        index is made like :class:`~tessera.index.exact.ExactIndex`
        (``factory(matcher_key, scorer)``).
    """

    def __init__(self, matcher: str, scorer: object = None) -> None:
        self._parts = parts_of(matcher)
        self._matcher = matcher
        self._dim: int | None = None
        self._templates = _IdTable({"shard": np.int32, "row": np.int32, "subject": np.int32, "next": np.int32})
        self._subjects = _IdTable({"first": np.int32})
        self._shards: dict[tuple[str, int], _Shard] = {}
        self._shard_list: list[_Shard] = []
        self._purpose_bits: dict[str, int] = {}
        self._lock = _ReadWriteLock()
        self._rows_written = 0
        self._rows_moved = 0
        self._rows_scored = 0
        self._count_lock = threading.Lock()

    @property
    def matcher(self) -> str:
        return self._matcher

    # -- changes ---------------------------------------------------------------------------------------------

    def upsert(self, entries: Sequence[IndexEntry[Any]]) -> None:
        """Add ``entries``, replacing those with the same ``template_id``; all or nothing (see the contract).

        Costs O(batch) vectorised work (and, amortised, O(1) copies of each
        held id's hash, see :data:`MERGE_AT`), never a re-pack of a shard. The
        batch is checked before the index is locked, so searches go on
        meanwhile; they wait only while its rows are written.
        """
        if not entries:
            return
        batch = self._checked(entries)
        with self._lock.writing():
            if self._dim is not None and batch.vectors.shape[1] != self._dim:  # another batch came first
                self._checked(entries)  # raises, naming the features
            self._check_purposes(batch.scopes)  # as another batch may have added purposes meanwhile
            self._drop(self._templates.find(batch.template_ids))
            self._add(batch)

    def upsert_columns(self, columns: EntryColumns) -> None:
        """:meth:`upsert` of entries given as columns (:class:`EntryColumns`): the same result, all or nothing,
        with no Python object per entry (the start from the index snapshot loads a million this way).

        Raises
        ------
        ValueError
            A column's length or type, an id, a vector or the purposes are not what :class:`EntryColumns` says
            (nothing is applied).
        """
        if not len(columns):
            return
        batch = self._checked_columns(columns)
        with self._lock.writing():
            if self._dim is not None and batch.vectors.shape[1] != self._dim:  # another batch came first
                self._checked_columns(columns)  # raises, naming the features
            self._check_purposes(batch.scopes)
            self._drop(self._templates.find(batch.template_ids))
            self._add(batch)

    def remove_subject(self, subject_id: str) -> int:
        """Remove every template of ``subject_id``; returns how many were removed (0 for an unknown subject)."""
        if not subject_id or "\x00" in subject_id:
            return 0
        with self._lock.writing():
            code = int(self._subjects.find(_encoded([subject_id], "subject_id"))[0])
            if code < 0:
                return 0
            slots = self._chain(code)
            self._drop(np.array(slots, np.int64))
            return len(slots)

    def remove_templates(self, template_ids: Sequence[str]) -> int:
        """Remove the entries of ``template_ids``; returns how many were held (the subject's others stay)."""
        wanted = [t for t in dict.fromkeys(template_ids) if t and "\x00" not in t]
        if not wanted:
            return 0
        with self._lock.writing():
            slots = self._templates.find(_encoded(wanted, "template_id"))
            held = slots[slots >= 0]
            self._drop(held)
            return int(held.size)

    # -- searches --------------------------------------------------------------------------------------------

    def search_method(self, *, gallery_id: str, part: int, purpose: str, now: datetime) -> str:
        """Always ``exact``: every eligible embedding is scored."""
        return EXACT_SEARCH

    def search(
        self,
        probe: np.ndarray,
        *,
        gallery_id: str,
        part: int,
        purpose: str,
        now: datetime,
        limit: int,
        threshold: float | None = None,
    ) -> list[Hit]:
        """Best template per eligible subject, highest score first, at most ``limit``, none below ``threshold``."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        vector = check_embedding(probe, "probe")
        with self._lock.reading():
            shard = self._shards.get((gallery_id, part))
            bit = self._purpose_bits.get(purpose)
            if shard is None or not shard.size or bit is None:
                return []
            self._check_probe(vector)
            scores = self._scores(shard, vector, slice(0, shard.size))
            eligible = shard.eligible(bit, _micros(now), slice(0, shard.size))
            if threshold is not None:
                eligible &= scores >= threshold
            count = int(np.count_nonzero(eligible))
            if not count:
                return []
            if count < shard.size:
                scores[~eligible] = -np.inf
            # Rank only the best rows when they hold enough subjects: every row left out scores below all of them,
            # so no subject left out could rank among the first ``limit`` (ties at the cut are all kept).
            taken = min(PREFILTER_ROWS_PER_SUBJECT * limit, count)
            while True:
                cut = np.partition(scores, scores.shape[0] - taken)[scores.shape[0] - taken]
                rows = np.flatnonzero(scores >= cut)
                best, subjects = self._best_per_subject(shard, rows, self._row_scores(shard, vector, rows), limit)
                if subjects >= limit or taken == count:
                    return best
                taken = min(taken * PREFILTER_ROWS_PER_SUBJECT, count)

    def scores_for(
        self,
        probe: np.ndarray,
        *,
        gallery_id: str,
        part: int,
        subject_ids: Sequence[str],
        purpose: str,
        now: datetime,
    ) -> list[Hit]:
        """Best score of each listed subject that is present and eligible, highest first; scores only their rows."""
        vector = check_embedding(probe, "probe")
        listed = sorted({s for s in subject_ids if s and "\x00" not in s})
        with self._lock.reading():
            shard = self._shards.get((gallery_id, part))
            bit = self._purpose_bits.get(purpose)
            if shard is None or not shard.size or bit is None or not listed:
                return []
            self._check_probe(vector)
            codes = self._subjects.find(_encoded(listed, "subject_ids"))
            where = self._templates.columns
            rows = np.array(
                [
                    int(where["row"][slot])
                    for code in codes.tolist()
                    if code >= 0
                    for slot in self._chain(code)
                    if int(where["shard"][slot]) == shard.number
                ],
                np.int64,
            )
            rows = rows[shard.eligible(bit, _micros(now), rows)]
            if not rows.size:
                return []
            with self._count_lock:
                self._rows_scored += rows.shape[0]
            return self._best_per_subject(shard, rows, self._row_scores(shard, vector, rows))[0]

    def size(self) -> int:
        with self._lock.reading():
            return len(self._templates)

    # -- what it holds and did -------------------------------------------------------------------------------

    def nbytes(self) -> int:
        """Bytes allocated by the index's columns (vectors, ids, hashes, eligibility), spare capacity included."""
        with self._lock.reading():
            return (
                self._templates.nbytes() + self._subjects.nbytes() + sum(shard.nbytes() for shard in self._shard_list)
            )

    def counters(self) -> IndexCounters:
        """What the index has done since it was made (:class:`IndexCounters`)."""
        with self._lock.reading(), self._count_lock:
            return IndexCounters(
                rows_written=self._rows_written,
                rows_moved=self._rows_moved,
                reallocations=self._templates.reallocations
                + self._subjects.reallocations
                + sum(shard.reallocations for shard in self._shard_list),
                rows_scored=self._rows_scored,
                id_merges=self._templates.merges + self._subjects.merges,
            )

    # -- inside ----------------------------------------------------------------------------------------------

    def _checked(self, entries: Sequence[IndexEntry[Any]]) -> _Batch:
        """The batch as columns, or ValueError naming the first entry that cannot enter (nothing is applied)."""
        check_entries_belong(entries, self._matcher)
        template_ids = _encoded([entry.template_id for entry in entries], "entry.template_id")
        kept = entries
        if np.unique(_hashes(template_ids)).shape[0] < template_ids.shape[0]:  # some id may repeat: the last wins
            last = {entry.template_id: position for position, entry in enumerate(entries)}
            kept = [entries[position] for position in sorted(last.values())]
            template_ids = _encoded([entry.template_id for entry in kept], "entry.template_id")
        vectors = self._vectors(kept)
        shards: dict[tuple[str, int], int] = {}
        scopes: dict[frozenset[str], int] = {}
        shard_of = np.array([shards.setdefault((entry.gallery_id, entry.part), len(shards)) for entry in kept])
        scope_of = np.array([scopes.setdefault(entry.purposes, len(scopes)) for entry in kept])
        self._check_purposes(list(scopes))
        return _Batch(
            template_ids=template_ids,
            subject_ids=_encoded([entry.subject_id for entry in kept], "entry.subject_id"),
            shard_keys=list(shards),
            shard_of=shard_of.astype(np.int64),
            vectors=vectors,
            expires=_micros_of([entry.consent_expires_at for entry in kept]),
            scopes=list(scopes),
            scope_of=scope_of.astype(np.int64),
        )

    def _checked_columns(self, columns: EntryColumns) -> _Batch:
        """:class:`EntryColumns` as a batch, or ValueError saying which column is wrong (nothing is applied)."""
        count = len(columns)
        for name in ("subject_ids", "gallery_ids", "parts", "expires_us", "scopes"):
            if getattr(columns, name).shape != (count,):
                raise ValueError(
                    f"{name} must have shape ({count},) like template_ids; got {getattr(columns, name).shape}"
                )
        for name in ("template_ids", "subject_ids", "gallery_ids"):
            _check_id_column(getattr(columns, name), name)
        vectors = np.asarray(columns.vectors)
        if vectors.dtype != np.float32 or vectors.ndim != 2 or vectors.shape[0] != count or vectors.shape[1] == 0:
            raise ValueError(f"vectors must be float32 of shape ({count}, d); got {vectors.dtype} {vectors.shape}")
        dim = self._dim or vectors.shape[1]
        if vectors.shape[1] != dim:
            raise ValueError(
                f"features must have the shape of the embeddings already indexed, ({dim},); got shape "
                f"({vectors.shape[1]},)"
            )
        norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
        bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1) | (np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE))
        if bad.size:
            check_embedding(vectors[int(bad[0])], f"features (template {columns.template_ids[int(bad[0])]!r})")
        if count and int(np.min(columns.parts)) < 0:
            raise ValueError(f"parts must be at least 0; got {int(np.min(columns.parts))}")
        scope_of = np.asarray(columns.scopes, np.int64)
        if scope_of.size and (scope_of.min() < 0 or scope_of.max() >= len(columns.purposes)):
            raise ValueError(f"scopes must index purposes (0 to {len(columns.purposes) - 1})")
        self._check_purposes(list(columns.purposes))
        keep = _last_of_each(columns.template_ids)
        template_ids = columns.template_ids if keep is None else columns.template_ids[keep]
        rows = slice(None) if keep is None else keep
        shard_keys, shard_of = _shards_of(columns.gallery_ids[rows], np.asarray(columns.parts[rows], np.int64))
        return _Batch(
            template_ids=template_ids,
            subject_ids=columns.subject_ids[rows],
            shard_keys=shard_keys,
            shard_of=shard_of,
            vectors=vectors[rows],
            expires=np.asarray(columns.expires_us[rows], np.int64),
            scopes=list(columns.purposes),
            scope_of=scope_of[rows],
        )

    def _check_purposes(self, purposes: list[frozenset[str]]) -> None:
        unseen = set().union(*purposes) - self._purpose_bits.keys()
        if len(self._purpose_bits) + len(unseen) > MAX_PURPOSES:
            raise ValueError(
                f"entry.purposes would name {len(self._purpose_bits) + len(unseen)} distinct purposes; an index "
                f"tells at most {MAX_PURPOSES} apart"
            )

    def _vectors(self, entries: Sequence[IndexEntry[Any]]) -> np.ndarray:
        """The entries' features as an (n, d) float32 matrix of unit rows of the index's ``d``, or ValueError."""
        try:
            vectors = np.asarray([entry.features for entry in entries], dtype=np.float32)
        except (ValueError, TypeError):
            vectors = np.zeros((0,), np.float32)
        if vectors.ndim != 2 or vectors.shape[1] == 0:
            for entry in entries:  # find the culprit, one by one (only when the batch is malformed)
                check_embedding(entry.features, f"features (template {entry.template_id})")
            shapes = sorted({np.shape(entry.features) for entry in entries})
            raise ValueError(f"features must all have one shape (d,); got shapes {shapes}")
        dim = self._dim or vectors.shape[1]
        if vectors.shape[1] != dim:
            raise ValueError(
                f"features must have the shape of the embeddings already indexed, ({dim},); got shape "
                f"({vectors.shape[1]},)"
            )
        finite = np.isfinite(vectors).all(axis=1)
        norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
        bad = np.flatnonzero(~finite | (np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE))
        if bad.size:
            entry = entries[int(bad[0])]
            check_embedding(entry.features, f"features (template {entry.template_id})")
        return vectors

    def _add(self, batch: _Batch) -> None:
        if self._dim is None:
            self._dim = batch.vectors.shape[1]
        templates, subjects = self._templates, self._subjects
        unique_subjects, inverse = np.unique(batch.subject_ids, return_inverse=True)
        inverse = inverse.reshape(-1)
        codes = subjects.find(unique_subjects)
        new = codes < 0
        if new.any():
            codes[new] = subjects.add(unique_subjects[new])
            subjects.columns["first"][codes[new]] = -1
        subject_codes = codes[inverse]
        slots = templates.add(batch.template_ids)
        masks = self._purpose_masks(batch.scopes)[batch.scope_of]
        for number, key in enumerate(batch.shard_keys):
            shard = self._shard(key)
            rows = np.arange(len(batch)) if len(batch.shard_keys) == 1 else np.flatnonzero(batch.shard_of == number)
            start = shard.append(batch.vectors[rows], slots[rows], batch.expires[rows], masks[rows])
            templates.columns["shard"][slots[rows]] = shard.number
            templates.columns["row"][slots[rows]] = np.arange(start, start + rows.shape[0])
        templates.columns["subject"][slots] = subject_codes
        self._link(slots, subject_codes)
        with self._count_lock:
            self._rows_written += len(batch)

    def _link(self, slots: np.ndarray, codes: np.ndarray) -> None:
        """Put each template ``slots[i]`` at the head of subject ``codes[i]``'s list, all at once."""
        first, following = self._subjects.columns["first"], self._templates.columns["next"]
        order = np.argsort(codes, kind="stable")
        codes, slots = codes[order], slots[order]
        same = codes[1:] == codes[:-1]
        ends = np.append(~same, True)  # last of each subject's run: it takes the subject's former head
        following[slots[:-1][same]] = slots[1:][same]
        following[slots[ends]] = first[codes[ends]]
        starts = np.insert(~same, 0, True)
        first[codes[starts]] = slots[starts]

    def _drop(self, slots: np.ndarray) -> None:
        """Remove the templates at ``slots`` (-1: none), and the subjects left without a template."""
        slots = np.unique(slots[slots >= 0])
        if not slots.size:
            return
        columns = self._templates.columns
        first, following = self._subjects.columns["first"], columns["next"]
        moved = 0
        emptied = []
        for slot in slots.tolist():
            shard = self._shard_list[int(columns["shard"][slot])]
            row = int(columns["row"][slot])
            replacement = shard.remove(row)
            if replacement >= 0:
                columns["row"][replacement] = row
                moved += 1
            code = int(columns["subject"][slot])
            if first[code] == slot:
                first[code] = following[slot]
            else:
                previous = int(first[code])
                while following[previous] != slot:
                    previous = int(following[previous])
                following[previous] = following[slot]
            if first[code] < 0:
                emptied.append(code)
        self._templates.remove(slots)
        if emptied:
            self._subjects.remove(np.array(emptied, np.int64))
        with self._count_lock:
            self._rows_moved += moved

    def _chain(self, code: int) -> list[int]:
        """The template slots of subject ``code``."""
        slots = []
        slot = int(self._subjects.columns["first"][code])
        following = self._templates.columns["next"]
        while slot >= 0:
            slots.append(slot)
            slot = int(following[slot])
        return slots

    def _shard(self, key: tuple[str, int]) -> _Shard:
        shard = self._shards.get(key)
        if shard is None:
            assert self._dim is not None
            shard = _Shard(len(self._shard_list), self._dim)
            self._shards[key] = shard
            self._shard_list.append(shard)
        return shard

    def _purpose_masks(self, scopes: list[frozenset[str]]) -> np.ndarray:
        """The purpose bitmask of each of ``scopes`` (a purpose not seen before takes the next bit)."""
        masks = []
        for scope in scopes:
            mask = 0
            for purpose in sorted(scope):
                mask |= 1 << self._purpose_bits.setdefault(purpose, len(self._purpose_bits))
            masks.append(mask)
        return np.array(masks, np.uint32)

    def _check_probe(self, vector: np.ndarray) -> None:
        if vector.shape[0] != self._dim:
            raise ValueError(f"probe must have length {self._dim} like the indexed embeddings; got {vector.shape}")

    def _scores(self, shard: _Shard, vector: np.ndarray, rows: slice) -> np.ndarray:
        """Cosine of ``vector`` with ``rows`` of the shard, by BLAS (float32, clipped to [-1, 1] like every face
        score), to choose the best rows; :meth:`_row_scores` gives the scores returned."""
        with blas_libraries().limit(limits=BLAS_THREADS, user_api="blas"):
            scores: np.ndarray = shard.vectors[rows] @ vector
        np.clip(scores, -1.0, 1.0, out=scores)
        with self._count_lock:
            self._rows_scored += scores.shape[0]
        return scores

    def _row_scores(self, shard: _Shard, vector: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Cosine of ``vector`` with ``rows`` of the shard, each row summed on its own: a row's score does not
        depend on which other rows are scored with it (a BLAS kernel rounds a row by its place in a block), so a
        search and ``scores_for`` give the same score to the same template."""
        scores: np.ndarray = np.multiply(shard.vectors[rows], vector).sum(axis=1, dtype=np.float32)
        np.clip(scores, -1.0, 1.0, out=scores)
        return scores

    def _best_per_subject(
        self, shard: _Shard, rows: np.ndarray, scores: np.ndarray, limit: int | None = None
    ) -> tuple[list[Hit], int]:
        """Each subject's best row among ``rows`` (equal scores: the smallest template id), ranked by the contract
        (highest score first, equal scores by subject id), the first ``limit`` of them; and how many subjects."""
        slots = shard.templates[rows]
        template_ids = self._templates.ids[slots]
        codes = self._templates.columns["subject"][slots]
        ranked = np.lexsort((template_ids, -scores))  # score down, then template id up
        _, first = np.unique(codes[ranked], return_index=True)
        best = ranked[first]
        subject_ids = self._subjects.ids[codes[best]]
        best = best[np.lexsort((subject_ids, -scores[best]))]
        hits = [
            Hit(self._subjects.ids[codes[i]].decode(), template_ids[i].decode(), float(scores[i]))
            for i in best[:limit].tolist()
        ]
        return hits, int(best.shape[0])
