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
    them: the snapshot format, the store's schema revision, the matcher keys,
    and the newest outbox sequence number when it was read.

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
    format, schema revision or set of matchers is rebuilt from the store.
    A segment that opens is compared with the store's template ids for its
    subjects (ids only, no ciphertext): templates stored since are opened and
    added, templates gone are dropped. This covers every enrolment and
    erasure committed since the segment was written, including those whose
    outbox rows were applied and deleted since (the outbox keeps only what
    no index has applied yet: :mod:`tessera.workflows.indexing`) and those
    committed out of sequence order by concurrent PostgreSQL transactions.
    The outbox still pending is applied afterwards, as at every start. A
    segment that changed is written again, so the next start loads it.
"""

from __future__ import annotations

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
from sqlalchemy import and_, func, select

from tessera.governance.vocabulary import SubjectStatus
from tessera.index.base import IndexEntry
from tessera.store.models import IndexOutboxEntry, Subject, Template, Tombstone
from tessera.store.vault import SNAPSHOT_SEGMENTS, KeyMissing, SealedDataUnreadable, snapshot_segment
from tessera.workflows.indexing import Indexed, Opened, open_templates, upsert

log = logging.getLogger("tessera")

FORMAT = 1
"""The layout of a segment's plaintext; a segment of another format is rebuilt."""
_IDS_PER_QUERY = 500
_IDS_PER_SCAN = 20_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Identity:
    """What a segment must have been written for to be loaded: this format, schema revision and matchers."""

    store_revision: str | None
    matchers: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"format": FORMAT, "store_revision": self.store_revision, "matchers": list(self.matchers)}


@dataclass(frozen=True)
class SnapshotStart:
    """What a start from the snapshot did.

    Attributes
    ----------
    entries : int
        Entries put in the indexes.
    loaded, rebuilt, written : int
        Segments loaded from their file, rebuilt from the store (missing, unreadable, another identity), and
        written (rebuilt, or changed since).
    opened : int
        Templates opened from the store (the slow part: rebuilt segments and templates stored since).
    dropped : int
        Snapshot entries left out: their template is no longer stored, or their subject was erased.
    """

    entries: int
    loaded: int
    rebuilt: int
    written: int
    opened: int
    dropped: int


def start_from_snapshot(instance: Indexed, folder: Path) -> SnapshotStart:
    """Fill the empty indexes from the snapshot in ``folder``, in step with the store; rewrite what lagged.

    Each segment is loaded (or rebuilt from the store when it cannot be),
    compared with the store, upserted into the indexes, and written again if
    it changed. See the module docstring.
    """
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    identity = current_identity(instance)
    with instance.sessions() as session:  # read before the store: a later change is found again next time
        outbox_seq = session.scalar(select(func.max(IndexOutboxEntry.seq))) or 0
    stored, erased = _stored_and_erased(instance)
    entries = loaded = rebuilt = opened_count = dropped = 0
    written: dict[int, set[str]] = {}
    for segment in range(SNAPSHOT_SEGMENTS):
        held = read_segment(instance, folder, segment, identity)
        ids = stored.get(segment, set())
        if held is None:  # rebuilt from the store: its subjects' range of ids, one stream
            kept = [o for chunk in open_templates(instance, in_segment(segment)) for o in chunk] if ids else []
            kept = [o for o in kept if o.entry.template_id in ids]
            rebuilt += bool(ids)
            opened_count += len(kept)
            changed = bool(ids) or segment_path(folder, segment).exists()
        else:
            loaded += 1
            gone = erased.get(segment, set())
            kept = [o for o in held if o.entry.template_id in ids and o.entry.subject_id not in gone]
            dropped += len(held) - len(kept)
            changed = len(kept) != len(held)
        added = open_by_id(instance, ids - {o.entry.template_id for o in kept})
        opened = kept + added
        opened_count += len(added)
        changed = changed or bool(added)
        entries += upsert(opened)
        if changed and opened:
            write_segment(instance, folder, segment, identity, opened, outbox_seq)
            written[segment] = {o.entry.subject_id for o in opened}
        elif changed:
            remove_segment(instance, folder, segment)
    _forget_segments_of_erased(instance, written)
    entries += upsert(open_by_id(instance, stored.get(UNSEGMENTED, set())))
    result = SnapshotStart(
        entries=entries,
        loaded=loaded,
        rebuilt=rebuilt,
        written=len(written),
        opened=opened_count,
        dropped=dropped,
    )
    log.info(
        "indexes filled from the snapshot: %d entries; %d segments loaded, %d rebuilt from the store, %d written; "
        "%d templates opened, %d snapshot entries dropped",
        result.entries,
        result.loaded,
        result.rebuilt,
        result.written,
        result.opened,
        result.dropped,
    )
    return result


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
    return Identity(store_revision=revision, matchers=tuple(sorted(m.key for m in instance.matchers)))


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


