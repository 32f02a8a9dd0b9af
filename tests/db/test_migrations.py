"""The shipped migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from virtumancer.db import Database
from virtumancer.db.schema import Base


def test_migrated_schema_matches_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() is not None


def test_migrating_twice_is_harmless(database: Database) -> None:
    database.migrate_sync()
    tables = set(inspect(database.engine).get_table_names())
    assert {"hosts", "vms", "discovered_vms", "activity_events", "settings"} <= tables
