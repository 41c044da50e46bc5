import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text

from tessera.store.db import (
    MIGRATIONS_DIR,
    create_store_engine,
    migrate,
    revisions_with_same_indexed_data,
    session_factory,
)
from tessera.store.models import ApiKey, Base


def test_migrations_build_the_model_schema_and_are_idempotent(database_url):
    engine = create_store_engine(database_url)
    migrate(engine)
    migrate(engine)  # a second start changes nothing
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    for name, table in Base.metadata.tables.items():
        columns = {column["name"] for column in inspect(engine).get_columns(name)}
        assert columns == {column.name for column in table.columns}, name
    engine.dispose()


def _to(engine, revision: str, *, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_keys_made_before_revision_0006_stay_global_and_0006_downgrades(database_url):
    engine = create_store_engine(database_url)
    _to(engine, "0005")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO api_keys (id, secret_sha256, role, label, created_at) "
                "VALUES ('k1', 'x', 'enroller', 'old', '2026-01-01 00:00:00')"
            )
        )
    migrate(engine)
    with session_factory(engine)() as session:
        assert session.get_one(ApiKey, "k1").galleries == []  # no gallery rows: a global key
    _to(engine, "0005", down=True)
    assert "api_key_galleries" not in inspect(engine).get_table_names()
    engine.dispose()


def test_revision_0007_numbers_every_older_subject_and_downgrades(database_url):
    """Subjects made before 0007 get a valid short number each and stay active; 0007 downgrades cleanly."""
    from tessera.governance.numbers import number_is_valid

    engine = create_store_engine(database_url)
    _to(engine, "0006")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO galleries (id, name, purpose, created_at, created_by, search_purposes, retention_days, "
                "version) VALUES ('g1', 'old', 'p', '2026-01-01 00:00:00', 't', '[\"deduplicate\"]', 1095, 0)"
            )
        )
        for subject in ("s1", "s2", "s3"):
            connection.execute(
                text(
                    "INSERT INTO subjects (id, gallery_id, created_at, created_by, last_interaction_at) "
                    f"VALUES ('{subject}', 'g1', '2026-01-01 00:00:00', 't', '2026-01-01 00:00:00')"
                )
            )
    migrate(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT number, status, external_id FROM subjects")).all()
    assert len({number for number, _, _ in rows}) == 3
    assert all(number_is_valid(number) and status == "active" and external is None for number, status, external in rows)
    _to(engine, "0006", down=True)
    assert "dedup_cases" not in inspect(engine).get_table_names()
    assert "number" not in {column["name"] for column in inspect(engine).get_columns("subjects")}
    engine.dispose()


def test_revision_0010_keeps_older_keys_and_galleries_and_downgrades(database_url):
    """Keys made before 0010 show an unknown creator (''), a key's gallery limits survive the new column, galleries
    do not serve people without biometrics until an admin allows it, and 0010 downgrades to 0006."""
    from tessera.store.models import Gallery

    engine = create_store_engine(database_url)
    _to(engine, "0006")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO galleries (id, name, purpose, created_at, created_by, search_purposes, retention_days, "
                "version) VALUES ('g1', 'Clinic', 'Health', '2026-01-01 00:00:00', 'cli:a', '[\"deduplicate\"]', "
                "1095, 0)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO api_keys (id, secret_sha256, role, label, created_at) "
                "VALUES ('k1', 'x', 'adjudicator', 'old', '2026-01-01 00:00:00')"
            )
        )
        connection.execute(text("INSERT INTO api_key_galleries (api_key_id, gallery_id) VALUES ('k1', 'g1')"))
    migrate(engine)
    with session_factory(engine)() as session:
        key = session.get_one(ApiKey, "k1")
        assert key.created_by == "" and [g.gallery_id for g in key.galleries] == ["g1"]
        assert session.get_one(Gallery, "g1").allow_non_biometric is False
    _to(engine, "0006", down=True)
    tables = set(inspect(engine).get_table_names())
    assert not {"notices", "contests", "contest_decisions", "complaints", "non_biometric_records"} & tables
    assert "created_by" not in {column["name"] for column in inspect(engine).get_columns("api_keys")}
    with engine.connect() as connection:
        assert connection.execute(text("SELECT gallery_id FROM api_key_galleries")).scalars().all() == ["g1"]
    engine.dispose()


def test_every_migration_says_whether_it_changes_what_the_indexes_read():
    """The index snapshot is kept across a migration that says it changes nothing the indexes read: each must say."""
    scripts = list(ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions())
    assert len(scripts) >= 13
    silent = [script.revision for script in scripts if not hasattr(script.module, "CHANGES_INDEXED_DATA")]
    assert silent == [], "add CHANGES_INDEXED_DATA = True or False to these migrations"
    assert all(isinstance(script.module.CHANGES_INDEXED_DATA, bool) for script in scripts)


def test_the_revisions_with_the_same_indexed_data_reach_back_to_the_newest_migration_that_changed_it():
    # 0007 added subjects' status (who is searchable); 0008-0016 change nothing an index reads.
    assert revisions_with_same_indexed_data("0016") == {f"{n:04d}" for n in range(7, 17)}
    assert revisions_with_same_indexed_data("0007") == {"0007"}
    assert revisions_with_same_indexed_data("0006") == {"0004", "0005", "0006"}  # 0004: the index outbox
    assert revisions_with_same_indexed_data(None) == frozenset()
    with pytest.raises(CommandError, match="9999"):
        revisions_with_same_indexed_data("9999")
