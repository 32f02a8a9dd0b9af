"""The task registry: states, progress, a failure's code, cancellation, notifications."""

from __future__ import annotations

import anyio
import pytest

from virtumancer import (
    ConflictError,
    HostUnavailableError,
    NotFoundError,
    TaskProgress,
    TaskRegistry,
    TaskState,
    TaskUpdated,
)
from virtumancer.services.notifications import NotificationHub

pytestmark = pytest.mark.anyio


async def _finished(registry: TaskRegistry, task_id: str) -> TaskState:
    """Wait on the registry's notifications until the task is over; return its state."""
    async with registry.hub.subscribe() as notes:
        with anyio.fail_after(10):
            if not registry.get(task_id).state.finished:
                async for _note in notes:
                    if registry.get(task_id).state.finished:
                        break
    return registry.get(task_id).state


async def test_a_task_reports_progress_and_its_result() -> None:
    hub = NotificationHub()
    registry = TaskRegistry(hub)
    async with hub.subscribe() as notes, anyio.create_task_group() as group:
        registry.task_group = group

        async def work(progress: TaskProgress) -> str:
            await anyio.to_thread.run_sync(progress.update, 50, 100)
            return "made"

        task = registry.submit("copy", work, host_id="h")
        assert task.state is TaskState.QUEUED
        assert await _finished(registry, task.id) is TaskState.SUCCEEDED
        done = registry.get(task.id)
        assert (done.result, done.done, done.total) == ("made", 100, 100)
        assert isinstance(await notes.__anext__(), TaskUpdated)
    with pytest.raises(NotFoundError):
        registry.get("nope")


async def test_a_failure_keeps_its_code_and_a_cancel_stops_the_worker() -> None:
    registry = TaskRegistry(NotificationHub())
    async with anyio.create_task_group() as group:
        registry.task_group = group

        async def fail(progress: TaskProgress) -> None:
            raise HostUnavailableError("gone", host_id="h")

        failed = registry.submit("copy", fail)
        assert await _finished(registry, failed.id) is TaskState.FAILED
        assert registry.get(failed.id).error_code == "host_unavailable"
        with pytest.raises(ConflictError):
            registry.cancel(failed.id)

        started = anyio.Event()

        async def endless(progress: TaskProgress) -> None:
            def loop() -> None:
                done = 0
                while True:  # until update() raises: the task was cancelled
                    done += 1
                    progress.update(done, 10**9)
                    anyio.from_thread.run_sync(started.set)

            await anyio.to_thread.run_sync(loop)

        running = registry.submit("copy", endless)
        await started.wait()
        registry.cancel(running.id)
        assert await _finished(registry, running.id) is TaskState.CANCELLED
