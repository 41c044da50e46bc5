"""Fingerprint accuracy on the FVC-style databases and the contactless set: EER, FMR100, FMR1000.

``python -m tessera.evaluation.fvc --data ../shared/data/finger --out DIR``
extracts a template from every image with :func:`tessera.finger.pipeline.extract_finger`
(contact prints as ``capture="contact"``, the contactless set as
``"contactless"``), compares them with Tessera's MCC matcher
(:mod:`tessera.match.mcc`) and writes ``DIR/report.json``, ``DIR/report.html``, a figure per
database and ``DIR/scores.npz`` (:mod:`tessera.evaluation.fvc_report`; ``tessera eval fvc`` does the same).

Databases (each a folder with ``index.csv``, ``pairs_genuine.csv`` and
``pairs_impostor.csv``; see ``../shared/data/README.md``)

``fvc2004``
    DB1_B-DB4_B: 10 fingers x 8 impressions each; DB1-3 are real fingers,
    DB4 synthetic. DB3 is 512 ppi, the rest 500.
``fvc2002_db1``
    FVC2002 DB1_B, reported as ``FVC2002_DB1_B``.
``neurotech_crossmatch``
    51 fingers x 8, reported as ``CrossMatch``.
``contactless_ds1``
    41 contactless images of 21 fingers (no CSV files: the finger is in the
    file name ``SIRE-<subject>_<finger>_<n>.bmp``), reported under ``contactless``.

Two impostor sets per database

``fvc``
    The FVC protocol [1]_: genuine = every pair of impressions of a finger
    (28 per finger); impostor = the first impression of each finger against
    the first of every other (45 pairs for 10 fingers). The tiny impostor set
    makes its FMR coarse (one false match is 2.2 %).
``all``
    The same genuine pairs, and every pair of images of *different* fingers
    (2,880 for 10 fingers x 8). This is the headline ``eer`` of each database
    and of ``mean_eer_real`` (the mean over FVC2004 DB1-3).

EER follows the FVC definition ([1]_, section 3: the midpoint of the
interval where FNMR and FMR cross), the one every evaluation uses
(:func:`tessera.evaluation.metrics.equal_error_rate`); FMR100 and FMR1000
are the lowest FNMR at an FMR of at most 1 % and 0.1 %
(:func:`tessera.evaluation.metrics.fnmr_at_fmr`). A refused image (failure to enrol)
scores 0 in every comparison, so it costs genuine pairs and spares
impostor ones, as in FVC; the count is reported. The 95 % interval of the
``all`` EER resamples fingers with replacement (1,000 times, seed 0) and
recomputes the EER from all their pairs, keeping the correlation between
comparisons that share a finger.

Templates are cached on disk (``--cache``, default ``~/.cache/tessera/fvc``)
as their ISO/IEC 19794-2 bytes, keyed by the pipeline's algorithm id, a
digest of its configuration and source code, and the image file's SHA-256:
a second run only compares. Extraction runs in ``--workers`` processes
(default: every core) with a progress bar.

References
----------
.. [1] D. Maio, D. Maltoni, R. Cappelli, J. L. Wayman, A. K. Jain, "FVC2000:
   Fingerprint verification competition", IEEE Transactions on Pattern
   Analysis and Machine Intelligence 24(3), pp. 402-412, 2002 (section 3,
   performance evaluation); the FVC2004 protocol is the same (Maio et al.,
   "FVC2004: Third Fingerprint Verification Competition", ICBA 2004).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tessera.evaluation.metrics import equal_error_rate, fnmr_at_fmr

if TYPE_CHECKING:
    from tessera.match.minutiae import Minutiae

REAL_FINGER_DATABASES = ("DB1_B", "DB2_B", "DB3_B")
"""FVC2004 databases of real fingers: ``mean_eer_real`` averages their EERs."""

DATABASE_FOLDERS = ("fvc2004", "fvc2002_db1", "neurotech_crossmatch", "contactless_ds1")
"""Folders under ``--data`` that are evaluated, when present."""

RESOLUTION_PPI = {"DB3_B": 512.0}
"""Databases not scanned at 500 ppi (FVC2004 DB3: thermal sweep sensor at 512 ppi)."""

DATABASE_NAMES = {"fvc2002_db1": "FVC2002_DB1_B", "neurotech_crossmatch": "CrossMatch"}
"""Report name of single-database folders."""

BOOTSTRAP_RESAMPLES = 1000

KEY_EXCLUDED = ("__init__.py", "refusal.py")
"""Modules of ``tessera/finger`` left out of the template cache key: they decide no template (the refusal
module holds reason codes and their messages, shared with the service's error handling, and changes for
reasons of its own; a cached refusal keeps the reason code it was made with)."""

CONTACTLESS_NAME = re.compile(r"SIRE-(\d+)_(\d+)_(\d+)\.bmp$", re.IGNORECASE)


# -- what is evaluated -----------------------------------------------------------


@dataclass(frozen=True)
class Database:
    """One database: its images (in index order), their fingers, and the FVC-protocol pairs.

    Attributes
    ----------
    name : str
        Report name (``DB1_B``, ``CrossMatch``, ``DS1`` ...).
    files : tuple of Path
    fingers : tuple of str
        Finger id of each file.
    capture : str
        ``"contact"`` or ``"contactless"``.
    ppi : float or None
        Resolution of a contact database.
    genuine : tuple of (int, int)
        Indexes into ``files``.
    impostor_fvc : tuple of (int, int)
        The FVC protocol's impostor pairs (empty for a set without one).
    """

    name: str
    files: tuple[Path, ...]
    fingers: tuple[str, ...]
    capture: str = "contact"
    ppi: float | None = 500.0
    genuine: tuple[tuple[int, int], ...] = ()
    impostor_fvc: tuple[tuple[int, int], ...] = ()


def find_databases(data: Path | str) -> list[Database]:
    """Every database under ``data``: a folder holding one (``index.csv``) or the folders of :data:`DATABASE_FOLDERS`.

    Raises
    ------
    FileNotFoundError
        ``data`` holds no database.
    """
    data = Path(data)
    if (data / "index.csv").is_file():
        return read_csv_databases(data)
    if data.name == "contactless_ds1" or (data / "data" / "DS1_sample").is_dir():
        return [read_contactless_ds1(data)]
    found: list[Database] = []
    for folder in DATABASE_FOLDERS:
        path = data / folder
        if (path / "index.csv").is_file():
            found.extend(read_csv_databases(path))
        elif folder == "contactless_ds1" and (path / "data" / "DS1_sample").is_dir():
            found.append(read_contactless_ds1(path))
    if not found:
        raise FileNotFoundError(
            f"no fingerprint database under {data}: expected index.csv there, or one of the folders "
            f"{', '.join(DATABASE_FOLDERS)}"
        )
    return found


def read_csv_databases(folder: Path) -> list[Database]:
    """The databases of an FVC-style folder; files whose path starts with ``DB?_B/`` are split by that prefix."""
    with open(folder / "index.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(folder / "pairs_genuine.csv", newline="") as handle:
        genuine_rows = [(row["file_a"], row["file_b"]) for row in csv.DictReader(handle)]
    with open(folder / "pairs_impostor.csv", newline="") as handle:
        impostor_rows = [(row["file_a"], row["file_b"]) for row in csv.DictReader(handle)]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        prefix = row["file"].split("/", 1)[0]
        name = prefix if re.fullmatch(r"DB\d_[AB]", prefix) else DATABASE_NAMES.get(folder.name, folder.name)
        groups.setdefault(name, []).append(row)
    databases = []
    for name, members in groups.items():
        index = {row["file"]: number for number, row in enumerate(members)}
        databases.append(
            Database(
                name=name,
                files=tuple(folder / row["file"] for row in members),
                fingers=tuple(f"{name}:{row['finger_id'].split(':')[-1]}" for row in members),
                capture="contact",
                ppi=RESOLUTION_PPI.get(name, 500.0),
                genuine=tuple((index[a], index[b]) for a, b in genuine_rows if a in index and b in index),
                impostor_fvc=tuple((index[a], index[b]) for a, b in impostor_rows if a in index and b in index),
            )
        )
    return databases


def read_contactless_ds1(folder: Path) -> Database:
    """The contactless set: ``SIRE-<subject>_<finger>_<n>.bmp``; genuine = every pair of one finger."""
    files = sorted(
        path for path in (folder / "data" / "DS1_sample").glob("*/SIRE-*.bmp") if CONTACTLESS_NAME.search(path.name)
    )
    fingers = []
    for path in files:
        name_match = CONTACTLESS_NAME.search(path.name)
        assert name_match is not None  # the files were chosen by this pattern
        subject, finger, _ = name_match.groups()
        fingers.append(f"DS1:{subject}_{finger}")
    genuine = tuple((i, j) for i in range(len(files)) for j in range(i + 1, len(files)) if fingers[i] == fingers[j])
    return Database(
        name="DS1", files=tuple(files), fingers=tuple(fingers), capture="contactless", ppi=None, genuine=genuine
    )


# -- extraction, cached ------------------------------------------------------------


@dataclass(frozen=True)
class Extraction:
    """What the pipeline made of one image: template bytes or a refusal reason, and the CPU time spent."""

    digest: str
    template: bytes | None
    refusal: str | None
    seconds: float


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tessera/fvc`` (``~/.cache/tessera/fvc`` by default)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tessera" / "fvc"


def pipeline_key() -> str:
    """Digest of everything that decides a template: algorithm id, configuration (but the matcher's), and
    the source of the pipeline's steps and of the minutiae type. The matcher is not part of it: templates
    hold minutiae, which it does not change."""
    from tessera.finger import pipeline

    package = Path(pipeline.__file__).parents[1]
    source = hashlib.sha256()
    steps = [path for path in sorted((package / "finger").glob("*.py")) if path.name not in KEY_EXCLUDED]
    for path in steps + [package / "match" / "minutiae.py"]:
        source.update(path.name.encode() + b"\0" + path.read_bytes())
    settings = json.dumps(
        {key: value for key, value in pipeline.DEFAULT_FINGER_CONFIG.as_dict().items() if key != "mcc"},
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(f"{pipeline.ALGORITHM}\0{settings}\0{source.hexdigest()}".encode()).hexdigest()[:16]
    return f"{pipeline.ALGORITHM}-{digest}"


def extract_all(
    jobs: Sequence[tuple[Path, str, float | None]], cache_dir: Path | None, workers: int, progress: bool = True
) -> list[Extraction]:
    """Extract (or read from the cache) a template for every ``(path, capture, ppi)`` job, in order."""
    key = pipeline_key()
    folder = None if cache_dir is None else Path(cache_dir) / key
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    digests = [_file_digest(path) for path, _, _ in jobs]
    results: list[Extraction | None] = [
        _cached(folder, digest, capture) for digest, (_, capture, _) in zip(digests, jobs)
    ]
    missing = [number for number, result in enumerate(results) if result is None]
    if missing:
        work = [(str(jobs[number][0]), jobs[number][1], jobs[number][2], digests[number]) for number in missing]
        for number, extraction in zip(missing, _run(work, workers, progress)):
            results[number] = extraction
            if folder is not None:
                _store(folder, extraction, jobs[number][1])
    return [result for result in results if result is not None]


def _run(work: list[tuple], workers: int, progress: bool) -> Iterable[Extraction]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("extracting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task("extract", total=len(work))
        if workers <= 1:
            for item in work:
                yield _extract_one(item)
                bar.advance(task)
            return
        # spawn: each worker loads its own ONNX session; nothing of the parent's state is shared.
        with multiprocessing.get_context("spawn").Pool(workers, initializer=_worker_init) as pool:
            for extraction in pool.imap(_extract_one, work, chunksize=1):
                yield extraction
                bar.advance(task)


def _worker_init() -> None:
    # One process per core: keep numpy's BLAS and the network to one thread each.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def _extract_one(item: tuple) -> Extraction:
    from tessera.finger.pipeline import extract_finger
    from tessera.finger.refusal import FingerRefusal

    path, capture, ppi, digest = item
    start = time.process_time()
    image = read_image(Path(path))
    result = extract_finger(image, capture, ppi=ppi if capture == "contact" else None, extractor_threads=1)
    seconds = time.process_time() - start
    if isinstance(result, FingerRefusal):
        return Extraction(digest, None, result.reason, seconds)
    return Extraction(digest, result.to_bytes(), None, seconds)


def read_image(path: Path) -> np.ndarray:
    """An evaluation image decoded as the service decodes an upload: (rows, cols) uint8 grey when it has no
    colour, (rows, cols, 3) RGB otherwise (:func:`tessera.capture.decode.decode_image`, BMP allowed)."""
    from tessera.capture.decode import DATASET_FORMATS, decode_image

    return decode_image(Path(path).read_bytes(), formats=DATASET_FORMATS, keep_gray=True)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _cached(folder: Path | None, digest: str, capture: str) -> Extraction | None:
    if folder is None:
        return None
    template = folder / f"{digest}.{capture}.fmr"
    if template.is_file():
        return Extraction(digest, template.read_bytes(), None, 0.0)
    refusal = folder / f"{digest}.{capture}.refused"
    if refusal.is_file():
        return Extraction(digest, None, refusal.read_text().strip(), 0.0)
    return None


def _store(folder: Path, extraction: Extraction, capture: str) -> None:
    if extraction.template is not None:
        _write_atomically(folder / f"{extraction.digest}.{capture}.fmr", extraction.template)
    else:
        _write_atomically(folder / f"{extraction.digest}.{capture}.refused", str(extraction.refusal).encode())


def _write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` so that a concurrent reader sees either no file or the whole of it.

    The bytes go to a uniquely named temporary file in the same folder (so the rename cannot cross file
    systems), are flushed to disk, and the file is renamed over ``path`` with :func:`os.replace`, which is
    atomic on POSIX and Windows. Two writers of the same entry both write identical bytes; the last rename wins.
    """
    import tempfile

    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


# -- scores and error rates ---------------------------------------------------------


def score_matrix(extractions: Sequence[Extraction], config=None) -> np.ndarray:
    """MCC scores of every image against every other, (n, n) float64; 0 where either was refused.

    ``config`` is the :class:`~tessera.match.mcc.MccConfig` to compare with (default: the pipeline's,
    ``DEFAULT_FINGER_CONFIG.mcc``, the one the service compares with).
    """
    from tessera.finger.pipeline import DEFAULT_FINGER_CONFIG
    from tessera.finger.template import FingerTemplate
    from tessera.match.mcc import mcc_gallery, mcc_scores, mcc_template

    config = config or DEFAULT_FINGER_CONFIG.mcc
    templates = [
        mcc_template(FingerTemplate.from_bytes(item.template).minutiae, config) if item.template else None
        for item in extractions
    ]
    usable_templates = {number: template for number, template in enumerate(templates) if template is not None}
    usable = list(usable_templates)
    scores = np.zeros((len(templates), len(templates)))
    if not usable:
        return scores
    gallery = mcc_gallery(list(usable_templates.values()), config)
    for number, template in usable_templates.items():
        scores[number, usable] = mcc_scores(template, gallery, config)
    return scores


@dataclass(frozen=True)
class ErrorRates:
    """Error rates of one set of comparisons (fractions, not percent)."""

    eer: float
    fmr100: float
    fmr1000: float | None
    genuine: int
    impostor: int
    eer_ci95: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "eer": round(self.eer, 6),
            "fmr100": round(self.fmr100, 6),
            "fmr1000": None if self.fmr1000 is None else round(self.fmr1000, 6),
            "genuine_comparisons": self.genuine,
            "impostor_comparisons": self.impostor,
            **({"eer_ci95": [round(value, 6) for value in self.eer_ci95]} if self.eer_ci95 else {}),
            **({"notes": self.notes} if self.notes else {}),
        }


