"""qemu+ssh through the loopback sshd: the real remote transport."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pool._support import state_of, test_pool, wait_for_event
from virtumancer import ConnectionState, DomainLifecycleEvent, LifecycleEventType
from virtumancer.testing import virsh

pytestmark = [pytest.mark.anyio, pytest.mark.ssh]


async def test_qemu_ssh_host_lists_what_the_local_daemon_has(ssh_uri: str, libvirtd: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("remote", ssh_uri)
        assert host.state == ConnectionState.CONNECTED
        info = await host.host_info()
        assert info.hypervisor_type == "QEMU"
        names = {d.name for d in await host.list_domains()}
        assert names >= set(virsh(libvirtd, "list", "--name").split())
        assert "keyfile" not in repr(host)
        await pool.remove_host("remote")
        assert state_of(host) == ConnectionState.DISCONNECTED


@pytest.mark.kvm
async def test_events_arrive_over_ssh(ssh_uri: str, kvm_guest: Any) -> None:
    async with test_pool() as pool:
        await pool.add_host("remote", ssh_uri)
        async with pool.subscribe() as events:
            virsh(kvm_guest.uri, "suspend", kvm_guest.name)
            event = await wait_for_event(
                events, DomainLifecycleEvent, lambda e: e.domain_uuid == kvm_guest.uuid
            )
        assert (event.host_id, event.event) == ("remote", LifecycleEventType.SUSPENDED)
