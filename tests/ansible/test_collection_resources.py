"""The snapshot, volume and network modules: real playbooks against the real libvirtd.

Networks and snapshots run on the daemon's shared ``test+unix:///default`` node (no dnsmasq
here to start a network on qemu:///system); volumes on qemu:///system, in a directory pool
of their own, since only a real storage driver grows a volume.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import virtumancer
from tests.ansible.conftest import SHARED_TEST_URI, PlaybookRunner
from tests.conftest import QEMU_URI
from virtumancer import SyncHost

pytestmark = pytest.mark.libvirt

#: The running domain of libvirt's default test node.
TEST_VM = "test"


def _passed(process: subprocess.CompletedProcess[str]) -> str:
    assert process.returncode == 0, process.stdout[-6000:] + process.stderr[-3000:]
    assert "failed=0" in process.stdout
    return process.stdout


@pytest.fixture
def qemu_dir_pool(run_prefix: str, tmp_path: Path) -> Iterator[str]:
    """A directory pool on qemu:///system in a temporary directory, removed after."""
    name = f"{run_prefix}ans-vpool"
    os.chmod(tmp_path, 0o755)  # noqa: S103 (libvirt makes the directory in it)
    with virtumancer.connect(QEMU_URI) as qemu:
        qemu.create_storage_pool(name, str(tmp_path / "pool"), autostart=False)
        try:
            yield name
        finally:
            qemu.delete_storage_pool(name, delete_volumes=True)


def test_a_network_is_defined_started_changed_and_removed(
    run_playbook: PlaybookRunner, shared_test_host: SyncHost
) -> None:
    network = f"ans-{secrets.token_hex(3)}"
    _passed(run_playbook("network.yml", {"uri": SHARED_TEST_URI, "network": network}))
    assert network not in {found.name for found in shared_test_host.networks()}
    assert f"{network}-2" not in {found.name for found in shared_test_host.networks()}


def test_network_diff_mode_shows_the_state_and_the_range(
    run_playbook: PlaybookRunner, shared_test_host: SyncHost
) -> None:
    network = f"ans-{secrets.token_hex(3)}"
    out = _passed(
        run_playbook("network.yml", {"uri": SHARED_TEST_URI, "network": network}, "--diff")
    )
    assert f"--- before: network {network}" in out
    assert '-    "dhcp_end": "10.66.0.199",' in out
    assert '+    "dhcp_end": "10.66.0.250",' in out
    assert '+    "state": "started"' in out


def test_a_snapshot_is_taken_reverted_to_and_deleted(
    run_playbook: PlaybookRunner, shared_test_host: SyncHost
) -> None:
    snapshot = f"ans-{secrets.token_hex(3)}"
    _passed(
        run_playbook("snapshot.yml", {"uri": SHARED_TEST_URI, "vm": TEST_VM, "snapshot": snapshot})
    )
    assert snapshot not in {found.name for found in shared_test_host.snapshots(TEST_VM)}


@pytest.mark.kvm
def test_a_volume_is_created_grown_and_removed_on_qemu(
    run_playbook: PlaybookRunner, qemu_dir_pool: str
) -> None:
    _passed(
        run_playbook("volume.yml", {"uri": QEMU_URI, "pool": qemu_dir_pool, "volume": "ans.qcow2"})
    )
    with virtumancer.connect(QEMU_URI) as qemu:
        assert qemu.storage_volumes(qemu_dir_pool) == []
