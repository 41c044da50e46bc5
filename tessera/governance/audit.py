"""The audit trail: an append-only, hash-chained log.

Each entry's hash covers its canonical JSON body and the previous entry's
hash, so editing, deleting or reordering any entry breaks every link after
it. A copy of the newest link (the anchor) is kept in a file outside the
database, so that cutting entries off the end, or rewriting the whole chain,
is detected too. Entries name probes by hash, never hold an image or a
template, and name subjects only by id.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tessera.errors import InvalidRequest
from tessera.store.models import AuditEntry

if TYPE_CHECKING:
    from tessera.governance.witness import Witnessed

GENESIS_HASH = "0" * 64
RESTORE_ACKNOWLEDGED = "audit.restore_acknowledged"
"""The action of the entry by which an operator accepts that an older copy of the database was restored."""
# Any 64-bit number unique to Tessera: the PostgreSQL advisory lock taken while appending.
_PG_AUDIT_LOCK = 0x7E55E2A


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def link_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def append(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    outcome: str,
    subject_id: str | None = None,
    gallery_id: str | None = None,
    details: dict | None = None,
) -> AuditEntry:
    """Add the next link inside the caller's transaction (so the entry commits with the change it records)."""
    seq, prev_hash = _locked_head(session)
    return _add_link(
        session,
        seq=seq + 1,
        prev_hash=prev_hash,
        at=at,
        actor=actor,
        action=action,
        outcome=outcome,
        subject_id=subject_id,
        gallery_id=gallery_id,
        details=details,
    )


def append_restore_acknowledgement(
    session: Session, *, at: datetime, actor: str, reason: str, anchor: tuple[int, str] | None, check: ChainCheck
) -> AuditEntry:
    """Record that an operator accepts a database older than the anchor, and continue the chain after the gap.

    The entry links to the database's newest entry but takes the number
    after the anchor's, so the numbers of the entries the restore lost are
    never handed out again; its details keep what the anchor said
    (``anchor_seq``, ``anchor_hash``), what the database holds
    (``database_head_seq``, ``database_head_hash``, ``database_entries``),
    the problems found and ``reason``. :func:`verify_chain` accepts the
    jump in numbers this entry states, and lists it in ``acknowledged_gaps``.
    """
    if not reason.strip():
        raise ValueError("reason is empty: say why the restore is accepted (a ticket, a backup date)")
    head_seq, head_hash = _locked_head(session)
    anchor_seq, anchor_hash = anchor if anchor is not None else (-1, "no anchor")
    return _add_link(
        session,
        seq=max(anchor_seq, head_seq) + 1,
        prev_hash=head_hash,
        at=at,
        actor=actor,
        action=RESTORE_ACKNOWLEDGED,
        outcome="ok",
        details={
            "reason": reason,
            "anchor_seq": anchor_seq,
            "anchor_hash": anchor_hash,
            "database_head_seq": head_seq,
            "database_head_hash": head_hash,
            "database_entries": check.entries,
            "problems": check.problems,
        },
    )


