"""Peak memory and CPU of decoding and reading one attack image as the service does, in a fresh process.

Run from the repository: ``python -m tests.security.measure_image_cost CASE [SIDE [REPEATS]]`` with CASE one of
``contact`` (blank grey PNG as a contact finger), ``contactless`` (noisy skin-coloured JPEG as a contactless
finger), ``face`` (blank PNG as a face) or ``scans`` (progressive JPEG with its last scan repeated, as a face).
The models are loaded first, on a small image; the peak resident memory is then reset (Linux
``/proc/self/clear_refs``) and read back after the case, with the CPU time of the decode and the pipeline.
"""

from __future__ import annotations

import io
import sys
import time

import numpy as np
from PIL import Image

from tessera.capture.decode import decode_image
from tessera.errors import TesseraError
from tessera.face.pipeline import extract_face
from tessera.finger.pipeline import extract_finger
from tessera.settings import Settings
from tessera.workflows.captures import Capture, decode_limits
from tests.security.test_image_limits import repeated_scans


def attack(case: str, side: int, repeats: int) -> tuple[bytes, Capture]:
    buffer = io.BytesIO()
    if case == "contact":
        Image.new("L", (side, side), 255).save(buffer, format="PNG", optimize=True)
        return buffer.getvalue(), Capture.finger(buffer.getvalue(), 2, "contact")
    if case == "contactless":
        noise = np.random.default_rng(0).normal(0, 20, (side, side, 3)) + np.array([200, 140, 120])
        Image.fromarray(np.clip(noise, 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=50)
        return buffer.getvalue(), Capture.finger(buffer.getvalue(), 2, "contactless")
    if case == "face":
        Image.new("RGB", (side, side), (128, 128, 128)).save(buffer, format="PNG", optimize=True)
        return buffer.getvalue(), Capture.face(buffer.getvalue())
    data = repeated_scans(side, repeats)
    return data, Capture.face(data)


def status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))


def main(case: str, side: int = 6300, repeats: int = 1000) -> None:
    data, capture = attack(case, side, repeats)
    small = Image.new("RGB", (300, 300), (128, 128, 128))
    extract_face(np.asarray(small))
    extract_finger(np.asarray(small), "contactless")
    extract_finger(np.asarray(small.convert("L")), "contact")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak is now the current resident memory
    base = status_kb("VmRSS")
    began = time.process_time()
    try:
        image = decode_image(data, decode_limits(Settings(), capture))
        if capture.sensor is None:
            outcome = type(extract_face(image)).__name__
        else:
            outcome = type(extract_finger(image, capture.sensor)).__name__
    except TesseraError as error:
        outcome = f"{error.status} {error.code}"
    cpu = time.process_time() - began
    peak = (status_kb("VmHWM") - base) / 1024
    print(f"{case} {side}px, {len(data):,} bytes: {outcome}; CPU {cpu:.2f} s, peak memory +{peak:.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1], *(int(argument) for argument in sys.argv[2:]))
