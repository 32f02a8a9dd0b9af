"""Console relays: a VM's VNC or SPICE server over a WebSocket, and short-lived console tickets.

Routes (added by :func:`add_routes`):

- ``GET /api/v1/hosts/{host_id}/vms/{vm_name}/console`` -- WebSocket to the VM's first
  graphics (VNC preferred); ``.../spice`` -- to its SPICE server. The ``binary`` subprotocol
  (what noVNC and spice-html5 ask for) is selected when offered; frames are binary both ways.
- ``POST /api/v1/hosts/{host_id}/vms/{vm_name}/console-ticket`` -- ``{"ticket", "expires_at"}``:
  a single-use credential for one upgrade to that VM's consoles, valid a few seconds, so a
  browser page never has to put the API token in a WebSocket URL.

Every refusal happens *before* the upgrade and is a real HTTP response with the API's JSON
error body (wrong ``Origin`` 403, no credentials 401, expired or used ticket 401, ticket for
another VM 403, unknown VM or no such graphics 404, VM not running 409, console unreachable
503), sent with the ASGI "WebSocket Denial Response" extension where the server offers it
(uvicorn does). The library decides what is dialled (:mod:`virtumancer.services.console`);
nothing in the request names an address.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import anyio
import anyio.abc
import falcon
import falcon.asgi
from anyio.streams.memory import MemoryObjectReceiveStream

from virtumancer import ConsoleTarget, VirtumancerError
from virtumancer_server.auth import authenticate_websocket, check_origin
from virtumancer_server.config import ServerConfig
from virtumancer_server.errors import (
    AlreadyAnsweredError,
    error_body,
    refuse_upgrade,
    status_for,
)
from virtumancer_server.routes import API_PREFIX

__all__ = [
    "CONSOLE_PAGE",
    "STATIC_DIR",
    "ConsoleManager",
    "ConsoleTickets",
    "add_routes",
    "resources",
]

logger = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).parent / "static"
#: The console page (noVNC for VNC, spice-html5 for SPICE), served at ``/static/console.html``.
CONSOLE_PAGE: Final = STATIC_DIR / "console.html"

#: Bytes read from the graphics server per WebSocket frame. Large enough that a framebuffer
#: storm moves in few frames, small enough that one frame never holds a whole screen.
READ_CHUNK: Final = 256 * 1024
#: Reads from the graphics server that may wait for the browser (so at most
#: ``READ_AHEAD * READ_CHUNK`` bytes are held per session, plus one frame being written).
READ_AHEAD: Final = 4
#: The largest frame made by joining queued reads.
FRAME_LIMIT: Final = 1024 * 1024
#: Default ticket lifetime (:attr:`ServerConfig.console_ticket_ttl` sets it).
DEFAULT_TICKET_TTL_S: Final = 30.0
_MAX_OUTSTANDING_TICKETS: Final = 10_000


class ConsoleManager(Protocol):
    """What the relay needs from :class:`virtumancer.manager.Virtumancer`."""

    async def console_target(
        self, host_id: str, vm_name: str, kind: Literal["vnc", "spice"] | None = None
    ) -> ConsoleTarget: ...

    def open_console(
        self, target: ConsoleTarget
    ) -> AbstractAsyncContextManager[anyio.abc.ByteStream]: ...


class _RefusalError(Exception):
    """A reason to refuse an upgrade; becomes an HTTP status and a JSON error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# --- tickets -------------------------------------------------------------------------------


class ConsoleTickets:
    """Short-lived, single-use console tickets bound to one host and VM.

    Kept in memory (a restart voids them, which is what a few-second credential wants).
    ``clock`` is :func:`time.monotonic` unless a test says otherwise.
    """

    def __init__(
        self, ttl_s: float = DEFAULT_TICKET_TTL_S, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        # ticket -> (host_id, vm_name, expires at on ``clock``)
        self._tickets: dict[str, tuple[str, str, float]] = {}

    def __repr__(self) -> str:
        return f"<ConsoleTickets ttl={self.ttl_s}s outstanding={len(self._tickets)}>"

    def issue(self, host_id: str, vm_name: str) -> tuple[str, dt.datetime]:
        """Return a new ticket for ``host_id``/``vm_name`` and when it expires (UTC)."""
        ticket = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._purge(now)
            if len(self._tickets) >= _MAX_OUTSTANDING_TICKETS:
                raise _RefusalError(503, "too_many_tickets", "too many outstanding console tickets")
            self._tickets[ticket] = (host_id, vm_name, now + self.ttl_s)
        expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.ttl_s)
        return ticket, expires_at

    def redeem(self, ticket: str, host_id: str, vm_name: str) -> None:
        """Use up ``ticket`` for ``host_id``/``vm_name``, or raise :class:`_RefusalError`."""
        with self._lock:
            entry = self._tickets.pop(ticket, None)
        if entry is None:
            raise _RefusalError(401, "invalid_ticket", "unknown or already used console ticket")
        bound_host, bound_vm, expires = entry
        if self._clock() >= expires:
            raise _RefusalError(401, "ticket_expired", "the console ticket has expired")
        if (bound_host, bound_vm) != (host_id, vm_name):
            raise _RefusalError(403, "ticket_mismatch", "the console ticket is for another VM")

    def _purge(self, now: float) -> None:
        # Expired tickets linger one extra lifetime so "expired" can be told from "unknown".
        stale = [
            key for key, (_, _, expires) in self._tickets.items() if expires + self.ttl_s < now
        ]
        for key in stale:
            del self._tickets[key]


