"""The hardware view against real KVM guests: one domain read, no libvirt write, disk sizes.

The host is shared with other tests: only this test's guests are looked at.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import pytest

from virtumancer._libvirt import LibvirtConnection
from virtumancer.manager import Virtumancer
from virtumancer.models.domain import Domain
from virtumancer.models.events import DomainMetadataChangeEvent, PoolEvent
from virtumancer.models.metadata import METADATA_NAMESPACE
from virtumancer.testing import virsh

pytestmark = pytest.mark.anyio

HOST = "qemu"
BARRIER_NAMESPACE = "https://example.test/barrier"
DISK_BYTES = 64 * 1024 * 1024  # the guests' qcow2 disks are made with `qemu-img create ... 64M`

# Set while the request under test runs: worker threads get a copy of the caller's context,
# so reads made by the inventory's own event task are not counted.
_in_request: contextvars.ContextVar[bool] = contextvars.ContextVar("_in_request", default=False)


@contextmanager
def _request() -> Iterator[None]:
    token = _in_request.set(True)
    try:
        yield
    finally:
        _in_request.reset(token)


@pytest.fixture
def domain_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every domain read (``LibvirtConnection.get_domain``) a request makes."""
    reads: list[str] = []
    original = LibvirtConnection.get_domain

    def spy(self: LibvirtConnection, key: str, **options: Any) -> Domain:
        if _in_request.get():
            reads.append(key)
        return original(self, key, **options)

    monkeypatch.setattr(LibvirtConnection, "get_domain", spy)
    return reads


def _metadata_of(uri: str, name: str, *options: str) -> str:
    return virsh(uri, "metadata", name, "--uri", METADATA_NAMESPACE, *options, check=False)


async def test_hardware_reads_the_domain_once_and_never_writes_libvirt(
    manager: Virtumancer, kvm_guest_factory: Any, domain_reads: list[str]
) -> None:
    guest = kvm_guest_factory()
    barrier = kvm_guest_factory(start=False)  # an unmanaged guest that marks "events so far"
    await manager.add_host(HOST, guest.uri)
    await manager.import_vm(HOST, guest.name)
    await manager.settle()
    events: list[PoolEvent] = []

    async with manager.pool.subscribe() as subscription:

        async def until_barrier(mark: str) -> None:
            # Events of one connection arrive in order: past the mark, every earlier one is in.
            virsh(
                guest.uri,
                *("metadata", barrier.name, "--uri", BARRIER_NAMESPACE, "--key", "b"),
                *("--set", f"<mark n='{mark}'/>", "--config"),
            )
            with anyio.fail_after(30):
                async for event in subscription:
                    events.append(event)
                    if (
                        isinstance(event, DomainMetadataChangeEvent)
                        and event.namespace == BARRIER_NAMESPACE
                    ):
                        return

        # Our provenance is gone behind our back: the old GET wrote it back into the domain.
        await manager.pool.get(HOST).set_metadata(guest.name, None)
        await until_barrier("before")
        events.clear()
        before = (
            _metadata_of(guest.uri, guest.name),
            _metadata_of(guest.uri, guest.name, "--config"),
        )
        with _request():
            hardware = await manager.vm_hardware(HOST, guest.name)
        await manager.settle()  # background provenance writes, if any, are done
        await until_barrier("after")

    changes = [
        e
        for e in events
        if isinstance(e, DomainMetadataChangeEvent) and e.domain_uuid == guest.uuid
    ]
    assert changes == []
    after = (_metadata_of(guest.uri, guest.name), _metadata_of(guest.uri, guest.name, "--config"))
    assert after == before
    assert domain_reads == [guest.name]
    assert [d.target_dev for d in hardware.disks] == ["vda"]
    # The database was refreshed all the same: the VM is still managed, with its disk.
    disks = [d for d in await manager.list_disk_attachments() if d.vm_uuid == guest.uuid]
    assert [d.device_name for d in disks] == ["vda"]


async def test_action_rereads_the_domain_once(
    manager: Virtumancer, kvm_guest: Any, domain_reads: list[str]
) -> None:
    await manager.add_host(HOST, kvm_guest.uri)
    await manager.import_vm(HOST, kvm_guest.name)
    with _request():
        await manager.vm_action(HOST, kvm_guest.name, "suspend")
    # The name is resolved before the action, the state read once after it.
    assert domain_reads == [kvm_guest.name, kvm_guest.uuid]
    vm = next(v for v in await manager.list_vms(HOST) if v.name == kvm_guest.name)
    assert vm.state == 3  # paused, written by the action's own re-read


@pytest.mark.parametrize("running", [True, False], ids=["running", "shut-off"])
async def test_disk_in_no_pool_has_its_size(
    manager: Virtumancer, kvm_guest_factory: Any, running: bool
) -> None:
    guest = kvm_guest_factory(start=running)
    await manager.add_host(HOST, guest.uri)
    pools = await manager.list_storage_volumes(HOST)
    assert str(guest.disk_path) not in {v.path for v in pools}  # the premise: in no pool

    hardware = await manager.vm_hardware(HOST, guest.name)

    assert [(d.source_path, d.size_bytes) for d in hardware.disks] == [
        (str(guest.disk_path), DISK_BYTES)
    ]


async def test_disk_sizes_of_unmanaged_and_managed_guests_agree(
    manager: Virtumancer, kvm_guest: Any
) -> None:
    await manager.add_host(HOST, kvm_guest.uri)
    unmanaged = await manager.vm_hardware(HOST, kvm_guest.name)
    await manager.import_vm(HOST, kvm_guest.name)
    managed = await manager.vm_hardware(HOST, kvm_guest.name)
    assert unmanaged.disks == managed.disks
    assert managed.disks[0].size_bytes == DISK_BYTES
