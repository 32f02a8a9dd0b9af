"""uvicorn's HTTP protocol with the limits uvicorn lacks: read timeouts and connection caps.

uvicorn closes idle keep-alive connections but has no bound on how long a request head or
body may take to arrive, so a client that sends half a request ("slowloris") holds a
connection and a descriptor forever. :func:`guarded_http_protocol` returns a subclass of
uvicorn's httptools protocol (pass it as ``http=`` to :class:`uvicorn.Config`) that:

- closes a connection whose request head is not complete ``header_timeout`` seconds after
  the connection opened or the head's first byte arrived (a 408 if part of it came);
- closes one whose body is not complete ``body_timeout`` seconds after its head (a 408
  unless the response already started);
- refuses a new connection (503, closed) while ``max_connections`` are open (HTTP and
  WebSocket), or while its peer already holds ``max_per_client`` HTTP connections.

The per-client cap does not apply to loopback peers: every local process (and a reverse
proxy in front of the service) shares that address, so a cap there would let one local
program lock the others out. Against a local flood the header timeout is what frees slots.
See ``docs/adr/0009-slow-clients.md``.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import resource
from typing import Any, ClassVar, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from virtumancer_server.errors import error_body

__all__ = [
    "GuardedHttpProtocol",
    "guarded_http_protocol",
    "raise_open_files_limit",
]

logger = logging.getLogger(__name__)

#: Descriptors kept back from the connection cap for the database, libvirt and log files.
RESERVED_DESCRIPTORS: Final = 256
_WARNING_INTERVAL_S: Final = 10.0


def _response(status: int, reason: str, code: str, message: str) -> bytes:
    body = error_body(code, message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "cache-control: no-store\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus read timeouts and connection caps (see module doc).

    Use :func:`guarded_http_protocol` to get a subclass carrying the limits.
    """

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 30.0
    max_connections: ClassVar[int] = 4096
    max_per_client: ClassVar[int] = 256
    #: Open HTTP connections per non-loopback peer address (shared by one server's connections).
    per_client: ClassVar[collections.Counter[str]] = collections.Counter()
    #: When the last refusal was logged (a flood must not flood the log too).
    last_warning: ClassVar[float] = float("-inf")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timer: asyncio.TimerHandle | None = None
        self._head_started = False
        self._counted_as: str | None = None

    # -- connection ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._warn("refusing connections: %d open", len(self.connections) - 1)
            self._refuse("the server has too many open connections; retry later")
            return
        peer = self.client[0] if self.client else None
        if peer is not None and not _is_loopback(peer):
            self.per_client[peer] += 1
            self._counted_as = peer
            if self.per_client[peer] > self.max_per_client:
                self._warn("refusing connections from %s: it holds too many", peer)
                self._refuse("too many connections from this address; retry later")
                return
        self._arm(self.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._uncount()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes the transport over (and its connection_lost).
        self._disarm()
        self._uncount()
        super().handle_websocket_upgrade()

    # -- parser callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True
        if self._read_timer is None:  # a keep-alive or pipelined request: a new head bound
            self._arm(self.header_timeout, self._head_timed_out)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._head_started = False
        super().on_headers_complete()
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._arm(self.body_timeout, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # -- internals -----------------------------------------------------------------------

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _uncount(self) -> None:
        peer, self._counted_as = self._counted_as, None
        if peer is not None:
            self.per_client[peer] -= 1
            if self.per_client[peer] <= 0:
                del self.per_client[peer]

    def _warn(self, message: str, *args: object) -> None:
        now = self.loop.time()
        if now - type(self).last_warning >= _WARNING_INTERVAL_S:
            type(self).last_warning = now
            logger.warning(message, *args)

    def _refuse(self, message: str) -> None:
        self._disarm()
        self.transport.write(_response(503, "Service Unavailable", "overloaded", message))
        self.transport.close()

    def _busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _head_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self._head_started and not self._busy():
            message = f"the request head did not arrive within {self.header_timeout:g} s"
            self.transport.write(_response(408, "Request Timeout", "request_timeout", message))
        self.transport.close()

    def _body_timed_out(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_started:
            message = f"the request body did not arrive within {self.body_timeout:g} s"
            # The app sees a disconnect; whatever it still sends goes nowhere.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
            self.transport.write(_response(408, "Request Timeout", "request_timeout", message))
        self.transport.close()


def guarded_http_protocol(
    *,
    header_timeout: float,
    body_timeout: float,
    max_connections: int,
    max_per_client: int,
) -> type[GuardedHttpProtocol]:
    """Return a :class:`GuardedHttpProtocol` subclass with these limits (one per server)."""

    class Guarded(GuardedHttpProtocol):
        pass

    Guarded.header_timeout = header_timeout
    Guarded.body_timeout = body_timeout
    Guarded.max_connections = max_connections
    Guarded.max_per_client = max_per_client
    Guarded.per_client = collections.Counter()
    return Guarded


def raise_open_files_limit() -> int:
    """Raise the soft limit on open descriptors to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            logger.warning("could not raise the open files limit: %s", exc)
    return soft
