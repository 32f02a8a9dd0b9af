"""Snapshots on qemu:///system with the Linux guest's qcow2 disk: revert undoes a change."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtumancer
from virtumancer import DomainState, SyncHost, VmChange

from ..conftest import QEMU_URI, LinuxGuestFactory

pytestmark = [pytest.mark.kvm, pytest.mark.linux]


@pytest.fixture
def host(libvirtd: str) -> Iterator[SyncHost]:
    with virtumancer.connect(QEMU_URI) as connected:
        yield connected


def _reads(image: Path, pattern: int) -> bool:
    """Whether the image's first MiB holds ``pattern`` (qemu-io checks every byte)."""
    result = subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", f"read -P {pattern:#x} 0 1M", str(image)],
        capture_output=True,
        text=True,
        check=True,
    )
    return "Pattern verification failed" not in result.stdout + result.stderr


def test_a_revert_undoes_a_write_to_the_disk_and_a_change_of_the_definition(
    host: SyncHost, linux_guest_factory: LinuxGuestFactory
) -> None:
    guest = linux_guest_factory(start=False)
    snapshot = host.create_snapshot(guest.name, "clean", description="before the write")
    assert not snapshot.memory
    assert not snapshot.external  # a stopped VM's qcow2: an internal disk snapshot
    # A change on disk (written where the guest's vda is) and one in the definition.
    subprocess.run(
        ["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 1M", str(guest.disk_path)],
        check=True,
        capture_output=True,
    )
    assert _reads(guest.disk_path, 0xAB)
    host.update_vm(guest.name, VmChange(description="changed after the snapshot"))

    host.revert_snapshot(guest.name, "clean")
    assert _reads(guest.disk_path, 0)
    assert host.domain(guest.name).description == "Virtumancer Linux test guest"
    host.delete_snapshot(guest.name, "clean")
    assert host.snapshots(guest.name) == []


def test_a_snapshot_with_memory_resumes_the_guest_where_it_was(
    host: SyncHost, linux_guest_factory: LinuxGuestFactory
) -> None:
    guest = linux_guest_factory()
    snapshot = host.create_snapshot(guest.name, "warm")
    assert snapshot.memory
    assert snapshot.state == "running"
    host.power(guest.name, "destroy", wait=True)
    domain = host.revert_snapshot(guest.name, "warm")
    # Its memory came back: running again, without a boot.
    assert domain.state is DomainState.RUNNING
    host.power(guest.name, "destroy", wait=True)
    host.delete_snapshot(guest.name, "warm")
