"""Minimal protocol clients over a WebSocket: enough RFB and SPICE to prove a relay works."""

from __future__ import annotations

import struct

import attrs
from websockets.asyncio.client import ClientConnection

RFB_VERSION = b"RFB 003.008\n"
SECURITY_NONE = 1


class StreamReader:
    """Read exact byte counts from a WebSocket whose frames split the stream anywhere."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._buffer = bytearray()
        self.frames = 0

    async def read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            message = await self._ws.recv()
            assert isinstance(message, bytes), "the relay sent a text frame"
            self.frames += 1
            self._buffer += message
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data


@attrs.frozen(kw_only=True)
class FramebufferUpdate:
    """What a VNC client learned: the desktop size and name, and one update's rectangles."""

    width: int
    height: int
    name: str
    rectangles: int


async def rfb_handshake_and_update(ws: ClientConnection) -> FramebufferUpdate:
    """Do the RFB 3.8 handshake with security type None and get one framebuffer update."""
    reader = StreamReader(ws)
    assert await reader.read(12) == RFB_VERSION
    await ws.send(RFB_VERSION)
    (count,) = await reader.read(1)
    assert count > 0, "the server refused the connection"
    types = await reader.read(count)
    assert SECURITY_NONE in types
    await ws.send(bytes([SECURITY_NONE]))
    (result,) = struct.unpack(">I", await reader.read(4))
    assert result == 0, "security handshake failed"
    await ws.send(b"\x01")  # ClientInit: shared
    width, height = struct.unpack(">HH", await reader.read(4))
    await reader.read(16)  # pixel format
    (name_length,) = struct.unpack(">I", await reader.read(4))
    name = (await reader.read(name_length)).decode(errors="replace")
    # SetEncodings: Raw only, so the update's layout is trivial to walk.
    await ws.send(struct.pack(">BxHi", 2, 1, 0))
    await ws.send(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))
    while True:
        (message_type,) = await reader.read(1)
        if message_type == 0:
            await reader.read(1)
            (rectangles,) = struct.unpack(">H", await reader.read(2))
            return FramebufferUpdate(width=width, height=height, name=name, rectangles=rectangles)
        if message_type == 2:  # Bell
            continue
        raise AssertionError(f"unexpected server message {message_type}")


SPICE_MAGIC = b"REDQ"
SPICE_MAIN_CHANNEL = 1


@attrs.frozen(kw_only=True)
class SpiceLinkReply:
    """The SPICE server's answer to a link request."""

    magic: bytes
    major: int
    minor: int
    error: int


async def spice_link(ws: ClientConnection) -> SpiceLinkReply:
    """Send a SPICE link request for the main channel and read the reply header and error."""
    message = struct.pack("<IBBIII", 0, SPICE_MAIN_CHANNEL, 0, 0, 0, 18)
    header = SPICE_MAGIC + struct.pack("<III", 2, 2, len(message))
    await ws.send(header + message)
    reader = StreamReader(ws)
    magic = await reader.read(4)
    major, minor, size = struct.unpack("<III", await reader.read(12))
    body = await reader.read(size)
    (error,) = struct.unpack("<I", body[:4])
    return SpiceLinkReply(magic=magic, major=major, minor=minor, error=error)
