"""Reboot, device and metadata events, and our metadata element, on real KVM guests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import anyio
import pytest

from tests.pool._support import test_pool, wait_for_event
from virtumancer import (
    METADATA_NAMESPACE,
    DomainDeviceEvent,
    DomainMetadataChangeEvent,
    DomainRebootEvent,
    PowerAction,
    VirtumancerMetadata,
)
from virtumancer.testing import virsh

pytestmark = [pytest.mark.anyio, pytest.mark.kvm]


async def test_reset_produces_a_reboot_event(kvm_guest: Any) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("kvm", kvm_guest.uri)
        async with pool.subscribe() as events:
            await host.power(kvm_guest.name, PowerAction.RESET)
            event = await wait_for_event(
                events, DomainRebootEvent, lambda e: e.domain_uuid == kvm_guest.uuid
            )
        assert event.domain_name == kvm_guest.name


async def test_hotplugged_disk_produces_a_device_event(kvm_guest: Any) -> None:
    extra = kvm_guest.disk_path.with_name(kvm_guest.disk_path.stem + "-extra.qcow2")
    await anyio.run_process(["qemu-img", "create", "-q", "-f", "qcow2", str(extra), "16M"])
    try:
        async with test_pool() as pool:
            await pool.add_host("kvm", kvm_guest.uri)
            async with pool.subscribe() as events:
                virsh(
                    kvm_guest.uri,
                    "attach-disk",
                    kvm_guest.name,
                    str(extra),
                    "vdb",
                    "--driver",
                    "qemu",
                    "--subdriver",
                    "qcow2",
                    "--live",
                )
                event = await wait_for_event(
                    events, DomainDeviceEvent, lambda e: e.domain_uuid == kvm_guest.uuid
                )
        assert event.change == "added"
        assert event.alias
    finally:
        extra.unlink(missing_ok=True)


async def test_set_metadata_writes_our_element_and_produces_an_event(kvm_guest: Any) -> None:
    metadata = VirtumancerMetadata(
        managed_by="virtumancer",
        imported_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        imported_by="tests",
        version="0.1.0",
    )
    async with test_pool() as pool:
        host = await pool.add_host("kvm", kvm_guest.uri)
        async with pool.subscribe() as events:
            await host.set_metadata(kvm_guest.name, metadata)
            event = await wait_for_event(
                events, DomainMetadataChangeEvent, lambda e: e.domain_uuid == kvm_guest.uuid
            )
        assert (event.kind, event.namespace) == ("element", METADATA_NAMESPACE)
        assert (await host.get_domain(kvm_guest.name)).metadata == metadata
        inactive = await host.domain_xml(kvm_guest.name, inactive=True)
        assert METADATA_NAMESPACE.encode() in inactive
        assert "virtumancer" in virsh(kvm_guest.uri, "metadata", kvm_guest.name, METADATA_NAMESPACE)

        await host.set_metadata(kvm_guest.name, None)
        assert (await host.get_domain(kvm_guest.name)).metadata is None


async def test_host_info_and_gpus_of_the_real_host(libvirtd: str) -> None:
    async with test_pool() as pool:
        host = await pool.add_host("kvm", libvirtd)
        info = await host.host_info()
        assert info.hypervisor_type == "QEMU"
        assert info.node.hostname
        assert info.capabilities.guests
        pci = set(virsh(libvirtd, "nodedev-list", "--cap", "pci").split())
        assert {gpu.name for gpu in await host.list_gpus()} <= pci
