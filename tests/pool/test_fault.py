"""Losing the daemon: the pool notices, reconnects by itself and events keep flowing.

These tests kill and restart a *private* libvirtd (see ``private_libvirtd`` in conftest), never
the system one.
"""

from __future__ import annotations

import anyio
import pytest

from tests.pool._support import state_of, test_pool, wait_for_event
from tests.pool.conftest import PrivateLibvirtd
from virtumancer import (
    ConnectionState,
    DomainLifecycleEvent,
    HostStateChanged,
    HostUnavailableError,
    LifecycleEventType,
)

pytestmark = [pytest.mark.anyio, pytest.mark.disruptive]


async def test_host_reconnects_after_a_daemon_restart_and_events_still_flow(
    private_libvirtd: PrivateLibvirtd,
) -> None:
    daemon = private_libvirtd
    async with test_pool(extra_socket_dirs=[str(daemon.socket_dir)]) as pool:
        host = await pool.add_host("priv", daemon.uri)
        async with pool.subscribe() as events:
            daemon.kill()
            lost = await wait_for_event(
                events, HostStateChanged, lambda e: e.state is ConnectionState.ERROR
            )
            assert lost.error is not None
            assert "lost" in lost.error
            with pytest.raises(HostUnavailableError):
                await host.list_domains()

            daemon.start()
            await wait_for_event(
                events, HostStateChanged, lambda e: e.state is ConnectionState.CONNECTED
            )
            assert host.state == ConnectionState.CONNECTED
            assert [d.name for d in await host.list_domains()] == ["test"]

            # The callbacks were registered again on the new connection.
            daemon.virsh("suspend", "test")
            event = await wait_for_event(events, DomainLifecycleEvent)
            assert (event.domain_name, event.event) == ("test", LifecycleEventType.SUSPENDED)


async def test_host_with_auto_reconnect_disabled_stays_disconnected(
    private_libvirtd: PrivateLibvirtd,
) -> None:
    daemon = private_libvirtd
    async with test_pool(extra_socket_dirs=[str(daemon.socket_dir)]) as pool:
        host = await pool.add_host("priv", daemon.uri, auto_reconnect_disabled=True)
        assert host.state == ConnectionState.CONNECTED
        async with pool.subscribe() as events:
            daemon.kill()
            await wait_for_event(
                events, HostStateChanged, lambda e: e.state is ConnectionState.ERROR
            )
            daemon.start()
            # Give a reconnect every chance to happen (many times the backoff) -- it must not.
            for _ in range(3):
                daemon.virsh("version")
            await anyio.sleep(2.0)
            assert state_of(host) == ConnectionState.ERROR
            assert events.get_nowait() is None

            # A manual connect works and clears the flag.
            await host.connect()
            assert state_of(host) == ConnectionState.CONNECTED
            assert host.auto_reconnect_disabled is False


async def test_a_frozen_daemon_is_noticed_by_keepalive(private_libvirtd: PrivateLibvirtd) -> None:
    daemon = private_libvirtd
    pool_options: dict[str, object] = {
        "extra_socket_dirs": [str(daemon.socket_dir)],
        "keepalive_interval": 1,
        "keepalive_count": 1,
    }
    async with test_pool(**pool_options) as pool:
        host = await pool.add_host("priv", daemon.uri)
        async with pool.subscribe() as events:
            daemon.pause()
            try:
                lost = await wait_for_event(
                    events, HostStateChanged, lambda e: e.state is ConnectionState.ERROR
                )
            finally:
                daemon.unpause()
            assert lost.error is not None
            assert "keepalive" in lost.error
            await wait_for_event(
                events, HostStateChanged, lambda e: e.state is ConnectionState.CONNECTED
            )
            assert [d.name for d in await host.list_domains()] == ["test"]
