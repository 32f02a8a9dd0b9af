"""Desired state of snapshots, volumes and NAT networks: check mode, idempotence, diffs.

On libvirt's test driver (a node of its own per test), and on qemu:///system for what the
test driver cannot do (resize a volume, read a network's inactive definition).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

import virtumancer
from virtumancer import ConflictError, InvalidInputError, NotFoundError, SyncHost
from virtumancer.models.network import NatNetworkSpec
from virtumancer.testing import virsh

from ..conftest import QEMU_URI

MIB = 1024 * 1024
POOL = "guest-pool0"


@pytest.fixture
def host(test_uri: str) -> Iterator[SyncHost]:
    with virtumancer.connect(test_uri) as connected:
        yield connected


def _volumes(host: SyncHost) -> set[str]:
    return {volume.name for volume in host.storage_volumes(POOL)}


def _running_vm(host: SyncHost) -> str:
    return next(domain.name for domain in host.domains() if domain.state == 1)


# -- volumes ----------------------------------------------------------------------------


def test_a_volume_is_created_once_and_removed_once(host: SyncHost) -> None:
    planned = host.ensure_volume(POOL, "data.qcow2", capacity_bytes=64 * MIB, check=True)
    assert planned.changed
    assert planned.diff == {
        "state": (None, "present"),
        "capacity_bytes": (None, 64 * MIB),
        "format": (None, "qcow2"),
    }
    assert planned.volume is None
    assert "data.qcow2" not in _volumes(host)  # check mode made nothing

    created = host.ensure_volume(POOL, "data.qcow2", capacity_bytes=64 * MIB)
    assert created.changed
    assert created.volume is not None
    assert (created.volume.format, created.volume.capacity_bytes) == ("qcow2", 64 * MIB)
    again = host.ensure_volume(POOL, "data.qcow2", capacity_bytes=64 * MIB, format="qcow2")
    assert (again.changed, again.diff) == (False, {})
    # Without a capacity an existing volume keeps its size.
    assert not host.ensure_volume(POOL, "data.qcow2").changed

    assert host.ensure_volume(POOL, "data.qcow2", "absent", check=True).changed
    assert "data.qcow2" in _volumes(host)
    removed = host.ensure_volume(POOL, "data.qcow2", "absent")
    assert (removed.changed, removed.diff) == (True, {"state": ("present", "absent")})
    assert "data.qcow2" not in _volumes(host)
    assert not host.ensure_volume(POOL, "data.qcow2", "absent").changed


def test_a_volume_that_cannot_be_brought_to_the_state_fails_naming_the_field(
    host: SyncHost,
) -> None:
    host.ensure_volume(POOL, "fixed.raw", capacity_bytes=64 * MIB, format="raw")
    with pytest.raises(ConflictError) as shrink:
        host.ensure_volume(POOL, "fixed.raw", capacity_bytes=32 * MIB, check=True)
    assert shrink.value.field == "capacity_bytes"
    with pytest.raises(ConflictError) as convert:
        host.ensure_volume(POOL, "fixed.raw", format="qcow2")
    assert convert.value.field == "format"
    with pytest.raises(InvalidInputError) as no_size:
        host.ensure_volume(POOL, "new.qcow2")
    assert no_size.value.field == "capacity_bytes"
    with pytest.raises(InvalidInputError) as tiny:
        host.ensure_volume(POOL, "new.qcow2", capacity_bytes=10)
    assert tiny.value.field == "capacity_bytes"
    with pytest.raises(InvalidInputError) as fmt:
        host.ensure_volume(POOL, "new.qcow2", capacity_bytes=64 * MIB, format="vmdk")
    assert fmt.value.field == "format"
    with pytest.raises(NotFoundError) as no_pool:
        host.ensure_volume("no-such-pool", "new.qcow2", "absent")
    assert no_pool.value.field == "pool"
    with pytest.raises(InvalidInputError) as state:
        host.ensure_volume(POOL, "new.qcow2", "gone")
    assert state.value.field == "state"
    assert "new.qcow2" not in _volumes(host)


@pytest.mark.kvm
def test_a_volume_grows_on_qemu_and_check_mode_leaves_it(
    libvirtd: str, run_prefix: str, tmp_path: Path
) -> None:
    name = f"{run_prefix}epool"
    os.chmod(tmp_path, 0o755)  # noqa: S103 (libvirt makes the directory in it)
    with virtumancer.connect(QEMU_URI) as qemu:
        try:
            qemu.create_storage_pool(name, str(tmp_path / "epool"), autostart=False)
            qemu.ensure_volume(name, "g.qcow2", capacity_bytes=32 * MIB)
            planned = qemu.ensure_volume(name, "g.qcow2", capacity_bytes=48 * MIB, check=True)
            assert planned.diff == {"capacity_bytes": (32 * MIB, 48 * MIB)}
            assert qemu.volume(name, "g.qcow2").capacity_bytes == 32 * MIB
            grown = qemu.ensure_volume(name, "g.qcow2", capacity_bytes=48 * MIB)
            assert grown.volume is not None
            assert grown.volume.capacity_bytes == 48 * MIB
            assert "48.00 MiB" in virsh(QEMU_URI, "vol-info", "g.qcow2", "--pool", name)
            assert not qemu.ensure_volume(name, "g.qcow2", capacity_bytes=48 * MIB).changed
        finally:
            qemu.delete_storage_pool(name, delete_volumes=True)


# -- networks ---------------------------------------------------------------------------

LAB = NatNetworkSpec(
    name="lab", address="10.88.0.1", dhcp_start="10.88.0.100", dhcp_end="10.88.0.199"
)


def test_a_network_is_defined_started_and_removed_once(host: SyncHost) -> None:
    planned = host.ensure_network("lab", "started", spec=LAB, check=True)
    assert planned.changed
    assert planned.diff["state"] == (None, "started")
    assert planned.diff["address"] == (None, "10.88.0.1")
    assert "bridge" not in planned.diff  # left to libvirt
    with pytest.raises(NotFoundError):
        host.network("lab")

    started = host.ensure_network("lab", "started", spec=LAB)
    assert started.network is not None
    assert (started.network.active, started.network.forward_mode) == (True, "nat")
    again = host.ensure_network("lab", "started", spec=LAB)
    assert (again.changed, again.diff) == (False, {})
    # Without a spec an existing network's definition is left alone.
    assert not host.ensure_network("lab", "present").changed

    stopped = host.ensure_network("lab", "stopped", check=True)
    assert stopped.diff == {"state": ("started", "stopped")}
    assert host.network("lab").active
    assert not host.ensure_network("lab", "stopped").network.active  # type: ignore[union-attr]

    removed = host.ensure_network("lab", "absent")
    assert removed.diff == {"state": ("stopped", "absent")}
    assert not host.ensure_network("lab", "absent").changed
    assert "lab" not in {network.name for network in host.networks()}


def test_a_changed_range_replaces_the_definition_keeping_the_uuid(host: SyncHost) -> None:
    first = host.ensure_network("lab", "present", spec=LAB).network
    assert first is not None
    wider = attrs.evolve(LAB, dhcp_end="10.88.0.250", autostart=True)
    changed = host.ensure_network("lab", "present", spec=wider)
    assert changed.diff == {
        "dhcp_end": ("10.88.0.199", "10.88.0.250"),
        "autostart": (False, True),
    }
    assert changed.network is not None
    assert (changed.network.uuid, changed.network.autostart) == (first.uuid, True)
    assert "end='10.88.0.250'" in host.network_xml("lab")
    assert not host.ensure_network("lab", "present", spec=wider).changed


def test_bad_network_arguments_fail_before_anything_is_made(host: SyncHost) -> None:
    with pytest.raises(InvalidInputError) as no_address:
        host.ensure_network("lab", "started")
    assert no_address.value.field == "address"
    bad_range = attrs.evolve(LAB, dhcp_start="10.99.0.1")
    with pytest.raises(InvalidInputError) as outside:
        host.ensure_network("lab", "started", spec=bad_range, check=True)
    assert outside.value.field == "dhcp_start"
    with pytest.raises(InvalidInputError) as other_name:
        host.ensure_network("other", "started", spec=LAB)
    assert other_name.value.field == "name"
    with pytest.raises(InvalidInputError) as state:
        host.ensure_network("lab", "running", spec=LAB)
    assert state.value.field == "state"
    assert "lab" not in {network.name for network in host.networks()}


@pytest.mark.kvm
def test_a_network_definition_converges_on_qemu(libvirtd: str, run_prefix: str) -> None:
    # No dnsmasq here: the network is defined, not started (see test_storage_network).
    name = f"{run_prefix}enat"
    spec = NatNetworkSpec(
        name=name,
        address="10.89.0.1",
        dhcp_start="10.89.0.10",
        dhcp_end="10.89.0.20",
        bridge=f"vmte{run_prefix[-4:]}",
    )
    with virtumancer.connect(QEMU_URI) as qemu:
        try:
            assert qemu.ensure_network(name, "present", spec=spec).changed
            assert not qemu.ensure_network(name, "present", spec=spec).changed
            moved = attrs.evolve(
                spec, address="10.90.0.1", prefix=16, dhcp_start="10.90.1.1", dhcp_end="10.90.1.9"
            )
            assert set(qemu.ensure_network(name, "stopped", spec=moved).diff) == {
                "address",
                "prefix",
                "dhcp_start",
                "dhcp_end",
            }
            assert "<range start='10.90.1.1' end='10.90.1.9'" in virsh(
                QEMU_URI, "net-dumpxml", name
            )
            assert not qemu.ensure_network(name, "stopped", spec=moved).changed
            assert qemu.ensure_network(name, "absent").changed
        finally:
            virsh(QEMU_URI, "net-undefine", name, check=False)


# -- snapshots --------------------------------------------------------------------------


def test_a_snapshot_is_taken_once_reverted_to_and_deleted_once(host: SyncHost) -> None:
    vm = _running_vm(host)
    planned = host.ensure_snapshot(vm, "base", description="first", check=True)
    assert planned.diff == {
        "state": (None, "present"),
        "memory": (None, True),
        "description": (None, "first"),
    }
    assert host.snapshots(vm) == []

    taken = host.ensure_snapshot(vm, "base", description="first")
    assert taken.snapshot is not None
    assert (taken.snapshot.name, taken.snapshot.memory) == ("base", True)
    again = host.ensure_snapshot(vm, "base", memory=False, description="other")
    assert (again.changed, again.diff) == (False, {})  # never changed once taken

    assert host.ensure_snapshot(vm, "base", "reverted", check=True).changed
    reverted = host.ensure_snapshot(vm, "base", "reverted")
    assert reverted.diff == {"state": ("present", "reverted")}
    assert reverted.snapshot is not None
    assert reverted.snapshot.current

    assert host.ensure_snapshot(vm, "base", "absent", check=True).changed
    assert [snapshot.name for snapshot in host.snapshots(vm)] == ["base"]
    assert host.ensure_snapshot(vm, "base", "absent").changed
    assert not host.ensure_snapshot(vm, "base", "absent").changed
    assert host.snapshots(vm) == []
    # A VM that does not exist has no snapshots to remove.
    assert not host.ensure_snapshot("no-such-vm", "base", "absent").changed


def test_a_snapshot_that_cannot_be_reached_fails_naming_the_field(host: SyncHost) -> None:
    vm = _running_vm(host)
    with pytest.raises(NotFoundError) as missing:
        host.ensure_snapshot(vm, "never", "reverted", check=True)
    assert missing.value.field == "name"
    host.power(vm, "destroy", wait=True)
    with pytest.raises(ConflictError) as no_memory:
        host.ensure_snapshot(vm, "warm", memory=True, check=True)
    assert no_memory.value.field == "memory"
    with pytest.raises(NotFoundError):
        host.ensure_snapshot("no-such-vm", "base")
    with pytest.raises(InvalidInputError) as state:
        host.ensure_snapshot(vm, "base", "restored")
    assert state.value.field == "state"
    assert host.snapshots(vm) == []
