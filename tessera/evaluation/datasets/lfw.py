"""Labeled Faces in the Wild: the pair lists and where each image lives.

LFW [1]_ ships its evaluation protocol as text files of image pairs:

``pairs.txt`` (View 2)
    First line ``10 300``: ten folds, each of 300 matched pairs followed by
    300 mismatched pairs.
``pairsDevTrain.txt``, ``pairsDevTest.txt`` (View 1)
    First line ``N`` (1100 and 500): one fold of N matched then N mismatched
    pairs.

A matched line is ``name i j`` (two images of one person), a mismatched line
``name1 i name2 j``; fields are separated by tabs or spaces and image numbers
are 1-based. Image ``i`` of ``name`` is ``images/name/name_{i:04d}.jpg``.

References
----------
.. [1] G. B. Huang, M. Ramesh, T. Berg, E. Learned-Miller, "Labeled Faces in
   the Wild: A Database for Studying Face Recognition in Unconstrained
   Environments", University of Massachusetts, Amherst, Technical Report
   07-49, 2007. Section 3 and the README distributed with the data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tessera.evaluation.datasets.dataset import Dataset, PairList
from tessera.evaluation.datasets.folder import folder_samples

VIEW2_PAIRS = "pairs.txt"
"""View 2: ten folds for reporting results (do not tune on them)."""
DEV_TRAIN_PAIRS = "pairsDevTrain.txt"
"""View 1 training pairs: the data Tessera's face calibration is fitted on."""
DEV_TEST_PAIRS = "pairsDevTest.txt"
"""View 1 test pairs."""
IMAGES_FOLDER = "images"

DESCRIPTION = (
    "Labeled Faces in the Wild, deep-funnelled (Huang et al., UMass Amherst TR 07-49, 2007): press photos of "
    "public figures, 250x250 px, collected from the web; no demographic labels"
)
PAIR_ROLES = {"view2": VIEW2_PAIRS, "calibration_fit": DEV_TRAIN_PAIRS, "dev_test": DEV_TEST_PAIRS}
"""The role each pair file plays in an evaluation (see :class:`~tessera.evaluation.datasets.dataset.Dataset`)."""


@dataclass(frozen=True, order=True)
class LfwImage:
    """One LFW image: a person's name and the 1-based image number."""

    name: str
    index: int


@dataclass(frozen=True)
class LfwPair:
    """One line of an LFW pair file.

    Attributes
    ----------
    name_a, index_a, name_b, index_b
        The two images (``index`` is 1-based, as in the files). For a matched
        pair ``name_b == name_a``.
    same
        True for a matched pair (one person), False for a mismatched pair.
    fold
        0-based fold the pair belongs to (View 2: 0 to 9; View 1: always 0).
    """

    name_a: str
    index_a: int
    name_b: str
    index_b: int
    same: bool
    fold: int

    @property
    def image_a(self) -> LfwImage:
        return LfwImage(self.name_a, self.index_a)

    @property
    def image_b(self) -> LfwImage:
        return LfwImage(self.name_b, self.index_b)


def load_lfw(lfw_dir: Path | str) -> Dataset:
    """Read LFW as a :class:`~tessera.evaluation.datasets.dataset.Dataset`.

    Samples are every image under ``images/``; pair lists are those of
    :data:`PAIR_ROLES` whose file exists (``pairs.txt`` is required). The
    people of ``pairsDevTrain.txt``, which the shipped face calibration is
    fitted on, are left out of :attr:`~Dataset.held_out_from_calibration`.

    Raises
    ------
    FileNotFoundError
        No ``images/`` folder or no ``pairs.txt``.
    KeyError
        A pair names an image that is not under ``images/``.
    """
    lfw_dir = Path(lfw_dir)
    if not (lfw_dir / VIEW2_PAIRS).is_file():
        raise FileNotFoundError(f"LFW folder {lfw_dir} has no {VIEW2_PAIRS}: expected images/ and the pair files")
    samples = folder_samples(lfw_dir / IMAGES_FOLDER)
    probe = Dataset(name="lfw", root=lfw_dir, samples=samples, description=DESCRIPTION)
    pair_lists = {}
    for role, file_name in PAIR_ROLES.items():
        if (lfw_dir / file_name).is_file():
            pair_lists[role] = _pair_list(probe, file_name, read_pairs(lfw_dir / file_name))
    held_out: tuple[str, ...] = ()
    if "calibration_fit" in pair_lists:
        fitted = {image.name for image in unique_images(read_pairs(lfw_dir / DEV_TRAIN_PAIRS))}
        held_out = tuple(subject for subject in probe.subjects if subject not in fitted)
    return Dataset(
        name="lfw",
        root=lfw_dir,
        samples=samples,
        description=DESCRIPTION,
        pair_lists=pair_lists,
        held_out_from_calibration=held_out,
    )


