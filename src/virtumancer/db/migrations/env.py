"""Alembic environment: runs on the connection handed in by :func:`virtumancer.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from virtumancer.db.engine import create_database_engine
from virtumancer.db.schema import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # command-line use: ``alembic -x url=... upgrade head`` with a generated config
    url = context.get_x_argument(as_dictionary=True).get("url")
    engine = create_database_engine(url)
    with engine.begin() as new_connection:
        _run(new_connection)
