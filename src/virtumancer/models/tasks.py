"""Long operations (a full-copy clone ...) run as tasks: their state, progress and outcome."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs

__all__ = ["Task", "TaskState"]


class TaskState(enum.StrEnum):
    """Where a task is: waiting, working, or finished one of three ways."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether the task is over (succeeded, failed or cancelled)."""
        return self in (TaskState.SUCCEEDED, TaskState.FAILED, TaskState.CANCELLED)


@attrs.frozen(kw_only=True)
class Task:
    """A snapshot of one task. ``done``/``total`` are bytes (``total`` 0: not known yet).

    ``result`` is what the operation returned (a clone: the new VM's record) once it
    succeeded; ``error_code``/``error`` say why it failed (the error's code, as in the API's
    error bodies, and its message).
    """

    id: str
    kind: str
    state: TaskState
    host_id: str | None = None
    vm_name: str | None = None
    done: int = 0
    total: int = 0
    result: Any = None
    error_code: str | None = None
    error: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def finished(self) -> bool:
        """Whether the task is over (in JSON too, so a client need not know the states)."""
        return self.state.finished
