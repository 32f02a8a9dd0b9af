"""A registry of long operations run in the background, with progress and cancellation.

A task is an async function given a :class:`TaskProgress`. Its worker thread reports bytes
done through :meth:`TaskProgress.update` (thread-safe; the registry publishes every 5 % or
0.25 s) and, by calling it, learns of a cancellation: ``update`` raises
:class:`~virtumancer.exceptions.OperationCancelledError`, and the operation removes what it
made. Every change of a task is published as a
:class:`~virtumancer.models.notifications.TaskUpdated`. Finished tasks are kept (the newest
:data:`KEEP_FINISHED`) so their outcome can be read after the fact.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
import anyio.abc
import attrs

from virtumancer._logging import get_logger
from virtumancer.exceptions import ConflictError, NotFoundError, OperationCancelledError
from virtumancer.models.notifications import TaskUpdated
from virtumancer.models.tasks import Task, TaskState
from virtumancer.services.notifications import NotificationHub

__all__ = ["KEEP_FINISHED", "TaskProgress", "TaskRegistry"]

_log = get_logger(__name__)

#: Finished tasks kept for reading; older ones are forgotten.
KEEP_FINISHED: Final = 1000
_MIN_INTERVAL_S: Final = 0.25
_MIN_PERCENT: Final = 5


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TaskProgress:
    """A task's progress reporter and cancellation flag, safe to use from a worker thread."""

    def __init__(self, publish: Callable[[int, int], None]) -> None:
        self._publish = publish
        self._cancelled = threading.Event()
        self._last_time = 0.0
        self._last_percent = -1
        #: Checked by :meth:`update` besides cancellation (a lost host ...); raise to stop.
        self.checks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        """Whether the task was asked to stop."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Ask the task to stop at its next :meth:`update`."""
        self._cancelled.set()

    def update(self, done: int, total: int) -> None:
        """Report ``done`` of ``total`` bytes; raise if the task must stop (cancelled ...)."""
        if self._cancelled.is_set():
            raise OperationCancelledError("the task was cancelled")
        for check in self.checks:
            check()
        percent = done * 100 // total if total else 0
        now = time.monotonic()
        # Bounded: a fast copy reports every chunk, subscribers see a few updates a second.
        if (
            done < total
            and percent < self._last_percent + _MIN_PERCENT
            and now - self._last_time < _MIN_INTERVAL_S
        ):
            return
        self._last_percent, self._last_time = percent, now
        self._publish(done, total)


class TaskRegistry:
    """Run operations as tasks in a task group its owner provides; read and cancel them."""

    def __init__(self, hub: NotificationHub) -> None:
        self.hub = hub
        #: Set by the owner (``Virtumancer``) before the first :meth:`submit`.
        self.task_group: anyio.abc.TaskGroup | None = None
        self._tasks: dict[str, Task] = {}
        self._progress: dict[str, TaskProgress] = {}
        # Fleet mode: the newest state of tasks other replicas run (read-only here).
        self._remote: dict[str, Task] = {}

    def __repr__(self) -> str:
        running = sum(not task.state.finished for task in self._tasks.values())
        return f"<TaskRegistry {running} running, {len(self._tasks) - running} finished>"

    def _set(self, task: Task) -> Task:
        self._tasks[task.id] = task
        self.hub.publish(TaskUpdated(task_id=task.id))
        return task

    def _evolve(self, task_id: str, **changes: Any) -> Task:
        return self._set(attrs.evolve(self._tasks[task_id], updated_at=_now(), **changes))

    def submit(
        self,
        kind: str,
        work: Callable[[TaskProgress], Awaitable[Any]],
        *,
        host_id: str | None = None,
        vm_name: str | None = None,
    ) -> Task:
        """Start ``work(progress)`` in the background; return the task (queued)."""
        if self.task_group is None:
            raise ConflictError("tasks run only while Virtumancer is open")
        now = _now()
        task = self._set(
            Task(
                id=secrets.token_hex(8),
                kind=kind,
                state=TaskState.QUEUED,
                host_id=host_id,
                vm_name=vm_name,
                created_at=now,
                updated_at=now,
            )
        )
        loop = asyncio.get_running_loop()

        def publish(done: int, total: int) -> None:
            loop.call_soon_threadsafe(self._progressed, task.id, done, total)

        progress = TaskProgress(publish)
        self._progress[task.id] = progress
        self.task_group.start_soon(self._run, task.id, work, progress)
        self._forget_old()
        return task

    def _progressed(self, task_id: str, done: int, total: int) -> None:
        if not self._tasks[task_id].state.finished:
            self._evolve(task_id, done=done, total=total)

    async def _run(
        self, task_id: str, work: Callable[[TaskProgress], Awaitable[Any]], progress: TaskProgress
    ) -> None:
        if progress.cancelled:
            self._evolve(task_id, state=TaskState.CANCELLED)
            return
        self._evolve(task_id, state=TaskState.RUNNING)
        try:
            result = await work(progress)
        except OperationCancelledError:
            self._evolve(task_id, state=TaskState.CANCELLED)
        except Exception as exc:  # a task's failure is its outcome, not the registry's
            _log.info("task %s failed: %s", task_id, exc)
            self._evolve(
                task_id,
                state=TaskState.FAILED,
                error_code=getattr(exc, "code", "error"),
                error=getattr(exc, "message", None) or str(exc),
            )
        else:
            task = self._tasks[task_id]
            self._evolve(task_id, state=TaskState.SUCCEEDED, result=result, done=task.total)
        finally:
            self._progress.pop(task_id, None)

    def get(self, task_id: str) -> Task:
        """Return a task; :class:`NotFoundError` for an unknown (or forgotten) id."""
        try:
            return self._tasks[task_id]
        except KeyError:
            pass
        try:
            return self._remote[task_id]
        except KeyError:
            raise NotFoundError(f"no task {task_id!r}", field="task_id") from None

    def remember(self, task: Task) -> None:
        """Keep the newest state of a task another replica runs (fleet mode), so it can be
        read here too; publishes ``TaskUpdated`` to local subscribers only."""
        if task.id in self._tasks:
            return
        self._remote.pop(task.id, None)  # re-inserted: the dict stays ordered by update
        self._remote[task.id] = task
        while len(self._remote) > KEEP_FINISHED:
            del self._remote[next(iter(self._remote))]
        self.hub.publish_remote(TaskUpdated(task_id=task.id))

    def cancel(self, task_id: str) -> Task:
        """Ask a task to stop; :class:`ConflictError` when it already finished."""
        task = self.get(task_id)
        if task_id not in self._tasks:
            raise ConflictError(
                f"task {task_id} runs on another replica: cancel it there", field="task_id"
            )
        progress = self._progress.get(task_id)
        if task.state.finished or progress is None:
            raise ConflictError(f"task {task_id} already {task.state.value}", field="task_id")
        progress.cancel()
        return task

    def _forget_old(self) -> None:
        finished = [task for task in self._tasks.values() if task.state.finished]
        for task in sorted(finished, key=lambda t: t.updated_at)[
            : max(0, len(finished) - KEEP_FINISHED)
        ]:
            del self._tasks[task.id]
