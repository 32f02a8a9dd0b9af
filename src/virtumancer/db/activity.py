"""The activity feed repository: entries with timestamps that never go backwards.

Synchronous functions over one session, run by :class:`~virtumancer.db.Database` in threads.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from virtumancer.db import convert
from virtumancer.db._rows import UNSET, core_table, utcnow
from virtumancer.db.schema import ActivityRow
from virtumancer.exceptions import InvalidInputError
from virtumancer.models.records import ActivityEvent
from virtumancer.models.tokens import current_actor

__all__ = ["add_activity", "insert_activity", "recent_activity"]


class _ActivityClock:
    """Hands out activity timestamps that never go backwards in this process.

    An entry may carry the time its event happened, which can be older than an entry already
    written (a host event is handled after a write it raced with), and two entries can share
    a clock tick. The feed is newest first by timestamp, so each entry gets at least the
    previous entry's time plus a microsecond. The lock is held across the INSERT too, so ids
    (given out by the database at INSERT) follow the same order as timestamps even when
    several PostgreSQL sessions write at once.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._last = dt.datetime.min

    def next(self, wanted: dt.datetime) -> dt.datetime:
        """Return ``wanted`` or, if it is not after the last one, the last plus 1 µs."""
        self._last = max(wanted, self._last + _TICK)
        return self._last


_TICK = dt.timedelta(microseconds=1)


_ACTIVITY_CLOCK = _ActivityClock()


def insert_activity(session: Session, entries: Sequence[dict[str, Any]]) -> None:
    """Insert feed entries (``timestamp`` is when each happened; ``None`` means now)."""
    # Pending changes go out before the lock is taken: only this INSERT runs under it.
    session.flush()
    with _ACTIVITY_CLOCK.lock:
        rows = [
            {**entry, "timestamp": _ACTIVITY_CLOCK.next(entry["timestamp"] or utcnow())}
            for entry in entries
        ]
        session.execute(insert(core_table(ActivityRow)), rows)


def add_activity(
    session: Session,
    type: str,
    message: str,
    *,
    host_id: str | None = None,
    vm_name: str | None = None,
    timestamp: dt.datetime | None = None,
    actor: str | None = UNSET,
) -> None:
    """Append an entry to the activity feed (``timestamp`` defaults to now).

    ``actor`` defaults to :data:`~virtumancer.models.tokens.current_actor` (who the running
    request acts for).
    """
    insert_activity(
        session,
        [
            {
                "timestamp": convert.naive_utc(timestamp) if timestamp is not None else None,
                "type": type,
                "message": message,
                "host_id": host_id,
                "vm_name": vm_name,
                "actor": current_actor.get() if actor is UNSET else actor,
            }
        ],
    )


def recent_activity(session: Session, limit: int = 10) -> list[ActivityEvent]:
    """Return the newest ``limit`` activity entries, newest first (by timestamp, then id)."""
    if limit < 1:
        raise InvalidInputError("limit must be a positive integer", field="limit")
    rows = session.scalars(
        select(ActivityRow)
        .order_by(ActivityRow.timestamp.desc(), ActivityRow.id.desc())
        .limit(limit)
    )
    return [convert.activity_record(row) for row in rows]
