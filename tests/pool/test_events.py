"""Events from changes made behind the pool's back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pool._support import test_pool, wait_for_event
from virtumancer import DomainLifecycleEvent, LifecycleEventType
from virtumancer.testing import virsh

pytestmark = [pytest.mark.anyio, pytest.mark.kvm]


async def test_a_guest_destroyed_with_virsh_produces_an_event(kvm_guest: Any) -> None:
    async with test_pool() as pool:
        await pool.add_host("kvm", kvm_guest.uri)
        async with pool.subscribe() as events:
            virsh(kvm_guest.uri, "destroy", kvm_guest.name)
            event = await wait_for_event(
                events,
                DomainLifecycleEvent,
                lambda e: e.domain_uuid == kvm_guest.uuid and e.event is LifecycleEventType.STOPPED,
            )
        assert event.host_id == "kvm"
        assert event.domain_name == kvm_guest.name
        assert event.detail == "destroyed"


async def test_a_guest_started_with_virsh_produces_an_event(kvm_guest_factory: Any) -> None:
    guest = kvm_guest_factory(start=False)
    async with test_pool() as pool:
        await pool.add_host("kvm", guest.uri)
        async with pool.subscribe() as events:
            virsh(guest.uri, "start", guest.name)
            event = await wait_for_event(
                events,
                DomainLifecycleEvent,
                lambda e: e.domain_uuid == guest.uuid and e.event is LifecycleEventType.STARTED,
            )
        assert event.detail == "booted"
