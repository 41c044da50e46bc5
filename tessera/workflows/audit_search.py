"""The audit trail searched by an auditor: who did what to whom, when and why, in pages; the search is audited too.

Filters combine (all must hold): the acting key (``actor``, ``key:<id>`` or
a bare key id), the person (``subject_id``: entries about them, and entries
that name them in their details, such as a search read that listed them),
the ``action`` (exact, or a prefix ending in ``*``: ``subject.*``), the
gallery, and a time range [``since``, ``until``). Pages run in the log's
order: ``after`` is the ``seq`` of the last entry of the previous page, and
an answer with ``next_after`` has more (a page may hold fewer entries than
``limit``: see below). A search's candidates not yet confirmed by two
reviewers are withheld from the answer (:mod:`tessera.workflows.audit_redaction`),
and a person filter does not answer an entry that named the person only as
such a candidate. A key limited to galleries reads
only its galleries' entries (entries of no gallery, like key changes, are
not its galleries'); a gallery filter outside them is answered 404 as a
gallery that does not exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from tessera.errors import InvalidRequest
from tessera.store.models import AuditEntry
from tessera.workflows.audit_redaction import redact_entries
from tessera.workflows.instance import Actor, Instance
from tessera.workflows.reads import record_read
from tessera.workflows.scope import check_gallery, galleries_of

MAX_PAGE = 500
"""Most entries one page holds: the answer's size stays bounded."""


@dataclass(frozen=True)
class AuditQuery:
    """What an auditor asks the log for; every field None (or the default) matches everything."""

    actor: str | None = None
    subject_id: str | None = None
    action: str | None = None
    gallery_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int = 0
    limit: int = 100

    def as_dict(self) -> dict:
        return {
            "actor": self.actor,
            "subject_id": self.subject_id,
            "action": self.action,
            "gallery_id": self.gallery_id,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "after": self.after,
            "limit": self.limit,
        }


def search_audit(instance: Instance, actor: Actor | str, query: AuditQuery) -> dict:
    """One page of the entries ``query`` matches, oldest first; the search itself is audited (``audit.search``)."""
    check_query(query)
    if query.gallery_id is not None:
        check_gallery(instance, actor, query.gallery_id, "audit.search")
    statement = select(AuditEntry).where(AuditEntry.seq > query.after).order_by(AuditEntry.seq).limit(query.limit)
    if query.actor is not None:
        wanted = query.actor if ":" in query.actor else f"key:{query.actor}"
        statement = statement.where(AuditEntry.actor == wanted)
    if query.subject_id is not None:
        statement = statement.where(
            or_(
                AuditEntry.subject_id == query.subject_id,
                AuditEntry.body.contains(f'"{query.subject_id}"', autoescape=True),
            )
        )
    if query.action is not None:
        if query.action.endswith("*"):
            statement = statement.where(AuditEntry.action.startswith(query.action[:-1], autoescape=True))
        else:
            statement = statement.where(AuditEntry.action == query.action)
    if query.gallery_id is not None:
        statement = statement.where(AuditEntry.gallery_id == query.gallery_id)
    scope = galleries_of(actor)
    if scope is not None:
        statement = statement.where(AuditEntry.gallery_id.in_(sorted(scope)))
    if query.since is not None:
        statement = statement.where(AuditEntry.at >= query.since)
    if query.until is not None:
        statement = statement.where(AuditEntry.at < query.until)
    with instance.sessions() as session:
        stored = [shown_entry(entry) for entry in session.scalars(statement)]
        entries = redact_entries(session, stored)
    if query.subject_id is not None:
        # An entry that named the person only as a withheld candidate no longer names them: answering it would
        # still tie them to that search.
        entries = [entry for entry in entries if names(entry, query.subject_id)]
    record_read(
        instance,
        actor,
        "audit.search",
        gallery_id=query.gallery_id,
        details={"query": query.as_dict(), "entries": len(entries)},
    )
    full = len(stored) == query.limit
    return {
        "entries": entries,
        "next_after": stored[-1]["seq"] if full else None,
        "galleries": None if scope is None else sorted(scope),
    }


def check_query(query: AuditQuery) -> None:
    """Refuse (422 ``invalid_audit_query``) a page size out of range or a time range that ends before it starts."""
    if not 1 <= query.limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be 1 to {MAX_PAGE}; got {query.limit}.", code="invalid_audit_query")
    if query.since is not None and query.until is not None and query.until <= query.since:
        raise InvalidRequest(
            f"until ({query.until.isoformat()}) must be after since ({query.since.isoformat()}).",
            code="invalid_audit_query",
        )


def names(entry: dict, subject_id: str) -> bool:
    """Whether an answered entry is about ``subject_id`` or names it in its details."""
    return entry["subject_id"] == subject_id or f'"{subject_id}"' in json.dumps(entry["details"])


def shown_entry(entry: AuditEntry) -> dict:
    """An entry as the auditor reads it: its columns, its details and its hash (to check it against the chain)."""
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "outcome": entry.outcome,
        "subject_id": entry.subject_id,
        "gallery_id": entry.gallery_id,
        "details": json.loads(entry.body).get("details", {}),
        "entry_hash": entry.entry_hash,
    }
