"""What a four-finger photo costs: one drawn to be costly beside real fingertips on the same drawn hand, in turn.

Run from the repository (``OPENBLAS_CORETYPE`` unset only here, if it is set):

``python -m tests.security.measure_slap_cost [ROUNDS]``

The hand route (``POST /v1/subjects/{id}/hands``, and verify and identify by hand) reads four fingers from one
photo, so it is the costliest request a single image can make. Both photos are composed the same way
(:func:`tessera.evaluation.slap_photo.compose_slap`, landmarks known by construction) and timed the same way
(:func:`tessera.evaluation.contactless.time_slap_photo`: decode, cut out, four fingers through the contactless
pipeline, on one thread as the service runs):

- **drawn to be costly**: four fingertips of 1,000 x 1,400 pixels covered with fine concentric ridges (period
  8 px), so that each finger is located, passes every quality check and is read by the minutiae network over its
  largest window (``FingerConfig.contactless_extractor_side``), then refused for too few minutiae (circles have
  none); no data needed;
- **real**: DS1 person 1's fingers 2-5 (``../shared/data/finger/contactless_ds1``, ``TESSERA_SHARED_DATA``), as
  ``tessera eval contactless`` times a slap; skipped without the data.

Alternated ``ROUNDS`` times (default 3) in one process so that both see the same machine; prints each round,
then the median CPU of each and their ratio.
"""

from __future__ import annotations

import statistics
import sys

import numpy as np

from tessera.evaluation.contactless import jpeg_bytes, time_slap_photo
from tessera.evaluation.slap_photo import compose_slap
from tests.conftest import SHARED_DATA

COSTLY_FINGERTIP = (1400, 1000)
"""Rows and columns of each drawn fingertip: larger than any window the network reads once normalised."""
COSTLY_PERIOD = 8.0
"""Ridge period of the drawn fingertips, pixels: fine ridges are scaled up to 500 ppi, filling the window."""


def ridged_fingertip(rows: int, cols: int, period: float) -> np.ndarray:
    """A bright fingertip of concentric elliptical ridges on black, tip towards row 0 (DS1's layout)."""
    row, col = np.mgrid[0:rows, 0:cols].astype(np.float32)
    centre_row, centre_col = rows * 0.55, cols / 2
    radius = np.hypot((row - centre_row) / 1.3, col - centre_col)
    ridges = 127 + 90 * np.sin(2 * np.pi * radius / period)
    pad = ((row - centre_row) / (rows * 0.55)) ** 2 + ((col - centre_col) / (cols * 0.48)) ** 2 <= 1
    finger = pad | ((row > centre_row) & (np.abs(col - centre_col) < cols * 0.48))
    return np.where(finger, ridges, 0).astype(np.uint8)


def costly_slap() -> tuple[bytes, list[dict[str, float]]]:
    """The photo drawn to be costly (JPEG bytes) and its landmarks."""
    fingertip = ridged_fingertip(*COSTLY_FINGERTIP, COSTLY_PERIOD)
    photo, landmarks = compose_slap([fingertip] * 4, angle_deg=15.0)
    return jpeg_bytes(photo), landmarks


def real_slap() -> tuple[bytes, list[dict[str, float]]] | None:
    """DS1 person 1's fingers 2-5 on the drawn hand, or None without the data."""
    from PIL import Image

    root = SHARED_DATA / "finger" / "contactless_ds1" / "data" / "DS1_sample" / "1"
    paths = [root / f"SIRE-1_{finger}_1.bmp" for finger in (2, 3, 4, 5)]
    if not all(path.exists() for path in paths):
        return None
    photo, landmarks = compose_slap([np.array(Image.open(path).convert("L")) for path in paths], angle_deg=15.0)
    return jpeg_bytes(photo), landmarks


def main(rounds: int) -> None:
    photos = {"drawn to be costly": costly_slap(), "real fingertips": real_slap()}
    if photos["real fingertips"] is None:
        print(f"no contactless_ds1 under {SHARED_DATA}: the drawn photo alone")
    seconds: dict[str, list[float]] = {name: [] for name, photo in photos.items() if photo is not None}
    print(f"{'round':>5} {'photo':20} {'MP':>5} {'CPU s':>6} {'fingers s':>9} {'templates':>9}  refusals")
    for round_ in range(1, rounds + 1):
        for name, photo in photos.items():
            if photo is None:
                continue
            timed = time_slap_photo(*photo)
            seconds[name].append(timed["cpu_seconds"])
            print(
                f"{round_:>5} {name:20} {timed['pixels'] / 1e6:>5.1f} {timed['cpu_seconds']:>6.2f} "
                f"{timed['fingers_seconds']:>9.2f} {timed['templates']:>9}  {', '.join(timed['refusals']) or '-'}",
                flush=True,
            )
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    for name, median in medians.items():
        print(f"median {name}: {median:.2f} s of CPU ({median / 4:.2f} s per finger)")
    if len(medians) == 2:
        print(f"drawn / real: {medians['drawn to be costly'] / medians['real fingertips']:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