def read_segment(instance: Indexed, folder: Path, segment: int, identity: Identity) -> list[Opened] | None:
    """The entries of a segment's file, or None (and why, logged) when it is missing, does not open, or was
    written for another identity."""
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
    try:
        header, tables = _unpack(plaintext)
        expected = identity.as_dict()
        found = {name: header.get(name) for name in expected}
        if found != expected or header.get("segment") != segment:
            log.warning(
                "snapshot segment %s was written for %s, this instance is %s; rebuilt from the store",
                path.name,
                found,
                expected,
            )
            return None
        return [item for key, table in tables.items() for item in _entries(instance, key, table, header["scopes"])]
    except (ValueError, KeyError, TypeError, OSError) as error:  # authenticated, so written by a bug: say so
        log.error("snapshot segment %s is malformed (%s); rebuilt from the store", path.name, error)
        return None


def write_segment(
    instance: Indexed, folder: Path, segment: int, identity: Identity, opened: Sequence[Opened], outbox_seq: int
) -> None:
    """Seal ``opened`` (the segment's entries) under a new segment key and replace the segment's file atomically."""
    sealed = instance.vault.seal_snapshot_segment(segment, _pack(segment, identity, opened, outbox_seq))
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


def _segment_or_none(subject_id: str) -> int:
    try:
        return snapshot_segment(subject_id)
    except ValueError:
        return UNSEGMENTED


def remove_segment(instance: Indexed, folder: Path, segment: int) -> None:
    """Delete a segment's file and destroy its key (its subjects are all gone)."""
    segment_path(folder, segment).unlink(missing_ok=True)
    instance.vault.forget_snapshot_segment(segment)
    _fsync_folder(folder)


def _stored_and_erased(instance: Indexed) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
    """By segment: the ids of the stored templates a matcher of ``instance`` reads, and the erased subjects.

    Ids only (no ciphertext, no ORM objects), in one pass over the templates.
    """
    served: dict[tuple[str, str, str | None], bool] = {}
    stored: dict[int, set[str]] = {}
    erased: dict[int, set[str]] = {}
    # Keyed by segment, or UNSEGMENTED.
    query = (
        select(Template.id, Template.subject_id, Template.modality, Template.algorithm, Template.capture)
        .join(Subject, Template.subject_id == Subject.id)
        .where(Subject.status == SubjectStatus.ACTIVE)  # one held for a duplicate review is in no snapshot
    )
    with instance.sessions() as session:
        for rows in session.connection().execute(query.execution_options(yield_per=_IDS_PER_SCAN)).partitions():
            for template_id, subject_id, modality, algorithm, capture in rows:
                kind = (modality, algorithm, capture)
                if kind not in served:
                    served[kind] = instance.matchers.of_template(modality, algorithm, capture) is not None
                if served[kind]:
                    stored.setdefault(_segment_or_none(subject_id), set()).add(template_id)
        for subject_id in session.scalars(select(Tombstone.subject_id)):
            erased.setdefault(_segment_or_none(subject_id), set()).add(subject_id)
    return stored, erased


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


