"""Small helpers shared by the pool tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import anyio

from virtumancer import ConnectionPool, ConnectionState, HostPool, PoolEvent

E = TypeVar("E")

#: A generous bound for things that happen "by themselves" (events, reconnects). Not a
#: performance assertion: only there so a broken build fails instead of hanging.
PATIENCE_S = 60.0


async def wait_for_event(
    events: AsyncIterator[PoolEvent],
    kind: type[E],
    predicate: Callable[[E], bool] = lambda _event: True,
) -> E:
    """Return the next event of type ``kind`` matching ``predicate``."""
    with anyio.fail_after(PATIENCE_S):
        async for event in events:
            if isinstance(event, kind) and predicate(event):
                return event
    raise AssertionError("the event stream ended")


def test_pool(**options: object) -> ConnectionPool:
    """Return a pool with short reconnect delays, for tests."""
    options.setdefault("reconnect_initial_delay", 0.2)
    options.setdefault("reconnect_max_delay", 2.0)
    return ConnectionPool(**options)  # type: ignore[arg-type]


test_pool.__test__ = False  # type: ignore[attr-defined]


def state_of(host: HostPool) -> ConnectionState:
    """Return ``host.state`` (a call, so a type checker does not carry narrowing across awaits)."""
    return host.state
