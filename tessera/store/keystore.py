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
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from tessera.store.crypto import KEY_BYTES, SealedDataUnreadable, new_key, unwrap_key, wrap_key

_SAFE_ID = re.compile(r"^[0-9a-f-]{8,64}$")


class KeyMissing(SealedDataUnreadable):
    """The owner's data key does not exist (never created, or destroyed at erasure or when its case closed)."""


class KeyStore(Protocol):
    """Data keys by owner id: a subject id or a search id (a Tessera UUID either way)."""

    def create(self, owner_id: str) -> bytes: ...
    def create_many(self, owner_ids: list[str]) -> None: ...
    def get(self, owner_id: str) -> bytes: ...
    def get_many(self, owner_ids: Sequence[str]) -> dict[str, bytes | KeyMissing]: ...
    def destroy(self, owner_id: str) -> bool: ...
    def owner_ids(self) -> set[str]: ...
    def holding(self, owner_ids: Sequence[str]) -> set[str]: ...
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

    def create_many(self, owner_ids: list[str]) -> None:
        """Make and store durably a new data key for each of ``owner_ids`` (a bulk import).

        The files are written first and made durable together by one ``sync``
        of the file system, not one ``fsync`` each: a crash before it returns
        may lose some of them, like a crash before :meth:`create` returns.
        """
        paths = [self._path(owner_id) for owner_id in owner_ids]
        for path in paths:
            partial = path.with_suffix(".partial")
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(descriptor, wrap_key(self._master_key, new_key()))
            finally:
                os.close(descriptor)
            os.replace(partial, path)
        os.sync()
        _fsync_folder(self.folder)

    def get(self, owner_id: str) -> bytes:
        """The data key of ``owner_id``; raises :class:`KeyMissing` when there is none."""
        try:
            wrapped = self._path(owner_id).read_bytes()
        except FileNotFoundError:
            raise KeyMissing(f"no data key for {owner_id} in {self.folder}") from None
        if not wrapped.strip(b"\0"):  # read while destroy() overwrote it, before the unlink
            raise KeyMissing(f"the data key of {owner_id} in {self.folder} is being destroyed")
        return unwrap_key(self._master_key, wrapped)

    def get_many(self, owner_ids: Sequence[str]) -> dict[str, bytes | KeyMissing]:
        """The data key of each of ``owner_ids``, or :class:`KeyMissing` for an owner without one (one small read
        each, without the per-call overhead of :meth:`get`)."""
        folder = os.fspath(self.folder)
        keys: dict[str, bytes | KeyMissing] = {}
        for owner_id in owner_ids:
            if not _SAFE_ID.match(owner_id):
                self._path(owner_id)  # raises, naming the id
            try:
                with open(os.path.join(folder, owner_id + ".key"), "rb") as handle:
                    wrapped = handle.read()
            except FileNotFoundError:
                keys[owner_id] = KeyMissing(f"no data key for {owner_id} in {self.folder}")
                continue
            if not wrapped.strip(b"\0"):  # read while destroy() overwrote it, before the unlink
                keys[owner_id] = KeyMissing(f"the data key of {owner_id} in {self.folder} is being destroyed")
                continue
            keys[owner_id] = unwrap_key(self._master_key, wrapped)
        return keys

    def destroy(self, owner_id: str) -> bool:
        """Overwrite and delete the key; True if there was one.

        Safe when several threads or processes destroy the same key at once (two erasures of subjects of one
        snapshot segment): the one that finds it gone returns False.
        """
        path = self._path(owner_id)
        try:
            size = path.stat().st_size
            with open(path, "r+b") as handle:
                handle.write(b"\0" * size)
                handle.flush()
                os.fsync(handle.fileno())
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_folder(self.folder)
        return True

    def holding(self, owner_ids: Sequence[str]) -> set[str]:
        """Those of ``owner_ids`` that hold a key."""
        folder = os.fspath(self.folder)
        return {owner_id for owner_id in owner_ids if os.path.exists(os.path.join(folder, owner_id + ".key"))}

    def owner_ids(self) -> set[str]:
        """The owners that hold a key."""
        with os.scandir(self.folder) as entries:
            return {entry.name[:-4] for entry in entries if entry.name.endswith(".key")}

    def sweep(self, keep: set[str], older_than_seconds: float = 3600.0) -> int:
        """Destroy keys of owners not in ``keep`` (left by an enrolment that crashed before its commit).

        Only keys older than ``older_than_seconds`` are touched, so an
        enrolment in flight in another process keeps its key.
        """
        cutoff = time.time() - older_than_seconds
        destroyed = 0
        with os.scandir(self.folder) as entries:  # one pass, nothing more for the keys kept (a million at scale)
            left = [
                Path(entry.path)
                for entry in entries
                if entry.name.endswith((".key", ".partial")) and entry.name.rpartition(".")[0] not in keep
            ]
        for path in left:
            try:
                if path.stat().st_mtime > cutoff:
                    continue
            except FileNotFoundError:
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
