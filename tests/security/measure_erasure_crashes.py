"""Kill -9 during erasures, 100 times: how many interrupted erasures leave a usable data key?

Run from the repository: ``python -m tests.security.measure_erasure_crashes [INTERRUPTIONS [SEED]]``.

A throw-away instance (SQLite, file key store) gets subjects, each with a data key. For each run a
forked child opens the instance and erases a batch of subjects one after the other, saying after each
that its erasure returned; the parent kills it with SIGKILL at a random moment within the batch's
usual duration. The subject whose erasure was running when the child died is an *interrupted
erasure* (runs whose kill fell before the first or after the last erasure do not count). For each
interrupted erasure the parent reads the files as the crash left them, before anything runs again:

- ``erased with a usable key``: the database holds the subject's tombstone (its erasure committed) while its
  key file still opens under the master key. The target is 0.
- then it opens the instance (the start-up recovery runs) and retries the erasure, as a client whose
  ``DELETE`` got no answer would: ``usable key after the retry`` must be 0 too.

It prints how the crashes fell (before the key's destruction, between it and the commit, after the
commit) and both counts.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from tessera.settings import Settings
from tessera.store.keystore import FileKeyStore, KeyMissing
from tessera.store.vault import load_or_create_master_key
from tessera.workflows.instance import Instance
from tessera.workflows.subjects import erase_subject
from tests.security.test_erasure import make_gallery, make_subject

BATCH = 4
"""Subjects a child erases one after the other; the kill falls somewhere among them."""


def usable_key(settings: Settings, subject_id: str) -> bool:
    store = FileKeyStore(settings.resolved_key_store_dir, load_or_create_master_key(settings.resolved_master_key_file))
    try:
        store.get(subject_id)
    except KeyMissing:
        return False
    except Exception:  # a torn file that does not unwrap is no key
        return False
    return True


def tombstoned(settings: Settings, subject_id: str) -> bool:
    """Read straight from the SQLite file, so that no start-up recovery runs first."""
    assert settings.sqlite_file is not None
    with sqlite3.connect(settings.sqlite_file) as database:
        row = database.execute("SELECT 1 FROM tombstones WHERE subject_id = ?", (subject_id,)).fetchone()
    return row is not None


def erase_in_child(settings: Settings, batch: list[str]) -> tuple[int, int]:
    """Fork a child that erases ``batch``; return (its pid, the read end of the pipe it reports on)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no return from here
        os.close(read_end)
        instance = Instance.open(settings)
        os.write(write_end, b"R")
        for subject_id in batch:
            erase_subject(instance, "measure", subject_id)
            os.write(write_end, b"E")
        os._exit(0)
    os.close(write_end)
    return pid, read_end


def batch_seconds(settings: Settings, batch: list[str]) -> float:
    """How long a child takes to erase ``batch`` once the instance is open (a run not killed)."""
    pid, reports = erase_in_child(settings, batch)
    assert os.read(reports, 1) == b"R"
    began = time.monotonic()
    os.waitpid(pid, 0)
    seconds = time.monotonic() - began
    os.close(reports)
    return seconds


def main(interruptions: int = 100, seed: int = 0) -> None:
    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="tessera-erasure-crashes-"))
    settings = Settings(data_dir=folder / "var", index_snapshot=False)
    needed = (interruptions * 2 + 2) * BATCH
    instance = Instance.open(settings)
    gallery = make_gallery(instance)
    subjects = [make_subject(instance, gallery) for _ in range(needed)]
    instance.close()
    duration = batch_seconds(settings, subjects[:BATCH])
    subjects = subjects[BATCH:]
    falls = {
        "before the key's destruction": 0,
        "between the key's destruction and the commit": 0,
        "after the commit": 0,
    }
    erased_with_usable_key = usable_after_retry = interrupted = runs = 0
    while interrupted < interruptions and len(subjects) >= BATCH:
        batch, subjects = subjects[:BATCH], subjects[BATCH:]
        runs += 1
        pid, reports = erase_in_child(settings, batch)
        assert os.read(reports, 1) == b"R"
        time.sleep(rng.uniform(0, duration))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        done = 0
        os.set_blocking(reports, False)
        try:
            done = len(os.read(reports, 64))
        except BlockingIOError:
            done = 0
        os.close(reports)
        if done >= BATCH:
            continue
        subject = batch[done]  # the erasure that was running when the child died (it may not have begun)
        key, tomb = usable_key(settings, subject), tombstoned(settings, subject)
        if key and not tomb:  # the erasure had changed nothing yet; its DELETE was still unanswered
            falls["before the key's destruction"] += 1
        elif not tomb:
            falls["between the key's destruction and the commit"] += 1
        else:
            falls["after the commit"] += 1
        interrupted += 1
        erased_with_usable_key += int(tomb and key)
        instance = Instance.open(settings)  # the start-up recovery
        erase_subject(instance, "measure", subject)  # the client retries its unanswered DELETE
        usable_after_retry += int(usable_key(settings, subject))
        instance.close()
        print(
            f"run {runs}: killed during erasure {done + 1} of {BATCH}: key {'usable' if key else 'gone'}, "
            f"{'tombstone' if tomb else 'no tombstone'}",
            flush=True,
        )
    print(f"erasure of a batch of {BATCH}: {duration:.2f} s; {runs} runs, {interrupted} interrupted erasures")
    for where, count in falls.items():
        print(f"  killed {where}: {count}")
    print(f"erased (tombstone committed) with a usable key left: {erased_with_usable_key} of {interrupted}")
    print(f"usable key after a restart and a retried erasure: {usable_after_retry} of {interrupted}")


if __name__ == "__main__":
    main(*(int(argument) for argument in sys.argv[1:]))
