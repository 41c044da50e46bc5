"""Milvus for the tests: a Milvus Lite file, and a real local Milvus server started by the ``milvus`` package.

The server (the ``milvus`` PyPI package: a standalone Milvus 2.3 with its own
embedded etcd and local storage) starts once per test session in a temporary
folder, on free local ports, and stops at the end (``TESSERA_TEST_MILVUS_URI=http://host:port`` uses a
server already running instead: collections get names no earlier session used). The tests of erasure and
consistency need it: Milvus Lite ignores consistency levels, so a stale read
can only be seen on a server. When the server cannot start here, the tests
that need it skip and say why.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

log = logging.getLogger("tessera.tests")

_prefixes = itertools.count()
_SESSION = secrets.token_hex(4)
"""Part of every collection prefix of this test session, so that a reused server's older collections are not met."""


@dataclass
class LocalMilvus:
    """A Milvus deployment the tests may use: its ``uri`` and one client of it."""

    uri: str
    client: Any
    server: Any = None
    data_dir: Path | None = None

    def new_prefix(self) -> str:
        """A collection prefix no other test used: each index a test makes starts empty."""
        return f"test{_SESSION}_{next(_prefixes)}"


def start_local_server(data_dir: Path, **settings: Any) -> tuple[Any, str]:
    """Start the ``milvus`` package's server with its data in ``data_dir``; returns (server, uri).

    ``settings`` are extra Milvus configuration items by dotted name (e.g.
    ``{"dataCoord.gc.interval": 1}``).
    """
    from milvus import MilvusServer, MilvusServerConfig

    config = MilvusServerConfig(data_dir=str(data_dir))
    for name, value in settings.items():
        config.set(name, value)
    server = MilvusServer(config)
    server.start()
    return server, f"http://127.0.0.1:{config.get('proxy_port')}"


@pytest.fixture(scope="session")
def milvus_lite(tmp_path_factory) -> Iterator[LocalMilvus]:
    """Milvus Lite in a temporary file (the embedded engine of ``milvus-lite`` 2.5)."""
    try:
        from pymilvus import MilvusClient
    except ImportError as error:
        pytest.skip(f"pymilvus is not installed ({error}): run `make install`")
    uri = str(tmp_path_factory.mktemp("milvus-lite") / "index.db")
    client = MilvusClient(uri=uri)
    yield LocalMilvus(uri=uri, client=client)
    client.close()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory) -> Iterator[LocalMilvus]:
    """A real Milvus server on this machine, for the session (about 10 s to start)."""
    try:
        from pymilvus import MilvusClient
    except ImportError as error:
        pytest.skip(f"pymilvus is not installed ({error}): run `make install`")
    running = os.environ.get("TESSERA_TEST_MILVUS_URI")
    if running:
        client = MilvusClient(uri=running)
        yield LocalMilvus(uri=running, client=client)
        client.close()
        return
    data_dir = tmp_path_factory.mktemp("milvus-server")
    try:
        server, uri = start_local_server(data_dir, **{"dataCoord.gc.interval": 2, "dataCoord.gc.dropTolerance": 1})
    except Exception as error:  # the package raises RuntimeError, TimeoutError, OSError...
        pytest.skip(f"the local Milvus server (package milvus) could not start: {type(error).__name__}: {error}")
    client = MilvusClient(uri=uri)
    yield LocalMilvus(uri=uri, client=client, server=server, data_dir=data_dir)
    client.close()
    server.stop()


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.slow)])
def milvus_index_setting(request, tmp_path) -> str:
    """The ``index`` setting of a test instance whose face templates live in Milvus, as an operator writes it: once
    a Milvus Lite file of this test's own, once (slow) a fresh collection prefix on the session's local server."""
    if request.param == "lite":
        request.getfixturevalue("milvus_lite")  # skips when pymilvus is missing
        return f"milvus-lite:{tmp_path / 'milvus.db'}"
    server = request.getfixturevalue("milvus_server")
    return f"milvus://{server.uri.removeprefix('http://')}/{server.new_prefix()}"
