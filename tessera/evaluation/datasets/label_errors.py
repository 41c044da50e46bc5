"""Known label errors of a face data set: identity pairs that are really one person, to leave out of impostors.

LFW files some people under two names (name order, spelling, title, married
name) and some photos twice under two names. Counted as impostor comparisons,
those pairs are the highest impostor scores of a good face model and set the
threshold at FMR 1e-6 on their own (docs/accuracy.md). The list shipped here
(``lfw_label_errors.csv``: ``name_a``, ``name_b``, ``kind``, ``evidence``) is
metadata about LFW, not LFW data; each pair was checked by name or by eye.

csv file -> :class:`LabelErrors` -> :meth:`LabelErrors.excluded_identity_pairs`
for the labels at hand -> :func:`~tessera.evaluation.calibrate.pair_scores`
leaves those comparisons out and counts them.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

LFW_LABEL_ERRORS_FILE = Path(__file__).with_name("lfw_label_errors.csv")
"""The documented LFW label errors (15 identity pairs, docs/accuracy.md)."""

COLUMNS = ("name_a", "name_b", "kind", "evidence")
MAX_ROWS = 10_000
"""More rows than any plausible list of label errors: a bound on what a malformed file can cost."""


@dataclass(frozen=True)
class LabelError:
    """Two names in a data set that are one person (or share a photo), with why we say so."""

    name_a: str
    name_b: str
    kind: str
    evidence: str


@dataclass(frozen=True)
class LabelErrors:
    """A list of label errors read from one file.

    Attributes
    ----------
    source : str
        The file's name.
    sha256 : str
        SHA-256 of the file, recorded beside any figure computed without these pairs.
    errors : tuple of LabelError
        One per identity pair.
    """

    source: str
    sha256: str
    errors: tuple[LabelError, ...]

    def excluded_identity_pairs(self, labels: list[str] | set[str]) -> list[tuple[str, str]]:
        """The listed identity pairs whose two names both occur in ``labels`` (the others cannot be compared)."""
        present = set(labels)
        return [(error.name_a, error.name_b) for error in self.errors if {error.name_a, error.name_b} <= present]

    def report(self, n_identity_pairs_present: int, n_comparisons_left_out: int) -> dict:
        """What was left out of the impostor comparisons and why, for a report or calibration file."""
        return {
            "label_errors_file": self.source,
            "label_errors_sha256": self.sha256,
            "identity_pairs_listed": len(self.errors),
            "identity_pairs_present": n_identity_pairs_present,
            "impostor_comparisons_left_out": n_comparisons_left_out,
            "why": (
                "each listed identity pair is one person under two names or one photo filed under two names "
                "(a label error of the data set, checked by name or by eye); comparing them is not an impostor "
                "comparison, so they are left out of the impostor scores"
            ),
            "pairs": [
                {"name_a": error.name_a, "name_b": error.name_b, "kind": error.kind, "evidence": error.evidence}
                for error in self.errors
            ],
        }


def read_label_errors(path: Path | str = LFW_LABEL_ERRORS_FILE) -> LabelErrors:
    """Read a label-error list (CSV with header ``name_a,name_b,kind,evidence``).

    Parameters
    ----------
    path : path
        The CSV file; default the documented LFW list.

    Returns
    -------
    LabelErrors
        Its rows, in file order.

    Raises
    ------
    ValueError
        Wrong header, an empty name or evidence, a name paired with itself, a pair listed twice,
        or more than :data:`MAX_ROWS` rows (the message names the row).
    FileNotFoundError
        No such file.
    """
    path = Path(path)
    raw = path.read_bytes()
    rows = list(csv.reader(raw.decode("utf-8").splitlines()))
    if not rows or tuple(cell.strip() for cell in rows[0]) != COLUMNS:
        raise ValueError(f"{path.name}: the header must be {','.join(COLUMNS)}; got {rows[0] if rows else 'nothing'}")
    if len(rows) - 1 > MAX_ROWS:
        raise ValueError(f"{path.name}: at most {MAX_ROWS} label errors are allowed; got {len(rows) - 1}")
    errors, seen = [], set()
    for number, row in enumerate(rows[1:], start=2):
        cells = [cell.strip() for cell in row]
        if len(cells) != len(COLUMNS) or not all(cells):
            raise ValueError(f"{path.name} row {number}: need 4 non-empty cells {COLUMNS}; got {row!r}")
        pair = frozenset(cells[:2])
        if len(pair) != 2:
            raise ValueError(f"{path.name} row {number}: a name cannot be a label error of itself; got {cells[0]!r}")
        if pair in seen:
            raise ValueError(f"{path.name} row {number}: the pair {cells[0]} / {cells[1]} is listed twice")
        seen.add(pair)
        errors.append(LabelError(*cells))
    return LabelErrors(source=path.name, sha256=hashlib.sha256(raw).hexdigest(), errors=tuple(errors))