# --- refusals before the upgrade -----------------------------------------------------------


async def _deny(
    req: falcon.asgi.Request, ws: falcon.asgi.WebSocket, refusal: _RefusalError
) -> None:
    await refuse_upgrade(req, ws, refusal.status, refusal.code, refusal.message)


def _refusal_from(exc: VirtumancerError, req: falcon.asgi.Request) -> _RefusalError:
    return _RefusalError(status_for(exc, "WEBSOCKET", req.uri_template), exc.code, exc.message)


def _refusal_from_http(exc: falcon.HTTPError) -> _RefusalError:
    code = (
        exc.code
        if isinstance(exc.code, str)
        else ("forbidden" if exc.status_code == 403 else "unauthorized")
    )
    return _RefusalError(exc.status_code, code, exc.description or exc.title or "refused")


# --- the relay ---------------------------------------------------------------------------


async def _browser_to_console(ws: falcon.asgi.WebSocket, stream: anyio.abc.ByteStream) -> None:
    # Falcon buffers at most ``max_receive_queue`` messages; ``stream.send`` waits for the
    # socket (or SSH window) to drain, so a flood from the browser is held back, not queued.
    while True:
        data = await ws.receive_data()
        if data:
            await stream.send(data)


async def _console_to_browser(ws: falcon.asgi.WebSocket, stream: anyio.abc.ByteStream) -> None:
    # Reading the graphics server runs ahead of the browser by at most READ_AHEAD reads, so a
    # read overlaps the previous frame's write; when the browser is slow the queue fills and
    # reading stops (``send_data`` itself waits while the server's write buffer is above its
    # high-water mark). Reads already queued go out as one frame, up to FRAME_LIMIT bytes.
    sender, receiver = anyio.create_memory_object_stream[bytes](READ_AHEAD)
    ended: list[BaseException] = []

    async def read_ahead() -> None:
        async with sender:
            try:
                while True:
                    await sender.send(await stream.receive(READ_CHUNK))
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
                ended.append(exc)
            except OSError as exc:
                ended.append(anyio.BrokenResourceError(str(exc)))

    async with anyio.create_task_group() as group, receiver:
        group.start_soon(read_ahead)
        try:
            async for data in receiver:
                if receiver.statistics().current_buffer_used:
                    data = _coalesce(data, receiver)
                await ws.send_data(data)
        except Exception as exc:  # reported to the caller below, after the reader is stopped
            ended.insert(0, exc)
            group.cancel_scope.cancel()
    raise ended[0] if ended else anyio.EndOfStream


def _coalesce(first: bytes, receiver: MemoryObjectReceiveStream[bytes]) -> bytes:
    """Join ``first`` with reads already queued, up to ``FRAME_LIMIT`` bytes."""
    parts, size = [first], len(first)
    while size < FRAME_LIMIT:
        try:
            data = receiver.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream):
            break
        parts.append(data)
        size += len(data)
    return b"".join(parts)


async def _relay(ws: falcon.asgi.WebSocket, stream: anyio.abc.ByteStream) -> tuple[int, str]:
    """Relay until either side ends; return the close code and reason for the browser."""
    outcome: list[tuple[int, str]] = []

    async def run(direction: Callable[[], Any]) -> None:
        try:
            await direction()
        except falcon.WebSocketDisconnected:
            outcome.append((1000, "browser closed"))
        except falcon.errors.PayloadTypeError:
            outcome.append((1003, "console relay takes binary frames only"))
        except anyio.EndOfStream:
            outcome.append((1000, "the console closed"))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            outcome.append((1001, "the console went away"))
        finally:
            group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(run, lambda: _browser_to_console(ws, stream))
        group.start_soon(run, lambda: _console_to_browser(ws, stream))
    return outcome[0] if outcome else (1000, "closed")


# --- resources ---------------------------------------------------------------------------


