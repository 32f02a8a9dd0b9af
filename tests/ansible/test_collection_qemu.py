"""The collection on qemu:///system: the tiny Linux guest created, converged, stopped, removed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ansible.conftest import PlaybookRunner
from tests.conftest import QEMU_URI, _remove_guest
from virtumancer.testing import virsh

pytestmark = [pytest.mark.kvm, pytest.mark.linux]

MIB = 1024 * 1024


@pytest.fixture
def dir_pool(run_prefix: str, tmp_path: Path) -> Iterator[str]:
    """A transient directory pool in a temporary directory, destroyed with its volumes after."""
    name = f"{run_prefix}ans-pool"
    directory = tmp_path / "pool"
    directory.mkdir()
    os.chmod(tmp_path, 0o755)  # noqa: S103 (QEMU reads the serial log directory)
    virsh(QEMU_URI, "pool-create-as", name, "dir", "--target", str(directory))
    yield name
    for volume in virsh(QEMU_URI, "vol-list", name, check=False).splitlines()[2:]:
        if volume.split():
            virsh(QEMU_URI, "vol-delete", volume.split()[0], "--pool", name, check=False)
    virsh(QEMU_URI, "pool-destroy", name, check=False)


def test_the_linux_guest_through_a_playbook(
    run_playbook: PlaybookRunner,
    run_prefix: str,
    dir_pool: str,
    linux_guest_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    kernel, initrd = linux_guest_files
    name = f"{run_prefix}ans"
    spec = {
        "memory_bytes": 128 * MIB,
        "machine": "pc",
        "accelerator": "tcg",  # a Linux kernel hangs under nested KVM here
        "disks": [{"kind": "new_volume", "pool": dir_pool, "size_bytes": 64 * MIB}],
        "graphics": None,
        "kernel_boot": {"kernel": str(kernel), "initrd": str(initrd), "cmdline": "console=ttyS0"},
        "serial": {"type": "file", "log_path": str(tmp_path / "serial.log")},
        "description": "made by ansible",
    }
    try:
        process = run_playbook(
            "lifecycle.yml",
            {"uri": QEMU_URI, "vm": name, "pool": dir_pool, "spec": spec, "stop_timeout": 30},
        )
        assert process.returncode == 0, process.stdout[-6000:] + process.stderr[-3000:]
    finally:
        _remove_guest(name)
    assert name not in virsh(QEMU_URI, "list", "--all", "--name")
