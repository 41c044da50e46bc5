"""Keeping the search indexes in step with the store: an outbox written in the same transaction, applied after.

The store is the source of truth for who may be searched; each matcher's
index (:mod:`tessera.index`) is a copy made for speed, one per process. An
enrolment or an erasure writes, in its own transaction, what the indexes
must do (:func:`queue_template`, :func:`queue_removal`: rows of
``index_outbox``, numbered by a sequence ``seq`` in commit order). Every
process applies every row: each keeps its own cursor (the highest ``seq``
its indexes have applied, :class:`OutboxCursor`) and :func:`drain` applies
the rows above it, oldest first. The process that made a change drains
right after its commit; the service also drains in the background
(:class:`IndexFollower`, every ``index_follow_interval_seconds``) and before
each search, so that an enrolment or erasure made by another process (the
CLI, another server on the same database) is seen within a second, and a
search never returns a person whose erasure was committed before it began.

Rows are never consumed: :func:`prune` deletes those older than
``index_outbox_keep_seconds``. So that a cursor never steps over a row
committed late, rows are numbered in commit order: SQLite has one writer at
a time, and on PostgreSQL the transaction that queues a row holds an
advisory lock until its commit.

At start each index that holds nothing (the in-process exact index always)
is filled from the sealed snapshot, checked against the store
(:mod:`tessera.workflows.snapshot`), or rebuilt from the store
(:func:`rebuild`: rows streamed in chunks, each subject's key read once),
and the cursor starts at the newest row committed before the store was
read; an index that persists its entries (Milvus, :mod:`tessera.index.milvus`)
is only brought up to date by applying every row still kept (applying is
idempotent), so a process that died between a commit and its index is
finished at the next start.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import Text, cast, delete, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from tessera.governance.vocabulary import SubjectStatus
from tessera.index.base import IndexEntry
from tessera.match.matchers import Matcher, Matchers
from tessera.store.crypto import SealedDataUnreadable
from tessera.store.models import Consent, IndexOutboxEntry, Subject, Template
from tessera.store.vault import Vault

log = logging.getLogger("tessera")


@dataclass
class OutboxCursor:
    """How far one process's indexes have applied the outbox: every row up to ``seq`` (0: none yet)."""

    seq: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """Held while rows are applied, so that two threads of the process never apply the same rows at once."""


class Indexed(Protocol):
    """What keeping the indexes in step needs of an open instance (:class:`~tessera.workflows.instance.Instance`
    has it all; the instance calls :func:`reconcile` when it opens, so this module cannot import it)."""

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def vault(self) -> Vault: ...

    @property
    def matchers(self) -> Matchers: ...

    @property
    def outbox(self) -> OutboxCursor: ...

    def clock(self) -> datetime: ...

    def transaction(self) -> AbstractContextManager[Session]: ...


UPSERT = "upsert"
REMOVE = "remove"
REMOVE_TEMPLATE = "remove_template"
"""One template of a subject whose others stay (a replaced capture): the row names both."""

ROWS_PER_DRAIN = 256
"""Rows one :func:`drain` step reads and applies at most (a background tick applies one step)."""

_OUTBOX_LOCK = 0x7E55E4A0
"""The PostgreSQL advisory lock a transaction queuing outbox rows holds until its commit (rows in commit order)."""


def queue_template(instance: Indexed, session: Session, template: Template) -> None:
    """In ``session``'s transaction: the indexes must add ``template`` once it is committed."""
    _in_commit_order(session)
    session.add(
        IndexOutboxEntry(
            operation=UPSERT, subject_id=template.subject_id, template_id=template.id, created_at=instance.clock()
        )
    )


def queue_template_removal(instance: Indexed, session: Session, subject_id: str, template_id: str) -> None:
    """In ``session``'s transaction: the indexes must forget ``template_id`` (of ``subject_id``) and keep the
    subject's other templates, with no moment without them."""
    _in_commit_order(session)
    session.add(
        IndexOutboxEntry(
            operation=REMOVE_TEMPLATE, subject_id=subject_id, template_id=template_id, created_at=instance.clock()
        )
    )


