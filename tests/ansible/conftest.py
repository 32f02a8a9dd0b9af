"""Run real playbooks with ansible-core against the real libvirtd.

The collection is found through ``ANSIBLE_COLLECTIONS_PATH`` pointing at the repository; the
modules run on ``localhost`` with this interpreter, which has virtumancer installed.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import virtumancer
from virtumancer import SyncHost

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = Path(__file__).parent / "playbooks"
#: The daemon's shared test node: it lives while a connection holds it, so a fixture does.
SHARED_TEST_URI = "test+unix:///default"
SHARED_TEST_POOL = "default-pool"

PlaybookRunner = Callable[..., subprocess.CompletedProcess[str]]


def ansible_environment(home: Path, python: str = sys.executable) -> dict[str, str]:
    """Return the environment for ansible-playbook: this repository's collection only."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(ROOT),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_PYTHON_INTERPRETER": python,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
    }


@pytest.fixture
def run_playbook(tmp_path: Path) -> PlaybookRunner:
    """Run a playbook of ``playbooks/`` on localhost with extra variables; return the process."""
    bindir = Path(sys.executable).parent

    def run(
        name: str, variables: dict[str, object], *args: str
    ) -> subprocess.CompletedProcess[str]:
        extra = tmp_path / "vars.json"
        extra.write_text(json.dumps(variables))
        return subprocess.run(
            [
                str(bindir / "ansible-playbook"),
                "-i",
                "localhost,",
                "-c",
                "local",
                "-e",
                f"@{extra}",
                *args,
                str(PLAYBOOKS / name),
            ],
            env=ansible_environment(tmp_path / "ansible"),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    return run


@pytest.fixture
def shared_test_host(libvirtd: str) -> Iterator[SyncHost]:
    """Hold ``test+unix:///default`` open so its state outlives each task's connection."""
    with virtumancer.connect(SHARED_TEST_URI) as host:
        yield host


@pytest.fixture
def vm_name() -> str:
    """Return a VM name no other test uses."""
    return f"ans-{secrets.token_hex(4)}"