def _locked_head(session: Session) -> tuple[int, str]:
    """The newest entry's number and hash (0 and the genesis hash when there is none), holding the append lock."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _PG_AUDIT_LOCK})
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (last[0], last[1]) if last else (0, GENESIS_HASH)


MAX_AUDIT_TEXT = 2000
"""Most characters of any one text an audit entry records (a reason, a rationale, a case reference, ...)."""


def check_text_lengths(*fields: dict) -> None:
    """Refuse (:class:`~tessera.errors.InvalidRequest` ``text_too_long``) a text longer than :data:`MAX_AUDIT_TEXT`.

    The log is permanent and kept for years: what enters it is bounded here, whatever the caller checked.
    """
    for where, value in (found for group in fields for found in _texts(group)):
        if len(value) > MAX_AUDIT_TEXT:
            raise InvalidRequest(
                f"{where} is {len(value):,} characters long; at most {MAX_AUDIT_TEXT:,} are recorded.",
                code="text_too_long",
            )


def _texts(value: object, where: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where or "text", value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list | tuple):
        for number, item in enumerate(value):
            yield from _texts(item, f"{where}[{number}]")


def _add_link(
    session: Session,
    *,
    seq: int,
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    outcome: str,
    subject_id: str | None = None,
    gallery_id: str | None = None,
    details: dict | None = None,
) -> AuditEntry:
    check_text_lengths(
        {"actor": actor, "action": action, "outcome": outcome, "subject_id": subject_id, "gallery_id": gallery_id},
        details or {},
    )
    body = canonical_json(
        {
            "seq": seq,
            "at": at.isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "outcome": outcome,
            "subject_id": subject_id,
            "gallery_id": gallery_id,
            "details": details or {},
        }
    )
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        outcome=outcome,
        subject_id=subject_id,
        gallery_id=gallery_id,
        body=body,
        prev_hash=prev_hash,
        entry_hash=link_hash(prev_hash, body),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    entries: int
    problems: list[str]
    head_hash: str
    acknowledged_gaps: list[str] = field(default_factory=list)
    """Entries lost to a restore an operator acknowledged (each names the acknowledging entry): not problems."""

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "problems": self.problems,
            "head_hash": self.head_hash,
            "acknowledged_gaps": self.acknowledged_gaps,
        }


def verify_chain(
    session: Session, anchor_file: Path | None = None, max_problems: int = 20, witness: Witnessed | None = None
) -> ChainCheck:
    """Recompute every link; report edited, missing, reordered or truncated entries.

    With ``witness`` (:func:`tessera.governance.witness.read_witness`), the chain must also hold the newest
    witnessed entry with its witnessed hash, and every witness file must verify: a rollback below a
    witnessed checkpoint is caught even when the anchor file was put back too.

    The anchor is read before the entries, so a link another process
    commits meanwhile can only make the database longer than the anchor
    (which is fine), never shorter. A jump in numbers that an
    acknowledged restore states (:func:`append_restore_acknowledgement`)
    is listed in ``acknowledged_gaps`` instead of ``problems``.
    """
    anchor = read_anchor(anchor_file) if anchor_file is not None else None
    problems: list[str] = []
    gaps: list[str] = []
    acknowledged_anchors: set[tuple[int, str]] = set()
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    hashes: dict[int, str] = {}
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
    for entry in rows:
        count += 1
        acknowledged = _acknowledged_restore(entry)
        if acknowledged is not None:
            acknowledged_anchors.add(acknowledged)
        if entry.seq != expected_seq:
            if acknowledged is not None and _states_gap(entry, expected_seq - 1):
                gaps.append(
                    f"entries {expected_seq} to {entry.seq - 1} were lost to a restore that {entry.actor} "
                    f"acknowledged in entry {entry.seq}"
                )
            else:
                problems.append(f"entry {expected_seq} is missing (next entry is {entry.seq})")
        if entry.prev_hash != prev_hash:
            problems.append(f"entry {entry.seq} does not link to the entry before it")
        if link_hash(entry.prev_hash, entry.body) != entry.entry_hash:
            problems.append(f"entry {entry.seq} was altered: its hash does not match its content")
        problems.extend(_columns_match_body(entry))
        hashes[entry.seq] = entry.entry_hash
        prev_hash = entry.entry_hash
        expected_seq = entry.seq + 1
        if len(problems) >= max_problems:
            problems.append("further checks stopped")
            break
    if anchor is None and anchor_file is not None and count > 0:
        problems.append(f"the audit anchor file {anchor_file} is missing, but the log holds {count} entries")
    if anchor is not None and anchor not in acknowledged_anchors:
        seq, anchor_hash = anchor
        if seq < 0:
            problems.append(f"the audit anchor file {anchor_file} is unreadable")
        elif seq not in hashes:
            problems.append(f"entries up to {seq} were recorded, but the log ends at {expected_seq - 1}")
        elif hashes[seq] != anchor_hash:
            problems.append(f"entry {seq} differs from the anchored copy: the chain was rewritten")
    if witness is not None:
        problems.extend(witness.problems)
        seen = witness.newest
        if seen is not None and seen.seq not in hashes:
            problems.append(
                f"entry {seen.seq} was witnessed at {seen.at}, but the log ends at {expected_seq - 1}: "
                "it was rolled back"
            )
        elif seen is not None and hashes[seen.seq] != seen.head_hash:
            problems.append(f"entry {seen.seq} differs from the copy witnessed at {seen.at}: the chain was rewritten")
    return ChainCheck(ok=not problems, entries=count, problems=problems, head_hash=prev_hash, acknowledged_gaps=gaps)


def _acknowledged_restore(entry: AuditEntry) -> tuple[int, str] | None:
    """The anchor (seq, hash) a restore-acknowledgement entry accepted, or None for any other entry."""
    if entry.action != RESTORE_ACKNOWLEDGED:
        return None
    try:
        details = json.loads(entry.body)["details"]
        return int(details["anchor_seq"]), str(details["anchor_hash"])
    except (ValueError, KeyError, TypeError):
        return None


def _states_gap(entry: AuditEntry, database_head_seq: int) -> bool:
    """Whether restore-acknowledgement ``entry`` states the jump from ``database_head_seq`` to its own number."""
    details = json.loads(entry.body)["details"]
    return bool(
        details.get("database_head_seq") == database_head_seq
        and entry.seq == max(details.get("anchor_seq", -1), database_head_seq) + 1
    )


def _columns_match_body(entry: AuditEntry) -> list[str]:
    try:
        body = json.loads(entry.body)
    except json.JSONDecodeError:
        return [f"entry {entry.seq} has an unreadable body"]
    columns = {
        "seq": entry.seq,
        "actor": entry.actor,
        "action": entry.action,
        "outcome": entry.outcome,
        "subject_id": entry.subject_id,
        "gallery_id": entry.gallery_id,
        "at": entry.at.isoformat(timespec="microseconds"),
    }
    changed = sorted(name for name, value in columns.items() if body.get(name) != value)
    return (
        [f"entry {entry.seq} was altered: column(s) {', '.join(changed)} differ from the hashed record"]
        if changed
        else []
    )


def write_anchor(anchor_file: Path, seq: int, entry_hash: str) -> None:
    """Record the newest link outside the database (only ever moves forward)."""
    current = read_anchor(anchor_file)
    if current is not None and current[0] >= seq:
        return
    anchor_file.parent.mkdir(parents=True, exist_ok=True)
    partial = anchor_file.with_suffix(".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(canonical_json({"seq": seq, "entry_hash": entry_hash}))
    os.replace(partial, anchor_file)


def read_anchor(anchor_file: Path) -> tuple[int, str] | None:
    try:
        data = json.loads(anchor_file.read_text())
        return int(data["seq"]), str(data["entry_hash"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return (-1, "unreadable anchor")
