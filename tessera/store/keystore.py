"""Per-subject data keys, kept outside the database.

One small file per subject holds its data key wrapped by the master key.
Destroying a subject's key (overwrite, fsync, unlink) is what makes its
templates unrecoverable, even from a restored database backup. This folder
must therefore never be backed up together with the database.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Protocol

from tessera.store.crypto import KEY_BYTES, new_key, unwrap_key, wrap_key

_SAFE_ID = re.compile(r"^[0-9a-f-]{8,64}$")


class KeyMissing(Exception):
    """The subject's data key does not exist (never created, or destroyed at erasure)."""


class KeyStore(Protocol):
    def create(self, subject_id: str) -> bytes: ...
    def get(self, subject_id: str) -> bytes: ...
    def destroy(self, subject_id: str) -> bool: ...
    def subject_ids(self) -> set[str]: ...
    def sweep(self, keep: set[str], older_than_seconds: float) -> int: ...


class FileKeyStore:
    """Data keys as files ``<folder>/<subject_id>.key``, wrapped by ``master_key``."""

    def __init__(self, folder: Path, master_key: bytes) -> None:
        if len(master_key) != KEY_BYTES:
            raise ValueError(f"master_key must be {KEY_BYTES} bytes, got {len(master_key)}")
        self.folder = folder
        self._master_key = master_key
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, subject_id: str) -> Path:
        if not _SAFE_ID.match(subject_id):
            raise ValueError(f"subject_id {subject_id!r} is not a Tessera id")
        return self.folder / f"{subject_id}.key"

    def create(self, subject_id: str) -> bytes:
        """Make, store durably and return a new data key for ``subject_id``."""
        path = self._path(subject_id)
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

    def get(self, subject_id: str) -> bytes:
        try:
            wrapped = self._path(subject_id).read_bytes()
        except FileNotFoundError:
            raise KeyMissing(f"no data key for subject {subject_id}") from None
        return unwrap_key(self._master_key, wrapped)

    def destroy(self, subject_id: str) -> bool:
        """Overwrite and delete the key; True if there was one."""
        path = self._path(subject_id)
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

    def subject_ids(self) -> set[str]:
        return {path.stem for path in self.folder.glob("*.key")}

    def sweep(self, keep: set[str], older_than_seconds: float = 3600.0) -> int:
        """Destroy keys of subjects not in ``keep`` (left by an enrolment that crashed before its commit).

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
