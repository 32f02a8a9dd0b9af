"""Clone on libvirt's test driver: a new name, UUID and MACs, disks as overlays; refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import virtumancer
from virtumancer import ConflictError, SyncHost
from virtumancer.models.spec import NewVolume, NicSpec, VmSpec

MIB = 1024 * 1024
POOL = "guest-pool0"


@pytest.fixture
def host(test_uri: str) -> Iterator[SyncHost]:
    with virtumancer.connect(test_uri) as connected:
        yield connected


def _source(host: SyncHost) -> None:
    host.create_vm(
        VmSpec(
            name="src",
            memory_bytes=128 * MIB,
            disks=(NewVolume(pool=POOL, size_bytes=64 * MIB),),
            nics=(NicSpec(network="guest-net0"), NicSpec(network="guest-net1")),
            description="the original",
        )
    )


def test_a_clone_gets_a_new_uuid_new_macs_and_an_overlay_of_each_disk(host: SyncHost) -> None:
    _source(host)
    original = host.domain("src")
    clone = host.clone_vm("src", "dst")
    assert clone.name == "dst"
    assert clone.uuid != original.uuid
    old_macs = {nic.mac for nic in original.devices.interfaces}
    new_macs = {nic.mac for nic in clone.devices.interfaces}
    assert len(new_macs) == 2
    assert not old_macs & new_macs
    assert clone.description == "the original"
    assert clone.metadata is not None  # managed: our provenance is written
    (disk,) = clone.devices.disks
    assert disk.source_path is not None
    assert disk.source_path.endswith("/dst-disk0.qcow2")
    assert "dst-disk0.qcow2" in {v.name for v in host.storage_volumes(POOL)}


def test_a_running_source_and_a_name_in_use_are_refused(host: SyncHost) -> None:
    _source(host)
    before = {v.name for v in host.storage_volumes(POOL)}
    with pytest.raises(ConflictError) as taken:
        host.clone_vm("src", "guest-0001")
    assert taken.value.field == "name"
    host.start("src")
    with pytest.raises(ConflictError) as running:
        host.clone_vm("src", "dst")
    assert running.value.field == "source"
    assert {v.name for v in host.storage_volumes(POOL)} == before
