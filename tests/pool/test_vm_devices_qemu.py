"""Hot-plug on the booted Linux guest (qemu:///system): a disk and a NIC, attached and detached.

The guest's init says ``block add vdb`` / ``block remove vdb`` on its serial console; a NIC
shows in the live XML, and its unplug in libvirt's ``DEVICE_REMOVED`` event.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator

import anyio
import pytest

from tests.pool._support import test_pool, wait_for_event
from virtumancer import DeviceScope, DomainDeviceEvent, NotFoundError
from virtumancer.models.spec import ExistingPath, NicSpec, VolumeFormat

from ..conftest import LinuxGuest, wait_for_serial

pytestmark = [pytest.mark.anyio, pytest.mark.kvm, pytest.mark.linux]

_SAY = "virtumancer-guest: "


@pytest.fixture
def bridge() -> Iterator[str]:
    """A Linux bridge of the test's own (no libvirt network, no dnsmasq needed)."""
    name = f"vmtb{secrets.token_hex(4)}"
    subprocess.run(["ip", "link", "add", "name", name, "type", "bridge"], check=True)
    subprocess.run(["ip", "link", "set", name, "up"], check=True)
    yield name
    subprocess.run(["ip", "link", "del", name], check=False)


async def test_a_disk_and_a_nic_are_hot_plugged_and_unplugged_on_the_running_guest(
    linux_guest: LinuxGuest, bridge: str
) -> None:
    extra = linux_guest.disk_path.with_name(f"{linux_guest.name}-vdb.qcow2")
    await anyio.run_process(["qemu-img", "create", "-q", "-f", "qcow2", str(extra), "16M"])
    async with test_pool() as pool:
        host = await pool.add_host("kvm", linux_guest.uri)
        disk = ExistingPath(path=str(extra), format=VolumeFormat.QCOW2)
        domain = await host.attach_disk(linux_guest.name, disk, scope=DeviceScope.LIVE)
        assert "vdb" in {d.target_dev for d in domain.devices.disks}
        await anyio.to_thread.run_sync(wait_for_serial, linux_guest, f"{_SAY}block add vdb")
        # Live only: the definition does not have it.
        inactive = await host.domain_xml(linux_guest.name, inactive=True)
        assert str(extra).encode() not in inactive

        domain = await host.attach_interface(linux_guest.name, NicSpec(bridge=bridge))
        (nic,) = [n for n in domain.devices.interfaces if n.source_bridge == bridge]
        assert nic.mac is not None
        assert nic.alias
        # The default scope of a running persistent VM: live and the definition.
        assert nic.mac.encode() in await host.domain_xml(linux_guest.name, inactive=True)

        async with pool.subscribe() as events:
            domain = await host.detach_interface(linux_guest.name, nic.mac)
            removed = await wait_for_event(
                events,
                DomainDeviceEvent,
                lambda e: e.domain_uuid == linux_guest.uuid and e.change == "removed",
            )
        assert removed.alias == nic.alias
        live = await host.get_domain(linux_guest.name)
        assert nic.mac not in [n.mac for n in live.devices.interfaces]
        assert nic.mac.encode() not in await host.domain_xml(linux_guest.name, inactive=True)

        async with pool.subscribe() as events:
            await host.detach_disk(linux_guest.name, "vdb", scope=DeviceScope.LIVE)
            await wait_for_event(
                events,
                DomainDeviceEvent,
                lambda e: e.domain_uuid == linux_guest.uuid and e.change == "removed",
            )
        await anyio.to_thread.run_sync(wait_for_serial, linux_guest, f"{_SAY}block remove vdb")
        live = await host.get_domain(linux_guest.name)
        assert "vdb" not in {d.target_dev for d in live.devices.disks}


async def test_a_live_detach_with_wait_returns_once_the_guest_let_go(
    linux_guest: LinuxGuest, bridge: str
) -> None:
    extra = linux_guest.disk_path.with_name(f"{linux_guest.name}-vdc.qcow2")
    await anyio.run_process(["qemu-img", "create", "-q", "-f", "qcow2", str(extra), "16M"])
    async with test_pool() as pool:
        host = await pool.add_host("kvm", linux_guest.uri)
        disk = ExistingPath(path=str(extra), format=VolumeFormat.QCOW2)
        await host.attach_disk(linux_guest.name, disk, target="vdb", scope=DeviceScope.LIVE)
        await anyio.to_thread.run_sync(wait_for_serial, linux_guest, f"{_SAY}block add vdb")
        domain = await host.attach_interface(linux_guest.name, NicSpec(bridge=bridge))
        (nic,) = [n for n in domain.devices.interfaces if n.source_bridge == bridge]
        assert nic.mac is not None

        # Back from the wait, the device is gone from the live VM (libvirt's event, no poll).
        domain = await host.detach_interface(linux_guest.name, nic.mac, wait=True, timeout=120)
        assert nic.mac not in [n.mac for n in domain.devices.interfaces]
        domain = await host.detach_disk(
            linux_guest.name, "vdb", scope=DeviceScope.LIVE, wait=True, timeout=120
        )
        assert "vdb" not in {d.target_dev for d in domain.devices.disks}
        await anyio.to_thread.run_sync(wait_for_serial, linux_guest, f"{_SAY}block remove vdb")

        # A definition-only detach has nothing to wait for; a missing device is refused.
        with pytest.raises(NotFoundError):
            await host.detach_disk(linux_guest.name, "vdq", wait=True, timeout=120)
