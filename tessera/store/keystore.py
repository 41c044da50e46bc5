"""Data keys, one per owner, kept outside the database.

An owner is a subject (its key seals its templates and kept photos) or a 1:N
search case (its key seals the probe photo kept for review, and is destroyed
when the case closes); :class:`~tessera.store.vault.Vault` keeps the two in
separate folders. One small file per owner holds its data key wrapped by the
master key. Destroying a key (overwrite, fsync, unlink) is what makes what it
sealed unrecoverable, even from a restored database backup. These folders must
therefore never be backed up together with the database.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Protocol

from tessera.store.crypto import KEY_BYTES, SealedDataUnreadable, new_key, unwrap_key, wrap_key

_SAFE_ID = re.compile(r"^[0-9a-f-]{8,64}$")


class KeyMissing(SealedDataUnreadable):
    """The owner's data key does not exist (never created, or destroyed at erasure or when its case closed)."""


class KeyStore(Protocol):
    """Data keys by owner id: a subject id or a search id (a Tessera UUID either way)."""

    def create(self, owner_id: str) -> bytes: ...
    def get(self, owner_id: str) -> bytes: ...
    def destroy(self, owner_id: str) -> bool: ...
    def owner_ids(self) -> set[str]: ...
    def sweep(self, keep: set[str], older_than_seconds: float) -> int: ...


class FileKeyStore:
    """Data keys as files ``<folder>/<owner_id>.key``, wrapped by ``master_key``.

    Parameters
    ----------
    folder : pathlib.Path
        Where the key files live; created (mode 0700) if missing.
    master_key : bytes
        The instance's 32-byte master key (RFC 3394 key wrap).
    """

    def __init__(self, folder: Path, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise ValueError(f"master_key must be {KEY_BYTES} bytes, got {len(master_key)}")
        self.folder = folder
        self._master_key = master_key
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, owner_id: str) -> Path:
        if not _SAFE_ID.match(owner_id):
            raise ValueError(f"owner_id {owner_id!r} is not a Tessera id (8 to 64 characters among 0-9, a-f and '-')")
        return self.folder / f"{owner_id}.key"

    def create(self, owner_id: str) -> bytes:
        """Make, store durably and return a new data key for ``owner_id`` (replacing any it had)."""
        path = self._path(owner_id)
        key = new_key()
        partial = path.with_suffix(".partial")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, wrap_key(self._master_key, key))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(partial, path)
        _fsync_folder(self.folder)
        return key

    def get(self, owner_id: str) -> bytes:
        """The data key of ``owner_id``; raises :class:`KeyMissing` when there is none."""
        try:
            wrapped = self._path(owner_id).read_bytes()
        except FileNotFoundError:
            raise KeyMissing(f"no data key for {owner_id} in {self.folder}") from None
        if not wrapped.strip(b"\0"):  # read while destroy() overwrote it, before the unlink
            raise KeyMissing(f"the data key of {owner_id} in {self.folder} is being destroyed")
        return unwrap_key(self._master_key, wrapped)

    def destroy(self, owner_id: str) -> bool:
        """Overwrite and delete the key; True if there was one."""
        path = self._path(owner_id)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return False
        with open(path, "r+b") as handle:
            handle.write(b"\0" * size)
            handle.flush()
            os.fsync(handle.fileno())
        path.unlink()
        _fsync_folder(self.folder)
        return True

    def owner_ids(self) -> set[str]:
        """The owners that hold a key."""
        return {path.stem for path in self.folder.glob("*.key")}

    def sweep(self, keep: set[str], older_than_seconds: float = 3600.0) -> int:
        """Destroy keys of owners not in ``keep`` (left by an enrolment that crashed before its commit).

        Only keys older than ``older_than_seconds`` are touched, so an
        enrolment in flight in another process keeps its key.
        """
        cutoff = time.time() - older_than_seconds
        destroyed = 0
        for path in list(self.folder.glob("*.key")) + list(self.folder.glob("*.partial")):
            if path.stem in keep or path.stat().st_mtime > cutoff:
                continue
            if path.suffix == ".key":
                destroyed += self.destroy(path.stem)
            else:
                path.unlink(missing_ok=True)
        return destroyed


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
