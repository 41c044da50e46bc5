"""Fake face algorithms for tests that exercise the workflows and the API without a face network.

A fake algorithm is registered exactly as a real one is
(:func:`tessera.face.algorithms.register_face_algorithm`): its pipeline
turns a synthetic "face" into an embedding in microseconds, so a test can
enrol, verify and search through the real service, store, vault and index.

A synthetic face is an RGB image whose coarse pattern *is* the identity:
:func:`face_image` paints a person's pattern (from a seed) and adds a
little noise per photo, so two photos of one person embed close together
and two people far apart. A uniform image has no face (``no_face``).
Two fake algorithms read the pattern on different grids (8 and 12 numbers),
so their embeddings have different lengths: a comparison across them would
fail loudly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from tessera.face.algorithms import FACE_ALGORITHMS, ChipSpec, FaceAlgorithm, register_face_algorithm
from tessera.face.config import DEFAULT_FACE_CONFIG
from tessera.face.pipeline import FaceRefusal, FaceTemplate
from tessera.match.calibration import fit_calibration
from tessera.primitives import NO_TRACE, Box, Image, Trace, unit_vector

GRIDS = {"fake-a/1": (2, 4), "fake-b/1": (3, 4)}
"""Each fake algorithm's grid of cells whose mean brightness makes the embedding."""


@dataclass(frozen=True)
class FakeQuality:
    brightness: float

    def as_dict(self) -> dict:
        return {"brightness": self.brightness}


def face_image(person: int, photo: int = 0, size: int = 96, noise: float = 6.0) -> np.ndarray:
    """A synthetic photo of ``person``: their pattern of 12x12 blocks, plus photo ``photo``'s own noise."""
    pattern = np.random.default_rng(1000 + person).uniform(40, 215, size=(12, 12))
    image = np.kron(pattern, np.ones((size // 12, size // 12)))
    image += np.random.default_rng(person * 7919 + photo + 1).normal(0, noise, image.shape)
    gray = np.clip(image, 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def extract(grid: tuple[int, int], algorithm: str, image: Image, trace: Trace = NO_TRACE) -> FaceTemplate | FaceRefusal:
    """The fake pipeline: mean brightness of each grid cell, centred and normalised; a flat image has no face."""
    gray = image.mean(axis=2)
    if float(gray.std()) < 2.0:
        return FaceRefusal.of("no_face")
    rows, cols = grid
    cells = [
        block.mean() for band in np.array_split(gray, rows, axis=0) for block in np.array_split(band, cols, axis=1)
    ]
    vector = np.asarray(cells, dtype=np.float64)
    embedding = unit_vector(vector - vector.mean()).astype(np.float32)
    trace.log("face-embedding", embedding)
    box = Box(top=0, left=0, bottom=image.shape[0], right=image.shape[1])
    return FaceTemplate(embedding=embedding, quality=FakeQuality(float(gray.mean())), box=box, algorithm=algorithm)  # type: ignore[arg-type]


def fake_calibration_file(algorithm: str, folder: Path) -> Path:
    """A calibration of ``algorithm``'s scores fitted on many synthetic people, written to ``folder``."""
    grid = GRIDS[algorithm]
    people = [
        [extract(grid, algorithm, face_image(person, photo)).embedding for photo in range(2)] for person in range(300)
    ]
    genuine = [float(a @ b) for a, b in people]
    firsts = np.array([photos[0] for photos in people])
    matrix = firsts @ firsts.T
    impostor = matrix[np.triu_indices(len(people), 1)]
    calibration = fit_calibration(
        genuine, impostor, modality="face", algorithm=algorithm, data={"dataset": "synthetic"}
    )
    return calibration.save(folder / f"face-{algorithm.replace('/', '-')}.json")


def register_fakes(folder: Path) -> list[FaceAlgorithm]:
    """Register both fake algorithms (once per process), their calibrations written into ``folder``."""
    registered = []
    for algorithm, grid in GRIDS.items():
        if algorithm not in FACE_ALGORITHMS:
            register_face_algorithm(
                FaceAlgorithm(
                    id=algorithm,
                    dim=grid[0] * grid[1],
                    config=DEFAULT_FACE_CONFIG,
                    extract=partial(extract, grid, algorithm),
                    embedder=lambda: None,  # type: ignore[arg-type,return-value]
                    chip=ChipSpec(size=96, alignment="none: the whole synthetic image"),
                    calibration_file=fake_calibration_file(algorithm, folder),
                    fusion_model_file=None,
                    weights="none (a test fake)",
                )
            )
        registered.append(FACE_ALGORITHMS[algorithm])
    return registered
