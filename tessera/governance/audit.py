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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tessera.store.models import AuditEntry

GENESIS_HASH = "0" * 64
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
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _PG_AUDIT_LOCK})
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
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

    def as_dict(self) -> dict:
        return {"ok": self.ok, "entries": self.entries, "problems": self.problems, "head_hash": self.head_hash}


def verify_chain(session: Session, anchor_file: Path | None = None, max_problems: int = 20) -> ChainCheck:
    """Recompute every link; report edited, missing, reordered or truncated entries."""
    problems: list[str] = []
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    hashes: dict[int, str] = {}
    rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
    for entry in rows:
        count += 1
        if entry.seq != expected_seq:
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
    if anchor_file is not None:
        anchor = read_anchor(anchor_file)
        if anchor is not None:
            seq, anchor_hash = anchor
            if seq < 0:
                problems.append(f"the audit anchor file {anchor_file} is unreadable")
            elif seq not in hashes:
                problems.append(f"entries up to {seq} were recorded, but the log ends at {expected_seq - 1}")
            elif hashes[seq] != anchor_hash:
                problems.append(f"entry {seq} differs from the anchored copy: the chain was rewritten")
    return ChainCheck(ok=not problems, entries=count, problems=problems, head_hash=prev_hash)


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
    partial.write_text(canonical_json({"seq": seq, "entry_hash": entry_hash}))
    os.replace(partial, anchor_file)


def read_anchor(anchor_file: Path) -> tuple[int, str] | None:
    try:
        data = json.loads(anchor_file.read_text())
        return int(data["seq"]), str(data["entry_hash"])
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return (-1, "unreadable anchor")
