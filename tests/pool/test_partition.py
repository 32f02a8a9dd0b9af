"""A network partition with calls in flight: the host is marked lost and comes back by itself.

A loopback TCP proxy sits between the pool and the real sshd (``qemu+ssh``). "Freezing" it
stops forwarding bytes while keeping both sockets open -- a silent network, not a refused one.
libvirt's keepalive then kills the connection, but with several calls in flight its close
callback never fires; the pool must notice from the calls' own errors. The scenario runs in a
process of its own (see ``_partition_scenario.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SSH_KEY, SSH_PORT

pytestmark = pytest.mark.ssh

REPO = Path(__file__).parents[2]


def test_calls_in_flight_during_a_partition_mark_the_host_lost_and_it_reconnects(
    ssh_uri: str,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.pool._partition_scenario", str(SSH_PORT), str(SSH_KEY)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["before"] == "CONNECTED"
    assert len(found["errors"]) == 3  # every call in flight failed: the network is silent
    assert found["during"] != "CONNECTED"  # not a healthy-looking zombie
    assert found["after"] == "CONNECTED"  # back by itself once the network is
    assert found["cpus"] > 0
