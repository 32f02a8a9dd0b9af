"""Power actions on real KVM guests, checked with ``virsh domstate``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pool._support import test_pool, wait_for_event
from virtumancer import (
    ConflictError,
    DomainLifecycleEvent,
    DomainState,
    InvalidInputError,
    LifecycleEventType,
    PowerAction,
)

pytestmark = [pytest.mark.anyio, pytest.mark.kvm]


async def test_power_actions_change_what_virsh_sees(kvm_guest: Any) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("kvm", kvm_guest.uri)
        domain = await host.get_domain(kvm_guest.name)
        assert domain.state is DomainState.RUNNING
        assert domain.uuid == kvm_guest.uuid

        await host.power(kvm_guest.name, PowerAction.SUSPEND)
        assert kvm_guest.state() == "paused"
        await host.power(kvm_guest.uuid, PowerAction.RESUME)
        assert kvm_guest.state() == "running"
        await host.power(kvm_guest.name, PowerAction.RESET)
        assert kvm_guest.state() == "running"
        await host.power(kvm_guest.name, PowerAction.REBOOT)
        assert kvm_guest.state() == "running"
        # A guest without an OS ignores ACPI: the request is accepted, the guest runs on.
        await host.power(kvm_guest.name, "shutdown")
        assert kvm_guest.state() in {"running", "in shutdown", "shut off"}
        await host.power(kvm_guest.name, PowerAction.DESTROY)
        assert kvm_guest.state() == "shut off"
        await host.power(kvm_guest.name, PowerAction.START)
        assert kvm_guest.state() == "running"


async def test_invalid_transitions_are_conflicts(kvm_guest: Any) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("kvm", kvm_guest.uri)
        with pytest.raises(ConflictError) as start_running:
            await host.power(kvm_guest.name, PowerAction.START)
        assert start_running.value.vm_name == kvm_guest.name
        assert start_running.value.host_id == "kvm"
        with pytest.raises(ConflictError):
            await host.power(kvm_guest.name, PowerAction.RESUME)
        assert kvm_guest.state() == "running"

        await host.power(kvm_guest.name, PowerAction.DESTROY)
        for action in (PowerAction.DESTROY, PowerAction.SHUTDOWN, PowerAction.SUSPEND):
            with pytest.raises(ConflictError):
                await host.power(kvm_guest.name, action)
        assert kvm_guest.state() == "shut off"
        with pytest.raises(InvalidInputError) as unknown:
            await host.power(kvm_guest.name, "explode")
        assert unknown.value.field == "action"


async def test_power_actions_produce_events_and_stats(kvm_guest: Any) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("kvm", kvm_guest.uri)
        async with pool.subscribe() as events:
            await host.power(kvm_guest.name, PowerAction.SUSPEND)
            event = await wait_for_event(
                events, DomainLifecycleEvent, lambda e: e.domain_uuid == kvm_guest.uuid
            )
            assert event.event is LifecycleEventType.SUSPENDED
            assert event.domain_name == kvm_guest.name
        (sample,) = await host.bulk_stats([kvm_guest.uuid])
        assert sample.state is DomainState.PAUSED
        assert sample.cpu_time_ns > 0
        assert [i.device for i in sample.interfaces]  # the tap device of the guest
