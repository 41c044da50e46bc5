"""What reading a contact print costs with the libraries' thread pools and on the request's thread alone, side by side.

Run from the repository (``OPENBLAS_CORETYPE`` unset only here, if it is set):

``python -m tests.security.measure_request_threads [PRINTS [ROUNDS]]``

Reads the all-ridges 1224 x 1224 contact scan of the malicious-image set and the first ``PRINTS`` (default 8)
prints of each FVC2004 database in ``../shared/data/finger/fvc2004`` (``TESSERA_SHARED_DATA``), in turn ``ROUNDS``
times (default 3) each way, in one process so that both ways see the same machine:

- **pools**: as the service ran before: the minutiae network on ONNX Runtime's pool (a thread per core), numpy's
  OpenBLAS and OpenCV on theirs;
- **one thread**: as it runs now (:func:`tessera.workflows.budget.work_on_calling_threads` and the network's
  :data:`~tessera.finger.minutiae.EXTRACTOR_THREADS`): everything on the calling thread.

Prints, per image and way, the median of the process's CPU time (every thread), of the calling thread's (what
``request_cpu_seconds`` reads) and of the wall time, and whether both ways made byte-identical templates.
"""

from __future__ import annotations

import statistics
import sys
import time

import cv2
from threadpoolctl import ThreadpoolController

from tessera.capture.decode import decode_image
from tessera.finger.pipeline import extract_finger
from tessera.settings import Settings
from tessera.workflows.captures import Capture, decode_limits
from tests.conftest import SHARED_DATA
from tests.security.malicious_images import ridge_pattern

WAYS = {"pools": 0, "one thread": 1}
"""Each way and the minutiae network's threads in it."""


def images(prints: int) -> dict[str, bytes]:
    found = {"ridges 1224 (attack)": ridge_pattern(1224)}
    for database in ("DB1_B", "DB2_B", "DB3_B", "DB4_B"):
        for path in sorted((SHARED_DATA / "finger" / "fvc2004" / database).glob("*.png"))[:prints]:
            found[f"FVC2004 {database} {path.stem}"] = path.read_bytes()
    return found


def read(data: bytes, way: str, settings: Settings) -> tuple[float, float, float, bytes]:
    """(process CPU s, calling thread's CPU s, wall s, template bytes or the refusal's reason) of one reading."""
    controller = ThreadpoolController()
    cv2.setNumThreads(-1 if way == "pools" else 1)
    with controller.limit(limits=None if way == "pools" else 1, user_api="blas"):
        began = time.process_time(), time.thread_time(), time.perf_counter()
        image = decode_image(data, decode_limits(settings, Capture.finger(data, 2, "contact")))
        result = extract_finger(image, "contact", extractor_threads=WAYS[way])
        ended = time.process_time(), time.thread_time(), time.perf_counter()
    outcome = result.to_bytes() if result else result.reason.encode()
    return ended[0] - began[0], ended[1] - began[1], ended[2] - began[2], outcome


def main(prints: int = 8, rounds: int = 3) -> None:
    settings = Settings()
    found = images(prints)
    for way in WAYS:  # sessions created and their memory grown before anything is measured
        read(found["ridges 1224 (attack)"], way, settings)
    print(f"{'image':28} {'way':10} {'CPU s':>6} {'thread s':>8} {'wall s':>6}  template")
    totals: dict[str, list[float]] = {way: [] for way in WAYS}
    for name, data in found.items():
        runs: dict[str, list[tuple[float, float, float, bytes]]] = {way: [] for way in WAYS}
        for _ in range(rounds):
            for way in WAYS:
                runs[way].append(read(data, way, settings))
        outcomes = {run[3] for way in WAYS for run in runs[way]}
        same = "identical" if len(outcomes) == 1 else f"{len(outcomes)} different"
        for way in WAYS:
            cpu, thread, wall = (statistics.median(run[i] for run in runs[way]) for i in range(3))
            totals[way].append(cpu)
            print(f"{name:28} {way:10} {cpu:>6.2f} {thread:>8.2f} {wall:>6.2f}  {same}", flush=True)
    for way in WAYS:
        real = totals[way][1:]
        if real:
            print(f"{way}: real prints {min(real):.2f}-{max(real):.2f} s CPU (median {statistics.median(real):.2f})")


if __name__ == "__main__":
    main(*(int(argument) for argument in sys.argv[1:]))
