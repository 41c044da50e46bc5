"""Opening the store: engine, sessions and schema migrations.

SQLite (the default) runs in WAL mode and takes the write lock at the start
of every transaction (``BEGIN IMMEDIATE``), so that two writers never
deadlock on a lock upgrade and the audit chain is appended one entry at a
time across processes. PostgreSQL serialises audit appends with an advisory
lock instead (:mod:`tessera.governance.audit`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

log = logging.getLogger("tessera")


def create_store_engine(url: str, *, for_writing: bool = True) -> Engine:
    """Create the engine for ``url`` with Tessera's per-backend settings.

    On SQLite, a writing engine begins every transaction with ``BEGIN
    IMMEDIATE``; a reading engine (``for_writing=False``) begins lazily, so
    readers run beside a writer (WAL) instead of queueing behind it.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's
            # implicit transactions would start them too late).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if for_writing else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


def checkpoint(engine: Engine) -> None:
    """Copy SQLite's write-ahead log into the database file and cut the log to zero bytes (no-op elsewhere).

    With ``secure_delete`` on, a deleted row's bytes are overwritten with
    zeros in the page that held it, but earlier copies of that page stay in
    the ``-wal`` file until a checkpoint; an erasure calls this so that the
    erased person's rows are gone from every file of the database when it
    returns. The checkpoint waits (the connection's busy timeout) for readers
    and writers in flight; when one holds it up longer, the log is cut at
    the next erasure or when the last connection closes.
    """
    if engine.dialect.name != "sqlite":
        return
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        busy, _log_frames, _copied = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        cursor.close()
    finally:
        connection.close()
    if busy:
        log.warning("the write-ahead log could not be cut after an erasure: a reader or writer held it up")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def revisions_with_same_indexed_data(revision: str | None) -> frozenset[str]:
    """The schema revisions at which the data an index reads was what it is at ``revision``.

    They are ``revision`` and the revisions before it, down to the newest
    migration that changes indexed data, included. Each migration says
    whether it does in its module's ``CHANGES_INDEXED_DATA`` (true when it
    changes the templates' rows, the subject and consent fields that decide
    who is searchable and until when, the tombstones or the index outbox;
    a migration that does not say counts as changing them). Read from the
    migration scripts, not the database: the index snapshot
    (:mod:`tessera.workflows.snapshot`) keeps a segment written at any of
    these revisions. An empty set for a store with no revision; a revision
    the scripts do not know raises :class:`alembic.util.CommandError`.
    """
    if revision is None:
        return frozenset()
    revisions: set[str] = set()
    for script in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions(base="base", head=revision):
        revisions.add(script.revision)
        if getattr(script.module, "CHANGES_INDEXED_DATA", True):
            break
    return frozenset(revisions)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