def sample_key(image: LfwImage) -> str:
    """The :class:`~tessera.evaluation.datasets.dataset.Sample` key of ``image``: ``name/name_NNNN.jpg``."""
    return f"{image.name}/{image_path('.', image).name}"


def _pair_list(dataset: Dataset, file_name: str, pairs: list[LfwPair]) -> PairList:
    a = dataset.index_of([sample_key(pair.image_a) for pair in pairs])
    b = dataset.index_of([sample_key(pair.image_b) for pair in pairs])
    return PairList(
        name=file_name,
        a=a,
        b=b,
        same=np.array([pair.same for pair in pairs], dtype=bool),
        fold=np.array([pair.fold for pair in pairs], dtype=np.int64),
    )


def image_path(lfw_dir: Path | str, image: LfwImage) -> Path:
    """Path of ``image`` under the LFW folder: ``images/<name>/<name>_<NNNN>.jpg``."""
    if image.index < 1:
        raise ValueError(f"image.index must be a 1-based image number (>= 1); got {image.index} for {image.name!r}")
    return Path(lfw_dir) / IMAGES_FOLDER / image.name / f"{image.name}_{image.index:04d}.jpg"


def unique_images(pairs: Iterable[LfwPair]) -> list[LfwImage]:
    """Every image referenced by ``pairs``, once each, sorted by name then number."""
    images = set()
    for pair in pairs:
        images.add(pair.image_a)
        images.add(pair.image_b)
    return sorted(images)


def read_pairs(path: Path | str) -> list[LfwPair]:
    """Parse an LFW pair file (View 2 ``pairs.txt`` or a View 1 dev file).

    Parameters
    ----------
    path
        The pair file.

    Returns
    -------
    list of LfwPair
        In file order: for each fold, its matched pairs then its mismatched pairs.

    Raises
    ------
    ValueError
        The header is not ``folds pairs_per_class`` or ``pairs_per_class``, a
        line has the wrong number of fields or a non-positive or non-integer
        image number, a matched pair compares an image with itself, or the
        number of lines differs from what the header announces. The message
        names the file and the 1-based line number.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    # Trailing blank lines are harmless; a blank line inside would shift every pair after it.
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{path}: the file is empty; expected a header line such as '10 300' or '1100'")
    folds, per_class = _header(path, lines[0])
    expected = folds * per_class * 2
    body = lines[1:]
    if len(body) != expected:
        raise ValueError(
            f"{path}: the header announces {folds} fold(s) of {per_class} matched and {per_class} mismatched pairs "
            f"({expected} lines), but {len(body)} pair lines follow"
        )
    pairs = []
    for offset, line in enumerate(body):
        fold, position = divmod(offset, 2 * per_class)
        pairs.append(_pair(path, offset + 2, line, same=position < per_class, fold=fold))
    return pairs


def _header(path: Path, line: str) -> tuple[int, int]:
    fields = line.split()
    try:
        numbers = [int(field) for field in fields]
    except ValueError:
        numbers = []
    if len(numbers) == 1:
        numbers = [1, numbers[0]]
    if len(numbers) != 2 or min(numbers) < 1:
        raise ValueError(
            f"{path}:1: the header must be 'folds pairs_per_class' (e.g. '10 300') or 'pairs_per_class' "
            f"(e.g. '1100') with positive integers; got {line!r}"
        )
    return numbers[0], numbers[1]


def _pair(path: Path, line_number: int, line: str, *, same: bool, fold: int) -> LfwPair:
    fields = line.split()
    where = f"{path}:{line_number}"
    if same:
        if len(fields) != 3:
            raise ValueError(
                f"{where}: a matched pair line must be 'name i j' (3 fields); got {len(fields)} in {line!r}"
            )
        name_a, name_b = fields[0], fields[0]
        index_a, index_b = _index(where, fields[1], line), _index(where, fields[2], line)
        if index_a == index_b:
            raise ValueError(
                f"{where}: a matched pair must name two different images; got image {index_a} twice in {line!r}"
            )
    else:
        if len(fields) != 4:
            raise ValueError(
                f"{where}: a mismatched pair line must be 'name1 i name2 j' (4 fields); got {len(fields)} in {line!r}"
            )
        name_a, name_b = fields[0], fields[2]
        index_a, index_b = _index(where, fields[1], line), _index(where, fields[3], line)
        if name_a == name_b:
            raise ValueError(f"{where}: a mismatched pair must name two different people; got {name_a!r} twice")
    return LfwPair(name_a, index_a, name_b, index_b, same, fold)


def _index(where: str, field: str, line: str) -> int:
    try:
        index = int(field)
    except ValueError:
        index = 0
    if index < 1:
        raise ValueError(f"{where}: image numbers must be positive integers (1-based); got {field!r} in {line!r}")
    return index
