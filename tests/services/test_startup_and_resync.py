"""Startup never waits for saved hosts; lost events and failed deletes leave nothing stale."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import libvirt
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.services.conftest import eventually
from virtumancer.db import hosts as db_hosts
from virtumancer.manager import Virtumancer
from virtumancer.models import DomainState
from virtumancer.models.events import ConnectionState
from virtumancer.pool import ConnectionPool

pytestmark = pytest.mark.anyio

NodeFactory = Callable[..., Path]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


async def test_silent_saved_host_does_not_hold_up_startup(
    database_url: str, test_node_factory: NodeFactory, silent_port: int
) -> None:
    node = test_node_factory(domains=3)
    silent_uri = f"qemu+tcp://127.0.0.1:{silent_port}/system"
    async with Virtumancer(database_url, reconcile_interval=3600) as vm:
        await vm.add_host("good", f"test://{node}")
        await vm.import_all_vms("good")
        await vm.database.run(
            lambda s: db_hosts.insert_host(s, "silent", silent_uri, state="DISCONNECTED")
        )
    # An open timeout far beyond the test: were startup to wait for the silent host, it
    # would never return.
    pool = ConnectionPool(open_timeout=3600)
    async with Virtumancer(database_url, reconcile_interval=3600, pool=pool) as vm:
        hosts = {h.id: h for h in await vm.list_hosts()}
        assert hosts["silent"].state == "CONNECTING"
        assert len(await vm.list_vms("good")) == 3

        async def good_connected() -> bool:
            return vm.pool.get("good").state is ConnectionState.CONNECTED

        await eventually(good_connected, what="healthy host connected")
        assert len(await vm.pool.get("good").list_domains()) == 3
        hosts = {h.id: h for h in await vm.list_hosts()}
        assert (hosts["good"].state, hosts["silent"].state) == ("CONNECTED", "CONNECTING")


async def test_dropped_events_trigger_a_full_resync(
    database_url: str, test_node_factory: NodeFactory
) -> None:
    node = test_node_factory(domains=6, running=6)
    pool = ConnectionPool(event_buffer=1)
    async with Virtumancer(database_url, reconcile_interval=3600, pool=pool) as vm:
        await vm.add_host("tdrv", f"test://{node}")
        await vm.import_all_vms("tdrv")
        names = sorted(v.name for v in await vm.list_vms("tdrv"))
        inventory = vm.inventory
        host = vm.pool.get("tdrv")

        def suspend(name: str) -> Callable[[libvirt.virConnect], object]:
            return lambda conn: conn.lookupByName(name).suspend()

        # The consumer blocks on the host's lock while the events pile up in its
        # one-event buffer: all but the newest are dropped.
        async with pool.subscribe(buffer_size=100) as watcher, inventory._lock("tdrv"):
            for name in names:
                await host.run(suspend(name))
            for _ in names:
                await watcher.__anext__()
        assert watcher.dropped == 0

        async def all_paused() -> bool:
            states = {v.state for v in await vm.list_vms("tdrv")}
            return states == {DomainState.PAUSED}

        await eventually(all_paused, what="every suspended VM written")
        assert inventory.missed_event_resyncs >= 1


async def test_failed_database_delete_keeps_the_host(
    database_url: str, test_node_factory: NodeFactory
) -> None:
    node = test_node_factory(domains=2)
    async with Virtumancer(database_url, reconcile_interval=3600) as vm:
        await vm.add_host("tdrv", f"test://{node}")

        def refuse_deletes(session: Session) -> None:
            session.execute(
                text(
                    "CREATE TRIGGER refuse_host_delete BEFORE DELETE ON hosts "
                    "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
                )
            )

        await vm.database.run(refuse_deletes)
        with pytest.raises(Exception, match="refused by test"):
            await vm.remove_host("tdrv")
        # Still stored and still live: nothing comes back (or goes missing) on restart.
        hosts = {h.id: h for h in await vm.list_hosts()}
        assert hosts["tdrv"].state == "CONNECTED"
        assert len(await vm.pool.get("tdrv").list_domains()) == 2

        await vm.database.run(lambda s: s.execute(text("DROP TRIGGER refuse_host_delete")))
        await vm.remove_host("tdrv")
        assert await vm.list_hosts() == []
    async with Virtumancer(database_url, reconcile_interval=3600) as vm:
        assert await vm.list_hosts() == []
