"""LEADER as loaded (its graph's normalisations and GELUs fused, :mod:`tessera.finger.leader_graph`) against its
graph as exported: how far the outputs differ on real prints, and what each costs, side by side in one process.

Run from the repository, with the shared data beside it:

``python -m tests.finger.measure_leader_graph equal``
    Every fourth print of each contact database (FVC2004 DB1-DB4, FVC2002 DB1, CrossMatch), every DS1
    contactless photo and every IIITD phone photo, through the whole finger pipeline once with each network: the
    largest difference of each of the four maps on the windows the network reads (the direction as an angle,
    wrapped), and how many templates are byte-identical, how many minutiae differ.
``python -m tests.finger.measure_leader_graph windows [ROUNDS]``
    CPU ms per 512 x 512 window, each network on the DS1 windows that fill it, alternating.
``python -m tests.finger.measure_leader_graph slap [ROUNDS]``
    :func:`tessera.evaluation.contactless.time_slap` with each network, alternating.

CPU is the process's, one thread; the machine is shared, so only figures printed by the same run compare.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import tessera.finger.minutiae as minutiae_module
from tessera.evaluation.fvc import find_databases, read_image
from tessera.finger.minutiae import LeaderNetwork
from tessera.finger.pipeline import extract_finger
from tessera.finger.template import FingerTemplate
from tests.conftest import SHARED_DATA

FINGER_DATA = SHARED_DATA / "finger"
PHONE_PHOTOS = FINGER_DATA / "phone_iiitd" / "data" / "raw" / "samples"
CONTACT_STEP = 4
"""Every fourth print of a contact database: 20 of each FVC database's 80, 102 of CrossMatch's 408."""
WINDOW_SIDE = 512


class RecordingNetwork:
    """A :class:`LeaderNetwork` that keeps the windows it reads and the maps it returns."""

    def __init__(self, network: LeaderNetwork) -> None:
        self.network, self.windows, self.outputs = network, [], []

    def maps(self, image: np.ndarray) -> np.ndarray:
        output = self.network.maps(image)
        self.windows.append(image.copy())
        self.outputs.append(output)
        return output


def networks() -> dict[str, LeaderNetwork]:
    return {"as exported": LeaderNetwork(1, fused=False), "as loaded": LeaderNetwork(1)}


def use(network: object) -> None:
    """Make the finger pipeline run ``network``."""
    minutiae_module.load_leader = lambda threads=1, network=network: network  # type: ignore[assignment]


def real_prints() -> list[tuple[Path, str, float | None]]:
    """(path, capture, ppi) of the prints :func:`equal` reads."""
    prints: list[tuple[Path, str, float | None]] = []
    for database in find_databases(FINGER_DATA):
        files = database.files if database.capture == "contactless" else database.files[::CONTACT_STEP]
        prints += [(path, database.capture, database.ppi) for path in files]
    phone = sorted(path for path in PHONE_PHOTOS.glob("*.jpg") if path.stem.count("_") == 4)
    return prints + [(path, "contactless", None) for path in phone]


def equal() -> None:
    exported, loaded = (RecordingNetwork(network) for network in networks().values())
    largest = np.zeros(4)
    templates = identical = differing_minutiae = minutiae = refusals_differ = 0
    prints = real_prints()
    for path, capture, ppi in prints:
        image = read_image(path)
        results = []
        for network in (exported, loaded):
            use(network)
            results.append(extract_finger(image, capture, ppi=ppi, extractor_threads=1))
        for before, after in zip(exported.outputs, loaded.outputs):
            difference = np.abs(after - before).max(axis=(0, 1))
            turn = np.abs(np.angle(np.exp(1j * (after[..., 1].astype(np.float64) - before[..., 1]))))
            difference[1] = turn.max()
            largest = np.maximum(largest, difference)
        exported.outputs.clear(), loaded.outputs.clear()
        before, after = results
        if not isinstance(before, FingerTemplate) or not isinstance(after, FingerTemplate):
            refusals_differ += isinstance(before, FingerTemplate) != isinstance(after, FingerTemplate)
            continue
        templates += 1
        minutiae += len(before.minutiae)
        if before.to_bytes() == after.to_bytes():
            identical += 1
            continue
        # As stored: positions in pixels, angles in 256ths of a turn, kinds, qualities 1-100.
        stored_before, stored_after = (set(_rows(FingerTemplate.from_bytes(t.to_bytes()))) for t in results)
        differing_minutiae += len(stored_before ^ stored_after)
        print(
            f"{path.relative_to(FINGER_DATA)}: templates differ; as stored, in one and not the other: "
            f"{sorted(stored_before - stored_after)} / {sorted(stored_after - stored_before)}",
            flush=True,
        )
    print(
        f"{len(prints)} real prints ({len(exported.windows)} windows): largest difference of the maps: likelihood "
        f"{largest[0]:.2g}, direction {largest[1]:.2g} rad, type {largest[2]:.2g}, suppressed likelihood "
        f"{largest[3]:.2g}; {templates} templates, {identical} byte-identical; {differing_minutiae} of {minutiae} "
        f"minutiae, as stored, in one and not the other (position, angle, kind, quality); template made by one and "
        f"refused by the other: {refusals_differ}"
    )


def _rows(template: FingerTemplate) -> list[tuple]:
    found = template.minutiae
    return [
        (float(row), float(col), round(float(angle), 4), int(kind), round(float(quality), 2))
        for (row, col), angle, kind, quality in zip(found.points, found.angles, found.kinds, found.qualities)
    ]


def windows(rounds: int) -> None:
    recorder = RecordingNetwork(LeaderNetwork(1))
    use(recorder)
    for path, capture, ppi in real_prints():
        if capture == "contactless" and "SIRE-" in path.name:
            extract_finger(read_image(path), capture, ppi=ppi, extractor_threads=1)
    full = [window for window in recorder.windows if window.shape == (WINDOW_SIDE, WINDOW_SIDE)]
    for _ in range(rounds):
        cpu = {}
        for name, network in networks().items():
            network.maps(full[0])  # the first run grows the memory arena
            started = time.process_time()
            for window in full:
                network.maps(window)
            cpu[name] = round(1000 * (time.process_time() - started) / len(full), 1)
        print(f"CPU ms per {WINDOW_SIDE} x {WINDOW_SIDE} window ({len(full)} DS1 windows): {cpu}", flush=True)


def slap(rounds: int) -> None:
    from tessera.evaluation.contactless import time_slap

    loaded = networks()
    for network in loaded.values():
        network.maps(np.full((WINDOW_SIDE, WINDOW_SIDE), 255, np.uint8))
    for _ in range(rounds):
        for name, network in loaded.items():
            use(network)
            rows = (time_slap(FINGER_DATA) or {}).get("slaps", [])
            print(f"{name}: CPU s per slap {[row['cpu_seconds'] for row in rows]}", flush=True)


if __name__ == "__main__":
    mode, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3
    {"equal": equal, "windows": lambda: windows(rounds), "slap": lambda: slap(rounds)}[mode]()
