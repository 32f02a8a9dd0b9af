"""The hosts repository: stored hosts and their last known connection state.

Synchronous functions over one session, run by :class:`~virtumancer.db.Database` in threads.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from virtumancer.db import convert
from virtumancer.db._rows import UNSET, set_changed, utcnow
from virtumancer.db.schema import HostRow
from virtumancer.exceptions import ConflictError, NotFoundError
from virtumancer.models.records import HostRecord

__all__ = [
    "delete_host",
    "get_host",
    "host_exists",
    "host_row",
    "insert_host",
    "list_hosts",
    "update_host",
]


def host_row(session: Session, host_id: str) -> HostRow:
    """Return the ORM row of a host (:class:`NotFoundError`)."""
    row = session.get(HostRow, host_id)
    if row is None:
        raise NotFoundError(f"host {host_id!r} not found", host_id=host_id)
    return row


def host_exists(session: Session, host_id: str) -> bool:
    """Return whether a host with this id is stored."""
    return session.get(HostRow, host_id) is not None


def list_hosts(session: Session) -> list[HostRecord]:
    """Return every host, oldest first."""
    rows = session.scalars(select(HostRow).order_by(HostRow.created_at, HostRow.id))
    return [convert.host_record(row) for row in rows]


def get_host(session: Session, host_id: str) -> HostRecord:
    """Return one host (:class:`NotFoundError`)."""
    return convert.host_record(host_row(session, host_id))


def insert_host(
    session: Session, host_id: str, uri: str, *, state: str = "DISCONNECTED"
) -> HostRecord:
    """Store a new host (:class:`ConflictError` if the id exists)."""
    if session.get(HostRow, host_id) is not None:
        raise ConflictError(f"host {host_id!r} already exists", host_id=host_id)
    now = utcnow()
    row = HostRow(
        id=host_id,
        uri=uri,
        state=state,
        auto_reconnect_disabled=False,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return convert.host_record(row)


def update_host(
    session: Session,
    host_id: str,
    *,
    state: str = UNSET,
    last_error: str | None = UNSET,
    auto_reconnect_disabled: bool = UNSET,
) -> tuple[HostRecord, bool]:
    """Change a host's stored state; return the record and whether anything changed."""
    row = host_row(session, host_id)
    values = {
        name: value
        for name, value in (
            ("state", state),
            ("last_error", last_error),
            ("auto_reconnect_disabled", auto_reconnect_disabled),
        )
        if value is not UNSET
    }
    changed = set_changed(row, **values)
    if changed:
        row.updated_at = utcnow()
    return convert.host_record(row), changed


def delete_host(session: Session, host_id: str) -> None:
    """Remove a host and everything known about it (:class:`NotFoundError`)."""
    row = host_row(session, host_id)
    session.delete(row)
    session.flush()
