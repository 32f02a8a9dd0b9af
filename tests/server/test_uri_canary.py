"""URI policy against the real libvirt client: hostile URIs touch nothing through Virtumancer.

Each attack is first run through bare libvirt-python (in a child process) to show that the
client really does what the attack wants -- runs the canary program, connects to the canary
socket, writes the canary file. The same URI is then given to Virtumancer's pool, its blocking
facade and the REST API: each refuses it by policy, and the canary stays untouched.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import falcon.testing
import pytest

import virtumancer
from tests.conftest import SSH_KEY, SSH_PORT
from tests.server.conftest import AUTH
from virtumancer import ConnectionPool, UriPolicyError

pytestmark = [pytest.mark.libvirt, pytest.mark.ssh]

_OPEN_TIMEOUT_S = 30


@attrs.define
class Canary:
    """A program, a listening UNIX socket and a file path that must never be touched."""

    directory: Path
    program: Path
    marker: Path
    socket_path: Path
    written: Path
    _listener: socket.socket
    _accepted: list[bool] = attrs.field(factory=list)

    def touched(self) -> list[str]:
        """Return what the attack reached, if anything."""
        reached = []
        if self.marker.exists():
            reached.append(f"program ran: {self.marker.read_text().strip()[:200]}")
        if self._accepted:
            reached.append("socket was connected to")
        if self.written.exists():
            reached.append("file was written")
        return reached

    def reset(self) -> None:
        self.marker.unlink(missing_ok=True)
        self.written.unlink(missing_ok=True)
        self._accepted.clear()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._accepted.append(True)
            conn.close()


@pytest.fixture
def canary(tmp_path: Path, libvirtd: str) -> Iterator[Canary]:
    directory = tmp_path / "canary"
    directory.mkdir()
    marker = directory / "ran"
    program = directory / "x.sh"
    program.write_text(f'#!/bin/sh\necho "$@" > {marker}\nexit 1\n')
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    socket_path = directory / "evil.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    listener.listen(8)
    found = Canary(
        directory=directory,
        program=program,
        marker=marker,
        socket_path=socket_path,
        written=directory / "known_hosts",
        listener=listener,
    )
    thread = threading.Thread(target=found.serve, daemon=True)
    thread.start()
    yield found
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(5)


KEY = f"keyfile={SSH_KEY}"
SSH = f"root@127.0.0.1:{SSH_PORT}"

#: (name, URI template with {c} = the canary directory). Every one of these passed the URI
#: policy before it parsed queries the way libvirt does.
ATTACKS: list[tuple[str, Callable[[Canary], str]]] = [
    (
        "semicolon-command",
        lambda c: f"qemu+ssh://{SSH}/system?{KEY};command={c.program}",
    ),
    (
        "semicolon-socket",
        lambda c: f"test+unix:///default?socket=/run/libvirt/x;socket={c.socket_path}",
    ),
    (
        "known-hosts-write",
        lambda c: (
            f"qemu+libssh2://{SSH}/system?{KEY}&sshauth=privkey"
            f"&known_hosts={c.written}&known_hosts_verify=auto"
        ),
    ),
    (
        "encoded-command-name",
        lambda c: f"qemu+ssh://{SSH}/system?{KEY}&%63ommand={c.program}",
    ),
]


def _bare_libvirt_open(uri: str) -> None:
    """Open ``uri`` with bare libvirt-python in a child process (it may hang or fail)."""
    code = textwrap.dedent(
        """
        import sys, libvirt
        libvirt.registerErrorHandler(lambda *a: None, None)
        try:
            libvirt.open(sys.argv[1]).close()
        except libvirt.libvirtError:
            pass
        """
    )
    subprocess.run(
        [sys.executable, "-c", code, uri], timeout=_OPEN_TIMEOUT_S, check=False, capture_output=True
    )


@pytest.mark.parametrize(("name", "make_uri"), ATTACKS, ids=[name for name, _ in ATTACKS])
def test_the_attack_is_real_with_bare_libvirt(
    canary: Canary, name: str, make_uri: Callable[[Canary], str]
) -> None:
    """Bare libvirt-python reaches the canary: the forms below are real attacks."""
    _bare_libvirt_open(make_uri(canary))
    assert canary.touched(), f"{name}: libvirt no longer reads this URI as an attack"


@pytest.mark.parametrize(("name", "make_uri"), ATTACKS, ids=[name for name, _ in ATTACKS])
@pytest.mark.anyio
async def test_the_pool_refuses_and_touches_nothing(
    canary: Canary, name: str, make_uri: Callable[[Canary], str]
) -> None:
    uri = make_uri(canary)
    async with ConnectionPool(extra_socket_dirs=[str(canary.directory)]) as pool:
        with pytest.raises(UriPolicyError) as info:
            await pool.add_host("attack", uri)
    assert info.value.field == "uri"
    assert canary.touched() == []
    with pytest.raises(UriPolicyError):
        virtumancer.connect(uri)
    assert canary.touched() == []


@pytest.mark.parametrize(("name", "make_uri"), ATTACKS, ids=[name for name, _ in ATTACKS])
@pytest.mark.anyio
async def test_the_api_refuses_with_400_and_touches_nothing(
    canary: Canary,
    client: falcon.testing.ASGIConductor,
    name: str,
    make_uri: Callable[[Canary], str],
) -> None:
    result = await client.simulate_post(
        "/api/v1/hosts", json={"id": "attack", "uri": make_uri(canary)}, headers=AUTH
    )
    assert result.status_code == 400, result.text
    error: dict[str, Any] = result.json["error"]
    assert error["code"] == "uri_refused"
    assert error["field"] == "uri"
    assert canary.touched() == []
    listing = await client.simulate_get("/api/v1/hosts", headers=AUTH)
    assert all(host["id"] != "attack" for host in listing.json)


@pytest.mark.anyio
async def test_an_allowed_ssh_uri_still_connects(canary: Canary, ssh_uri: str) -> None:
    """The real key under ~/.ssh passes the policy, and libvirt opens it."""
    assert os.path.dirname(SSH_KEY) == str(Path.home() / ".ssh")
    async with ConnectionPool() as pool:
        host = await pool.add_host("remote", ssh_uri)
        assert (await host.host_info()).hypervisor_type == "QEMU"
    assert canary.touched() == []
