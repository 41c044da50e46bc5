from sqlalchemy import inspect

from tessera.store.db import create_store_engine, migrate
from tessera.store.models import Base


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
