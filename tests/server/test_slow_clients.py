"""Slow and greedy clients against a real ``virtumancer serve``: read timeouts and caps.

Each test waits for what a user would notice (a 408, a closed socket, an answer) with a
generous deadline; none asserts how long anything took.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
from collections.abc import Iterator
from pathlib import Path

import anyio
import attrs
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.server.conftest import ServerFactory, ServerProcess

pytestmark = pytest.mark.libvirt

_DEADLINE_S = 60.0
_HEAD = b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def _open(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=_DEADLINE_S)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Return everything the server sends until it closes the connection."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _status_and_body(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


@contextlib.contextmanager
def _sockets(
    host: str, port: int, count: int, first_bytes: bytes = b""
) -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = _open(host, port)
            if first_bytes:
                sock.sendall(first_bytes)
            opened.append(sock)
        yield opened
    finally:
        for sock in opened:
            sock.close()


@pytest.fixture
def quick(server_factory: ServerFactory) -> ServerProcess:
    """A server whose request heads and bodies must arrive within 1 s."""
    return server_factory(extra_args=("--header-timeout", "1", "--body-timeout", "1"))


def test_half_a_request_head_gets_408_and_is_closed(quick: ServerProcess) -> None:
    with _sockets("127.0.0.1", quick.port, 1, _HEAD) as (sock,):
        status, body = _status_and_body(_read_until_closed(sock))
    assert status == 408
    assert body["error"] == {
        "code": "request_timeout",
        "message": "the request head did not arrive within 1 s",
        "field": None,
    }


def test_a_silent_connection_is_closed_without_an_answer(quick: ServerProcess) -> None:
    with _sockets("127.0.0.1", quick.port, 1) as (sock,):
        assert _read_until_closed(sock) == b""


def test_a_keep_alive_connection_bounds_its_next_head_too(quick: ServerProcess) -> None:
    with _sockets("127.0.0.1", quick.port, 1) as (sock,):
        sock.sendall(_HEAD + b"\r\n")
        first = b""
        while b'{"ok":true}' not in first:
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(_HEAD)  # the next request never finishes its head
        status, _ = _status_and_body(_read_until_closed(sock))
    assert status == 408


def test_a_body_that_stops_arriving_gets_408(quick: ServerProcess) -> None:
    request = (
        b"POST /api/v1/hosts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + quick.token.encode() + b"\r\n"  # type: ignore[union-attr]
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"id": '
    )
    with _sockets("127.0.0.1", quick.port, 1, request) as (sock,):
        status, body = _status_and_body(_read_until_closed(sock))
    assert status == 408
    assert body["error"]["message"] == "the request body did not arrive within 1 s"  # type: ignore[index]


def test_slowloris_leaves_the_api_answering(quick: ServerProcess) -> None:
    # 300 from one loopback address: more than the per-client cap, which loopback is spared.
    with _sockets("127.0.0.1", quick.port, 300, _HEAD) as held:
        with quick.client() as client:
            for _ in range(20):
                assert client.get("/hosts").status_code == 200
        # ...and every held connection is eventually answered 408 and closed.
        for sock in held:
            assert _read_until_closed(sock).startswith(b"HTTP/1.1 408")
    with quick.client() as client:
        assert client.get("/hosts").status_code == 200


def test_connections_beyond_the_cap_get_503(server_factory: ServerFactory) -> None:
    server = server_factory(extra_args=("--max-connections", "40", "--header-timeout", "600"))
    with _sockets("127.0.0.1", server.port, 40) as held:
        with _sockets("127.0.0.1", server.port, 1) as (extra,):
            status, body = _status_and_body(_read_until_closed(extra))
        assert status == 503
        assert body["error"]["code"] == "overloaded"  # type: ignore[index]
        held[0].close()
        held.pop(0)
        # A slot freed: the server answers again.

        def answered() -> bool:
            try:
                return httpx.get(f"{server.url}/api/v1/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        assert _eventually(answered)


def _eventually(check: object) -> bool:
    import time

    deadline = time.monotonic() + _DEADLINE_S
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


@attrs.define
class _RemoteBoundServer(ServerProcess):
    """A server bound to a non-loopback address (its peers are not loopback either)."""

    address: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


def test_connections_from_one_remote_address_are_capped(tmp_path: Path) -> None:
    address = _non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback address on this machine")
    server = _RemoteBoundServer(
        database_url=f"sqlite:///{tmp_path / 'remote.db'}",
        workdir=tmp_path,
        address=address,
        extra_args=(
            *("--host", address, "--max-connections-per-client", "5"),
            *("--header-timeout", "600"),
        ),
    )
    server.start()
    try:
        with _sockets(address, server.port, 5):
            with _sockets(address, server.port, 1) as (extra,):
                status, body = _status_and_body(_read_until_closed(extra))
            assert status == 503
            assert "too many connections from this address" in body["error"]["message"]  # type: ignore[index]
    finally:
        server.stop()


def test_the_open_files_limit_is_raised(server_factory: ServerFactory) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no finite hard limit to compare with")
    lowered = min(soft, 1024, hard)
    # The child inherits a low soft limit, as under a default login shell.
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        server = server_factory()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert server.process is not None
    limits = Path(f"/proc/{server.process.pid}/limits").read_text()
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert line.split()[3:5] == [str(hard), str(hard)]


async def _receive_forever(socket: ClientConnection) -> None:
    while True:
        await socket.recv()


async def _send_then_receive_forever(socket: ClientConnection, message: str) -> None:
    # The server may close before the last of the frame is written: send can raise too.
    await socket.send(message)
    await _receive_forever(socket)


@pytest.mark.anyio
async def test_an_oversized_websocket_frame_closes_that_socket_only(server: ServerProcess) -> None:
    url = f"ws://127.0.0.1:{server.port}/ws"
    async with connect(url, additional_headers=server.headers, max_size=None) as big:
        with anyio.fail_after(_DEADLINE_S), pytest.raises(ConnectionClosed) as closed:
            await _send_then_receive_forever(big, "x" * (2 * 1024 * 1024))
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009  # message too big
    async with connect(url, additional_headers=server.headers) as fine:
        await fine.send("x" * (512 * 1024))  # under 1 MiB: an error reply, socket open
        with anyio.fail_after(_DEADLINE_S):
            reply = json.loads(await fine.recv())
        assert reply["type"] == "error"
