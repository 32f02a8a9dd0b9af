"""VM lifecycle on qemu:///system: the tiny Linux guest created from a spec, booted, stopped.

The storage is a directory pool of the test's own, in a temporary directory (removed after).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

import virtumancer
from virtumancer import ConflictError, DomainState, SyncHost
from virtumancer.models.spec import (
    Accelerator,
    CloudInitSpec,
    KernelBoot,
    NewVolume,
    SerialSpec,
    SerialType,
    VmSpec,
)
from virtumancer.testing import LINUX_GUEST_BANNER, virsh

from ..conftest import QEMU_URI, LinuxGuest, _remove_guest, wait_for_serial

pytestmark = [pytest.mark.kvm, pytest.mark.linux]

MIB = 1024 * 1024


@pytest.fixture
def dir_pool(run_prefix: str, tmp_path: Path) -> Iterator[str]:
    """A transient directory pool in a temporary directory, destroyed with its volumes after."""
    name = f"{run_prefix}pool"
    directory = tmp_path / "pool"
    directory.mkdir()
    os.chmod(tmp_path, 0o755)  # noqa: S103 (QEMU reads the serial log directory)
    virsh(QEMU_URI, "pool-create-as", name, "dir", "--target", str(directory))
    yield name
    for volume in virsh(QEMU_URI, "vol-list", name, check=False).splitlines():
        if volume.split():
            virsh(QEMU_URI, "vol-delete", volume.split()[0], "--pool", name, check=False)
    virsh(QEMU_URI, "pool-destroy", name, check=False)


@pytest.fixture
def host(libvirtd: str) -> Iterator[SyncHost]:
    with virtumancer.connect(QEMU_URI) as connected:
        yield connected


def _volumes(pool: str) -> list[str]:
    lines = virsh(QEMU_URI, "vol-list", pool).splitlines()
    return sorted(line.split()[0] for line in lines if line.split())


def _linux_spec(
    name: str, pool: str, serial_log: Path, linux_guest_files: tuple[Path, Path]
) -> VmSpec:
    kernel, initrd = linux_guest_files
    return VmSpec(
        name=name,
        memory_bytes=128 * MIB,
        machine="pc",
        accelerator=Accelerator.TCG,  # a Linux kernel hangs under nested KVM here
        disks=(NewVolume(pool=pool, size_bytes=64 * MIB),),
        graphics=None,
        kernel_boot=KernelBoot(kernel=str(kernel), initrd=str(initrd), cmdline="console=ttyS0"),
        serial=SerialSpec(type=SerialType.FILE, log_path=str(serial_log)),
        cloud_init=CloudInitSpec(ssh_authorized_keys=("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 test",)),
    )


def test_the_linux_guest_made_from_a_spec_boots_shuts_down_and_is_deleted(
    host: SyncHost,
    dir_pool: str,
    run_prefix: str,
    tmp_path: Path,
    linux_guest_files: tuple[Path, Path],
) -> None:
    name = f"{run_prefix}spec"
    serial_log = tmp_path / "serial.log"
    try:
        domain = host.create_vm(
            _linux_spec(name, dir_pool, serial_log, linux_guest_files), start=True
        )
        assert domain.state is DomainState.RUNNING
        assert _volumes(dir_pool) == [f"{name}-cidata.iso", f"{name}-disk0.qcow2"]
        guest = LinuxGuest(
            name=name, uuid=domain.uuid, uri=QEMU_URI, disk_path=tmp_path, serial_log=serial_log
        )
        wait_for_serial(guest, LINUX_GUEST_BANNER)
        # ACPI shutdown, waited for through libvirt's events: the guest powers itself off.
        host.power(name, "shutdown", wait=True, timeout=120)
        assert virsh(QEMU_URI, "domstate", name).strip() == "shut off"
        deleted = host.delete_vm(name, delete_storage=True)
        assert len(deleted) == 2
        assert _volumes(dir_pool) == []
        assert name not in virsh(QEMU_URI, "list", "--all", "--name").split()
    finally:
        _remove_guest(name)


def test_a_spec_that_does_not_fit_leaves_nothing_on_the_host(
    host: SyncHost,
    dir_pool: str,
    run_prefix: str,
    tmp_path: Path,
    linux_guest_files: tuple[Path, Path],
) -> None:
    name = f"{run_prefix}toobig"
    spec = _linux_spec(name, dir_pool, tmp_path / "serial.log", linux_guest_files)
    huge = NewVolume(pool=dir_pool, size_bytes=2**60)
    with pytest.raises(ConflictError) as caught:
        host.create_vm(attrs.evolve(spec, disks=(*spec.disks, huge)))
    assert caught.value.field == "disks[1].size_bytes"
    assert _volumes(dir_pool) == []
    assert name not in virsh(QEMU_URI, "list", "--all", "--name").split()