def queue_removal(instance: Indexed, session: Session, subject_id: str) -> None:
    """In ``session``'s transaction: the indexes must forget every template of ``subject_id``."""
    _in_commit_order(session)
    session.add(IndexOutboxEntry(operation=REMOVE, subject_id=subject_id, created_at=instance.clock()))


def _in_commit_order(session: Session) -> None:
    """Make the outbox rows of ``session``'s transaction commit in ``seq`` order with every other's.

    A cursor that has seen row n assumes every row below n is committed or
    never will be. SQLite has one writer at a time, so that holds; on
    PostgreSQL two transactions could take numbers 10 and 11 and commit 11
    first, so each transaction that queues rows first takes one advisory lock,
    held until it commits or rolls back (queued last in each workflow, it is
    held only for the commit).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _OUTBOX_LOCK})


def drain(instance: Indexed, most: int | None = None) -> int:
    """Apply the outbox rows above this process's cursor, oldest first, and move the cursor; returns how many.

    ``most`` bounds the rows applied by this call (None: every row committed
    when it runs, in steps of :data:`ROWS_PER_DRAIN`). Nothing is deleted:
    every process applies every row. Applying is idempotent (an upsert
    replaces, a removal of a gone subject removes nothing), so a row applied
    twice after a crash does no harm. When nothing is new this costs one
    query on the primary key.
    """
    applied = 0
    with instance.outbox.lock:
        while most is None or applied < most:
            step = ROWS_PER_DRAIN if most is None else min(ROWS_PER_DRAIN, most - applied)
            with instance.sessions() as session:
                rows = list(
                    session.scalars(
                        select(IndexOutboxEntry)
                        .where(IndexOutboxEntry.seq > instance.outbox.seq)
                        .order_by(IndexOutboxEntry.seq)
                        .limit(step)
                    )
                )
            apply_rows(instance, rows)
            if rows:
                instance.outbox.seq = rows[-1].seq
            applied += len(rows)
            if len(rows) < step:
                break
    return applied


def apply_rows(instance: Indexed, rows: list[IndexOutboxEntry]) -> None:
    """Apply ``rows`` in order: the templates of consecutive upserts are opened and added in one query, and a
    removal is applied after every upsert before it (an upsert after a removal of the same subject stays after)."""
    upserts: list[str] = []
    for row in rows:
        if row.operation in (REMOVE, REMOVE_TEMPLATE):
            if upserts:
                add_templates(instance, Template.id.in_(upserts))
                upserts = []
            for matcher in instance.matchers:
                if row.operation == REMOVE:
                    matcher.index.remove_subject(row.subject_id)
                elif row.template_id is not None:
                    matcher.index.remove_templates([row.template_id])
        elif row.template_id is not None:
            upserts.append(row.template_id)
    if upserts:
        add_templates(instance, Template.id.in_(upserts))


def pending(instance: Indexed) -> int:
    """How many outbox rows this process's indexes have not applied yet."""
    with instance.sessions() as session:
        return (
            session.scalar(
                select(func.count()).select_from(IndexOutboxEntry).where(IndexOutboxEntry.seq > instance.outbox.seq)
            )
            or 0
        )


def newest_seq(instance: Indexed) -> int:
    """The ``seq`` of the newest committed outbox row (0 when there is none)."""
    with instance.sessions() as session:
        return session.scalar(select(func.max(IndexOutboxEntry.seq))) or 0


