"""Shared fixtures: where the evaluation data lives, and skipping cleanly without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
# The commands' rich consoles read COLUMNS once, when they are made; a test worker has no terminal and they would
# draw 80 columns, wrapping paths and cutting table cells that the CLI tests read. Set before tessera is imported.
os.environ.setdefault("COLUMNS", "200")

# The in-process service fixtures (instance, client, keys for every role, the Api helper) and the fingerprint ones.
pytest_plugins = ["tests.service_fixtures", "tests.finger_fixtures", "tests.milvus_fixtures"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TESSERA_SHARED_DATA", REPO.parent / "shared" / "data"))


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} not found at {path}: set TESSERA_SHARED_DATA or place ../shared/data beside the repo")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _require(SHARED_DATA, "shared evaluation data")


@pytest.fixture(scope="session")
def lfw_dir() -> Path:
    return _require(SHARED_DATA / "face" / "lfw", "LFW (face/lfw)")


@pytest.fixture(scope="session")
def lfw_image(lfw_dir):
    """Return the bytes of LFW image ``name`` number ``index`` (1-based, as in pairs.txt)."""

    def load(name: str, index: int = 1) -> bytes:
        path = lfw_dir / "images" / name / f"{name}_{index:04d}.jpg"
        return _require(path, f"LFW image {path.name}").read_bytes()

    return load


POSTGRES_URL = os.environ.get("TESSERA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        plain = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, connect_timeout=3):
            return None
    except Exception as error:  # any failure means: not here
        return f"PostgreSQL at {POSTGRES_URL} is not reachable ({type(error).__name__})"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    reason = _postgres_reachable()
    if reason:
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the local PostgreSQL server, dropped afterwards."""
    import uuid

    import psycopg

    plain = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    name = f"tessera_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Each store test runs on SQLite, and on PostgreSQL when it is reachable."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tessera.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def lfw_person(lfw_dir):
    """Return the bytes of the first ``count`` LFW photos of ``name`` (sorted by file name)."""

    def load(name: str, count: int = 2) -> list[bytes]:
        paths = sorted((lfw_dir / "images" / name).glob("*.jpg"))[:count]
        if len(paths) < count:
            pytest.skip(f"LFW has fewer than {count} photos of {name} here")
        return [path.read_bytes() for path in paths]

    return load


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A SQLite store migrated to the newest revision once per test session (a template to copy)."""
    from tessera.store.db import create_store_engine, migrate

    path = tmp_path_factory.mktemp("migrated") / "tessera.db"
    engine = create_store_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # the last connection's close checkpoints the WAL into the file
    return path


@pytest.fixture(autouse=True)
def start_from_a_migrated_store(migrated_sqlite, monkeypatch):
    """Instances opened on a new SQLite file start from a copy of :func:`migrated_sqlite`.

    Running every migration takes ~0.3 s per new store, and most tests open
    one or more; the copy is at the newest revision, so the instance's own
    migration step still runs (and finds nothing to do). The migrations
    themselves are tested on fresh stores by tests/store/test_migrations.py,
    which calls :func:`tessera.store.db.migrate` directly.
    """
    import shutil

    from tessera.workflows import instance

    migrate = instance.migrate

    def from_template(engine):
        database = engine.url.database
        if engine.url.get_backend_name() == "sqlite" and database and not Path(database).exists():
            shutil.copyfile(migrated_sqlite, database)
        migrate(engine)

    monkeypatch.setattr(instance, "migrate", from_template)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """With ``--dist loadfile`` (``make test``), every test file whose name holds ``milvus`` runs in one worker,
    so that one local Milvus server starts for the session, not one per worker (each takes ~10 s and ~1 GB
    to start, and two starting at once could race for the same free ports)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class OneMilvusWorker(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "milvus" if "milvus" in scope.rpartition("/")[2] else scope

    return OneMilvusWorker(config, log)
