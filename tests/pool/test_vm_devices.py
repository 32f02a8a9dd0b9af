"""Attach and detach disks and NICs on libvirt's test driver (the persistent definition)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import virtumancer
from virtumancer import ConflictError, DeviceScope, DomainState, NotFoundError, SyncHost
from virtumancer.models.spec import NewVolume, NicSpec

MIB = 1024 * 1024
POOL = "guest-pool0"
#: A shut-off domain of the test node (the first half run).
STOPPED = "guest-0009"


@pytest.fixture
def host(test_uri: str) -> Iterator[SyncHost]:
    with virtumancer.connect(test_uri) as connected:
        yield connected


def test_a_persistent_only_attach_to_a_stopped_vm_lands_in_its_definition(host: SyncHost) -> None:
    assert host.domain(STOPPED).state is DomainState.SHUTOFF
    before = {disk.target_dev for disk in host.domain(STOPPED).devices.disks}
    domain = host.attach_disk(
        STOPPED, NewVolume(pool=POOL, size_bytes=16 * MIB), scope=DeviceScope.CONFIG
    )
    added = {disk.target_dev for disk in domain.devices.disks} - before
    assert len(added) == 1
    (target,) = added
    assert target.startswith("vd")
    assert f"{STOPPED}-{target}.qcow2" in {v.name for v in host.storage_volumes(POOL)}
    inactive = host.domain_xml(STOPPED, inactive=True).decode()
    assert f"dev='{target}'" in inactive or f'dev="{target}"' in inactive

    domain = host.attach_interface(STOPPED, NicSpec(network="guest-net0"))
    macs = [nic.mac for nic in domain.devices.interfaces]
    new_mac = macs[-1]
    assert new_mac is not None
    assert new_mac.startswith("52:54:00:")

    domain = host.detach_interface(STOPPED, new_mac)
    assert new_mac not in [nic.mac for nic in domain.devices.interfaces]
    domain = host.detach_disk(STOPPED, target)
    assert target not in {disk.target_dev for disk in domain.devices.disks}
    # The volume stays: a detach is not a delete.
    assert f"{STOPPED}-{target}.qcow2" in {v.name for v in host.storage_volumes(POOL)}


def test_a_live_change_of_a_stopped_vm_and_an_unknown_device_are_refused(host: SyncHost) -> None:
    with pytest.raises(ConflictError) as caught:
        host.attach_interface(STOPPED, NicSpec(network="guest-net0"), scope=DeviceScope.LIVE)
    assert caught.value.field == "scope"
    with pytest.raises(NotFoundError) as missing:
        host.detach_disk(STOPPED, "vdz")
    assert missing.value.field == "target"
    with pytest.raises(NotFoundError):
        host.detach_interface(STOPPED, "52:54:00:ff:ff:ff")


def test_a_target_in_use_is_refused_and_creates_no_volume(host: SyncHost) -> None:
    used = host.domain(STOPPED).devices.disks[0].target_dev
    before = {v.name for v in host.storage_volumes(POOL)}
    with pytest.raises(ConflictError) as caught:
        host.attach_disk(STOPPED, NewVolume(pool=POOL, size_bytes=MIB), target=used)
    assert caught.value.field == "target"
    assert {v.name for v in host.storage_volumes(POOL)} == before
