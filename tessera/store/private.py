"""Files and folders only their owner can read: the database, the keys and the audit anchor.

Everything an instance writes names people or unlocks what does, so it is
created mode 0600 (files) and 0700 (folders) whatever the process's umask,
and tightened to that at every start when an older build left it wider.
SQLite creates its ``-wal`` and ``-shm`` files with the database file's
own mode, so a private database file keeps them private too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


@contextmanager
def private_umask() -> Iterator[None]:
    """Create files 0600 and folders 0700 inside the block (the process's umask is restored after)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def private_folder(folder: Path) -> Path:
    """Create ``folder`` (and missing parents) mode 0700, or tighten it to 0700 when it exists; returns it."""
    with private_umask():
        folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(PRIVATE_FOLDER)
    return folder


def private_file(path: Path) -> Path:
    """Create ``path`` empty mode 0600 when it is missing, or tighten it to 0600; returns it."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
    os.close(descriptor)
    path.chmod(PRIVATE_FILE)
    return path
