"""Persistence: the SQLAlchemy schema, repositories and migrations (applied on start)."""

from __future__ import annotations

from virtumancer.db.database import Database, DbSession
from virtumancer.db.engine import create_database_engine, default_database_url, migrate

__all__ = ["Database", "DbSession", "create_database_engine", "default_database_url", "migrate"]
