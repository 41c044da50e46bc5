"""Find a model file inside the pinned package that carries it, and check it is the published one.

Every network Tessera runs comes inside a package from the registries, pinned in ``requirements.lock`` (or the
Makefile); nothing is downloaded at run time. Each file's SHA-256 is checked before the file is loaded, so a
different or damaged copy is refused with a message that says how to reinstall it, rather than silently producing
other templates. The hashes and licences are listed in ``THIRD_PARTY.md``.

- :func:`packaged_file`: where a file of an installed package is (located with :mod:`importlib.util`; the package's
  own code is never imported).
- :func:`checked_model_bytes`: the file's bytes once their hash is right (for loaders that take bytes: ONNX Runtime);
  what is loaded is exactly what was hashed.
- :func:`checked_model_path`: the file's path once its hash is right (for loaders that take only a path: dlib).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

READ_CHUNK = 1 << 20
"""Bytes read at a time when a file is hashed but not kept."""


def packaged_file(package: str, relative: str, provides: str, install: str) -> Path:
    """Return the path of ``relative`` inside the installed Python ``package`` (model weights ship in packages).

    Parameters
    ----------
    package : str
        Import name of the package (``face_recognition_models``).
    relative : str
        Path of the file inside the package's folder (``models/<file>``).
    provides : str
        What the package is for, in words, for the error message.
    install : str
        The command that installs it, for the error message.

    Raises
    ------
    FileNotFoundError
        The package is not installed or does not hold the file: a broken
        environment, not a bad capture.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the Python package {package!r} is not installed; it {provides} (install it with `{install}`, "
            "or run `make install`)"
        )
    path = Path(spec.submodule_search_locations[0]) / relative
    if not path.is_file():
        raise FileNotFoundError(f"model file {Path(relative).name!r} not found at {path}; reinstall with `{install}`")
    return path


def checked_model_bytes(path: Path, expected_sha256: str, reinstall: str) -> bytes:
    """Return the contents of ``path`` once their SHA-256 is ``expected_sha256``.

    The file is read once: the bytes returned are the bytes hashed.

    Raises
    ------
    ValueError
        The file's hash differs: the message names the file, the expected and the found hash, and ``reinstall``
        (the command that puts the published file back).
    """
    data = path.read_bytes()
    _require_hash(path, hashlib.sha256(data).hexdigest(), expected_sha256, reinstall)
    return data


def checked_model_path(path: Path, expected_sha256: str, reinstall: str) -> Path:
    """Return ``path`` once the SHA-256 of its contents is ``expected_sha256`` (``ValueError`` as
    :func:`checked_model_bytes`), for a loader that reads the file itself."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(READ_CHUNK):
            digest.update(chunk)
    _require_hash(path, digest.hexdigest(), expected_sha256, reinstall)
    return path


def _require_hash(path: Path, found: str, expected: str, reinstall: str) -> None:
    if found != expected:
        raise ValueError(
            f"model file {path} is not the published one: SHA-256 expected {expected}, found {found}; "
            f"reinstall with `{reinstall}`"
        )
