"""Alembic environment: migrations run on the connection Tessera hands over."""

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.exc import ArgumentError

from tessera.store.models import Base

target_metadata = Base.metadata
config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        # Plain `alembic` command line: a URL from alembic.ini / -x url=...
        url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
        if url is None:
            # The same exception create_engine(None) raises, with a message that says where a URL comes from.
            raise ArgumentError("no database URL: pass -x url=... or set sqlalchemy.url in alembic.ini; got neither")
        with create_engine(url).begin() as own_connection:
            context.configure(connection=own_connection, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