def prune(instance: Indexed, keep_seconds: float) -> int:
    """Delete the outbox rows older than ``keep_seconds``, oldest ``seq`` first; returns how many.

    Every running process has applied them long before (it drains at least
    once a second); a process that starts later rebuilds its in-process
    indexes from the store. Only a persistent index (Milvus) that was not
    served by any process for longer than ``keep_seconds`` could miss one:
    rebuild its collection then.

    What is deleted is a prefix of the rows by ``seq``: the rows below the
    oldest row younger than ``keep_seconds``, and never the newest row. So
    the rows kept are every row above some ``seq`` (a start that finds the
    row after its snapshot's still kept knows no change since was pruned:
    :mod:`tessera.workflows.snapshot_outbox`), and a new row is always
    numbered above every row ever applied (SQLite numbers a row one above the
    highest present: an emptied table would start again at 1, below every
    process's cursor).
    """
    cutoff = instance.clock() - timedelta(seconds=keep_seconds)
    with instance.sessions() as session:
        newest = session.scalar(select(func.max(IndexOutboxEntry.seq)))
        young = session.scalar(select(func.min(IndexOutboxEntry.seq)).where(IndexOutboxEntry.created_at >= cutoff))
        boundary = newest if young is None else young
        if boundary is None or session.scalar(select(func.min(IndexOutboxEntry.seq))) == boundary:
            return 0  # no write (and no write lock) when there is nothing to delete
    with instance.transaction() as session:
        result = session.execute(delete(IndexOutboxEntry).where(IndexOutboxEntry.seq < boundary))
        return int(getattr(result, "rowcount", 0) or 0)


def rebuild(instance: Indexed, only: set[str] | None = None) -> int:
    """Fill the indexes (of the matchers keyed in ``only``; all when None) with every template in the store that
    their matcher reads."""
    return add_templates(instance, None, only)


def reconcile(instance: Indexed, snapshot_dir: Path | None = None) -> int:
    """At start: fill the indexes if they hold nothing, then apply the outbox; returns the entries added.

    With ``snapshot_dir``, they are filled from the sealed snapshot kept
    there, brought in step with the store, and the snapshot rewritten where
    it lagged (:func:`tessera.workflows.snapshot.start_from_snapshot`);
    without, every template in the store is opened (:func:`rebuild`).
    When every index was filled, the cursor starts at the newest row
    committed before the store was read (rows in commit order: any later
    change has a higher ``seq``). An index that persists its entries (Milvus)
    and holds some is only brought up to date by the outbox, so then every
    row still kept is applied (the in-process indexes beside it are rebuilt
    and take the rows again, which is idempotent).
    """
    empty = {matcher.key for matcher in instance.matchers if matcher.index.size() == 0}
    everything = len(empty) == len(list(instance.matchers))
    before = newest_seq(instance)
    added = 0
    if everything and snapshot_dir is not None:
        from tessera.workflows.snapshot import start_from_snapshot  # it builds on this module

        added = start_from_snapshot(instance, snapshot_dir).entries
    elif empty:
        added = rebuild(instance, empty)
    if everything:
        instance.outbox.seq = before
    drain(instance)
    return added


def skip_to_now(instance: Indexed) -> None:
    """For an instance that does not keep its indexes in step (a one-off command): apply only later rows."""
    instance.outbox.seq = newest_seq(instance)


class IndexFollower:
    """Drains the outbox in a background thread while the service is up: other processes' changes reach this
    process's indexes within ``interval`` seconds (plus the time to apply them), and old rows are pruned."""

    def __init__(self, instance: Indexed, interval: float, keep_seconds: float, prune_every: float = 60.0) -> None:
        self.instance = instance
        self.interval = interval
        self.keep_seconds = keep_seconds
        self.prune_every = prune_every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tessera-index-follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        next_prune = 0.0
        while not self._stop.is_set():
            applied = 0
            try:
                applied = drain(self.instance, most=ROWS_PER_DRAIN)
                if time.monotonic() >= next_prune:
                    prune(self.instance, self.keep_seconds)
                    next_prune = time.monotonic() + self.prune_every
            except Exception:  # keep following; the next tick retries from the same cursor
                log.exception("applying the index outbox failed")
            if applied < ROWS_PER_DRAIN:  # a full step: more may be waiting, go on at once
                self._stop.wait(self.interval)


OPEN_CHUNK = 2000
"""How many template rows are read, opened and upserted at a time when filling an index from the store."""


@dataclass(frozen=True)
class Opened:
    """A stored template opened for an index: its entry, the matcher whose index takes it, and its payload."""

    matcher: Matcher
    entry: IndexEntry[object]
    payload: bytes
    """The template's payload in clear (what the index snapshot keeps, :mod:`tessera.workflows.snapshot`)."""


