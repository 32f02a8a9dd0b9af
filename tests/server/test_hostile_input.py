"""Hostile input against a real ``virtumancer serve``: each is a 400/403/415, never a 500.

Deep JSON, huge integers and NULs in names; a web page reaching a ``--no-auth`` server by
DNS rebinding or a cross-site form; the token kept off the command line; private files.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.server.conftest import ServerFactory, ServerProcess

pytestmark = pytest.mark.libvirt

_DEEP = "[" * 5000 + "]" * 5000
_HUGE_INT = "1" + "0" * 5000


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"id": ' + _DEEP + "}", "nested deeper than 64 levels"),
        ('{"id": ' + "[" * 100 + "]" * 100 + "}", "nested deeper than 64 levels"),
        ('{"id": "x", "uri": ' + _HUGE_INT + "}", "more than 40 digits"),
        ('{"id": "x", "uri": 1e999}', "out of range"),
        ('{"id": NaN}', "NaN is not JSON"),
    ],
)
def test_hostile_json_bodies_are_400(server: ServerProcess, body: str, message: str) -> None:
    with server.client() as client:
        response = client.post("/hosts", content=body, headers={"Content-Type": "application/json"})
        error = _error(response, 400)
        assert error["code"] == "invalid_input"
        assert error["field"] == "body"
        assert message in error["message"]
        settings = client.put(
            "/settings/metrics",
            content='{"cpu_smoothing_window": ' + _HUGE_INT + "}",
            headers={"Content-Type": "application/json"},
        )
        assert _error(settings, 400)["field"] == "body"


def test_a_limit_of_5000_digits_is_400(server: ServerProcess) -> None:
    with server.client() as client:
        error = _error(client.get("/dashboard/activity", params={"limit": "9" * 5000}), 400)
    assert error["field"] == "limit"


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/hosts/demo/vms/web%0001/hardware", "vm_name"),
        ("POST", "/hosts/demo/vms/web%00/action", "vm_name"),
        ("GET", "/hosts/de%00mo/info", "host_id"),
        ("DELETE", "/hosts/de%00mo", "host_id"),
        ("GET", "/hosts/demo%0A/vms", "host_id"),
    ],
)
def test_control_characters_in_names_are_400(
    server: ServerProcess, method: str, path: str, field: str
) -> None:
    with server.client() as client:
        error = _error(client.request(method, path, json={"action": "start"}), 400)
        assert error["field"] == field
        assert "control characters" in error["message"]
        assert client.get("/hosts/demo/vms").status_code == 200


def test_a_nul_in_a_body_string_is_400(server: ServerProcess) -> None:
    with server.client() as client:
        response = client.post("/hosts", json={"id": "lab", "uri": "test:///default\x00x"})
    assert _error(response, 400)["field"] == "uri"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (_DEEP, "invalid_json"),
        ('{"type": ' + _HUGE_INT + "}", "invalid_json"),
        (
            '{"type": "subscribe-vm-stats", "payload": {"hostId": "demo", "vmName": "a\\u0000"}}',
            "invalid_payload",
        ),
    ],
)
async def test_hostile_ws_messages_get_an_error_and_the_socket_stays_open(
    server: ServerProcess, raw: str, code: str
) -> None:
    url = f"ws://127.0.0.1:{server.port}/ws"
    async with connect(url, additional_headers=server.headers) as socket:
        await socket.send(raw)
        with anyio.fail_after(60):
            reply = json.loads(await socket.recv())
        assert reply["type"] == "error"
        assert reply["payload"]["code"] == code
        await socket.send("not JSON either")  # still open and answering
        with anyio.fail_after(60):
            assert json.loads(await socket.recv())["payload"]["code"] == "invalid_json"


@pytest.mark.anyio
async def test_a_nul_in_a_console_path_is_refused_not_a_crash(server: ServerProcess) -> None:
    url = f"ws://127.0.0.1:{server.port}/api/v1/hosts/demo/vms/web%0001/console"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=server.headers):
            pass
    assert refused.value.response.status_code < 500


# --- JSON-only writes (every mode) -----------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_form_cannot_post_even_with_the_token(server: ServerProcess, content_type: str) -> None:
    with server.client() as client:
        response = client.post(
            "/hosts/demo/disconnect", content=b"x=1", headers={"Content-Type": content_type}
        )
        assert _error(response, 415)["code"] == "unsupported_media_type"
        assert client.get("/hosts").json()[0]["state"] == "CONNECTED"
        # A write without a body needs no content type.
        assert client.post("/hosts/demo/connect").status_code == 200


# --- --no-auth: DNS rebinding and cross-site requests ----------------------------------


@pytest.fixture
def open_server(server_factory: ServerFactory) -> ServerProcess:
    return server_factory(token=None, extra_args=("--no-auth",))


def _get(server: ServerProcess, host: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v1/hosts", headers={"Host": host})


def test_no_auth_accepts_only_loopback_host_names_on_its_port(open_server: ServerProcess) -> None:
    port = open_server.port
    for host in (
        f"127.0.0.1:{port}",
        f"localhost:{port}",
        f"[::1]:{port}",
        f"app.localhost:{port}",
    ):
        assert _get(open_server, host).status_code == 200, host
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", "127.0.0.1"):
        error = _error(_get(open_server, host), 403)
        assert "loopback Host" in error["message"]


def test_no_auth_refuses_a_rebound_page_disconnecting_a_host(open_server: ServerProcess) -> None:
    url = f"{open_server.url}/api/v1/hosts/demo/disconnect"
    rebound = httpx.post(url, headers={"Host": f"evil.example:{open_server.port}"})
    assert rebound.status_code == 403
    cross_site = httpx.post(
        url,
        content=b"{}",
        headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
    )
    assert cross_site.status_code == 403
    cross_site_json = httpx.post(url, json={}, headers={"Origin": "http://evil.example"})
    assert cross_site_json.status_code == 403
    hosts = httpx.get(f"{open_server.url}/api/v1/hosts").json()
    assert hosts[0]["state"] == "CONNECTED"
    # The dashboard itself (same origin) still writes.
    own = httpx.post(url, headers={"Origin": open_server.url})
    assert own.status_code == 200
    assert own.json()["state"] == "DISCONNECTED"


@pytest.mark.anyio
async def test_no_auth_refuses_a_rebound_websocket(open_server: ServerProcess) -> None:
    evil = f"evil.example:{open_server.port}"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"ws://127.0.0.1:{open_server.port}/ws",
            additional_headers={"Host": evil, "Origin": f"http://{evil}"},
        ):
            pass
    assert refused.value.response.status_code == 403
    async with connect(f"ws://127.0.0.1:{open_server.port}/ws") as socket:
        await socket.send("not JSON")
        with anyio.fail_after(60):
            assert json.loads(await socket.recv())["type"] == "error"


# --- the token off the command line, private files -----------------------------------


def test_the_token_file_keeps_the_token_out_of_ps(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token-0123456789\n")
    token_file.chmod(0o600)
    server = server_factory(token=None, extra_args=("--token-file", str(token_file)))
    assert server.process is not None
    cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
    assert b"file-token" not in cmdline
    response = httpx.get(
        f"{server.url}/api/v1/hosts", headers={"Authorization": "Bearer file-token-0123456789"}
    )
    assert response.status_code == 200
    assert httpx.get(f"{server.url}/api/v1/hosts").status_code == 401
    assert "API token" not in server.stdout_path.read_text()


def test_the_token_file_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from virtumancer_server.config import configured_token

    token_file = tmp_path / "token"
    token_file.write_text("env-file-token-0123\n")
    monkeypatch.setenv("VIRTUMANCER_TOKEN", "plain-env-token-0123")
    assert configured_token() == "plain-env-token-0123"
    monkeypatch.setenv("VIRTUMANCER_TOKEN_FILE", str(token_file))
    assert configured_token() == "env-file-token-0123"
    assert configured_token(token="cli-token-0123456") == "cli-token-0123456"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        configured_token(token_file=str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="cannot read the token file"):
        configured_token(token_file=str(tmp_path / "missing"))


def test_the_database_and_its_directory_are_private(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    directory = tmp_path / "fresh" / "data"
    server = server_factory(database_url=f"sqlite:///{directory / 'virtumancer.db'}")
    with server.client() as client:  # a write, so the WAL files exist
        assert client.put("/settings/metrics", json={"cpu_smoothing_window": 7}).status_code == 200
    modes = {
        path.name: stat.S_IMODE(path.stat().st_mode)
        for path in directory.iterdir()
        if path.name.startswith("virtumancer.db")
    }
    assert modes == {name: 0o600 for name in modes}
    assert {"virtumancer.db", "virtumancer.db-wal", "virtumancer.db-shm"} <= set(modes)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert os.access(directory, os.W_OK)
