"""Keeping the search indexes in step with the store: an outbox written in the same transaction, applied after.

The store is the source of truth for who may be searched; each matcher's
index (:mod:`tessera.index`) is a copy made for speed. An enrolment or an
erasure writes, in its own transaction, what the indexes must do
(:func:`queue_template`, :func:`queue_removal`: rows of ``index_outbox``);
after the commit :func:`drain` applies those rows and deletes them. If the
process dies in between, the rows are still there and the next drain (at
the latest at start, :func:`reconcile`) applies them: a persistent index
engine can never keep an erased person searchable, nor miss an enrolment.

At start an index that holds nothing (the in-process exact index always)
is filled from the sealed snapshot, checked against the store
(:mod:`tessera.workflows.snapshot`), or rebuilt from the store
(:func:`rebuild`): rows streamed in chunks, each subject's key read once;
one that persists its entries (an external engine) only needs the outbox
applied.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import Text, cast, delete, select
from sqlalchemy.orm import Session, sessionmaker

from tessera.index.base import IndexEntry
from tessera.match.matchers import Matcher, Matchers
from tessera.store.crypto import SealedDataUnreadable
from tessera.store.models import Consent, IndexOutboxEntry, Subject, Template
from tessera.store.vault import Vault

log = logging.getLogger("tessera")


class Indexed(Protocol):
    """What keeping the indexes in step needs of an open instance (:class:`~tessera.workflows.instance.Instance`
    has it all; the instance calls :func:`reconcile` when it opens, so this module cannot import it)."""

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def vault(self) -> Vault: ...

    @property
    def matchers(self) -> Matchers: ...

    def clock(self) -> datetime: ...

    def transaction(self) -> AbstractContextManager[Session]: ...


UPSERT = "upsert"
REMOVE = "remove"

_drain_lock = threading.Lock()


def queue_template(instance: Indexed, session: Session, template: Template) -> None:
    """In ``session``'s transaction: the indexes must add ``template`` once it is committed."""
    session.add(
        IndexOutboxEntry(
            operation=UPSERT, subject_id=template.subject_id, template_id=template.id, created_at=instance.clock()
        )
    )


def queue_removal(instance: Indexed, session: Session, subject_id: str) -> None:
    """In ``session``'s transaction: the indexes must forget every template of ``subject_id``."""
    session.add(IndexOutboxEntry(operation=REMOVE, subject_id=subject_id, created_at=instance.clock()))


def drain(instance: Indexed) -> int:
    """Apply every pending outbox row, oldest first, then delete it; returns how many were applied.

    Applying is idempotent (an upsert replaces, a removal of a gone subject
    removes nothing), so a row applied twice after a crash does no harm.
    """
    with _drain_lock:
        with instance.sessions() as session:
            rows = list(session.scalars(select(IndexOutboxEntry).order_by(IndexOutboxEntry.seq)))
        if not rows:
            return 0
        for row in rows:
            if row.operation == REMOVE:
                for matcher in instance.matchers:
                    matcher.index.remove_subject(row.subject_id)
            elif row.template_id is not None:
                add_templates(instance, Template.id == row.template_id)
        with instance.transaction() as session:
            session.execute(delete(IndexOutboxEntry).where(IndexOutboxEntry.seq <= rows[-1].seq))
        return len(rows)


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
    An index that persists its entries (Milvus, :mod:`tessera.index.milvus`)
    and holds some is only brought up to date by the outbox; the in-process
    ones beside it are rebuilt from the store.
    """
    empty = {matcher.key for matcher in instance.matchers if matcher.index.size() == 0}
    added = 0
    if empty and snapshot_dir is not None and len(empty) == len(list(instance.matchers)):
        from tessera.workflows.snapshot import start_from_snapshot  # it builds on this module

        added = start_from_snapshot(instance, snapshot_dir).entries
    elif empty:
        added = rebuild(instance, empty)
    drain(instance)
    return added


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
