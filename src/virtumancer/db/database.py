"""The async face of the database: every session runs in a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from virtumancer._logging import get_logger
from virtumancer.db.engine import create_database_engine, make_sessionmaker, migrate

__all__ = ["Database", "DbSession"]

#: The session a function given to :meth:`Database.run` receives. Services compose repository
#: calls into one transaction with it and never touch SQLAlchemy themselves.
DbSession = Session

logger = get_logger(__name__)

T = TypeVar("T")

_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE")


class Database:
    """An engine, its session factory and a limiter for the worker threads that use them.

    :meth:`run` and :meth:`read` call a synchronous function with a fresh session in a worker
    thread (never on the event loop). :meth:`run` commits when the function returns and rolls
    back if it raises, so each call is one transaction. ``rows_written`` counts the rows
    every ``INSERT``/``UPDATE``/``DELETE`` touched, for tests and benchmarks.
    """

    def __init__(self, url: str | None = None, *, max_threads: int = 4) -> None:
        self.engine: Engine = create_database_engine(url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        # SQLite allows one writer; more threads than that only queue on its lock.
        threads = 1 if self.engine.dialect.name == "sqlite" else max_threads
        self.limiter = anyio.CapacityLimiter(threads)
        self.rows_written = 0
        event.listen(self.engine, "after_cursor_execute", self._count_writes)

    def __repr__(self) -> str:
        return f"<Database {self.engine.url.render_as_string(hide_password=True)}>"

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def _count_writes(
        self,
        _conn: Any,
        cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        if statement.lstrip()[:6].upper() in _WRITE_VERBS:
            self.rows_written += max(cursor.rowcount, 0)

    def migrate_sync(self) -> None:
        """Apply the migrations (blocking)."""
        migrate(self.engine)

    async def migrate(self) -> None:
        """Apply the migrations in a worker thread."""
        await anyio.to_thread.run_sync(self.migrate_sync, limiter=self.limiter)

    def run_sync(self, fn: Callable[[Session], T]) -> T:
        """Call ``fn(session)`` in one transaction in this thread (blocking)."""
        with self.sessions() as session, session.begin():
            return fn(session)

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """Call ``fn(session, *args)`` in one transaction in a worker thread."""
        return await anyio.to_thread.run_sync(
            self.run_sync, lambda session: fn(session, *args), limiter=self.limiter
        )

    async def run_merging(self, fn: Callable[..., T], /, *args: Any) -> T:
        """Like :meth:`run`, but run ``fn`` once more when a unique row it inserts was
        inserted meanwhile by another writer (in fleet mode a replica acting on a host and
        the host's owner both write what they read); the retry sees the row and updates it.
        """
        try:
            return await self.run(fn, *args)
        except IntegrityError:
            logger.debug("a concurrent writer inserted the same row first: retrying once")
            return await self.run(fn, *args)

    async def ping(self) -> None:
        """Run ``SELECT 1``; raise what the driver raises if the database does not answer.

        For readiness probes: it does not wait for the request threads' limiter (a busy
        server is still ready), and a caller that gives up (a timeout) stops waiting while
        the thread finishes on its own (PostgreSQL's connect timeout bounds it).
        """

        def ping_sync() -> None:
            with self.engine.connect() as connection:
                connection.execute(select(1))

        await anyio.to_thread.run_sync(ping_sync, abandon_on_cancel=True)

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await anyio.to_thread.run_sync(self.engine.dispose, limiter=self.limiter)
