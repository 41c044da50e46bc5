"""Peak memory and CPU of decoding and reading attack images as the service does.

Run from the repository (``OMP_NUM_THREADS=1``; the libraries run on one thread, as in the service):

``python -m tests.security.measure_image_cost CASE [SIDE [REPEATS]]``
    one case, in a fresh process. CASE is ``contact`` (blank grey PNG as a contact finger), ``ridges`` (PNG of
    synthetic ridges filling the frame as a contact finger: the whole frame is segmented as print and reaches the
    minutiae network), ``contactless`` (noisy skin-coloured JPEG as a contactless finger), ``face`` (blank PNG as a
    face) or ``scans`` (progressive JPEG with its last scan repeated, as a face).
``python -m tests.security.measure_image_cost --all``
    every image of the malicious-image set (``tests/security/malicious_images.py``) as a face, a contact
    finger and a contactless finger, then the worst CPU and the worst memory.

The models are loaded first (the face algorithms on a small image, the minutiae network's session, as a
running service holds them); before each case the peak resident memory is reset (Linux
``/proc/self/clear_refs``) and read back after it, with the CPU time of the decode and the reading. A face
is read by every face algorithm the instance serves, whatever the first one said (enrolment reads it with
the second only when the first accepts it, verification with the one the subject's references need): the
sum is an upper bound of what one face image costs a request.
"""

from __future__ import annotations

import io
import sys
import time

import numpy as np
from PIL import Image

from tessera.capture.decode import decode_image
from tessera.errors import TesseraError
from tessera.face.algorithms import face_algorithm
from tessera.finger.config import DEFAULT_FINGER_CONFIG
from tessera.finger.minutiae import warm_up_extractor
from tessera.finger.pipeline import extract_finger
from tessera.settings import Settings
from tessera.workflows.budget import work_on_calling_threads
from tessera.workflows.captures import Capture, decode_limits
from tests.security.malicious_images import MALICIOUS_IMAGES, malicious_image, ridge_pattern
from tests.security.test_image_limits import repeated_scans

KINDS = ("face", "contact", "contactless")
"""How each image of the malicious set is sent: as a face, a contact finger and a contactless finger."""


def attack(case: str, side: int, repeats: int) -> tuple[bytes, Capture]:
    buffer = io.BytesIO()
    if case == "contact":
        Image.new("L", (side, side), 255).save(buffer, format="PNG", optimize=True)
        return buffer.getvalue(), Capture.finger(buffer.getvalue(), 2, "contact")
    if case == "ridges":
        data = ridge_pattern(side)
        return data, Capture.finger(data, 2, "contact")
    if case == "contactless":
        noise = np.random.default_rng(0).normal(0, 20, (side, side, 3)) + np.array([200, 140, 120])
        Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=50)
        return buffer.getvalue(), Capture.finger(buffer.getvalue(), 2, "contactless")
    if case == "face":
        Image.new("RGB", (side, side), (128, 128, 128)).save(buffer, format="PNG", optimize=True)
        return buffer.getvalue(), Capture.face(buffer.getvalue())
    data = repeated_scans(side, repeats)
    return data, Capture.face(data)


def as_capture(data: bytes, kind: str) -> Capture:
    return Capture.face(data) if kind == "face" else Capture.finger(data, 2, kind)


def status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))


def read(data: bytes, capture: Capture, settings: Settings) -> str:
    """Decode and read ``capture`` as the service does; the outcome in words."""
    try:
        image = decode_image(data, decode_limits(settings, capture))
    except TesseraError as error:
        return f"{error.status} {error.code}"
    if capture.sensor is None:
        outcomes = [type(face_algorithm(name).extract(image)).__name__ for name in settings.face_algorithms]
        return " + ".join(outcomes)
    return type(extract_finger(image, capture.sensor)).__name__


def load_models(settings: Settings) -> None:
    work_on_calling_threads()  # as the service runs: every library on the calling thread
    small = Image.new("RGB", (300, 300), (128, 128, 128))
    for name in settings.face_algorithms:
        face_algorithm(name).extract(np.asarray(small))
    extract_finger(np.asarray(small), "contactless")
    extract_finger(np.asarray(small.convert("L")), "contact")
    # The blank images are refused before the minutiae network: load it and grow its working memory as the service
    # does when it starts (tessera.match.matchers.load_models).
    warm_up_extractor(DEFAULT_FINGER_CONFIG)


def measure(data: bytes, capture: Capture, settings: Settings) -> tuple[str, float, float]:
    """(outcome, CPU seconds, peak memory in MB above the resident memory before it)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak is now the current resident memory
    base = status_kb("VmRSS")
    began = time.process_time()
    outcome = read(data, capture, settings)
    cpu = time.process_time() - began
    return outcome, cpu, (status_kb("VmHWM") - base) / 1024


def main(case: str, side: int = 6300, repeats: int = 1000) -> None:
    settings = Settings()
    data, capture = attack(case, side, repeats)
    load_models(settings)
    outcome, cpu, peak = measure(data, capture, settings)
    print(f"{case} {side}px, {len(data):,} bytes: {outcome}; CPU {cpu:.2f} s, peak memory +{peak:.0f} MB")


def main_all() -> None:
    settings = Settings()
    load_models(settings)
    rows = []
    print(f"{'image':34} {'sent as':12} {'bytes':>11} {'CPU s':>6} {'peak MB':>8}  outcome")
    for name in MALICIOUS_IMAGES:
        data = malicious_image(name)
        for kind in KINDS:
            outcome, cpu, peak = measure(data, as_capture(data, kind), settings)
            rows.append((name, kind, cpu, peak))
            print(f"{name:34} {kind:12} {len(data):>11,} {cpu:>6.2f} {peak:>8.0f}  {outcome}", flush=True)
    worst_cpu = max(rows, key=lambda row: row[2])
    worst_memory = max(rows, key=lambda row: row[3])
    print(f"worst CPU: {worst_cpu[2]:.2f} s ({worst_cpu[0]} as {worst_cpu[1]})")
    print(f"worst memory: +{worst_memory[3]:.0f} MB ({worst_memory[0]} as {worst_memory[1]})")


if __name__ == "__main__":
    if sys.argv[1:] == ["--all"]:
        main_all()
    else:
        main(sys.argv[1], *(int(argument) for argument in sys.argv[2:]))
