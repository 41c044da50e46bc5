"""Keeping the search indexes in step with the store: an outbox written in the same transaction, applied after.

The store is the source of truth for who may be searched; each matcher's
index (:mod:`tessera.index`) is a copy made for speed. An enrolment or an
erasure writes, in its own transaction, what the indexes must do
(:func:`queue_template`, :func:`queue_removal`: rows of ``index_outbox``);
after the commit :func:`drain` applies those rows and deletes them. If the
process dies in between, the rows are still there and the next drain (at
the latest at start, :func:`reconcile`) applies them: a persistent index
engine can never keep an erased person searchable, nor miss an enrolment.

At start each index that holds nothing (the in-process exact index always)
is rebuilt from the store (:func:`rebuild`); one that persists its entries
(Milvus, :mod:`tessera.index.milvus`) only needs the outbox applied.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from tessera.index.base import IndexEntry
from tessera.match.matchers import Matcher, Matchers
from tessera.store.crypto import DecryptionError
from tessera.store.keystore import KeyMissing
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


def reconcile(instance: Indexed) -> int:
    """At start: rebuild each index that holds nothing from the store, then apply the outbox; returns entries added.

    An index that persists its entries (Milvus) and holds some is only brought
    up to date by the outbox; the in-process ones beside it are rebuilt.
    """
    empty = {matcher.key for matcher in instance.matchers if matcher.index.size() == 0}
    added = rebuild(instance, empty) if empty else 0
    drain(instance)
    return added


def add_templates(instance: Indexed, where: object, only: set[str] | None = None) -> int:
    """Open the templates selected by ``where`` (all when None) and upsert each into its matcher's index.

    A template no matcher of this instance reads (an algorithm not served)
    is left out with a warning; one whose key is gone or does not decrypt
    is left out with an error. Returns how many entries were upserted.
    """
    query = (
        select(Template, Consent, Subject.gallery_id)
        .join(Subject, Template.subject_id == Subject.id)
        .join(Consent, Consent.subject_id == Subject.id)
    )
    if where is not None:
        query = query.where(where)  # type: ignore[arg-type]
    with instance.sessions() as session:
        rows = session.execute(query).all()
    batches: dict[str, list[IndexEntry[object]]] = defaultdict(list)
    unserved: dict[str, int] = defaultdict(int)
    matchers: dict[str, Matcher] = {}
    for template, consent, gallery_id in rows:
        matcher = instance.matchers.of_template(template.modality, template.algorithm, template.capture)
        if matcher is None:
            unserved[f"{template.modality} {template.algorithm}"] += 1
            continue
        if only is not None and matcher.key not in only:
            continue
        try:
            features = matcher.features(instance.vault.open_template(template))
        except (KeyMissing, DecryptionError) as error:
            log.error("template %s cannot be opened (%s); left out of the index", template.id, error)
            continue
        matchers[matcher.key] = matcher
        batches[matcher.key].append(
            IndexEntry(
                template_id=template.id,
                subject_id=template.subject_id,
                gallery_id=gallery_id,
                matcher=matcher.key,
                part=template.finger_position or 0,
                features=features,
                purposes=frozenset(consent.purposes),
                consent_expires_at=consent.expires_at,
            )
        )
    for key, entries in batches.items():
        matchers[key].index.upsert(entries)
    for kind, count in unserved.items():
        log.warning(
            "%d %s templates are not read by any matcher this instance serves; left out of the index "
            "(re-enrol those subjects)",
            count,
            kind,
        )
    return sum(len(entries) for entries in batches.values())
