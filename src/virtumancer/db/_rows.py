"""Helpers the repository modules share: compare-before-write and row syncing.

Synchronous functions over one session, run by :class:`~virtumancer.db.Database` in threads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from virtumancer.db.schema import Base

__all__ = ["UNSET", "core_table", "set_changed", "sync_rows", "utcnow"]


#: The default of keyword arguments whose ``None`` is a value to store ("not given").
UNSET: Any = object()


def core_table(row: type[Base]) -> Table:
    """Return the Core table of a row class (bulk statements skip the ORM's bookkeeping)."""
    return cast(Table, row.__table__)


def utcnow() -> dt.datetime:
    """Return now in UTC, naive (how the schema stores times)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def set_changed(row: object, **values: object) -> bool:
    """Assign only the attributes that differ; return whether anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


_Row = TypeVar("_Row", bound=Base)


def sync_rows(
    session: Session,
    existing: dict[str, _Row],
    wanted: Mapping[str, dict[str, object]],
    new_row: Callable[[str, dict[str, object]], _Row],
) -> tuple[dict[str, _Row], bool]:
    """Make ``existing`` rows (by key) hold ``wanted``: update, add the new, delete the rest.

    Return the rows now wanted, by key, and whether anything changed.
    """
    changed = False
    rows: dict[str, _Row] = {}
    for key, values in wanted.items():
        row = existing.pop(key, None)
        if row is None:
            row = new_row(key, values)
            session.add(row)
            changed = True
        else:
            changed |= set_changed(row, **values)
        rows[key] = row
    for row in existing.values():
        session.delete(row)
        changed = True
    return rows, changed
