"""Engines, sessions and migrations: SQLite by default, PostgreSQL with the same code."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from virtumancer._logging import get_logger

__all__ = ["create_database_engine", "default_database_url", "make_sessionmaker", "migrate"]

logger = get_logger(__name__)

#: How long SQLite waits for another writer before failing, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Seconds PostgreSQL connects may take before failing.
POSTGRES_CONNECT_TIMEOUT_S = 10
#: How long one PostgreSQL statement may run before the server cancels it, in milliseconds.
POSTGRES_STATEMENT_TIMEOUT_MS = 30_000


def default_database_url() -> str:
    """Return the default database: a SQLite file under the user data directory."""
    directory = Path(platformdirs.user_data_dir("virtumancer"))
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'virtumancer.db'}"


def _create_private_file(path: Path) -> None:
    # Host URIs may carry credentials: a new database file (and the -wal/-shm files SQLite
    # creates with the same mode) is the owner's only, and so is a directory made for it.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # The driver's own transaction handling is switched off (isolation_level=None) and
    # SQLAlchemy's "begin" event emits BEGIN, so that transactions really are atomic.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout instead
    # of failing with "database is locked" when a read transaction tries to upgrade.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_database_engine(url: str | None = None) -> Engine:
    """Create an engine for ``url`` (default: :func:`default_database_url`).

    SQLite gets WAL, foreign keys, a busy timeout and real transactions; PostgreSQL gets a
    connect timeout and a statement timeout, and URLs without a driver use psycopg 3.
    """
    # The server reads VIRTUMANCER_DATABASE_URL (its ServerConfig); the library reads no env.
    url = url or default_database_url()
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _create_private_file(Path(database))
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False}, pool_pre_ping=False
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        # A dead or stuck server must not hang a request (or startup) forever.
        # Values given in the URL's query win.
        defaults = {
            "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S,
            "options": f"-c statement_timeout={POSTGRES_STATEMENT_TIMEOUT_MS}",
        }
        connect_args = {k: v for k, v in defaults.items() if k not in parsed.query}
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory the repositories use."""
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with the migrations shipped inside the package.

    Blocking: call it from a worker thread.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "virtumancer.db:migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    logger.debug("database schema at %s", revision)
