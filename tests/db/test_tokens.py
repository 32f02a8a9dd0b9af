"""API tokens in the database (SQLite and PostgreSQL) and the migration that adds them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from virtumancer import ConflictError, InvalidInputError, NotFoundError, Role, acting_as
from virtumancer.db import Database, migrate
from virtumancer.db import activity as db_activity
from virtumancer.services.tokens import TokenService

pytestmark = pytest.mark.anyio


async def test_create_authenticate_revoke(database: Database) -> None:
    tokens = TokenService(database)
    with acting_as("cli"):
        created = await tokens.create("ops", "operator", expires_at="2999-01-01T00:00:00+02:00")
    assert created.expires_at == dt.datetime(2998, 12, 31, 22, tzinfo=dt.UTC)
    stored = database.run_sync(lambda s: s.execute(text("SELECT token_hash FROM api_tokens")).all())
    assert created.secret not in str(stored)  # only the hash is stored

    found = await tokens.authenticate(created.secret)
    assert found is not None
    assert found.role is Role.OPERATOR
    assert found.name == "ops"
    assert found.last_used_at is not None
    lookups = tokens.lookups
    assert await tokens.authenticate(created.secret) == found
    assert tokens.lookups == lookups  # the second request is served from the cache
    assert await tokens.authenticate("vmt_unknown") is None
    assert await tokens.authenticate("not-ours") is None

    with pytest.raises(ConflictError):
        await tokens.create("ops", Role.VIEWER)
    with pytest.raises(InvalidInputError) as bad:
        await tokens.create("x", "superuser")
    assert bad.value.field == "role"

    revoked = await tokens.revoke("ops")
    assert revoked.revoked_at is not None
    assert await tokens.authenticate(created.secret) is None
    assert await tokens.authenticate_id(created.id) is None
    with pytest.raises(NotFoundError):
        await tokens.revoke("nobody")
    activity = database.run_sync(lambda s: db_activity.recent_activity(s, 5))
    assert [(a.type, a.actor) for a in activity] == [
        ("token_revoked", None),
        ("token_created", "cli"),
    ]


def test_upgrade_from_0001_keeps_activity(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(database.engine, "0001")
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO activity_events (timestamp, type, message) "
                "VALUES ('2026-01-01 00:00:00', 'host_added', 'Host old added')"
            )
        )
    assert "api_tokens" not in inspect(database.engine).get_table_names()
    database.migrate_sync()
    assert "api_tokens" in inspect(database.engine).get_table_names()
    (entry,) = database.run_sync(lambda s: db_activity.recent_activity(s, 10))
    assert entry.message == "Host old added"
    assert entry.actor is None
    database.engine.dispose()
