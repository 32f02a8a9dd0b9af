"""Notification fan-out: every subscriber sees every distinct change, memory stays bounded."""

from __future__ import annotations

import anyio
import pytest

from virtumancer.models.notifications import HostsChanged, VmsChanged
from virtumancer.services.notifications import NotificationHub

pytestmark = pytest.mark.anyio


async def test_stuck_subscriber_holds_one_of_each_and_others_keep_going() -> None:
    hub = NotificationHub()
    async with hub.subscribe() as stuck, hub.subscribe() as live:
        received = []
        for round_ in range(10_000):
            hub.publish(VmsChanged(host_id=f"h{round_ % 3}"))
            hub.publish(HostsChanged())
            received.append(await live.__anext__())
            received.append(await live.__anext__())
        assert stuck.pending == 4  # three hosts' VmsChanged + one HostsChanged
        assert len(received) == 20_000
        pending = set()
        with anyio.move_on_after(1):
            while stuck.pending:
                pending.add(await stuck.__anext__())
        assert pending == {HostsChanged(), *(VmsChanged(host_id=f"h{i}") for i in range(3))}


async def test_iteration_ends_when_the_hub_closes() -> None:
    hub = NotificationHub()
    async with hub.subscribe() as subscription:
        hub.publish(HostsChanged())
        hub.close()
        assert [n async for n in subscription] == [HostsChanged()]


async def test_get_nowait_takes_what_is_pending_without_waiting() -> None:
    hub = NotificationHub()
    async with hub.subscribe() as subscription:
        assert subscription.get_nowait() is None
        hub.publish(HostsChanged())
        hub.publish(HostsChanged())
        assert subscription.get_nowait() == HostsChanged()
        assert subscription.get_nowait() is None
