"""The sealed index snapshot: what the in-process indexes held, so that a start need not open every template.

Filling the indexes from the store means reading every template row and
opening it under its subject's key, one key file per subject: minutes at a
million templates, during which the service cannot answer. So each start
also writes what it put in the indexes to ``data_dir/index-snapshot``, and
the next start loads that instead.

What is kept
    The snapshot is split into :data:`~tessera.store.vault.SNAPSHOT_SEGMENTS`
    segments by the first two hex digits of the subject id
    (:func:`~tessera.store.vault.snapshot_segment`), one file each
    (``segment-XX.sealed``). A segment holds, for each template of its
    subjects that a matcher of this instance reads: the template id, the
    subject and gallery ids, the part, the consent's purposes and expiry, and
    the template's payload in clear (the embedding, or the finger's ISO/IEC
    19794-2 record, from which the matcher makes its features again). Beside
    them: the snapshot format, the store's schema revision when it was
    written, the matcher keys, and the newest outbox sequence number when it
    was read.

How it is sealed
    The whole segment is sealed with AES-256-GCM under a key of its own, kept
    by the vault beside the subject keys and wrapped by the same master key
    (:meth:`~tessera.store.vault.Vault.seal_snapshot_segment`). Every write
    makes a new key and destroys the previous one first, and the file is
    written atomically (temporary file, ``fsync``, rename, ``fsync`` of the
    folder), so a crash leaves the old segment, unreadable under the new key,
    or the new one.

Erasure
    Erasing a subject destroys its key and then its segment's key
    (:meth:`~tessera.store.vault.Vault.erase_subject`): every copy of a
    segment written before the erasure is unreadable with the keys left,
    even if an old file is put back. The next start rebuilds that segment
    from the store (1/256 of it) and writes it anew. On load, a segment's
    entries are also checked against the store: entries whose template is
    no longer stored or whose subject has a tombstone are dropped.

In step with the store
    A segment that is missing, does not open, or was written for another
    format or set of matchers is rebuilt from the store; so is one written
    before a migration that changes what the indexes read (each migration
    says whether it does: ``CHANGES_INDEXED_DATA``,
    :func:`~tessera.store.db.revisions_with_same_indexed_data`). A migration
    that changes nothing they read (a new table, a gallery setting) keeps
    every segment.
    A segment that opens is brought in step with every enrolment and
    erasure committed since it was written, in one of two ways:

    - when the outbox still holds every row since the segment was written
      (its oldest row kept is at most one after the segment's, and the
      segment's mark, the newest row when it was written, is still there
      unchanged: :mod:`tessera.workflows.snapshot_outbox`), the subjects
      those rows name are the only ones that can differ: their entries are
      dropped and their stored templates opened again. No store-wide read;
    - otherwise (rows pruned since, a database restored from an older copy,
      a segment written by older code) it is compared with the store's
      template ids for its subjects (ids only, no ciphertext): templates
      stored since are opened and added, templates gone are dropped, and the
      segment is written again so that the next start finds it covered.

    Either way, entries of a subject with a tombstone are dropped. Outbox
    rows are numbered in commit order (on PostgreSQL, under an advisory
    lock), so a change committed late is never numbered before one the
    segment already reflects. The outbox still pending is applied
    afterwards, as at every start. A segment that changed is written again,
    so the next start loads it.

As columns
    A segment is read as one :class:`Table` of columns per matcher, compared
    with the store as byte-string id columns, and a face matcher's
    :class:`~tessera.index.matrix.MatrixIndex` takes it as it is
    (:meth:`~tessera.index.matrix.MatrixIndex.upsert_columns`): a million
    templates load without a Python object each (docs/scale.md, start-up).
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from alembic.runtime.migration import MigrationContext
from sqlalchemy import and_, func, or_, select

from tessera.face.codec import EMBEDDING_DTYPE
from tessera.governance.vocabulary import SubjectStatus
from tessera.index.base import IndexEntry
from tessera.index.matrix import EntryColumns, MatrixIndex
from tessera.match.matchers import FaceMatcher, Matcher
from tessera.store.db import revisions_with_same_indexed_data
from tessera.store.models import IndexOutboxEntry, Subject, Template, Tombstone
from tessera.store.vault import SNAPSHOT_SEGMENTS, KeyMissing, SealedDataUnreadable
from tessera.workflows.indexing import Indexed, Opened, open_templates, upsert
from tessera.workflows.snapshot_outbox import OutboxMark, OutboxSince, outbox_mark

log = logging.getLogger("tessera")

FORMAT = 1
"""The layout of a segment's plaintext; a segment of another format is rebuilt."""
_IDS_PER_QUERY = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NO_IDS = np.zeros(0, "S1")