def _pack(segment: int, identity: Identity, opened: Sequence[Opened], outbox_seq: int) -> bytes:
    """A segment's plaintext: numpy arrays in an uncompressed ``.npz`` (read back without pickle)."""
    scopes: dict[frozenset[str], int] = {}
    by_matcher: dict[str, list[Opened]] = {}
    for item in opened:
        by_matcher.setdefault(item.matcher.key, []).append(item)
        scopes.setdefault(item.entry.purposes, len(scopes))
    tables = sorted(by_matcher)
    header = {
        **identity.as_dict(),
        "segment": segment,
        "outbox_seq": outbox_seq,
        "written_at": datetime.now(UTC).isoformat(),
        "tables": tables,
        "scopes": [sorted(scope) for scope in scopes],
    }
    arrays: dict[str, np.ndarray] = {"header": _text(json.dumps(header))}
    for number, key in enumerate(tables):
        items = by_matcher[key]
        payloads = [item.payload for item in items]
        arrays |= {
            f"{number}.template_ids": _text("\n".join(item.entry.template_id for item in items)),
            f"{number}.subject_ids": _text("\n".join(item.entry.subject_id for item in items)),
            f"{number}.gallery_ids": _text("\n".join(item.entry.gallery_id for item in items)),
            f"{number}.parts": np.array([item.entry.part for item in items], dtype=np.int16),
            f"{number}.expires_us": np.array(
                [(item.entry.consent_expires_at - _EPOCH) // _MICROSECOND for item in items], dtype=np.int64
            ),
            f"{number}.scopes": np.array([scopes[item.entry.purposes] for item in items], dtype=np.int32),
            f"{number}.payload_ends": np.cumsum([len(p) for p in payloads], dtype=np.int64),
            f"{number}.payloads": np.frombuffer(b"".join(payloads), dtype=np.uint8),
        }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _unpack(plaintext: bytes) -> tuple[dict, dict[str, dict[str, np.ndarray]]]:
    with np.load(io.BytesIO(plaintext), allow_pickle=False) as archive:
        header = json.loads(archive["header"].tobytes().decode())
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
        tables = {
            key: {name: archive[f"{number}.{name}"] for name in _COLUMNS}
            for number, key in enumerate(header.get("tables", []))
        }
    return header, tables


_COLUMNS = ("template_ids", "subject_ids", "gallery_ids", "parts", "expires_us", "scopes", "payload_ends", "payloads")


def _entries(instance: Indexed, key: str, table: dict[str, np.ndarray], scope_lists: list[list[str]]) -> list[Opened]:
    matcher = instance.matchers[key]
    template_ids, subject_ids, gallery_ids = (
        _lines(table[name]) for name in ("template_ids", "subject_ids", "gallery_ids")
    )
    scopes = [frozenset(scope) for scope in scope_lists]
    payloads = table["payloads"].tobytes()
    ends = table["payload_ends"].tolist()
    columns = (
        template_ids,
        subject_ids,
        gallery_ids,
        table["parts"].tolist(),
        table["expires_us"].tolist(),
        table["scopes"].tolist(),
        [0, *ends[:-1]],
        ends,
    )
    if len({len(column) for column in columns}) != 1:
        raise ValueError(f"the columns of table {key} have different lengths")
    expiries: dict[int, datetime] = {}
    opened = []
    for template_id, subject_id, gallery_id, part, expires_us, scope, start, end in zip(*columns):
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
                    matcher=key,
                    part=part,
                    features=matcher.features(payload),
                    purposes=scopes[scope],
                    consent_expires_at=expires,
                ),
                payload=payload,
            )
        )
    return opened


def _text(value: str) -> np.ndarray:
    return np.frombuffer(value.encode(), dtype=np.uint8)


def _lines(array: np.ndarray) -> list[str]:
    return array.tobytes().decode().split("\n") if array.size else []


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