class _ConsoleResource:
    """``GET .../console`` and ``GET .../spice``: the WebSocket relays."""

    def __init__(
        self,
        manager: ConsoleManager,
        config: ServerConfig,
        tickets: ConsoleTickets,
        kind: Literal["vnc", "spice"] | None,
    ) -> None:
        self._manager = manager
        self._config = config
        self._tickets = tickets
        self._kind = kind

    def _authorize(self, req: falcon.asgi.Request, host_id: str, vm_name: str) -> None:
        if not check_origin(req, self._config):
            raise _RefusalError(403, "forbidden", "origin not allowed")
        ticket = req.get_param("ticket")
        if ticket is not None:
            self._tickets.redeem(ticket, host_id, vm_name)
            return
        try:
            authenticate_websocket(req, self._config)
        except falcon.HTTPError as exc:
            raise _refusal_from_http(exc) from exc

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, host_id: str, vm_name: str
    ) -> None:
        """A plain GET: say that this is a WebSocket endpoint."""
        resp.status = 426
        resp.set_header("Upgrade", "websocket")
        resp.content_type = falcon.MEDIA_JSON
        resp.data = error_body("upgrade_required", "this is a WebSocket endpoint")

    async def on_websocket(
        self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket, host_id: str, vm_name: str
    ) -> None:
        """Check, resolve and dial before accepting; then relay bytes both ways."""
        async with AsyncExitStack() as stack:
            try:
                self._authorize(req, host_id, vm_name)
                target = await self._manager.console_target(host_id, vm_name, self._kind)
                stream = await stack.enter_async_context(self._manager.open_console(target))
            except _RefusalError as refusal:
                await _deny(req, ws, refusal)
                return
            except VirtumancerError as exc:
                await _deny(req, ws, _refusal_from(exc, req))
                return
            subprotocol = "binary" if "binary" in ws.subprotocols else None
            await ws.accept(subprotocol=subprotocol)
            logger.info("console of %s on %s opened (%s)", vm_name, host_id, target.kind)
            code, reason = await _relay(ws, stream)
            logger.info("console of %s on %s closed: %s", vm_name, host_id, reason)
        # Close after the graphics stream is closed, whatever ended the relay. The browser may
        # have gone already (the server then raises its own disconnect error): nothing to do.
        if not ws.closed:
            try:
                await ws.close(code, reason)
            except (falcon.WebSocketDisconnected, OSError):
                # Falcon would try to close again on return and log the same failure.
                raise AlreadyAnsweredError from None


class _ConsoleTicketResource:
    """``POST .../console-ticket``: a single-use ticket for this VM's console upgrades."""

    def __init__(self, manager: ConsoleManager, tickets: ConsoleTickets) -> None:
        self._manager = manager
        self._tickets = tickets

    @property
    def tickets(self) -> ConsoleTickets:
        """The ticket store this resource issues from."""
        return self._tickets

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, host_id: str, vm_name: str
    ) -> None:
        """Issue a ticket (after checking the VM has a console to open: 404/409 otherwise)."""
        target = await self._manager.console_target(host_id, vm_name, None)
        try:
            ticket, expires_at = self._tickets.issue(target.host_id, vm_name)
        except _RefusalError as refusal:
            resp.status = refusal.status
            resp.content_type = falcon.MEDIA_JSON
            resp.data = error_body(refusal.code, refusal.message)
            return
        resp.status = 201
        resp.content_type = falcon.MEDIA_JSON
        resp.set_header("Cache-Control", "no-store")
        resp.data = json.dumps(
            {
                "ticket": ticket,
                "expires_at": expires_at.isoformat().replace("+00:00", "Z"),
                "kind": target.kind.value,
            }
        ).encode()


def resources(
    manager: ConsoleManager, config: ServerConfig, tickets: ConsoleTickets | None = None
) -> dict[str, object]:
    """Return the console resources by their name in the route table (one ticket store)."""
    if tickets is None:
        tickets = ConsoleTickets(config.console_ticket_ttl)
    return {
        "console": _ConsoleResource(manager, config, tickets, None),
        "spice": _ConsoleResource(manager, config, tickets, "spice"),
        "console_ticket": _ConsoleTicketResource(manager, tickets),
    }


def add_routes(
    app: falcon.asgi.App[Any, Any],
    manager: ConsoleManager,
    config: ServerConfig,
    *,
    tickets: ConsoleTickets | None = None,
) -> ConsoleTickets:
    """Add the console WebSocket routes and the console-ticket route to ``app`` (a small app).

    ``create_app`` registers the same resources from the route table; this is for apps that
    serve only the consoles. Returns the ticket store (lifetime from ``config``).
    """
    made = resources(manager, config, tickets)
    base = f"{API_PREFIX}/hosts/{{host_id}}/vms/{{vm_name}}"
    app.add_route(f"{base}/console", made["console"])
    app.add_route(f"{base}/spice", made["spice"])
    app.add_route(f"{base}/console-ticket", made["console_ticket"])
    ticket_resource = made["console_ticket"]
    assert isinstance(ticket_resource, _ConsoleTicketResource)
    return ticket_resource.tickets