@dataclass(frozen=True)
class Identity:
    """What a segment must have been written for to be loaded: this format and these matchers, at a schema revision
    where the data the indexes read was what it is now.

    Attributes
    ----------
    store_revision : str or None
        The store's schema revision now, written in each segment's header.
    matchers : tuple of str
        The keys of the instance's matchers, sorted.
    same_indexed_data : frozenset of str
        The schema revisions a segment may have been written at: ``store_revision`` and those before it down to the
        newest migration that changes indexed data
        (:func:`~tessera.store.db.revisions_with_same_indexed_data`). A migration that adds an unrelated table
        keeps every segment; one that changes templates, consents or who is searchable has every segment rebuilt.
    """

    store_revision: str | None
    matchers: tuple[str, ...]
    same_indexed_data: frozenset[str]

    def as_dict(self) -> dict[str, object]:
        """What a segment's header says of the identity it was written for."""
        return {"format": FORMAT, "store_revision": self.store_revision, "matchers": list(self.matchers)}

    def admits(self, header: dict) -> bool:
        """Whether a segment whose header is ``header`` was written for this identity."""
        return (
            header.get("format") == FORMAT
            and header.get("matchers") == list(self.matchers)
            and header.get("store_revision") in self.same_indexed_data
        )


@dataclass(frozen=True)
class SnapshotStart:
    """What a start from the snapshot did.

    Attributes
    ----------
    entries : int
        Entries put in the indexes.
    loaded, rebuilt, written : int
        Segments loaded from their file, rebuilt from the store (missing, unreadable, another identity), and
        written (rebuilt, changed since, or compared with the store).
    compared : int
        Segments loaded that the outbox no longer covered, compared with the store's template ids.
    opened : int
        Templates opened from the store (the slow part: rebuilt segments and templates stored since).
    dropped : int
        Snapshot entries left out: their template is no longer stored, or their subject was erased.
    """

    entries: int
    loaded: int
    rebuilt: int
    compared: int
    written: int
    opened: int
    dropped: int


