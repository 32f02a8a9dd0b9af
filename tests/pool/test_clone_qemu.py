"""Clone the Linux guest on qemu:///system (overlay and full copy) and boot the clone."""

from __future__ import annotations

from pathlib import Path

import attrs

from virtumancer import DomainState, SyncHost
from virtumancer.testing import LINUX_GUEST_BANNER, virsh

from ..conftest import QEMU_URI, LinuxGuest, _remove_guest, wait_for_serial
from .test_vm_lifecycle_qemu import _linux_spec, _volumes, dir_pool, host, pytestmark

__all__ = ["dir_pool", "host", "pytestmark"]


def test_a_full_copy_clone_reports_progress_and_boots_with_its_own_console(
    host: SyncHost,
    dir_pool: str,
    run_prefix: str,
    tmp_path: Path,
    linux_guest_files: tuple[Path, Path],
) -> None:
    source, clone = f"{run_prefix}orig", f"{run_prefix}copy"
    spec = attrs.evolve(
        _linux_spec(source, dir_pool, tmp_path / f"{source}.serial.log", linux_guest_files),
        cloud_init=None,
    )
    try:
        original = host.create_vm(spec)
        seen: list[tuple[int, int]] = []
        copied = host.clone_vm(
            source, clone, full_copy=True, progress=lambda d, t: seen.append((d, t))
        )
        assert copied.uuid != original.uuid
        assert _volumes(dir_pool) == [f"{clone}-disk0.qcow2", f"{source}-disk0.qcow2"]
        assert seen
        assert seen[-1][0] == seen[-1][1] > 0
        assert "backing" not in virsh(
            QEMU_URI, "vol-dumpxml", f"{clone}-disk0.qcow2", "--pool", dir_pool
        )
        host.start(clone)
        booted = LinuxGuest(
            name=clone,
            uuid=copied.uuid,
            uri=QEMU_URI,
            disk_path=tmp_path,
            serial_log=tmp_path / f"{clone}.serial.log",
        )
        wait_for_serial(booted, LINUX_GUEST_BANNER)
        # Its own log: the source's was never written.
        assert not (tmp_path / f"{source}.serial.log").exists()
        assert host.domain(source).state is DomainState.SHUTOFF
    finally:
        _remove_guest(clone)
        _remove_guest(source)


def test_an_overlay_clone_has_the_source_disk_as_backing_file(
    host: SyncHost,
    dir_pool: str,
    run_prefix: str,
    tmp_path: Path,
    linux_guest_files: tuple[Path, Path],
) -> None:
    source, clone = f"{run_prefix}base", f"{run_prefix}ovl"
    spec = attrs.evolve(
        _linux_spec(source, dir_pool, tmp_path / f"{source}.serial.log", linux_guest_files),
        cloud_init=None,
    )
    try:
        host.create_vm(spec)
        host.clone_vm(source, clone)
        xml = virsh(QEMU_URI, "vol-dumpxml", f"{clone}-disk0.qcow2", "--pool", dir_pool)
        assert f"{source}-disk0.qcow2</path>" in xml.split("<backingStore>")[1]
        host.start(clone)
        booted = LinuxGuest(
            name=clone,
            uuid="",
            uri=QEMU_URI,
            disk_path=tmp_path,
            serial_log=tmp_path / f"{clone}.serial.log",
        )
        wait_for_serial(booted, LINUX_GUEST_BANNER)
    finally:
        _remove_guest(clone)
        _remove_guest(source)