def pair_error_rates(
    scores: np.ndarray,
    genuine: Sequence[tuple[int, int]],
    impostor: Sequence[tuple[int, int]],
    fingers: Sequence[str] | None = None,
) -> ErrorRates:
    """EER, FMR100 and FMR1000 of the listed pairs of ``scores``; with ``fingers``, a finger-bootstrap 95 % interval of
    the EER. The rates are those of :mod:`tessera.evaluation.metrics` (:func:`~.metrics.equal_error_rate`,
    :func:`~.metrics.fnmr_at_fmr`), as in every evaluation."""
    genuine_scores = np.array([scores[a, b] for a, b in genuine])
    impostor_scores = np.array([scores[a, b] for a, b in impostor])
    notes = []
    fmr1000 = None
    if len(impostor_scores) >= 1000:
        fmr1000 = fnmr_at_fmr(genuine_scores, impostor_scores, 0.001)
    else:
        notes.append(f"FMR1000 needs at least 1,000 impostor comparisons; there are {len(impostor_scores)}")
    if len(impostor_scores) < 100:
        notes.append(f"with {len(impostor_scores)} impostor comparisons, FMR100 is the FNMR at zero false matches")
    interval = None if fingers is None else _bootstrap_eer(scores, genuine, impostor, fingers)
    return ErrorRates(
        eer=equal_error_rate(genuine_scores, impostor_scores)[0],
        fmr100=fnmr_at_fmr(genuine_scores, impostor_scores, 0.01),
        fmr1000=fmr1000,
        genuine=len(genuine_scores),
        impostor=len(impostor_scores),
        eer_ci95=interval,
        notes=notes,
    )