def add_templates(instance: Indexed, where: object, only: set[str] | None = None) -> int:
    """Open the templates selected by ``where`` (all when None) and upsert each into its matcher's index.

    Returns how many entries were upserted (see :func:`open_templates` for what is left out).
    """
    added = 0
    for chunk in open_templates(instance, where, only=only):
        added += upsert(chunk)
    return added


def upsert(opened: Sequence[Opened]) -> int:
    """Upsert ``opened`` into their matchers' indexes, one batch per matcher; returns how many."""
    batches: dict[int, list[IndexEntry[object]]] = defaultdict(list)
    matchers: dict[int, Matcher] = {}
    for item in opened:
        matchers[id(item.matcher)] = item.matcher
        batches[id(item.matcher)].append(item.entry)
    for number, entries in batches.items():
        matchers[number].index.upsert(entries)
    return len(opened)


def open_templates(
    instance: Indexed, where: object, chunk: int = OPEN_CHUNK, only: set[str] | None = None
) -> Iterator[list[Opened]]:
    """The templates selected by ``where`` (all when None), opened, ``chunk`` rows at a time, by subject id.

    With ``only``, just the templates of the matchers keyed in it.

    Rows are streamed in plain tuples (no ORM objects) and each subject's key
    is read once (:meth:`~tessera.store.vault.Vault.open_templates`), so
    memory stays bounded whatever the store's size. A template no matcher of
    this instance reads (an algorithm not served) is left out with a warning;
    one whose key is gone or does not decrypt is left out with an error.
    """
    query = (
        select(
            Template.id,
            Template.subject_id,
            Template.algorithm,
            Template.ciphertext,
            Template.modality,
            Template.capture,
            Template.finger_position,
            Subject.gallery_id,
            cast(Consent.purposes, Text).label("purposes"),  # parsed once per distinct scope, below
            Consent.expires_at,
        )
        .join(Subject, Template.subject_id == Subject.id)
        .join(Consent, Consent.subject_id == Subject.id)
        .where(Subject.status == SubjectStatus.ACTIVE)  # one held for a duplicate review reaches no index
        .order_by(Template.subject_id, Template.id)
    )
    if where is not None:
        query = query.where(where)  # type: ignore[arg-type]
    unserved: dict[str, int] = defaultdict(int)
    scopes: dict[str, frozenset[str]] = {}  # one frozenset per distinct consent scope, shared by its entries
    readers: dict[tuple[str, str, str | None], tuple[Matcher, str] | None] = {}  # (matcher, its key) by kind
    with instance.sessions() as session:
        for rows in session.connection().execute(query.execution_options(yield_per=chunk)).partitions():
            served = []
            for row in rows:
                kind = (row.modality, row.algorithm, row.capture)
                if kind not in readers:
                    matcher = instance.matchers.of_template(*kind)
                    readers[kind] = None if matcher is None else (matcher, matcher.key)
                reader = readers[kind]
                if reader is None:
                    unserved[f"{row.modality} {row.algorithm}"] += 1
                elif only is None or reader[1] in only:
                    served.append((reader, row))
            payloads = instance.vault.open_templates(
                [(r.id, r.subject_id, r.algorithm, r.ciphertext) for _, r in served]
            )
            opened = []
            for ((matcher, key), row), payload in zip(served, payloads):
                if isinstance(payload, SealedDataUnreadable):
                    log.error("template %s cannot be opened (%s); left out of the index", row.id, payload)
                    continue
                purposes = scopes.get(row.purposes)
                if purposes is None:
                    purposes = scopes[row.purposes] = frozenset(json.loads(row.purposes))
                opened.append(
                    Opened(
                        matcher=matcher,
                        entry=IndexEntry(
                            template_id=row.id,
                            subject_id=row.subject_id,
                            gallery_id=row.gallery_id,
                            matcher=key,
                            part=row.finger_position or 0,
                            features=matcher.features(payload),
                            purposes=purposes,
                            consent_expires_at=row.expires_at,
                        ),
                        payload=payload,
                    )
                )
            yield opened
    for described, count in unserved.items():
        log.warning(
            "%d %s templates are not read by any matcher this instance serves; left out of the index "
            "(re-enrol those subjects)",
            count,
            described,
        )
