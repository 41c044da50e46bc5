"""Whether the index outbox still kept covers a snapshot segment, and which of its subjects changed since.

Every enrolment and erasure writes an outbox row in its own transaction
(:mod:`tessera.workflows.indexing`), numbered in commit order, and
:func:`~tessera.workflows.indexing.prune` deletes only a prefix of the rows
(by ``seq``) and always keeps the newest. So when a segment was written
after outbox row ``S`` and the oldest row kept is ``S + 1`` or older, every
change committed since the segment was written is still in the outbox: the
subjects those rows name are the only ones whose templates may differ from
the segment's, and a start need not compare the segment with every
template id in the store (:mod:`tessera.workflows.snapshot`).

A segment also records its *mark*: the newest outbox row when it was
written (its number and a digest of its operation, ids and time). The mark must still be in
the outbox, unchanged: a database restored from a copy older than the
segment (or another database) has lost that row or numbered another
change with it, and the segment is then compared with the store in full.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select

from tessera.store.models import IndexOutboxEntry
from tessera.workflows.indexing import Indexed

_NO_IDS = np.zeros(0, "S1")


@dataclass(frozen=True)
class OutboxMark:
    """The newest outbox row when a segment was written, as the segment's header keeps it: its number and a digest
    of the row (operation, ids, time), never the ids themselves. A segment written after an erasure would otherwise
    carry the erased person's id in its header for as long as the segment lives; the digest tells the same row from
    another as well (SHA-256)."""

    seq: int
    digest: str
    """SHA-256 (hex) of the row's number, operation, subject id, template id and time (:func:`row_digest`)."""

    def as_dict(self) -> dict[str, object]:
        return {"seq": self.seq, "digest": self.digest}

    @classmethod
    def of(cls, value: object) -> OutboxMark | None:
        """The mark a header holds, or None when it holds none (written by older code, or with an empty outbox).

        A header written before 2026-12-05 kept the row's fields themselves: their digest is taken here.
        """
        if not isinstance(value, dict):
            return None
        if "digest" in value:
            return cls(seq=int(value["seq"]), digest=str(value["digest"]))
        template_id = value["template_id"]
        return cls(
            seq=int(value["seq"]),
            digest=row_digest(
                int(value["seq"]),
                str(value["operation"]),
                str(value["subject_id"]),
                None if template_id is None else str(template_id),
                str(value["created_at"]),
            ),
        )


def row_digest(seq: int, operation: str, subject_id: str, template_id: str | None, created_at: str) -> str:
    """The digest a mark keeps of an outbox row (``created_at`` ISO 8601, as the database returned it)."""
    fields = [str(seq), operation, subject_id, template_id or "", created_at]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


def outbox_mark(instance: Indexed, seq: int | None = None) -> OutboxMark | None:
    """The outbox row ``seq`` (None: the newest), or None when there is no such row."""
    query = select(IndexOutboxEntry)
    query = (
        query.order_by(IndexOutboxEntry.seq.desc()).limit(1)
        if seq is None
        else query.where(IndexOutboxEntry.seq == seq)
    )
    with instance.sessions() as session:
        row = session.scalars(query).first()
        if row is None:
            return None
        digest = row_digest(row.seq, row.operation, row.subject_id, row.template_id, row.created_at.isoformat())
        return OutboxMark(seq=row.seq, digest=digest)


class OutboxSince:
    """The outbox rows up to ``upto`` (the newest committed before the store was read), read once and only as far
    back as a segment asks: ids only, a column of subject ids by ``seq``."""

    def __init__(self, instance: Indexed, upto: int, segments: Callable[[np.ndarray], np.ndarray]) -> None:
        self.instance = instance
        self.upto = upto
        self.segments = segments
        """The snapshot segment of each of a column of subject ids."""
        with instance.sessions() as session:
            self.oldest: int | None = session.scalar(select(func.min(IndexOutboxEntry.seq)))
        self.since = upto
        """Rows above ``since`` (and up to ``upto``) are read."""
        self.seqs = np.zeros(0, np.int64)
        self.subjects = _NO_IDS
        self._marks: dict[int, OutboxMark | None] = {}
        self._by_segment: dict[int, dict[int, np.ndarray]] = {}

    def covers(self, written_after: int, mark: OutboxMark | None) -> bool:
        """Whether every change since a segment written after row ``written_after`` with ``mark`` is still here.

        True when the oldest row kept is at most ``written_after + 1`` (no row after it was pruned: pruning keeps
        a suffix) and the segment's mark is still the row of that number (the same database's history).
        """
        if mark is None or self.oldest is None or self.oldest > written_after + 1 or mark.seq > self.upto:
            return False
        if mark.seq not in self._marks:
            self._marks[mark.seq] = outbox_mark(self.instance, mark.seq)
        return self._marks[mark.seq] == mark

    def subjects_since(self, seq: int, segment: int) -> np.ndarray:
        """The distinct subject ids of ``segment`` (a byte-string column) named by the rows above ``seq``, up to
        ``upto``."""
        if seq not in self._by_segment:
            self._read_back_to(seq)
            after = self.seqs > seq
            subjects = np.unique(self.subjects[after]) if after.any() else _NO_IDS
            numbers = self.segments(subjects)
            self._by_segment[seq] = {int(n): subjects[numbers == n] for n in np.unique(numbers).tolist()}
        return self._by_segment[seq].get(segment, _NO_IDS)

    def _read_back_to(self, seq: int) -> None:
        """Read the rows above ``seq`` not read yet."""
        if seq >= self.since:
            return
        with self.instance.sessions() as session:
            rows = session.execute(
                select(IndexOutboxEntry.seq, IndexOutboxEntry.subject_id)
                .where(IndexOutboxEntry.seq > seq, IndexOutboxEntry.seq <= self.since)
                .order_by(IndexOutboxEntry.seq)
            ).all()
        if rows:
            seqs, subjects = zip(*rows)
            self.seqs = np.concatenate([np.array(seqs, np.int64), self.seqs])
            self.subjects = np.concatenate([np.array([s.encode() for s in subjects]), self.subjects])
        self.since = seq
