"""What a phone slap costs as the service runs it and with the libraries' thread pools, side by side in one process.

Run from the repository, with the shared data beside it (``OPENBLAS_CORETYPE`` unset only here, if it is set):

``python -m tests.finger.measure_slap_threads [ROUNDS]``

:func:`tessera.evaluation.contactless.time_slap` (four composed DS1 slaps) ``ROUNDS`` times (default 2) each way,
alternating: **service** (every library on the calling thread, what a request costs) and **pools** (numpy's OpenBLAS
and OpenCV with a thread per core, as a process that is not the service has them). Prints each way's process CPU
per slap (every thread) and the calling thread's, minimum, median and maximum, and the templates made.
"""

from __future__ import annotations

import statistics
import sys

import cv2

from tessera.evaluation.contactless import time_slap
from tests.conftest import SHARED_DATA

WAYS = ("service", "pools")


def main(rounds: int = 2) -> None:
    rows: dict[str, list[dict]] = {way: [] for way in WAYS}
    for _ in range(rounds):
        for way in WAYS:
            cv2.setNumThreads(-1)  # OpenCV's default pool; the service way sets one thread for its own run
            timed = time_slap(SHARED_DATA / "finger", pools=way == "pools")
            if timed is None:
                sys.exit(f"no DS1 fingertips under {SHARED_DATA / 'finger'}")
            rows[way] += timed["slaps"]
    for way in WAYS:
        for key in ("cpu_seconds", "calling_thread_seconds"):
            values = [row[key] for row in rows[way]]
            print(
                f"{way:8} {key:24} {min(values):.2f}-{max(values):.2f} s (median {statistics.median(values):.2f}), "
                f"templates {[row['templates'] for row in rows[way]]}",
                flush=True,
            )


if __name__ == "__main__":
    main(*(int(argument) for argument in sys.argv[1:]))
