"""The console relay against real guests: VNC and SPICE through the proxy, local and over SSH."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from tests.conftest import Guest, GuestFactory
from tests.console._clients import SPICE_MAGIC, rfb_handshake_and_update, spice_link
from tests.console.conftest import ConsoleServer, ServerFactory
from virtumancer.testing import virsh

pytestmark = [pytest.mark.anyio, pytest.mark.libvirt, pytest.mark.kvm]


def _auth(server: ConsoleServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def _open(url: str, headers: Mapping[str, str] | None = None, origin: str | None = None) -> connect:
    return connect(
        url,
        subprotocols=[Subprotocol("binary")],
        additional_headers=dict(headers or {}),
        origin=Origin(origin) if origin else None,
        max_size=None,
        open_timeout=30,
    )


async def _refusal(
    url: str, headers: Mapping[str, str] | None = None, **kw: str
) -> tuple[int, dict[str, object]]:
    """Attempt an upgrade that must be refused; return the HTTP status and JSON error."""
    with pytest.raises(InvalidStatus) as refused:
        async with _open(url, headers, **kw):
            pass
    response = refused.value.response
    assert response.headers["Content-Type"] == "application/json"
    document = json.loads(response.body)
    error = document["error"]
    assert isinstance(error, dict)
    return response.status_code, error


async def test_vnc_handshake_and_framebuffer_update_through_the_relay(
    console_server: ConsoleServer, kvm_guest: Guest
) -> None:
    url = console_server.console_url(console_server.local_host, kvm_guest.name)
    async with _open(url, _auth(console_server)) as ws:
        assert ws.subprotocol == "binary"
        update = await rfb_handshake_and_update(ws)
    assert update.width > 0
    assert update.height > 0
    assert update.rectangles >= 1


async def test_spice_link_answers_through_the_relay(
    console_server: ConsoleServer, kvm_guest: Guest
) -> None:
    url = console_server.console_url(console_server.local_host, kvm_guest.name, "spice")
    async with _open(url, _auth(console_server)) as ws:
        reply = await spice_link(ws)
    assert reply.magic == SPICE_MAGIC
    assert reply.major == 2
    assert reply.error == 0


@pytest.mark.ssh
async def test_vnc_through_the_ssh_tunnel_of_a_qemu_ssh_host(
    console_server: ConsoleServer, kvm_guest: Guest
) -> None:
    url = console_server.console_url(console_server.ssh_host, kvm_guest.name)
    async with _open(url, _auth(console_server)) as ws:
        update = await rfb_handshake_and_update(ws)
    assert update.rectangles >= 1


async def test_the_session_closes_when_the_vm_stops(
    console_server: ConsoleServer, kvm_guest: Guest
) -> None:
    url = console_server.console_url(console_server.local_host, kvm_guest.name)
    async with _open(url, _auth(console_server)) as ws:
        assert await ws.recv() == b"RFB 003.008\n"
        await anyio.to_thread.run_sync(lambda: virsh(kvm_guest.uri, "destroy", kvm_guest.name))
        with pytest.raises(ConnectionClosed):
            await _drain(ws)


async def _drain(ws: ClientConnection) -> None:
    with anyio.fail_after(30):
        while True:
            await ws.recv()


async def _ticket(server: ConsoleServer, vm_name: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=server.base_url, headers=_auth(server)) as client:
        response = await client.post(
            f"/api/v1/hosts/{server.local_host}/vms/{vm_name}/console-ticket"
        )
    assert response.status_code == 201, response.text
    document: dict[str, str] = response.json()
    return document


async def test_a_console_ticket_opens_the_console_once(
    console_server: ConsoleServer, kvm_guest: Guest
) -> None:
    ticket = await _ticket(console_server, kvm_guest.name)
    assert ticket["expires_at"].endswith("Z")
    url = console_server.console_url(console_server.local_host, kvm_guest.name)
    with_ticket = f"{url}?ticket={ticket['ticket']}"
    async with _open(with_ticket, origin=console_server.base_url) as ws:
        assert await ws.recv() == b"RFB 003.008\n"
    status, error = await _refusal(with_ticket, origin=console_server.base_url)
    assert (status, error["code"]) == (401, "invalid_ticket")


async def test_a_ticket_for_another_vm_is_refused(
    console_server: ConsoleServer, kvm_guest_factory: GuestFactory
) -> None:
    first, second = kvm_guest_factory(), kvm_guest_factory()
    ticket = await _ticket(console_server, first.name)
    url = console_server.console_url(console_server.local_host, second.name)
    status, error = await _refusal(f"{url}?ticket={ticket['ticket']}")
    assert (status, error["code"]) == (403, "ticket_mismatch")


async def test_an_expired_ticket_is_refused(
    console_server_factory: ServerFactory, kvm_guest: Guest
) -> None:
    server = console_server_factory(ticket_ttl=0.2)
    ticket = await _ticket(server, kvm_guest.name)
    await anyio.sleep(0.5)
    url = server.console_url(server.local_host, kvm_guest.name)
    status, error = await _refusal(f"{url}?ticket={ticket['ticket']}")
    assert (status, error["code"]) == (401, "ticket_expired")


async def test_a_stopped_vm_is_refused_before_the_upgrade(
    console_server: ConsoleServer, kvm_guest_factory: GuestFactory
) -> None:
    guest = kvm_guest_factory(start=False)
    url = console_server.console_url(console_server.local_host, guest.name)
    status, error = await _refusal(url, _auth(console_server))
    assert (status, error["code"]) == (409, "vm_not_running")


async def test_an_unknown_vm_is_refused_before_the_upgrade(
    console_server: ConsoleServer, run_prefix: str
) -> None:
    url = console_server.console_url(console_server.local_host, f"{run_prefix}nonexistent")
    status, _ = await _refusal(url, _auth(console_server))
    assert status == 404


async def test_a_vm_without_spice_is_refused_on_the_spice_route(
    console_server: ConsoleServer, kvm_guest_factory: GuestFactory
) -> None:
    guest = kvm_guest_factory(spice=False)
    url = console_server.console_url(console_server.local_host, guest.name, "spice")
    status, error = await _refusal(url, _auth(console_server))
    assert (status, error["code"]) == (404, "no_console")


async def test_no_credentials_are_refused(console_server: ConsoleServer, kvm_guest: Guest) -> None:
    url = console_server.console_url(console_server.local_host, kvm_guest.name)
    status, _ = await _refusal(url)
    assert status == 401
    status, _ = await _refusal(url, {"Authorization": "Bearer not-the-token"})
    assert status == 401


async def test_a_foreign_origin_is_refused_even_with_the_token(
    console_server: ConsoleServer, kvm_guest: Guest
) -> None:
    url = console_server.console_url(console_server.local_host, kvm_guest.name)
    status, error = await _refusal(url, _auth(console_server), origin="https://evil.example")
    assert (status, error["code"]) == (403, "forbidden")


async def test_a_refusal_is_a_plain_http_response_on_the_wire(
    console_server: ConsoleServer, kvm_guest_factory: GuestFactory
) -> None:
    guest = kvm_guest_factory(start=False)
    host, port = console_server.base_url.removeprefix("http://").split(":")
    path = f"/api/v1/hosts/{console_server.local_host}/vms/{guest.name}/console"
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {console_server.token}\r\n\r\n"
    )
    async with await anyio.connect_tcp(host, int(port)) as stream:
        await stream.send(request.encode())
        raw = b""
        with anyio.fail_after(30):
            while b"\r\n\r\n" not in raw or not raw.rstrip().endswith(b"}"):
                raw += await stream.receive()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 409")
    assert json.loads(body)["error"]["code"] == "vm_not_running"


async def test_the_session_closes_when_the_host_is_disconnected(
    console_server_factory: ServerFactory, kvm_guest: Guest
) -> None:
    if os.environ.get("VMT_CONSOLE_APP") == "console-only":
        pytest.skip("host disconnects need the whole service")
    server = console_server_factory()  # its own hosts: disconnecting must not touch others
    url = server.console_url(server.local_host, kvm_guest.name)
    async with _open(url, _auth(server)) as ws:
        assert await ws.recv() == b"RFB 003.008\n"
        async with httpx.AsyncClient(base_url=server.base_url, headers=_auth(server)) as client:
            response = await client.post(f"/api/v1/hosts/{server.local_host}/disconnect")
        assert response.status_code == 200, response.text
        with pytest.raises(ConnectionClosed):
            await _drain(ws)


async def test_a_text_frame_ends_the_session_with_unsupported_data(
    console_server: ConsoleServer, kvm_guest: Guest
) -> None:
    url = console_server.console_url(console_server.local_host, kvm_guest.name)
    async with _open(url, _auth(console_server)) as ws:
        assert await ws.recv() == b"RFB 003.008\n"
        await ws.send("RFB 003.008\n")
        with pytest.raises(ConnectionClosed) as closed:
            await _drain(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1003


async def test_console_tickets_are_only_issued_to_authenticated_callers(
    console_server: ConsoleServer, kvm_guest: Guest
) -> None:
    path = f"/api/v1/hosts/{console_server.local_host}/vms/{kvm_guest.name}/console-ticket"
    async with httpx.AsyncClient(base_url=console_server.base_url) as client:
        response = await client.post(path)
    assert response.status_code == 401
    assert "ticket" not in response.json()
