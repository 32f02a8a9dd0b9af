"""Host lifecycle, live listings and the event stream against libvirt's test driver."""

from __future__ import annotations

import re
import threading

import anyio
import anyio.lowlevel
import pytest

from tests.pool._support import state_of, test_pool, wait_for_event
from virtumancer import (
    ConflictError,
    ConnectionState,
    DomainLifecycleEvent,
    HostStateChanged,
    HostUnavailableError,
    LifecycleEventType,
    NotFoundError,
    PowerAction,
    UriPolicyError,
)
from virtumancer.testing import virsh

pytestmark = pytest.mark.anyio


async def test_add_host_connects_and_lists_what_virsh_lists(test_unix_uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("t1", test_unix_uri)
        assert host.state == ConnectionState.CONNECTED
        assert pool.get("t1") is host
        assert pool.hosts() == [host]

        domains = await host.list_domains()
        names = sorted(virsh(test_unix_uri, "list", "--all", "--name").split())
        assert sorted(d.name for d in domains) == names
        running = set(virsh(test_unix_uri, "list", "--name").split())
        for domain in domains:
            assert (domain.state == 1) == (domain.name in running)
            assert domain.persistent is True

        one = await host.get_domain(domains[0].uuid)
        assert one.name == domains[0].name
        assert (await host.get_domain(domains[0].name)).uuid == domains[0].uuid
        assert b"<domain" in await host.domain_xml(domains[0].name)

        pools = await host.list_storage_pools()
        assert sorted(p.name for p in pools) == sorted(
            virsh(test_unix_uri, "pool-list", "--all", "--name").split()
        )
        volumes = await host.list_storage_volumes(pools[0].name)
        assert sorted(v.name for v in volumes) == sorted(
            line.split()[0] for line in virsh(test_unix_uri, "vol-list", pools[0].name).splitlines()
        )
        networks = await host.list_networks()
        assert sorted(n.name for n in networks) == sorted(
            virsh(test_unix_uri, "net-list", "--all", "--name").split()
        )
        info = await host.host_info()
        assert info.hypervisor_type == "TEST"
        assert info.node.cpus > 0


async def test_unknown_domain_and_host_are_not_found(test_uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("t1", test_uri)
        with pytest.raises(NotFoundError):
            await host.get_domain("no-such-domain")
        with pytest.raises(NotFoundError):
            await host.power("00000000-0000-0000-0000-000000000000", PowerAction.START)
        with pytest.raises(NotFoundError):
            pool.get("nope")
        with pytest.raises(NotFoundError):
            await pool.remove_host("nope")


async def test_host_ids_are_unique_and_uris_checked_before_opening(test_uri: str) -> None:
    async with test_pool(allow_test_uris=False) as strict, test_pool() as pool:
        with pytest.raises(UriPolicyError, match="test"):
            await strict.add_host("t1", test_uri)
        assert strict.hosts() == []

        await pool.add_host("t1", test_uri)
        with pytest.raises(ConflictError):
            await pool.add_host("t1", test_uri)
        with pytest.raises(UriPolicyError, match="command"):
            await pool.add_host("evil", "qemu+ssh://h/system?command=/bin/sh")


async def test_failed_add_leaves_no_host(tmp_path: object) -> None:
    async with test_pool(extra_socket_dirs=["/tmp"]) as pool:
        with pytest.raises(HostUnavailableError) as info:
            await pool.add_host("gone", "test+unix:///default?socket=/tmp/vmt-no-such-sock")
        assert info.value.host_id == "gone"
        assert pool.hosts() == []


async def test_disconnect_and_manual_connect(test_unix_uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("t1", test_unix_uri)
        async with pool.subscribe() as events:
            await host.disconnect()
            assert host.state == ConnectionState.DISCONNECTED
            assert pool.get("t1").auto_reconnect_disabled
            changed = await wait_for_event(events, HostStateChanged)
            assert changed.state is ConnectionState.DISCONNECTED
            with pytest.raises(HostUnavailableError):
                await host.list_domains()

            await host.connect()
            assert state_of(host) == ConnectionState.CONNECTED
            assert host.auto_reconnect_disabled is False
            assert await host.list_domains()
            states = [
                (await wait_for_event(events, HostStateChanged)).state,
                (await wait_for_event(events, HostStateChanged)).state,
            ]
            assert states == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]

        await pool.remove_host("t1")
        assert pool.hosts() == []
        assert state_of(host) == ConnectionState.DISCONNECTED


async def test_repr_shows_live_state(test_uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("kvm1", test_uri)
        assert repr(host) == "<HostPool kvm1 CONNECTED calls: 0 active, 0 queued>"
        assert re.fullmatch(r"<ConnectionPool hosts: 1 \(1 CONNECTED\) subscribers: 0>", repr(pool))


async def test_events_fan_out_to_every_subscriber(test_uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("t1", test_uri)
        domain = next(d for d in await host.list_domains() if d.state == 1)
        async with pool.subscribe() as first, pool.subscribe() as second:
            await host.power(domain.name, PowerAction.SUSPEND)
            for events in (first, second):
                event = await wait_for_event(events, DomainLifecycleEvent)
                assert event.event is LifecycleEventType.SUSPENDED
                assert (event.host_id, event.domain_uuid) == ("t1", domain.uuid)
                assert event.timestamp.tzinfo is not None


async def test_a_stuck_subscriber_drops_its_oldest_events(test_uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("t1", test_uri)
        domain = next(d for d in await host.list_domains() if d.state == 1)
        async with pool.subscribe(buffer_size=2) as stuck, pool.subscribe() as live:
            for _ in range(5):
                await host.power(domain.name, PowerAction.SUSPEND)
                await wait_for_event(live, DomainLifecycleEvent)
                await host.power(domain.name, PowerAction.RESUME)
                await wait_for_event(live, DomainLifecycleEvent)
            assert stuck.dropped == 8
            kept = [stuck.get_nowait(), stuck.get_nowait()]
            assert [e.event for e in kept if isinstance(e, DomainLifecycleEvent)] == [
                LifecycleEventType.SUSPENDED,
                LifecycleEventType.RESUMED,
            ]
            assert stuck.get_nowait() is None


async def test_bulk_stats_for_all_or_some_domains(test_unix_uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("t1", test_unix_uri)
        domains = await host.list_domains()
        samples = await host.bulk_stats()
        assert sorted(s.domain_uuid for s in samples) == sorted(d.uuid for d in domains)
        wanted = {domains[0].uuid, domains[-1].uuid}
        subset = await host.bulk_stats(wanted)
        assert {s.domain_uuid for s in subset} == wanted
        assert await host.bulk_stats([]) == []


async def test_repr_counts_calls_in_flight_and_queued(test_uri: str) -> None:
    release = threading.Event()
    async with test_pool(max_calls_per_host=1) as pool:
        host = await pool.add_host("kvm1", test_uri)
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(host.run, lambda _conn: release.wait(30))
            await anyio.wait_all_tasks_blocked()
            assert repr(host) == "<HostPool kvm1 CONNECTED calls: 1 active, 2 queued>"
            release.set()
        assert repr(host) == "<HostPool kvm1 CONNECTED calls: 0 active, 0 queued>"


async def test_disconnect_during_calls_fails_them_cleanly(test_unix_uri: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("t1", test_unix_uri)
        outcomes: list[str] = []

        async def list_again() -> None:
            try:
                await host.list_domains()
                outcomes.append("ok")
            except HostUnavailableError:
                outcomes.append("unavailable")

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(list_again)
            await anyio.lowlevel.checkpoint()
            await host.disconnect()
        assert len(outcomes) == 20
        assert set(outcomes) <= {"ok", "unavailable"}
        assert state_of(host) == ConnectionState.DISCONNECTED
