"""A browser that stops reading slows the graphics server down; nothing piles up in between."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.console.conftest import ServerFactory

MIB = 1024 * 1024
#: What the stand-in graphics server would send if nothing held it back.
FLOOD_BYTES = 1024 * MIB
#: Kernel socket buffers on two loopback connections plus one relay frame: a few MiB. A relay
#: that buffered the flood would let the sender get far past this.
IN_FLIGHT_LIMIT = 64 * MIB


class FloodSource:
    """A TCP server that sends one client as much as it will take, counting what it took."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        block = os.urandom(MIB)
        conn.settimeout(0.2)
        with conn:
            while self.sent < FLOOD_BYTES and not self._stop.is_set():
                try:
                    self.sent += conn.send(block)
                except TimeoutError:
                    continue
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)


@pytest.fixture
def flood_source() -> Iterator[FloodSource]:
    source = FloodSource()
    yield source
    source.close()


def _upgrade_and_stop_reading(url: str, token: str) -> socket.socket:
    host, port = url.removeprefix("ws://").split("/", 1)[0].split(":")
    path = "/" + url.removeprefix("ws://").split("/", 1)[1]
    sock = socket.create_connection((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: binary\r\nAuthorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    # Read the 101 answer only; then leave the socket alone, like a stalled browser tab.
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101")
    return sock


def _settled(source: FloodSource) -> int:
    """Return the sender's count once it stops growing (the relay has stopped taking bytes)."""
    previous = -1
    for _ in range(120):
        time.sleep(0.5)
        if source.sent == previous:
            return source.sent
        previous = source.sent
    return source.sent


def test_a_stalled_browser_stalls_the_graphics_stream(
    console_server_factory: ServerFactory, flood_source: FloodSource
) -> None:
    server = console_server_factory(fixed_port=flood_source.port)
    sock = _upgrade_and_stop_reading(server.console_url("fixed", "source"), server.token)
    with sock:
        sent = _settled(flood_source)
        assert 0 < sent < IN_FLIGHT_LIMIT
        # And it resumes when the browser reads again.
        sock.settimeout(30)
        drained = 0
        while drained < 2 * sent:
            chunk = sock.recv(4 * MIB)
            assert chunk
            drained += len(chunk)
        assert flood_source.sent > sent
