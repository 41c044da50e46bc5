"""Optional group labels for a dataset, read from a CSV file, for per-group error rates.

The first column names what a row labels: ``subject`` (every image of that
person) or ``file`` (one image, by its key ``<subject>/<file name>`` or its
bare file name when that is unique). Every other column is an attribute,
and its values are the groups, e.g.::

    subject,age_band,capture_site
    Ann_Able,18-30,north
    Bob_Baker,31-50,south

Tessera never infers groups from faces: labels come from the people who
hold the data, with whatever consent and documentation that requires. An
empty cell leaves the sample out of that attribute's groups.
"""

from __future__ import annotations

import csv
from pathlib import Path

from tessera.evaluation.datasets.dataset import Dataset

KEY_COLUMNS = ("subject", "file")


def read_labels(path: Path | str, dataset: Dataset) -> dict[str, list[str | None]]:
    """Per attribute, the group of each of ``dataset.samples`` (None where unlabelled).

    Raises
    ------
    ValueError
        The header does not start with ``subject`` or ``file``, there is no
        attribute column, or a row names a subject or file the dataset does
        not have (the message names the line).
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or not rows[0] or rows[0][0].strip() not in KEY_COLUMNS or len(rows[0]) < 2:
        header = rows[0] if rows else []
        raise ValueError(
            f"{path}: the header must be 'subject' or 'file' followed by at least one attribute column "
            f"(e.g. 'subject,age_band'); got {header!r}"
        )
    kind = rows[0][0].strip()
    attributes = [name.strip() for name in rows[0][1:]]
    by_key = {sample.key: number for number, sample in enumerate(dataset.samples)}
    by_name: dict[str, list[int]] = {}
    by_subject: dict[str, list[int]] = {}
    for number, sample in enumerate(dataset.samples):
        by_name.setdefault(sample.path.name, []).append(number)
        by_subject.setdefault(sample.subject, []).append(number)
    groups: dict[str, list[str | None]] = {attribute: [None] * len(dataset.samples) for attribute in attributes}
    for line, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        name = row[0].strip()
        if kind == "subject":
            targets = by_subject.get(name)
        elif name in by_key:
            targets = [by_key[name]]
        else:
            targets = by_name.get(name) if len(by_name.get(name, [])) == 1 else None
        if not targets:
            raise ValueError(f"{path}:{line}: {kind} {name!r} is not in dataset {dataset.name!r} (or is ambiguous)")
        for attribute, cell in zip(attributes, row[1:]):
            value = cell.strip() or None
            for target in targets:
                groups[attribute][target] = value
    return groups
