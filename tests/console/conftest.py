"""Fixtures for the console tests: a real uvicorn process serving the console routes.

By default the server is the whole service (``create_app`` over ``Virtumancer``, SQLite in a
temp dir) with two hosts added through the API: ``local`` (``qemu:///system``) and ``remote``
(the ``qemu+ssh`` loopback host). ``VMT_CONSOLE_APP=console-only`` runs just the console routes
over a minimal manager instead (``tests/console/_app.py``), to tell a console fault from one
elsewhere in the service.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import httpx
import pytest

from virtumancer.testing import free_port

REPO = Path(__file__).resolve().parents[2]


@attrs.frozen(kw_only=True)
class ConsoleServer:
    """A running server: where it is, its token, and the host ids it knows."""

    base_url: str
    token: str
    local_host: str = "local"
    ssh_host: str = "remote"

    @property
    def ws_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http")

    def console_url(self, host_id: str, vm_name: str, kind: str = "console") -> str:
        return f"{self.ws_url}/api/v1/hosts/{host_id}/vms/{vm_name}/{kind}"


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("the server did not start listening")


def _add_hosts(server: ConsoleServer, hosts: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
        for host_id, uri in hosts.items():
            response = client.post("/api/v1/hosts", json={"id": host_id, "uri": uri})
            assert response.status_code == 200, response.text


ServerFactory = Callable[..., ConsoleServer]


@pytest.fixture(scope="session")
def console_server_factory(
    ssh_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerFactory]:
    """Start console servers in real uvicorn processes; stop them at the end of the session."""
    processes: list[subprocess.Popen[bytes]] = []

    full = os.environ.get("VMT_CONSOLE_APP", "full") == "full"
    hosts = {"local": "qemu:///system", "remote": ssh_uri}

    def start(*, ticket_ttl: float | None = None, fixed_port: int | None = None) -> ConsoleServer:
        port = free_port()
        token = secrets.token_urlsafe(16)
        directory = tmp_path_factory.mktemp("console-server")
        env = dict(os.environ)
        env.update(
            VMT_CONSOLE_HOSTS=json.dumps(hosts),
            VMT_CONSOLE_TOKEN=token,
            VMT_CONSOLE_DB=f"sqlite:///{directory / 'virtumancer.db'}",
            PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "src")]),
        )
        if ticket_ttl is not None:
            env["VIRTUMANCER_CONSOLE_TICKET_TTL"] = str(ticket_ttl)
        factory = "make_full_app" if full else "make_app"
        if fixed_port is not None:
            env["VMT_FIXED_PORT"] = str(fixed_port)
            factory = "make_fixed_target_app"
        log = directory / "uvicorn.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    f"tests.console._app:{factory}",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(process)
        _wait_listening(port, process)
        server = ConsoleServer(base_url=f"http://127.0.0.1:{port}", token=token)
        if full and fixed_port is None:
            _add_hosts(server, hosts)
        return server

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def console_server(console_server_factory: ServerFactory) -> ConsoleServer:
    """Return the session's console server (hosts ``local`` = qemu:///system, ``remote`` = ssh)."""
    return console_server_factory()
