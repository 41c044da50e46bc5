"""Readers for the public data sets Tessera is evaluated and calibrated on.

Each reader turns a data set's own files into typed values and never
downloads anything: the data must already be on disk (see
``tests/conftest.py`` for where the test suite looks for it). Adapters return
a :class:`~tessera.evaluation.datasets.dataset.Dataset`; :data:`ADAPTERS`
names them for ``tessera eval``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tessera.evaluation.datasets.dataset import Dataset, PairList, Sample
from tessera.evaluation.datasets.folder import load_folder
from tessera.evaluation.datasets.lfw import load_lfw

ADAPTERS: dict[str, Callable[[Path], Dataset]] = {"lfw": load_lfw, "folder": load_folder}
"""Dataset adapters by the name ``tessera eval DATASET`` takes."""

__all__ = ["ADAPTERS", "Dataset", "PairList", "Sample", "load_folder", "load_lfw"]
