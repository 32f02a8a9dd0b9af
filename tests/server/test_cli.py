"""``virtumancer serve``: refusals and the generated token, through the real console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import ServerFactory, free_port
from virtumancer.testing import wait_until_healthy


def _run_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    env.pop("VIRTUMANCER_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "virtumancer_server.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.org", "::"])
def test_no_auth_is_refused_off_loopback(host: str, tmp_path: Path) -> None:
    result = _run_cli("serve", "--no-auth", "--host", host, "--port", "1", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "--no-auth is refused" in result.stderr


def test_token_and_no_auth_are_exclusive(tmp_path: Path) -> None:
    result = _run_cli("serve", "--no-auth", "--token", "abcdefghijk", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "not allowed with" in result.stderr


@pytest.mark.libvirt
def test_serve_generates_a_token_and_prints_it_once(server_factory: ServerFactory) -> None:
    server = server_factory(token=None)
    printed = server.stdout_path.read_text()
    lines = [line for line in printed.splitlines() if line.startswith("API token")]
    assert len(lines) == 1
    token = lines[0].rsplit(" ", 1)[1]
    server.token = token
    with server.client() as client:
        assert client.get("/hosts").status_code == 200
        assert (
            client.get("/hosts", headers={"Authorization": "Bearer nope-nope"}).status_code == 401
        )
        assert client.get(f"/health?token={token}").status_code == 200
    server.stop()
    # Printed once; never in a log line (uvicorn logs to stderr, access lines to stdout).
    assert token not in server.stderr_path.read_text()
    assert server.stdout_path.read_text().count(token) == 1
    assert "token=REDACTED" in server.stdout_path.read_text()


@pytest.mark.libvirt
def test_no_auth_on_loopback_serves_without_a_token(server_factory: ServerFactory) -> None:
    server = server_factory(token=None, extra_args=("--no-auth",))
    with server.client() as client:
        assert client.get("/hosts").status_code == 200
    assert "API token" not in server.stdout_path.read_text()


@pytest.mark.libvirt
def test_uvicorn_can_serve_the_asgi_module(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "VIRTUMANCER_TOKEN": "asgi-token-0123456789",
        "VIRTUMANCER_DATABASE_URL": f"sqlite:///{tmp_path / 'asgi.db'}",
        "VIRTUMANCER_DEMO": "1",
        "XDG_DATA_HOME": str(tmp_path),
    }
    args = [sys.executable, "-m", "uvicorn", "virtumancer_server.asgi:app", "--port", str(port)]
    log = tmp_path / "uvicorn.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(args, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", process=process, log=log)
        url = f"http://127.0.0.1:{port}/api/v1"
        headers = {"Authorization": "Bearer asgi-token-0123456789"}
        hosts = httpx.get(f"{url}/hosts", headers=headers).json()
        assert [h["id"] for h in hosts] == ["demo"]
    finally:
        process.terminate()
        process.wait(timeout=30)