def _bootstrap_eer(
    scores, genuine, impostor, fingers, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """2.5 and 97.5 percentiles of the EER over finger resamples (a pair counts once per drawn copy of each finger)."""
    names = sorted(set(fingers))
    finger_index = np.array([names.index(finger) for finger in fingers])
    genuine = np.asarray(genuine)
    impostor = np.asarray(impostor)
    genuine_scores = scores[genuine[:, 0], genuine[:, 1]]
    impostor_scores = scores[impostor[:, 0], impostor[:, 1]]
    random = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        copies = np.bincount(random.integers(0, len(names), len(names)), minlength=len(names)).astype(np.float64)
        genuine_weights = copies[finger_index[genuine[:, 0]]]
        impostor_weights = copies[finger_index[impostor[:, 0]]] * copies[finger_index[impostor[:, 1]]]
        if genuine_weights.sum() == 0 or impostor_weights.sum() == 0:
            continue
        values.append(equal_error_rate(genuine_scores, impostor_scores, genuine_weights, impostor_weights)[0])
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


# -- the evaluation -------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseScores:
    """Every comparison score of one database, kept for figures, score fusion and calibration.

    A comparison involving a refused image scores 0 (FVC's rule) and is flagged in the ``*_templated``
    masks, so that a calibration can use the comparisons of templates only.

    Attributes
    ----------
    name : str
    capture : str
        ``"contact"`` or ``"contactless"``: both sides of every comparison are of this kind.
    genuine : numpy.ndarray, shape (g,), float64
        Every pair of impressions of one finger.
    impostor : numpy.ndarray, shape (i,), float64
        Every pair of images of two different fingers.
    impostor_fvc : numpy.ndarray, shape (f,), float64
        The FVC protocol's impostor pairs (empty for a set without one).
    genuine_templated, impostor_templated : numpy.ndarray of bool
        True where both images gave a template.
    """

    name: str
    capture: str
    genuine: np.ndarray
    impostor: np.ndarray
    impostor_fvc: np.ndarray
    genuine_templated: np.ndarray
    impostor_templated: np.ndarray


@dataclass(frozen=True)
class FingerEvaluation:
    """What :func:`run_finger_evaluation` measured.

    Attributes
    ----------
    report : dict
        See :func:`evaluate`.
    scores : dict of str to DatabaseScores
        By database name.
    benchmark_minutiae : list of Minutiae
        The templates of the real-finger databases (all databases when none is evaluated), for
        :func:`matcher_benchmark`.
    """

    report: dict
    scores: dict[str, DatabaseScores]
    benchmark_minutiae: list


def database_scores(database: Database, extractions: Sequence[Extraction]) -> tuple[DatabaseScores, np.ndarray]:
    """The scores of every genuine and cross-finger pair of ``database``, and the full (n, n) score matrix."""
    scores = score_matrix(extractions)
    templated = np.array([item.template is not None for item in extractions], dtype=bool)
    genuine = np.asarray(database.genuine, dtype=np.int64).reshape(-1, 2)
    impostor = np.asarray(every_impostor_pair(database.fingers), dtype=np.int64).reshape(-1, 2)
    fvc = np.asarray(database.impostor_fvc, dtype=np.int64).reshape(-1, 2)
    return (
        DatabaseScores(
            name=database.name,
            capture=database.capture,
            genuine=scores[genuine[:, 0], genuine[:, 1]],
            impostor=scores[impostor[:, 0], impostor[:, 1]],
            impostor_fvc=scores[fvc[:, 0], fvc[:, 1]],
            genuine_templated=templated[genuine[:, 0]] & templated[genuine[:, 1]],
            impostor_templated=templated[impostor[:, 0]] & templated[impostor[:, 1]],
        ),
        scores,
    )


def every_impostor_pair(fingers: Sequence[str]) -> list[tuple[int, int]]:
    """Every pair ``(i, j)``, ``i < j``, of images of different fingers."""
    return [(i, j) for i in range(len(fingers)) for j in range(i + 1, len(fingers)) if fingers[i] != fingers[j]]


def evaluate_database(database: Database, extractions: Sequence[Extraction]) -> dict:
    """Report of one database: error rates under both impostor sets, refusals, extraction time."""
    return _database_report(database, extractions)[0]


def _database_report(database: Database, extractions: Sequence[Extraction]) -> tuple[dict, DatabaseScores]:
    collected, scores = database_scores(database, extractions)
    fingers = database.fingers
    all_pairs = pair_error_rates(scores, database.genuine, every_impostor_pair(fingers), fingers)
    refusals: dict[str, int] = {}
    for item in extractions:
        if item.refusal:
            refusals[item.refusal] = refusals.get(item.refusal, 0) + 1
    counts = [len(_minutiae(item.template)) for item in extractions if item.template]
    seconds = [item.seconds for item in extractions if item.seconds > 0]
    report = {
        "eer": round(all_pairs.eer, 6),
        "images": len(extractions),
        "fingers": len(set(fingers)),
        "capture": database.capture,
        "all_pairs": all_pairs.as_dict(),
        "failures_to_enrol": sum(refusals.values()),
        "refusals": refusals,
        "mean_minutiae": round(float(np.mean(counts)), 1) if counts else 0.0,
        "mean_extraction_cpu_seconds": round(float(np.mean(seconds)), 3) if seconds else None,
    }
    if database.impostor_fvc:
        fvc = pair_error_rates(scores, database.genuine, database.impostor_fvc)
        report["eer_fvc"] = round(fvc.eer, 6)
        report["fvc_protocol"] = fvc.as_dict()
    return report, collected


def _minutiae(template: bytes) -> Minutiae:
    from tessera.finger.template import FingerTemplate

    return FingerTemplate.from_bytes(template).minutiae


def evaluate(
    data: Path | str,
    cache_dir: Path | None = None,
    workers: int | None = None,
    databases: Iterable[str] | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate every database under ``data`` (see the module docstring).

    Returns
    -------
    dict
        ``{"per_db": {"DB1_B": {"eer": ..., ...}, ...}, "mean_eer_real": ...,
        "mean_eer_real_fvc_protocol": ..., "contactless": {"DS1": {...}}, "algorithm", "matcher"}``;
        EERs are fractions (0.015 is 1.5 %).
    """
    return run_finger_evaluation(data, cache_dir, workers, databases, progress).report


def run_evaluation(
    data: Path | str,
    cache_dir: Path | None = None,
    workers: int | None = None,
    databases: Iterable[str] | None = None,
    progress: bool = True,
) -> tuple[dict, list]:
    """:func:`evaluate`, also returning the minutiae of the real-finger databases' templates (for the matcher
    benchmark)."""
    evaluation = run_finger_evaluation(data, cache_dir, workers, databases, progress)
    return evaluation.report, evaluation.benchmark_minutiae


def run_finger_evaluation(
    data: Path | str,
    cache_dir: Path | None = None,
    workers: int | None = None,
    databases: Iterable[str] | None = None,
    progress: bool = True,
) -> FingerEvaluation:
    """Extract (or read from the cache) every template under ``data``, compare them and measure error rates.

    Parameters
    ----------
    data : path
        A database folder (with ``index.csv``), the contactless set, or the folder holding them.
    cache_dir : path, optional
        Template cache (see :func:`default_cache_dir`); None extracts every template and keeps none.
    workers : int, optional
        Extraction processes (default: every core).
    databases : iterable of str, optional
        Only these databases (``DB1_B``, ``CrossMatch``, ``DS1``, ...).
    progress : bool
        Show a progress bar while extracting.
    """
    from tessera.finger.pipeline import ALGORITHM, DEFAULT_FINGER_CONFIG
    from tessera.match.mcc import ALGORITHM as MATCHER

    found = find_databases(data)
    if databases is not None:
        wanted = set(databases)
        found = [database for database in found if database.name in wanted]
    jobs = [(path, database.capture, database.ppi) for database in found for path in database.files]
    extractions = extract_all(jobs, cache_dir, workers or os.cpu_count() or 1, progress)
    report: dict = {"algorithm": ALGORITHM, "matcher": MATCHER, "per_db": {}, "contactless": {}}
    collected: dict[str, DatabaseScores] = {}
    benchmark_names = {database.name for database in found if database.name in REAL_FINGER_DATABASES} or {
        database.name for database in found
    }
    minutiae = []
    start = 0
    for database in found:
        part = extractions[start : start + len(database.files)]
        start += len(database.files)
        section = "contactless" if database.capture == "contactless" else "per_db"
        report[section][database.name], collected[database.name] = _database_report(database, part)
        if database.name in benchmark_names:
            minutiae += [_minutiae(item.template) for item in part if item.template]
    real = [report["per_db"][name] for name in REAL_FINGER_DATABASES if name in report["per_db"]]
    if len(real) == len(REAL_FINGER_DATABASES):
        report["mean_eer_real"] = round(float(np.mean([db["eer"] for db in real])), 6)
        report["mean_eer_real_fvc_protocol"] = round(float(np.mean([db["eer_fvc"] for db in real])), 6)
    report["config"] = DEFAULT_FINGER_CONFIG.as_dict()
    return FingerEvaluation(report=report, scores=collected, benchmark_minutiae=minutiae)


# -- matcher speed ---------------------------------------------------------------------------


def matcher_benchmark(minutiae_sets: Sequence, seconds: float = 3.0, gallery_size: int = 2000) -> dict:
    """Comparisons per second of :mod:`tessera.match.mcc` on pre-extracted minutiae, in a child process on one core.

    The child is started with ``OPENBLAS_NUM_THREADS=1`` (numpy reads it when first imported, so it
    cannot be changed in a running process), so it computes on one core; rates are per second of the
    process's CPU time, which other work on a shared machine does not inflate.

    Returns
    -------
    dict
        ``one_to_one_per_second`` (:func:`~tessera.match.mcc.mcc_score` on random pairs),
        ``one_to_many_per_second`` (:func:`~tessera.match.mcc.mcc_scores` against a gallery of
        ``gallery_size`` templates, the minutiae sets repeated), ``template_ms`` (cylinder building),
        ``mean_cylinders``.
    """
    context = multiprocessing.get_context("spawn")
    previous = {name: os.environ.get(name) for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update(dict.fromkeys(previous, "1"))
    try:
        with context.Pool(1) as pool:
            return pool.apply(_benchmark_in_child, (list(minutiae_sets), seconds, gallery_size))
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _benchmark_in_child(minutiae_sets: list, seconds: float, gallery_size: int) -> dict:
    from tessera.match.mcc import mcc_gallery, mcc_score, mcc_scores, mcc_template

    clock = time.process_time
    start = clock()
    templates = [mcc_template(minutiae) for minutiae in minutiae_sets]
    template_ms = (clock() - start) / len(templates) * 1000
    random = np.random.default_rng(0)
    count, start = 0, clock()
    while clock() - start < seconds:
        a, b = random.integers(0, len(templates), 2)
        mcc_score(templates[a], templates[b])
        count += 1
    one_to_one = count / (clock() - start)
    gallery = mcc_gallery([templates[number % len(templates)] for number in range(gallery_size)])
    count, start = 0, clock()
    while clock() - start < seconds:
        mcc_scores(templates[int(random.integers(0, len(templates)))], gallery)
        count += gallery_size
    one_to_many = count / (clock() - start)
    return {
        "one_to_one_per_second": round(one_to_one, 1),
        "one_to_many_per_second": round(one_to_many, 1),
        "gallery_size": gallery_size,
        "template_ms": round(template_ms, 2),
        "mean_cylinders": round(float(np.mean([len(template) for template in templates])), 1),
        "cpu": _cpu_name(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


# -- phone photos: a figure, and subject 1 against its contact print ------------------------

PHONE_FOLDER = Path("phone_iiitd") / "data" / "raw" / "samples"
PHONE_CONTACT_PRINT = "1_1_1"
"""The one contact print in the phone set (subject 1; which finger is not stated)."""


def phone_report(data: Path | str, out_dir: Path | str, *, figure: bool = True) -> dict | None:
    """Run every ``phone_iiitd`` photo through the pipeline, draw ``phone_iiitd.png`` (not with ``figure=False``: the
    photos are research data and stay out of the repository), and score subject 1's photos against the contact
    print ``1_1_1.jpg`` and against each other.

    Each row of the figure: the photo with the located fingertip outlined, the upright crop, the
    normalised print with its segmentation outlined, and the image given to the extractor with the
    minutiae drawn (red: endings, blue: bifurcations). ``data`` is the folder holding ``phone_iiitd/`` or the
    photo folder itself; returns None when neither holds the photos. Each photo is timed as the service runs it
    (:func:`~tessera.workflows.budget.as_the_service_runs`, the network warmed first): ``seconds`` is wall time,
    ``cpu_seconds`` the CPU time of all threads, ``calling_thread_seconds`` the calling thread's (what a request's
    CPU budget reads); decoding is not counted.
    """
    from tessera.capture.decode import decode_image
    from tessera.finger.minutiae import warm_up_extractor
    from tessera.finger.pipeline import DEFAULT_FINGER_CONFIG, extract_finger
    from tessera.finger.refusal import FingerRefusal
    from tessera.match.mcc import mcc_score, mcc_template
    from tessera.primitives import DictTrace
    from tessera.workflows.budget import as_the_service_runs

    folder = Path(data) / PHONE_FOLDER
    if not folder.is_dir():
        folder = Path(data)  # the photo folder itself
        if not (folder / f"{PHONE_CONTACT_PRINT}.jpg").is_file():
            return None
    warm_up_extractor(DEFAULT_FINGER_CONFIG)  # as the service does when it starts
    rows, templates, outcomes = [], {}, {}
    for path in sorted(folder.glob("*.jpg")):
        name = path.stem
        capture = "contact" if name == PHONE_CONTACT_PRINT else "contactless"
        image = decode_image(path.read_bytes())
        trace = DictTrace()
        with as_the_service_runs():
            start, cpu, own = time.perf_counter(), time.process_time(), time.thread_time()
            result = extract_finger(image, capture, trace=trace, ppi=None)
            seconds, cpu, own = time.perf_counter() - start, time.process_time() - cpu, time.thread_time() - own
        outcomes[name] = {
            "capture": capture,
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "calling_thread_seconds": round(own, 3),
        }
        if not isinstance(result, FingerRefusal):
            templates[name] = mcc_template(result.minutiae)
            outcomes[name].update(
                minutiae=len(result.minutiae), source_ppi=result.quality.source_ppi, quality_score=result.quality.score
            )
        else:
            outcomes[name].update(refusal=result.reason)
        rows.append((name, image, trace.items, result))
    subject_one = sorted(name for name in templates if name.startswith("1_") and name != PHONE_CONTACT_PRINT)
    scores = {}
    if PHONE_CONTACT_PRINT in templates:
        scores["against_contact_print"] = {
            name: round(mcc_score(templates[name], templates[PHONE_CONTACT_PRINT]), 4) for name in subject_one
        }
    scores["subject_1_photo_pairs"] = {
        f"{a} / {b}": round(mcc_score(templates[a], templates[b]), 4)
        for i, a in enumerate(subject_one)
        for b in subject_one[i + 1 :]
    }
    if not figure:
        return {"images": outcomes, "scores": scores}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {"images": outcomes, "scores": scores, "figure": _phone_figure(rows, out_dir / "phone_iiitd.png").name}


def _phone_figure(rows: list, path: Path) -> Path:
    import cv2

    from tessera.evaluation.figures import plt, save_figure

    figure, axes = plt.subplots(len(rows), 4, figsize=(12, 3 * len(rows)), squeeze=False)
    for axis_row, (name, image, items, result) in zip(axes, rows):
        photo = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        location = items.get("finger-located")
        shown = photo.copy()
        if location is not None:
            corners = np.round(location.corners[:, ::-1]).astype(np.int32)  # (row, col) -> (x, y)
            cv2.polylines(shown, [corners], True, (255, 0, 0), max(2, photo.shape[1] // 300))
        panels = [(shown, name), (location.gray if location is not None else None, "fingertip, upright")]
        segmentation = items.get("finger-segmentation")
        normalised = items.get("finger-normalised")
        if normalised is not None and segmentation is not None:
            outlined = cv2.cvtColor(normalised, cv2.COLOR_GRAY2RGB)
            contours, _ = cv2.findContours(
                segmentation.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
            )
            cv2.drawContours(outlined, contours, -1, (0, 200, 0), 2)
            panels.append((outlined, "500 ppi, segmented"))
        else:
            panels.append((None, ""))
        enhanced = items.get("finger-enhanced")
        if enhanced is not None:
            drawn = cv2.cvtColor(enhanced, cv2.COLOR_GRAY2RGB)
            minutiae = items.get("finger-minutiae")
            if minutiae is not None:
                for (row, col), angle, kind in zip(minutiae.points, minutiae.angles, minutiae.kinds):
                    colour = (220, 0, 0) if kind == 1 else (0, 0, 220)
                    centre = (int(round(col)), int(round(row)))
                    tip = (int(round(col + 10 * np.cos(angle))), int(round(row - 10 * np.sin(angle))))
                    cv2.circle(drawn, centre, 4, colour, 1)
                    cv2.line(drawn, centre, tip, colour, 1)
            label = f"{len(minutiae)} minutiae" if result else f"refused: {result.reason}"
            panels.append((drawn, label))
        else:
            panels.append((None, f"refused: {result.reason}" if not result else ""))
        for axis, (picture, title) in zip(axis_row, panels):
            axis.axis("off")
            if picture is not None:
                axis.imshow(picture, cmap="gray")
            axis.set_title(title, fontsize=9)
    return save_figure(figure, path, dpi=80)


def main(argv: Sequence[str] | None = None) -> int:
    from tessera.evaluation.fvc_report import write_finger_report

    parser = argparse.ArgumentParser(prog="python -m tessera.evaluation.fvc", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="a database folder (with index.csv), or the folder holding fvc2004/, fvc2002_db1/, ...",
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="folder to write report.json, report.html and figures into"
    )
    parser.add_argument(
        "--cache", type=Path, default=default_cache_dir(), help="template cache folder (default: %(default)s)"
    )
    parser.add_argument("--no-cache", action="store_true", help="extract every template again and keep none")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="extraction processes (default: %(default)s)"
    )
    parser.add_argument(
        "--db", action="append", help="evaluate only this database (DB1_B, CrossMatch, DS1, ...); repeatable"
    )
    parser.add_argument(
        "--bench-seconds", type=float, default=3.0, help="time spent on each matcher speed measurement; 0 skips it"
    )
    parser.add_argument(
        "--for-docs",
        action="store_true",
        help="write only the copy kept in docs/accuracy/fvc: report.json and each database's figure, no photo",
    )
    arguments = parser.parse_args(argv)
    try:
        write_finger_report(
            arguments.data,
            arguments.out,
            cache_dir=None if arguments.no_cache else arguments.cache,
            workers=arguments.workers,
            databases=arguments.db,
            bench_seconds=arguments.bench_seconds,
            for_docs=arguments.for_docs,
        )
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
