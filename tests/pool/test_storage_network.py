"""Storage pools, volumes and NAT networks: the test driver, and qemu:///system for real."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtumancer
from virtumancer import ConflictError, InvalidInputError, NotFoundError, SyncHost
from virtumancer.models.network import NatNetworkSpec
from virtumancer.models.spec import ExistingVolume, VmSpec
from virtumancer.testing import virsh

from ..conftest import QEMU_URI

MIB = 1024 * 1024


@pytest.fixture
def host(test_uri: str) -> Iterator[SyncHost]:
    with virtumancer.connect(test_uri) as connected:
        yield connected


def test_a_nat_network_is_defined_started_stopped_and_deleted(host: SyncHost) -> None:
    spec = NatNetworkSpec(
        name="lab-nat", address="10.77.0.1", dhcp_start="10.77.0.100", dhcp_end="10.77.0.200"
    )
    network = host.define_network(spec)
    assert (network.name, network.forward_mode, network.active) == ("lab-nat", "nat", False)
    with pytest.raises(ConflictError):
        host.define_network(spec)
    assert host.start_network("lab-nat").active
    with pytest.raises(ConflictError):
        host.start_network("lab-nat")
    assert not host.stop_network("lab-nat").active
    host.delete_network("lab-nat")
    assert "lab-nat" not in {n.name for n in host.networks()}
    with pytest.raises(NotFoundError):
        host.delete_network("lab-nat")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"address": "10.77.0.300"}, "address"),
        ({"dhcp_start": "10.78.0.2", "dhcp_end": "10.78.0.9"}, "dhcp_start"),
        ({"dhcp_start": "10.77.0.9", "dhcp_end": "10.77.0.2"}, "dhcp_end"),
        ({"dhcp_start": "10.77.0.9"}, "dhcp_end"),
    ],
)
def test_bad_network_addresses_are_refused_naming_the_field(
    host: SyncHost, changes: dict[str, str], field: str
) -> None:
    values: dict[str, str] = {"name": "bad", "address": "10.77.0.1", **changes}
    with pytest.raises(InvalidInputError) as caught:
        host.define_network(NatNetworkSpec(**values))  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_volume_is_created_and_deleted_and_a_used_one_is_kept(host: SyncHost) -> None:
    volume = host.create_volume("guest-pool0", "extra.qcow2", 64 * MIB)
    assert volume.capacity_bytes == 64 * MIB
    # (The test driver cannot resize; growing is tested on qemu below.)
    with pytest.raises(ConflictError) as shrink:
        host.resize_volume("guest-pool0", "extra.qcow2", 32 * MIB)
    assert shrink.value.field == "size_bytes"
    host.create_vm(
        VmSpec(
            name="user",
            memory_bytes=64 * MIB,
            disks=(ExistingVolume(pool="guest-pool0", volume="extra.qcow2"),),
        )
    )
    with pytest.raises(ConflictError) as used:
        host.delete_volume("guest-pool0", "extra.qcow2")
    assert used.value.vm_name == "user"
    host.delete_vm("user")
    with pytest.raises(ConflictError) as huge:
        host.create_volume("guest-pool0", "huge.qcow2", 2**60)
    assert huge.value.field == "size_bytes"
    host.delete_volume("guest-pool0", "extra.qcow2")
    assert "extra.qcow2" not in {v.name for v in host.storage_volumes("guest-pool0")}
    with pytest.raises(NotFoundError):
        host.delete_volume("guest-pool0", "extra.qcow2")


@pytest.mark.kvm
def test_a_directory_pool_and_its_volumes_on_qemu(
    libvirtd: str, run_prefix: str, tmp_path: Path
) -> None:
    name, directory = f"{run_prefix}dpool", tmp_path / "dpool"
    os.chmod(tmp_path, 0o755)  # noqa: S103 (libvirt makes the directory in it)
    with virtumancer.connect(QEMU_URI) as qemu:
        try:
            pool = qemu.create_storage_pool(name, str(directory), autostart=False)
            assert (pool.state, pool.target_path) == ("running", str(directory))
            assert directory.is_dir()
            qemu.create_volume(name, "a.qcow2", 32 * MIB)
            qemu.resize_volume(name, "a.qcow2", 48 * MIB)
            assert "48.00 MiB" in virsh(QEMU_URI, "vol-info", "a.qcow2", "--pool", name)
            with pytest.raises(ConflictError) as busy:
                qemu.delete_storage_pool(name)
            assert busy.value.field == "delete_volumes"
            assert qemu.delete_storage_pool(name, delete_volumes=True) == ["a.qcow2"]
            assert not directory.exists()
            assert name not in virsh(QEMU_URI, "pool-list", "--all", "--name").split()
        finally:
            virsh(QEMU_URI, "pool-destroy", name, check=False)
            virsh(QEMU_URI, "pool-undefine", name, check=False)


@pytest.mark.kvm
def test_a_nat_network_is_defined_on_qemu(libvirtd: str, run_prefix: str) -> None:
    # dnsmasq is not installed here, so starting it is tested on the test driver only.
    name = f"{run_prefix}nat"
    spec = NatNetworkSpec(
        name=name,
        address="10.79.0.1",
        dhcp_start="10.79.0.10",
        dhcp_end="10.79.0.20",
        bridge=f"vmtn{run_prefix[-4:]}",
    )
    with virtumancer.connect(QEMU_URI) as qemu:
        try:
            assert qemu.define_network(spec).forward_mode == "nat"
            xml = virsh(QEMU_URI, "net-dumpxml", name)
            assert "<range start='10.79.0.10' end='10.79.0.20'" in xml
        finally:
            virsh(QEMU_URI, "net-undefine", name, check=False)
        assert name not in virsh(QEMU_URI, "net-list", "--all", "--name").split()
