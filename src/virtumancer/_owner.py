"""Hold an async context open in a task of its own, so another task may close it.

anyio task groups and cancel scopes must be exited by the task that entered them. A
notebook runs each cell in a task of its own, so ``await pool.__aenter__()`` in one cell and
``await pool.aclose()`` in a later one fails with "Attempted to exit cancel scope in a
different task than it was entered in". :func:`hold_open` enters the context in a new
asyncio task that waits until :meth:`Held.close`; the context's own task group then lives
and dies in that one task, whichever task opens and closes it.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

__all__ = ["Held", "hold_open"]


class Held:
    """A context held open by :func:`hold_open`; :meth:`close` exits it."""

    def __init__(self, task: asyncio.Task[None], stop: asyncio.Event) -> None:
        self._task = task
        self._stop = stop

    async def close(self) -> None:
        """Exit the context in its task and wait for it (re-raising what the exit raised)."""
        self._stop.set()
        await self._task


async def hold_open(context: AbstractAsyncContextManager[Any]) -> Held:
    """Enter ``context`` in a new task and return once it is entered (or raise its error)."""
    entered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()

    async def hold() -> None:
        try:
            async with context:
                entered.set_result(None)
                await stop.wait()
        except BaseException as exc:
            if entered.done():
                raise
            # Entering failed: the opener gets the error, and the task ends quietly.
            if isinstance(exc, Exception):
                entered.set_exception(exc)
            else:
                entered.cancel()

    task = asyncio.create_task(hold(), name=f"hold open {context!r}")
    try:
        await asyncio.shield(entered)
    except asyncio.CancelledError:
        # The opener was cancelled: close what was (or is being) opened, then go.
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        raise
    return Held(task, stop)
