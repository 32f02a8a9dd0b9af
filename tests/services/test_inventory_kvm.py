"""Inventory against a real KVM guest on qemu:///system, changed behind Virtumancer's back.

The host is shared with other tests: only this test's guests are imported or asserted on.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.services.conftest import eventually
from virtumancer.manager import Virtumancer
from virtumancer.models import DomainState
from virtumancer.models.records import ActivityType, VmRecord
from virtumancer.testing import virsh

pytestmark = pytest.mark.anyio

HOST = "qemu"


async def _vm(manager: Virtumancer, name: str) -> VmRecord | None:
    return next((vm for vm in await manager.list_vms(HOST) if vm.name == name), None)


async def test_imported_guest_follows_virsh_changes(manager: Virtumancer, kvm_guest: Any) -> None:
    await manager.add_host(HOST, kvm_guest.uri)
    discovered = {d.name: d for d in await manager.list_discovered_vms(HOST)}
    assert discovered[kvm_guest.name].domain_uuid == kvm_guest.uuid
    await manager.import_vm(HOST, kvm_guest.name)
    vm = await _vm(manager, kvm_guest.name)
    assert vm is not None
    assert (vm.uuid, vm.state, vm.memory_bytes) == (kvm_guest.uuid, 1, 64 * 1024 * 1024)
    assert vm.graphics.vnc
    assert vm.graphics.spice
    disks = [d for d in await manager.list_disk_attachments() if d.vm_uuid == kvm_guest.uuid]
    assert [(d.device_name, d.path) for d in disks] == [("vda", str(kvm_guest.disk_path))]
    videos = await manager.list_video_attachments(HOST, kvm_guest.name)
    assert [(v.monitor_index, v.primary) for v in videos] == [(0, True)]
    # Provenance is in the domain's own metadata.
    await manager.settle()
    dumped = virsh(kvm_guest.uri, "dumpxml", kvm_guest.name)
    assert "https://virtumancer.dev/xmlns/domain/1" in dumped

    virsh(kvm_guest.uri, "desc", kvm_guest.name, "--live", "--config", "changed by virsh")

    async def described() -> bool:
        found = await _vm(manager, kvm_guest.name)
        return found is not None and found.description == "changed by virsh"

    await eventually(described, what="the description change")

    virsh(kvm_guest.uri, "destroy", kvm_guest.name)

    async def stopped() -> bool:
        found = await _vm(manager, kvm_guest.name)
        return found is not None and found.state == DomainState.SHUTOFF

    await eventually(stopped, what="the stop")
    activity = [a for a in await manager.recent_activity(50) if a.vm_name == kvm_guest.name]
    assert activity[0].type == ActivityType.VM_STOPPED
    assert activity[0].host_id == HOST


async def test_fresh_database_relearns_managed_guest(
    database_url: str, tmp_path: Any, kvm_guest: Any
) -> None:
    async with Virtumancer(database_url, reconcile_interval=3600) as vm:
        await vm.add_host(HOST, kvm_guest.uri)
        await vm.import_vm(HOST, kvm_guest.name)
    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    async with Virtumancer(fresh_url, reconcile_interval=3600) as vm:
        await vm.add_host(HOST, kvm_guest.uri)
        names = {v.name for v in await vm.list_vms(HOST)}
        assert kvm_guest.name in names
        discovered = {d.name for d in await vm.list_discovered_vms(HOST)}
        assert kvm_guest.name not in discovered


async def test_guest_deleted_behind_our_back_is_marked_then_removed(
    manager: Virtumancer, kvm_guest_factory: Any
) -> None:
    guest = kvm_guest_factory(start=False)
    await manager.add_host(HOST, guest.uri)
    await manager.import_vm(HOST, guest.name)
    virsh(guest.uri, "undefine", guest.name)

    async def marked() -> bool:
        found = await _vm(manager, guest.name)
        return found is not None and found.gone_at is not None

    await eventually(marked, what="the VM marked as gone")
    await manager.sync_host(HOST)
    assert await _vm(manager, guest.name) is None
    activity = [a for a in await manager.recent_activity(50) if a.vm_name == guest.name]
    assert activity[0].type == ActivityType.VM_REMOVED


async def test_reset_is_recorded_as_reboot_from_libvirts_event(
    manager: Virtumancer, kvm_guest: Any
) -> None:
    await manager.add_host(HOST, kvm_guest.uri)
    await manager.import_vm(HOST, kvm_guest.name)
    await manager.vm_action(HOST, kvm_guest.name, "reset")

    async def rebooted() -> bool:
        activity = await manager.recent_activity(50)
        return any(
            a.type == ActivityType.VM_REBOOTED and a.vm_name == kvm_guest.name for a in activity
        )

    await eventually(rebooted, what="the reboot entry")
    vm = await _vm(manager, kvm_guest.name)
    assert vm is not None
    assert vm.state == DomainState.RUNNING
