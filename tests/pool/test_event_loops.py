"""Pools on several event loops, one after another and at once, all receive their events.

libvirt takes one event implementation per process, forever; Virtumancer runs it on a loop
thread of its own (docs/adr/0004) so that no pool depends on the loop of an earlier one.
"""

from __future__ import annotations

import anyio
from anyio.from_thread import start_blocking_portal

from tests.pool._support import test_pool, wait_for_event
from virtumancer import DomainLifecycleEvent, DomainState, LifecycleEventType, PowerAction


async def _suspend_and_see_the_event(uri: str) -> LifecycleEventType:
    async with test_pool() as pool:
        host = await pool.add_host("t", uri)
        domain = next(d for d in await host.list_domains() if d.state is DomainState.RUNNING)
        async with pool.subscribe() as events:
            await host.power(domain.uuid, PowerAction.SUSPEND)
            event = await wait_for_event(
                events, DomainLifecycleEvent, lambda e: e.domain_uuid == domain.uuid
            )
        return event.event


def test_pools_on_successive_loops_get_events(test_uri: str) -> None:
    for _ in range(3):
        assert (
            anyio.run(_suspend_and_see_the_event, test_uri, backend="asyncio")
            is LifecycleEventType.SUSPENDED
        )


def test_pools_on_concurrent_loops_get_events(test_uri: str, test_unix_uri: str) -> None:
    with start_blocking_portal(backend="asyncio") as portal:
        other_loop = portal.start_task_soon(_suspend_and_see_the_event, test_unix_uri)
        here = anyio.run(_suspend_and_see_the_event, test_uri, backend="asyncio")
        assert other_loop.result(timeout=60) is LifecycleEventType.SUSPENDED
    assert here is LifecycleEventType.SUSPENDED