@dataclass(frozen=True)
class Table:
    """One matcher's entries in a segment, as columns (row ``i`` is entry ``i``): what a segment file holds.

    Attributes
    ----------
    key : str
        The matcher's key.
    template_ids, subject_ids, gallery_ids : numpy.ndarray, shape (n,), bytes
        UTF-8 ids.
    parts : numpy.ndarray, shape (n,), int16
    expires_us : numpy.ndarray, shape (n,), int64
        Consent expiry, POSIX microseconds.
    scopes : numpy.ndarray, shape (n,), int32
        Index into ``purposes`` of each entry's consented purposes.
    purposes : tuple of frozenset of str
        The consent scopes the entries name.
    payload_ends : numpy.ndarray, shape (n,), int64
        Where each entry's payload ends in ``payloads`` (each starts where the previous one ends).
    payloads : numpy.ndarray, shape (sum of lengths,), uint8
        The payloads in clear, one after the other.
    """

    key: str
    template_ids: np.ndarray
    subject_ids: np.ndarray
    gallery_ids: np.ndarray
    parts: np.ndarray
    expires_us: np.ndarray
    scopes: np.ndarray
    purposes: tuple[frozenset[str], ...]
    payload_ends: np.ndarray
    payloads: np.ndarray

    def __len__(self) -> int:
        return int(self.template_ids.shape[0])

    @classmethod
    def of_opened(cls, key: str, opened: Sequence[Opened]) -> Table:
        """The entries ``opened`` (all of matcher ``key``) as a table."""
        scopes: dict[frozenset[str], int] = {}
        payloads = [item.payload for item in opened]
        return cls(
            key=key,
            template_ids=_id_column([item.entry.template_id for item in opened]),
            subject_ids=_id_column([item.entry.subject_id for item in opened]),
            gallery_ids=_id_column([item.entry.gallery_id for item in opened]),
            parts=np.array([item.entry.part for item in opened], np.int16),
            expires_us=np.array(
                [(item.entry.consent_expires_at - _EPOCH) // _MICROSECOND for item in opened], np.int64
            ),
            scopes=np.array([scopes.setdefault(item.entry.purposes, len(scopes)) for item in opened], np.int32),
            purposes=tuple(scopes),
            payload_ends=np.cumsum([len(p) for p in payloads], dtype=np.int64),
            payloads=np.frombuffer(b"".join(payloads), np.uint8),
        )

    def take(self, rows: np.ndarray) -> Table:
        """The table of ``rows`` only (a boolean mask)."""
        if rows.all():  # the usual case: nothing to drop, nothing copied
            return self
        size = int(self.payload_ends[0]) if len(self) else 0
        if np.array_equal(self.payload_ends, np.arange(1, len(self) + 1, dtype=np.int64) * size):  # equal lengths
            ends = np.arange(1, int(np.count_nonzero(rows)) + 1, dtype=np.int64) * size
            payloads = self.payloads.reshape(len(self), size)[rows].reshape(-1)
        else:
            starts = np.concatenate([np.zeros(1, np.int64), self.payload_ends[:-1]])[rows]
            lengths = self.payload_ends[rows] - starts
            ends = np.cumsum(lengths, dtype=np.int64)
            payloads = self.payloads[
                np.repeat(starts - (ends - lengths), lengths) + np.arange(int(ends[-1]) if ends.size else 0)
            ]
        return Table(
            key=self.key,
            template_ids=self.template_ids[rows],
            subject_ids=self.subject_ids[rows],
            gallery_ids=self.gallery_ids[rows],
            parts=self.parts[rows],
            expires_us=self.expires_us[rows],
            scopes=self.scopes[rows],
            purposes=self.purposes,
            payload_ends=ends,
            payloads=payloads,
        )

    @classmethod
    def joined(cls, tables: Sequence[Table]) -> Table:
        """One table of the rows of ``tables`` (all of one matcher), in order."""
        purposes: dict[frozenset[str], int] = {}
        scopes = []
        for table in tables:
            number = np.array([purposes.setdefault(scope, len(purposes)) for scope in table.purposes], np.int32)
            scopes.append(number[table.scopes] if len(table) else np.zeros(0, np.int32))
        offsets = np.cumsum([0] + [int(t.payload_ends[-1]) if len(t) else 0 for t in tables[:-1]])
        return cls(
            key=tables[0].key,
            template_ids=_concatenated([t.template_ids for t in tables]),
            subject_ids=_concatenated([t.subject_ids for t in tables]),
            gallery_ids=_concatenated([t.gallery_ids for t in tables]),
            parts=np.concatenate([t.parts for t in tables]),
            expires_us=np.concatenate([t.expires_us for t in tables]),
            scopes=np.concatenate(scopes),
            purposes=tuple(purposes),
            payload_ends=np.concatenate([t.payload_ends + offset for t, offset in zip(tables, offsets)]),
            payloads=np.concatenate([t.payloads for t in tables]),
        )


def start_from_snapshot(instance: Indexed, folder: Path) -> SnapshotStart:
    """Fill the empty indexes from the snapshot in ``folder``, in step with the store; rewrite what lagged.

    Each segment is loaded (or rebuilt from the store when it cannot be),
    brought in step with the store (through the outbox when it covers the
    segment, else by comparing it with the store's template ids), put in the
    indexes (a face index takes the segment's columns as they are,
    :meth:`~tessera.index.matrix.MatrixIndex.upsert_columns`), and written
    again if it changed. See the module docstring.
    """
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = current_identity(instance)
    with instance.sessions() as session:  # read before the store: a later change is found again next time
        outbox_seq = session.scalar(select(func.max(IndexOutboxEntry.seq))) or 0
    outbox = OutboxSince(instance, outbox_seq, _segments)
    erased = _erased(instance)
    entries = loaded = rebuilt = opened_count = dropped = compared = 0
    written: dict[int, set[str]] = {}
    loader = Loader(instance)
    for segment in range(SNAPSHOT_SEGMENTS):
        held = load_segment(instance, folder, segment, identity)
        gone = erased.get(segment, _NO_IDS)
        if held is None:  # rebuilt from the store: its subjects' range of ids, one stream
            ids = stored_in_segment(instance, segment)
            fresh = [o for chunk in open_templates(instance, in_segment(segment)) for o in chunk] if ids.size else []
            wanted = set(ids.astype(str).tolist())
            fresh = [o for o in fresh if o.entry.template_id in wanted]
            tables = _tables_of(fresh)
            rebuilt += bool(ids.size)
            opened_count += len(fresh)
            changed = bool(ids.size) or segment_path(folder, segment).exists()
            added: list[Opened] = []
        elif outbox.covers(held.outbox_seq, held.outbox_mark):
            # Only the subjects the outbox names since the segment was written can differ from the store: their
            # entries are dropped and their templates opened again, as the store has them now.
            loaded += 1
            since = outbox.subjects_since(held.outbox_seq, segment)
            tables = [t.take(~np.isin(t.subject_ids, _concatenated([since, gone]))) for t in held.tables]
            dropped += sum(map(len, held.tables)) - sum(map(len, tables))
            added = open_of_subjects(instance, since[~np.isin(since, gone)])
            changed = bool(since.size) or sum(map(len, tables)) != sum(map(len, held.tables))
        else:  # the outbox no longer covers it: compared with the store's template ids
            loaded += 1
            compared += 1
            ids = stored_in_segment(instance, segment)
            tables = [t.take(np.isin(t.template_ids, ids) & ~np.isin(t.subject_ids, gone)) for t in held.tables]
            dropped += sum(map(len, held.tables)) - sum(map(len, tables))
            have = _concatenated([t.template_ids for t in tables])
            added = open_by_id(instance, set(np.setdiff1d(ids, have).astype(str).tolist()))
            # Written again even if unchanged, so that the next start finds it covered by the outbox.
            changed = outbox_seq > 0 or sum(map(len, tables)) != sum(map(len, held.tables))
        opened_count += len(added)
        if added:
            tables = _tables_of(added, tables)
            changed = True
        entries += loader.load(tables)
        if changed and any(map(len, tables)):
            write_segment(instance, folder, segment, identity, tables, outbox_seq)
            written[segment] = set(_concatenated([t.subject_ids for t in tables]).astype(str).tolist())
        elif changed:
            remove_segment(instance, folder, segment)
    loader.flush()
    _forget_segments_of_erased(instance, written)
    _return_freed_memory()
    entries += upsert(open_by_id(instance, unsegmented_templates(instance)))
    result = SnapshotStart(
        entries=entries,
        loaded=loaded,
        rebuilt=rebuilt,
        compared=compared,
        written=len(written),
        opened=opened_count,
        dropped=dropped,
    )
    log.info(
        "indexes filled from the snapshot: %d entries; %d segments loaded (%d of them compared with the store's "
        "template ids, the outbox not covering them), %d rebuilt from the store, %d written; %d templates opened, "
        "%d snapshot entries dropped",
        result.entries,
        result.loaded,
        result.compared,
        result.rebuilt,
        result.written,
        result.opened,
        result.dropped,
    )
    return result


class Loader:
    """Puts segments' tables in their matchers' indexes.

    A face matcher's :class:`~tessera.index.matrix.MatrixIndex` takes the
    columns as they are (the payloads are the embeddings, read in place),
    gathered over segments into batches of at least :data:`ROWS_PER_LOAD`
    rows; any other index gets one :class:`~tessera.index.base.IndexEntry`
    per entry at once, its features made by the matcher. :meth:`flush` loads
    what is gathered.
    """

    def __init__(self, instance: Indexed) -> None:
        self.instance = instance
        self.gathered: dict[str, list[Table]] = {}
        self.rows = 0

    def load(self, tables: Sequence[Table]) -> int:
        """Load (or gather) ``tables``; returns how many entries they hold."""
        count = 0
        for table in tables:
            if not len(table):
                continue
            matcher = self.instance.matchers[table.key]
            if isinstance(matcher, FaceMatcher) and isinstance(matcher.index, MatrixIndex):
                self.gathered.setdefault(table.key, []).append(table)
                self.rows += len(table)
            else:
                upsert(table_entries(self.instance, table))
            count += len(table)
        if self.rows >= ROWS_PER_LOAD:
            self.flush()
        return count

    def flush(self) -> None:
        """Load the tables gathered so far."""
        for key, tables in self.gathered.items():
            matcher = self.instance.matchers[key]
            assert isinstance(matcher, FaceMatcher) and isinstance(matcher.index, MatrixIndex)
            matcher.index.upsert_columns(_entry_columns(matcher, Table.joined(tables)))
        self.gathered, self.rows = {}, 0


ROWS_PER_LOAD = 65_536
"""Face entries gathered from segments before they go into the index at once (a batch amortises the index's
per-batch work; 32 MiB of 128-d embeddings at most, on top of the index)."""


def _tables_of(opened: Sequence[Opened], tables: Sequence[Table] = ()) -> list[Table]:
    """``tables`` with ``opened`` added, one table per matcher."""
    by_key: dict[str, list[Table]] = {table.key: [table] for table in tables}
    grouped: dict[str, list[Opened]] = {}
    for item in opened:
        grouped.setdefault(item.matcher.key, []).append(item)
    for key, items in grouped.items():
        by_key.setdefault(key, []).append(Table.of_opened(key, items))
    return [parts[0] if len(parts) == 1 else Table.joined(parts) for parts in by_key.values()]


def open_by_id(instance: Indexed, template_ids: set[str]) -> list[Opened]:
    """The templates ``template_ids``, opened (a few hundred ids per query)."""
    ordered = sorted(template_ids)
    return [
        item
        for start in range(0, len(ordered), _IDS_PER_QUERY)
        for chunk in open_templates(instance, Template.id.in_(ordered[start : start + _IDS_PER_QUERY]))
        for item in chunk
    ]


def current_identity(instance: Indexed) -> Identity:
    """The identity a segment must have to be loaded by ``instance``."""
    with instance.sessions() as session:
        revision = MigrationContext.configure(session.connection()).get_current_revision()
    return Identity(
        store_revision=revision,
        matchers=tuple(sorted(m.key for m in instance.matchers)),
        same_indexed_data=revisions_with_same_indexed_data(revision),
    )


def in_segment(segment: int) -> object:
    """The templates of segment ``segment``'s subjects, as a where-clause (a range of subject ids: indexed)."""
    low, high = subject_range(segment)
    return and_(Template.subject_id >= low, Template.subject_id < high)


def subject_range(segment: int) -> tuple[str, str]:
    """The subject ids of segment ``segment``: from the first string to before the second."""
    high = f"{segment + 1:02x}" if segment + 1 < SNAPSHOT_SEGMENTS else "g"  # every id of segment ff is below "g"
    return f"{segment:02x}", high


def segment_path(folder: Path, segment: int) -> Path:
    return folder / f"segment-{segment:02x}.sealed"


@dataclass(frozen=True)
class Segment:
    """A segment's file, opened: its tables, and where the outbox stood when it was written.

    Attributes
    ----------
    tables : list of Table
    outbox_seq : int
        The newest outbox row committed before the store was read for it: every change up to it is in the tables.
    outbox_mark : OutboxMark or None
        The newest outbox row when it was written (:mod:`tessera.workflows.snapshot_outbox`); None in a segment
        written with an empty outbox, or by older code.
    """

    tables: list[Table]
    outbox_seq: int
    outbox_mark: OutboxMark | None


def read_segment(instance: Indexed, folder: Path, segment: int, identity: Identity) -> list[Table] | None:
    """The tables of a segment's file, or None (see :func:`load_segment`)."""
    loaded = load_segment(instance, folder, segment, identity)
    return None if loaded is None else loaded.tables


def load_segment(instance: Indexed, folder: Path, segment: int, identity: Identity) -> Segment | None:
    """A segment's file, opened, or None (and why, logged) when it is missing, does not open, or was written for
    another identity."""
    path = segment_path(folder, segment)
    try:
        sealed = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        plaintext = instance.vault.open_snapshot_segment(segment, sealed)
    except KeyMissing:  # destroyed by an erasure of one of its subjects, or by a write cut short
        log.info("snapshot segment %s has no key any more; rebuilt from the store", path.name)
        return None
    except SealedDataUnreadable as error:
        log.warning("snapshot segment %s does not open (%s); rebuilt from the store", path.name, error)
        return None
    del sealed
    try:
        header, tables = _unpack(plaintext)
        if not identity.admits(header) or header.get("segment") != segment:
            log.warning(
                "snapshot segment %s was written for %s, this instance is %s (loads segments written at revisions "
                "%s); rebuilt from the store",
                path.name,
                {name: header.get(name) for name in identity.as_dict()},
                identity.as_dict(),
                sorted(identity.same_indexed_data),
            )
            return None
        for table in tables:
            _check_table(instance.matchers[table.key], table)
        return Segment(tables, int(header["outbox_seq"]), OutboxMark.of(header.get("outbox_mark")))
    except (ValueError, KeyError, TypeError, OSError) as error:  # authenticated, so written by a bug: say so
        log.error("snapshot segment %s is malformed (%s); rebuilt from the store", path.name, error)
        return None


def write_segment(
    instance: Indexed,
    folder: Path,
    segment: int,
    identity: Identity,
    tables: Sequence[Table],
    outbox_seq: int,
) -> None:
    """Seal ``tables`` (the segment's entries, every change up to outbox row ``outbox_seq`` in them) under a new
    segment key and replace the segment's file atomically.

    The header also keeps the newest outbox row now (its mark), read after the tables were: every change the tables
    hold is at or before it (:mod:`tessera.workflows.snapshot_outbox`).
    """
    mark = outbox_mark(instance)
    sealed = instance.vault.seal_snapshot_segment(segment, _pack(segment, identity, tables, outbox_seq, mark))
    path = segment_path(folder, segment)
    partial = path.with_suffix(".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(sealed)
        while view:
            view = view[os.write(descriptor, view) :]
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    _install(partial, path)


def _install(partial: Path, path: Path) -> None:
    """Rename the durable ``partial`` file over ``path`` and make the rename durable."""
    os.replace(partial, path)
    _fsync_folder(path.parent)


UNSEGMENTED = -1
"""Where a subject id that is not a UUID would go (none is, today): indexed at every start, never snapshotted."""


def remove_segment(instance: Indexed, folder: Path, segment: int) -> None:
    """Delete a segment's file and destroy its key (its subjects are all gone)."""
    segment_path(folder, segment).unlink(missing_ok=True)
    instance.vault.forget_snapshot_segment(segment)
    _fsync_folder(folder)


def _served(instance: Indexed) -> object:
    """The templates a matcher of ``instance`` reads, as a where-clause."""
    return or_(
        *(
            and_(
                Template.modality == matcher.modality.value,
                Template.algorithm == matcher.algorithm,
                Template.capture.is_(None) if matcher.sensor is None else Template.capture == matcher.sensor,
            )
            for matcher in instance.matchers
        )
    )


def stored_in_segment(instance: Indexed, segment: int) -> np.ndarray:
    """The ids of the stored templates of segment ``segment``'s active subjects that a matcher of ``instance``
    reads: a byte-string column, read through the subject id's index (no ciphertext, no ORM objects)."""
    query = (
        select(Template.id, Template.subject_id)
        .join(Subject, Template.subject_id == Subject.id)
        .where(_served(instance), in_segment(segment), Subject.status == SubjectStatus.ACTIVE)  # type: ignore[arg-type]
    )
    with instance.sessions() as session:
        rows = session.execute(query).all()
    if not rows:
        return _NO_IDS
    template_ids, subject_ids = zip(*rows)
    ids = _id_column(template_ids)
    return ids[_segments(_id_column(subject_ids)) == segment]


def unsegmented_templates(instance: Indexed) -> set[str]:
    """The ids of the stored templates whose subject id does not start with two hex digits (in no segment:
    :data:`UNSEGMENTED`; none, today), found through the ranges of subject ids between the segments', one query
    each on the subject id's index (:func:`open_by_id` then leaves out what no matcher reads or no active subject
    holds)."""
    found: set[str] = set()
    with instance.sessions() as session:
        for low, high in _unsegmented_ranges():
            query = select(Template.id).where(Template.subject_id >= low)
            found.update(session.scalars(query if high is None else query.where(Template.subject_id < high)))
    return found


def _unsegmented_ranges() -> list[tuple[str, str | None]]:
    """The ranges ``[low, high)`` (None: no end) of the strings that do not start with two lowercase hex digits."""
    ranges: list[tuple[str, str | None]] = [("", "00")]
    for number, digit in enumerate(_HEX):
        ranges.append((digit + ":", digit + "a"))  # ":" follows "9"; "a" is the next hex digit
        ranges.append((digit + "g", None if digit == _HEX[-1] else _HEX[number + 1] + "0"))
    return ranges


_HEX = "0123456789abcdef"


def _erased(instance: Indexed) -> dict[int, np.ndarray]:
    """By segment: the ids of the erased subjects (those with a tombstone)."""
    with instance.sessions() as session:
        tombstones = _id_column(list(session.scalars(select(Tombstone.subject_id))))
    return _by_segment(tombstones, _segments(tombstones))


def open_of_subjects(instance: Indexed, subject_ids: np.ndarray) -> list[Opened]:
    """The stored templates of ``subject_ids`` (a byte-string column) that a matcher reads, opened."""
    ordered = sorted(subject_ids.astype(str).tolist())
    return [
        item
        for start in range(0, len(ordered), _IDS_PER_QUERY)
        for chunk in open_templates(instance, Template.subject_id.in_(ordered[start : start + _IDS_PER_QUERY]))
        for item in chunk
    ]


def _segments(subject_ids: np.ndarray) -> np.ndarray:
    """The snapshot segment of each subject id (:func:`~tessera.store.vault.snapshot_segment`), or
    :data:`UNSEGMENTED`, computed on the column at once."""
    if not subject_ids.size:
        return np.zeros(0, np.int64)
    head = np.ascontiguousarray(subject_ids.astype("S2")).view(np.uint8).reshape(-1, 2).astype(np.int64)
    digits = np.full(256, -1, np.int64)
    digits[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
    digits[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
    high, low = digits[head[:, 0]], digits[head[:, 1]]
    return np.where((high >= 0) & (low >= 0), high * 16 + low, UNSEGMENTED)


def _by_segment(ids: np.ndarray, segments: np.ndarray) -> dict[int, np.ndarray]:
    order = np.argsort(segments, kind="stable")
    ids, segments = ids[order], segments[order]
    present, starts = np.unique(segments, return_index=True)
    ends = [*starts[1:].tolist(), ids.shape[0]]
    return {int(s): ids[start:end] for s, start, end in zip(present.tolist(), starts.tolist(), ends)}


def _forget_segments_of_erased(instance: Indexed, written: dict[int, set[str]]) -> None:
    """Destroy the key of a segment just written that holds a subject whose key is gone.

    An erasure in another process destroys the subject's key, then its
    segment's key; a segment written meanwhile from rows read before the
    erasure's commit would hold the erased person under a key made after.
    Checking the subject keys after the write closes that window.
    """
    for segment, subject_ids in written.items():
        if len(instance.vault.subjects_with_keys(sorted(subject_ids))) != len(subject_ids):
            instance.vault.forget_snapshot_segment(segment)
            log.warning(
                "snapshot segment %02x holds a subject erased while it was written; its key is destroyed", segment
            )


# -- the plaintext layout --------------------------------------------------------------------------------------------


def _pack(segment: int, identity: Identity, tables: Sequence[Table], outbox_seq: int, mark: OutboxMark | None) -> bytes:
    """A segment's plaintext: numpy arrays in an uncompressed ``.npz`` (read back without pickle); ids are lines of
    UTF-8 text, consent scopes are listed once in the header."""
    scopes: dict[frozenset[str], int] = {}
    kept = sorted((table for table in tables if len(table)), key=lambda table: table.key)
    header = {
        **identity.as_dict(),
        "segment": segment,
        "outbox_seq": outbox_seq,
        "outbox_mark": None if mark is None else mark.as_dict(),
        "written_at": datetime.now(UTC).isoformat(),
        "tables": [table.key for table in kept],
    }
    arrays: dict[str, np.ndarray] = {}
    for number, table in enumerate(kept):
        renumbered = np.array([scopes.setdefault(scope, len(scopes)) for scope in table.purposes], np.int32)
        arrays |= {
            f"{number}.template_ids": _text(table.template_ids),
            f"{number}.subject_ids": _text(table.subject_ids),
            f"{number}.gallery_ids": _text(table.gallery_ids),
            f"{number}.parts": table.parts.astype(np.int16),
            f"{number}.expires_us": table.expires_us.astype(np.int64),
            f"{number}.scopes": renumbered[table.scopes],
            f"{number}.payload_ends": table.payload_ends.astype(np.int64),
            f"{number}.payloads": table.payloads.astype(np.uint8),
        }
    header["scopes"] = [sorted(scope) for scope in scopes]
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _unpack(plaintext: bytes) -> tuple[dict, list[Table]]:
    with np.load(io.BytesIO(plaintext), allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes().decode())
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        purposes = tuple(frozenset(scope) for scope in header["scopes"])
        tables = [
            Table(
                key=key,
                template_ids=_ids(archive[f"{number}.template_ids"]),
                subject_ids=_ids(archive[f"{number}.subject_ids"]),
                gallery_ids=_ids(archive[f"{number}.gallery_ids"]),
                parts=archive[f"{number}.parts"],
                expires_us=archive[f"{number}.expires_us"],
                scopes=archive[f"{number}.scopes"],
                purposes=purposes,
                payload_ends=archive[f"{number}.payload_ends"],
                payloads=archive[f"{number}.payloads"],
            )
            for number, key in enumerate(header.get("tables", []))
        ]
    return header, tables


def _check_table(matcher: Matcher, table: Table) -> None:
    """Raise ValueError when ``table``'s columns disagree in length or type, or (a face matcher) a payload is not
    one embedding of the matcher's length."""
    count = len(table)
    for name in ("subject_ids", "gallery_ids", "parts", "expires_us", "scopes", "payload_ends"):
        if getattr(table, name).shape != (count,):
            raise ValueError(f"the columns of table {table.key} have different lengths")
    if table.parts.dtype != np.int16 or table.expires_us.dtype != np.int64 or table.scopes.dtype != np.int32:
        raise ValueError(f"the columns of table {table.key} are not of the types written")
    if count and (table.scopes.min() < 0 or table.scopes.max() >= len(table.purposes)):
        raise ValueError(f"table {table.key} names a consent scope the header does not list")
    ends = table.payload_ends
    if count and (int(ends[-1]) != table.payloads.shape[0] or (np.diff(ends, prepend=0) < 0).any()):
        raise ValueError(f"the payloads of table {table.key} do not end where their ends say")
    if isinstance(matcher, FaceMatcher):
        size = matcher.spec.dim * EMBEDDING_DTYPE.itemsize
        if not np.array_equal(ends, np.arange(1, count + 1, dtype=np.int64) * size):
            raise ValueError(f"a payload of table {table.key} is not one {size}-byte embedding")


def _entry_columns(matcher: FaceMatcher, table: Table) -> EntryColumns:
    """A face table (checked by :func:`_check_table`) as index columns: its payloads are the embeddings."""
    vectors = table.payloads.view(EMBEDDING_DTYPE).reshape(len(table), matcher.spec.dim)
    return EntryColumns(
        template_ids=table.template_ids,
        subject_ids=table.subject_ids,
        gallery_ids=table.gallery_ids,
        parts=table.parts,
        vectors=vectors.astype(np.float32, copy=False),
        expires_us=table.expires_us,
        scopes=table.scopes,
        purposes=table.purposes,
    )


def table_entries(instance: Indexed, table: Table) -> list[Opened]:
    """A table as one opened entry per row (for an index that takes entries one object each)."""
    matcher = instance.matchers[table.key]
    payloads = table.payloads.tobytes()
    ends = table.payload_ends.tolist()
    expiries: dict[int, datetime] = {}
    opened = []
    rows = zip(
        table.template_ids.astype(str).tolist(),
        table.subject_ids.astype(str).tolist(),
        table.gallery_ids.astype(str).tolist(),
        table.parts.tolist(),
        table.expires_us.tolist(),
        table.scopes.tolist(),
        [0, *ends[:-1]],
        ends,
    )
    for template_id, subject_id, gallery_id, part, expires_us, scope, start, end in rows:
        expires = expiries.get(expires_us)
        if expires is None:
            expires = expiries[expires_us] = _EPOCH + expires_us * _MICROSECOND
        payload = payloads[start:end]
        opened.append(
            Opened(
                matcher=matcher,
                entry=IndexEntry(
                    template_id=template_id,
                    subject_id=subject_id,
                    gallery_id=gallery_id,
                    matcher=table.key,
                    part=part,
                    features=matcher.features(payload),
                    purposes=table.purposes[scope],
                    consent_expires_at=expires,
                ),
                payload=payload,
            )
        )
    return opened


def _id_column(ids: Sequence[str]) -> np.ndarray:
    """``ids`` as a byte-string column (UTF-8)."""
    if not ids:
        return _NO_IDS
    try:
        return np.array(ids, dtype=np.bytes_)  # ASCII, as every Tessera id: numpy encodes them at once
    except UnicodeEncodeError:
        return np.array([value.encode() for value in ids])


def _concatenated(columns: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate(columns) if columns else _NO_IDS


def _text(ids: np.ndarray) -> np.ndarray:
    """A column of ids as lines of text, in bytes."""
    return np.frombuffer(b"\n".join(ids.tolist()), np.uint8)


def _ids(text: np.ndarray) -> np.ndarray:
    """The ids :func:`_text` wrote, as a byte-string column."""
    return np.array(text.tobytes().split(b"\n")) if text.size else _NO_IDS


def _return_freed_memory() -> None:
    """Give the memory freed by the load (the store's ids, the segments read) back to the operating system.

    glibc keeps freed heap pages for reuse; ``malloc_trim(0)`` releases them
    (about 100 bytes per template at a million). Elsewhere this does nothing.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
