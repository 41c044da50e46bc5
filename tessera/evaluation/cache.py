"""An on-disk cache of face-pipeline outcomes, so that re-running an evaluation is fast.

An entry is keyed by two digests:

``pipeline``
    :func:`pipeline_fingerprint`: the template algorithm id, every
    :class:`~tessera.face.config.FaceConfig` value, the dlib version, the
    SHA-256 of each model file and of the source of ``tessera/face`` and
    ``tessera/capture``. Any change that could change an embedding or a
    refusal changes it, and the old entries are simply not found.
``file``
    The SHA-256 of the image file's bytes (not its name or date), so a
    renamed or copied file is a hit and an edited one a miss.

The cache is one SQLite file; only the process running the evaluation writes
to it (workers return results, the parent stores them).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

CACHE_FILE = "templates.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS outcome (
    pipeline TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    embedding BLOB,
    algorithm TEXT,
    refusal TEXT,
    detail TEXT,
    cpu_seconds REAL NOT NULL,
    PRIMARY KEY (pipeline, file_sha256)
)
"""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/tessera/eval`` (``~/.cache/tessera/eval`` by default)."""
    import os

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tessera" / "eval"


def file_digest(path: Path | str) -> str:
    """SHA-256 of a file's bytes, hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def pipeline_fingerprint(config) -> dict:
    """Everything that decides what the face pipeline makes of an image, as JSON-ready values.

    Parameters
    ----------
    config : FaceConfig
        The configuration the images are templated with.

    Returns
    -------
    dict
        ``algorithm``, ``face_config``, ``dlib``, ``models`` (file name to
        SHA-256), ``source`` (SHA-256 over the pipeline's Python files) and
        ``key``, the SHA-256 of all of them: the cache's ``pipeline`` key.
    """
    import dlib

    from tessera.face.embed import algorithm_id

    fingerprint = {
        "algorithm": algorithm_id(config.embedder, config.flip_augment),
        "face_config": config.as_dict(),
        "dlib": dlib.__version__,
        "models": _model_digests(),
        "source": _source_digest(),
    }
    fingerprint["key"] = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
    return fingerprint


def algorithm_fingerprint(algorithm_id: str, config=None) -> dict:
    """:func:`pipeline_fingerprint` for a registered face algorithm (:mod:`tessera.face.algorithms`).

    dlib's algorithm gets exactly :func:`pipeline_fingerprint` of its
    registered config, so its cached templates are found whichever way it is
    asked for; any other algorithm gets its own key, made of its id, its
    config, the versions of OpenCV and onnxruntime, the published SHA-256 of
    its model files (checked when they load) and the source digest.

    Parameters
    ----------
    algorithm_id : str
        A registered face algorithm id.
    config : FaceConfig or SFaceConfig, optional
        A config under study in place of the registered one
        (:meth:`~tessera.face.algorithms.FaceAlgorithm.configured`): its
        values are part of the key, so its outcomes are cached apart.

    Returns
    -------
    dict
        As :func:`pipeline_fingerprint`: ``algorithm``, ``face_config``,
        the runtime versions, ``models``, ``source`` and ``key``.

    Raises
    ------
    ValueError
        ``algorithm_id`` is not registered (the message names those that are), or ``config`` is not of its
        config's type.
    """
    from tessera.face.algorithms import DLIB_RESNET, face_algorithm

    spec = face_algorithm(algorithm_id)
    if config is not None:
        spec = spec.configured(config)
    if spec.id == DLIB_RESNET.id:
        return pipeline_fingerprint(spec.config)
    import cv2
    import onnxruntime

    from tessera.face import sface_models

    fingerprint = {
        "algorithm": spec.id,
        "face_config": spec.config.as_dict(),
        "opencv": cv2.__version__,
        "onnxruntime": onnxruntime.__version__,
        "models": dict(sorted(sface_models.EXPECTED_SHA256.items())),
        "source": _source_digest(),
    }
    fingerprint["key"] = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
    return fingerprint


def _model_digests() -> dict[str, str]:
    """The dlib files' SHA-256, as checked when they are loaded (:data:`tessera.face.models.EXPECTED_SHA256`)."""
    from tessera.face import models

    return dict(models.EXPECTED_SHA256)


def _source_digest() -> str:
    import tessera

    package = Path(tessera.__file__).resolve().parent
    digest = hashlib.sha256()
    for folder in ("face", "capture"):
        for path in sorted((package / folder).glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class TemplateCache:
    """Pipeline outcomes stored by (pipeline key, file digest).

    Parameters
    ----------
    folder : path
        Where ``templates.sqlite`` lives (created if needed).
    pipeline : str
        The ``key`` of :func:`pipeline_fingerprint` for the configuration in use.
    """

    def __init__(self, folder: Path | str, pipeline: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pipeline = pipeline
        self._connection = sqlite3.connect(self.folder / CACHE_FILE)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(SCHEMA)

    def get_many(self, digests: Iterable[str]):
        """The cached outcomes among ``digests``, as {digest: TemplateOutcome}."""
        from tessera.evaluation.templating import TemplateOutcome

        wanted = list(dict.fromkeys(digests))
        found = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self._connection.execute(
                "SELECT file_sha256, embedding, algorithm, refusal, detail, cpu_seconds FROM outcome "
                f"WHERE pipeline = ? AND file_sha256 IN ({','.join('?' * len(chunk))})",
                [self.pipeline, *chunk],
            )
            for digest, blob, algorithm, refusal, detail, cpu_seconds in rows:
                embedding = None if blob is None else np.frombuffer(blob, dtype=np.float32).copy()
                found[digest] = TemplateOutcome(
                    embedding=embedding,
                    algorithm=algorithm,
                    refusal=refusal,
                    detail=None if detail is None else json.loads(detail),
                    cpu_seconds=cpu_seconds,
                )
        return found

    def put_many(self, outcomes: Mapping) -> None:
        """Store {digest: TemplateOutcome}, replacing any entry with the same keys."""
        rows = [
            (
                self.pipeline,
                digest,
                None if outcome.embedding is None else np.asarray(outcome.embedding, dtype=np.float32).tobytes(),
                outcome.algorithm,
                outcome.refusal,
                None if outcome.detail is None else json.dumps(outcome.detail),
                float(outcome.cpu_seconds),
            )
            for digest, outcome in outcomes.items()
        ]
        with self._connection:
            self._connection.executemany("INSERT OR REPLACE INTO outcome VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def __len__(self) -> int:
        return self._connection.execute("SELECT COUNT(*) FROM outcome WHERE pipeline = ?", [self.pipeline]).fetchone()[
            0
        ]

    def close(self) -> None:
        self._connection.close()
