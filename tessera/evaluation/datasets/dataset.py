"""What every dataset adapter returns: labelled image files, and the pair lists of its own protocol.

An adapter (:mod:`~tessera.evaluation.datasets.lfw`,
:mod:`~tessera.evaluation.datasets.folder`) reads a dataset's own layout and
returns a :class:`Dataset`; the harness (:mod:`tessera.evaluation.harness`)
needs nothing else, so a new dataset is a small adapter, not a new harness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One image file of one subject.

    Attributes
    ----------
    key : str
        Stable, unique name of the sample inside its dataset: its path
        relative to the dataset's image folder, with ``/`` separators.
    subject : str
        Identity label; two samples with the same label show the same person.
    path : Path
        The file.
    """

    key: str
    subject: str
    path: Path


@dataclass(frozen=True)
class PairList:
    """Pairs of samples listed by a dataset's protocol (e.g. LFW ``pairs.txt``).

    Attributes
    ----------
    name : str
        The file the pairs come from, e.g. ``"pairs.txt"``.
    a, b : numpy.ndarray, shape (n,), int64
        Indexes into :attr:`Dataset.samples` of the two sides of each pair.
    same : numpy.ndarray, shape (n,), bool
        True for a genuine pair (one person), False for an impostor pair.
    fold : numpy.ndarray, shape (n,), int64
        0-based fold of each pair (0 when the list has a single fold).
    """

    name: str
    a: np.ndarray
    b: np.ndarray
    same: np.ndarray
    fold: np.ndarray

    def __post_init__(self) -> None:
        sizes = {len(self.a), len(self.b), len(self.same), len(self.fold)}
        if len(sizes) != 1:
            raise ValueError(
                f"PairList {self.name!r}: a, b, same and fold must have one length; got lengths {sorted(sizes)}"
            )

    def __len__(self) -> int:
        return len(self.a)

    @property
    def folds(self) -> int:
        """Number of folds."""
        return int(self.fold.max()) + 1 if len(self) else 0


@dataclass(frozen=True)
class Dataset:
    """A dataset ready to evaluate.

    Attributes
    ----------
    name : str
        Short name, e.g. ``"lfw"``.
    root : Path
        The folder it was read from.
    samples : tuple of Sample
        Every image, sorted by key.
    description : str
        What it is and where it comes from, for the report.
    pair_lists : mapping of str to PairList
        The dataset's own listed pairs, by role: ``"view2"`` (10-fold LFW
        benchmark), ``"calibration_fit"`` (the pairs the shipped calibration
        was fitted on), ``"dev_test"`` ... Empty for a plain folder.
    held_out_from_calibration : tuple of str
        Subjects guaranteed absent from the data the shipped face calibration
        was fitted on; the calibration check uses only these. Empty means
        "unknown": the check then uses every subject and says so.
    """

    name: str
    root: Path
    samples: tuple[Sample, ...]
    description: str
    pair_lists: Mapping[str, PairList] = field(default_factory=dict)
    held_out_from_calibration: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        keys = [sample.key for sample in self.samples]
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            raise ValueError(f"dataset {self.name!r}: samples must be sorted by key, each key once")

    @property
    def subjects(self) -> list[str]:
        """Every subject, sorted."""
        return sorted({sample.subject for sample in self.samples})

    def subject_index(self) -> tuple[np.ndarray, list[str]]:
        """(index of each sample's subject in :attr:`subjects`, shape (n,) int64; the subjects)."""
        subjects = self.subjects
        position = {subject: number for number, subject in enumerate(subjects)}
        return np.array([position[sample.subject] for sample in self.samples], dtype=np.int64), subjects

    def index_of(self, keys: Sequence[str]) -> np.ndarray:
        """Indexes of the samples with these keys; KeyError naming the first missing one."""
        position = {sample.key: number for number, sample in enumerate(self.samples)}
        missing = [key for key in keys if key not in position]
        if missing:
            raise KeyError(f"{len(missing)} sample(s) not in dataset {self.name!r}, e.g. {missing[0]!r}")
        return np.array([position[key] for key in keys], dtype=np.int64)
