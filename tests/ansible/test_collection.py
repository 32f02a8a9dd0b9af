"""The virtumancer.libvirt collection: real playbooks through ansible-playbook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.ansible.conftest import (
    ROOT,
    SHARED_TEST_POOL,
    SHARED_TEST_URI,
    PlaybookRunner,
    ansible_environment,
)
from virtumancer import SyncHost

pytestmark = pytest.mark.libvirt


def _passed(process: subprocess.CompletedProcess[str]) -> str:
    assert process.returncode == 0, process.stdout[-6000:] + process.stderr[-3000:]
    return process.stdout


def test_create_converge_stop_and_remove_a_vm(
    run_playbook: PlaybookRunner, shared_test_host: SyncHost, vm_name: str
) -> None:
    out = _passed(
        run_playbook(
            "lifecycle.yml", {"uri": SHARED_TEST_URI, "vm": vm_name, "pool": SHARED_TEST_POOL}
        )
    )
    assert "failed=0" in out
    assert vm_name not in {domain.name for domain in shared_test_host.domains()}


def test_diff_mode_shows_the_fields_that_change(
    run_playbook: PlaybookRunner, shared_test_host: SyncHost, vm_name: str
) -> None:
    out = _passed(
        run_playbook(
            "lifecycle.yml",
            {"uri": SHARED_TEST_URI, "vm": vm_name, "pool": SHARED_TEST_POOL},
            "--diff",
        )
    )
    # Ansible prints a unified diff of the before/after objects under their headers.
    assert f"--- before: vm {vm_name}" in out
    assert f"+++ after: vm {vm_name}" in out
    assert '+    "memory_bytes": 268435456' in out
    assert '-    "state": "running"' in out
    assert '+    "state": "stopped"' in out


def test_bad_arguments_fail_with_the_option_path(
    run_playbook: PlaybookRunner, shared_test_host: SyncHost, vm_name: str
) -> None:
    _passed(
        run_playbook(
            "bad_arguments.yml", {"uri": SHARED_TEST_URI, "vm": vm_name, "pool": SHARED_TEST_POOL}
        )
    )
    assert vm_name not in {domain.name for domain in shared_test_host.domains()}


@pytest.mark.parametrize("module", ["vm", "vm_info", "host_info", "snapshot", "volume", "network"])
def test_ansible_doc_renders_each_module(module: str, tmp_path: Path) -> None:
    process = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-doc"), f"virtumancer.libvirt.{module}"],
        env=ansible_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert "ERROR" not in process.stderr
    for section in ("OPTIONS", "EXAMPLES", "RETURN VALUES", "uri"):
        assert section in process.stdout, section
    assert str(ROOT / "ansible_collections") in process.stdout
