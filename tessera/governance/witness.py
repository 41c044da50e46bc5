"""An external witness of the audit chain: signed checkpoints of its head, kept where the database is not.

The anchor file (:mod:`tessera.governance.audit`) sits on the same host as the
database: whoever can put back an older copy of both can roll the log back.
A checkpoint (sequence number, head hash, time) signed with Ed25519 and
written to another place (``tessera audit checkpoint --out DIR``, from a
periodic job, to a folder on another volume or host that the database's
administrators cannot rewrite) makes that visible: the chain must still hold
the witnessed entry, with the witnessed hash, whatever the anchor says.

The signing key lives in the key folder (``key_dir/audit-witness.key``), never
in the witness folder, so a checkpoint cannot be forged by whoever can write
the witness folder; the key is checked from its own public half. A checkpoint
file whose signature does not verify is reported, never trusted.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tessera.governance.audit import canonical_json
from tessera.store.private import private_file, private_folder

CHECKPOINT_GLOB = "checkpoint-*.json"


@dataclass(frozen=True)
class Checkpoint:
    """A witnessed head of the audit chain."""

    seq: int
    head_hash: str
    at: str
    """When it was taken, ISO 8601 UTC."""
    key_id: str
    """The first 16 hex digits of the signing key's public half."""

    def signed_bytes(self) -> bytes:
        fields = {"seq": self.seq, "head_hash": self.head_hash, "at": self.at, "key_id": self.key_id}
        return canonical_json(fields).encode()


@dataclass(frozen=True)
class Witnessed:
    """What the witness folder says: the newest checkpoint that verifies, and the files that do not."""

    newest: Checkpoint | None
    problems: list[str]


def load_or_create_signing_key(key_file: Path) -> Ed25519PrivateKey:
    """The witness signing key (32 raw bytes, file 0600), created on first use."""
    if key_file.exists():
        return Ed25519PrivateKey.from_private_bytes(key_file.read_bytes())
    private_folder(key_file.parent)
    key = Ed25519PrivateKey.generate()
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.private_bytes_raw())
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()[:16]


def write_checkpoint(folder: Path, seq: int, head_hash: str, at: datetime, key: Ed25519PrivateKey) -> Path:
    """Sign and write a checkpoint of the head ``seq``/``head_hash`` to ``folder`` (atomically; never overwritten)."""
    checkpoint = Checkpoint(seq, head_hash, at.isoformat(timespec="seconds"), key_id(key.public_key()))
    record = {**json.loads(checkpoint.signed_bytes()), "signature": key.sign(checkpoint.signed_bytes()).hex()}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"checkpoint-{seq:012d}.json"
    if path.exists():
        return path
    partial = path.with_suffix(".partial")
    partial.write_text(canonical_json(record))
    private_file(partial)
    os.replace(partial, path)
    return path


def read_witness(folder: Path, public_key: Ed25519PublicKey) -> Witnessed:
    """The newest checkpoint in ``folder`` signed by ``public_key``; every file that is not one is a problem."""
    newest: Checkpoint | None = None
    problems: list[str] = []
    for path in sorted(folder.glob(CHECKPOINT_GLOB)):
        try:
            record = json.loads(path.read_text())
            checkpoint = Checkpoint(
                int(record["seq"]), str(record["head_hash"]), str(record["at"]), str(record["key_id"])
            )
            public_key.verify(bytes.fromhex(record["signature"]), checkpoint.signed_bytes())
        except (OSError, ValueError, KeyError, TypeError, InvalidSignature):
            problems.append(f"the witness checkpoint {path} does not verify with this instance's witness key")
            continue
        if newest is None or checkpoint.seq > newest.seq:
            newest = checkpoint
    return Witnessed(newest, problems)
