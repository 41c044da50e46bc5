"""A dataset laid out as one folder per identity: ``root/<subject>/<image>``.

The generic adapter: any collection of photos sorted into one folder per
person can be evaluated with ``tessera eval folder --data ROOT``. Every file
with an image extension (:data:`IMAGE_SUFFIXES`) directly inside a subject's
folder is a sample; other files and deeper folders are ignored.
"""

from __future__ import annotations

from pathlib import Path

from tessera.evaluation.datasets.dataset import Dataset, Sample

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
"""File name endings read as images (case-insensitive): the formats the service accepts."""


def folder_samples(root: Path | str) -> tuple[Sample, ...]:
    """Every image ``root/<subject>/<file>``, sorted by key ``<subject>/<file>``.

    Raises
    ------
    FileNotFoundError
        ``root`` is not a folder.
    ValueError
        No image was found in any subject folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist or is not a folder")
    samples = [
        Sample(key=f"{folder.name}/{path.name}", subject=folder.name, path=path)
        for folder in root.iterdir()
        if folder.is_dir() and not folder.name.startswith(".")
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")
    ]
    if not samples:
        raise ValueError(
            f"no images found in {root}: expected one folder per person holding {', '.join(IMAGE_SUFFIXES)} files"
        )
    return tuple(sorted(samples, key=lambda sample: sample.key))


def load_folder(root: Path | str, name: str = "folder") -> Dataset:
    """Read a folder-per-identity dataset (see the module docstring)."""
    root = Path(root)
    samples = folder_samples(root)
    people = len({sample.subject for sample in samples})
    return Dataset(
        name=name,
        root=root,
        samples=samples,
        description=f"{len(samples):,} images of {people:,} people, one folder per person, read from {root}",
    )
