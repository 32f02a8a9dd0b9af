"""The ``/ws`` WebSocket: change notifications and live VM statistics.

Client → server (JSON text frames ``{"type": ..., "payload": ...}``):
``subscribe-vm-stats`` / ``unsubscribe-vm-stats`` with ``{"hostId", "vmName"}``.

Server → client: ``hosts-changed`` (payload ``null``), ``vms-changed`` (``{"hostId"}``),
``vm-stats-updated`` (``{"hostId", "vmName", "stats"}``), ``task-updated`` (the task, as
``GET /api/v1/tasks/{id}`` returns it) and ``error``
(``{"code", "message", ...}``) in answer to a message the server could not act on. A bad
message never closes the socket.

Each connection has a bounded outbox rather than a queue: it holds at most one pending
``hosts-changed``, one ``vms-changed`` per host and the newest stats sample per subscribed VM
(a newer sample replaces an unsent older one), the newest state of each changed task, plus a
few error replies. A client that reads
slowly therefore skips samples instead of making the server's memory grow, and a client whose
socket accepts nothing for ``send_timeout`` seconds is closed with code 4008.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import anyio
import falcon
import falcon.asgi
from falcon.errors import PayloadTypeError, WebSocketDisconnected

from virtumancer import (
    HostsChanged,
    InvalidInputError,
    NotFoundError,
    Notification,
    TaskUpdated,
    VirtumancerError,
    VmsChanged,
    make_converter,
    stats_payload,
)
from virtumancer_server.auth import authenticate_websocket, refuse_http_error
from virtumancer_server.errors import error_body
from virtumancer_server.inputs import check_text, decode_json
from virtumancer_server.metrics import WS_CLIENTS, WS_DROPPED

if TYPE_CHECKING:
    from virtumancer import StatsSubscription, StatsUpdate, Task, Virtumancer
    from virtumancer_server.config import ServerConfig

__all__ = ["CLOSE_TOO_SLOW", "WebSocketResource", "add_routes"]

_log = logging.getLogger(__name__)

#: Close code for a client that did not take a message within ``send_timeout``.
CLOSE_TOO_SLOW: Final = 4008
#: At most this many VMs per connection (bounds what one client can make the server poll).
MAX_SUBSCRIPTIONS: Final = 1000
#: At most this many error replies wait in an outbox; older ones are dropped.
_MAX_REPLIES: Final = 16
#: Longest client message we parse.
_MAX_MESSAGE_CHARS: Final = 64 * 1024

_SUBSCRIBE: Final = "subscribe-vm-stats"
#: Tasks as the API's JSON shows them (``GET /api/v1/tasks/{id}``).
_TASKS: Final = make_converter()
_UNSUBSCRIBE: Final = "unsubscribe-vm-stats"


def _dumps(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def _error(code: str, message: str, **extra: object) -> dict[str, Any]:
    return {"type": "error", "payload": {"code": code, "message": message, **extra}}


class _Outbox:
    """What one connection still has to send, bounded by construction (see module doc)."""

    def __init__(self) -> None:
        self._hosts_changed = False
        self._vms_changed: dict[str, None] = {}
        self._stats: dict[tuple[str, str], StatsUpdate] = {}
        self._tasks: dict[str, Task] = {}
        self._replies: collections.deque[dict[str, Any]] = collections.deque(maxlen=_MAX_REPLIES)
        self._ready = anyio.Event()
        #: Stats samples replaced by a newer one before they were sent (for tests/benchmarks).
        self.dropped = 0

    def notify(self, notification: Notification) -> None:
        if isinstance(notification, HostsChanged):
            self._hosts_changed = True
        elif isinstance(notification, VmsChanged):
            self._vms_changed[notification.host_id] = None
        self._ready.set()

    def task(self, task: Task) -> None:
        self._tasks[task.id] = task  # the newest state replaces an unsent older one
        self._ready.set()

    def stats(self, update: StatsUpdate) -> None:
        key = (update.host_id, update.vm_name)
        if key in self._stats:
            self.dropped += 1
            WS_DROPPED.inc()
        self._stats[key] = update
        self._ready.set()

    def forget_stats(self, host_id: str, vm_name: str) -> None:
        self._stats.pop((host_id, vm_name), None)

    def reply(self, message: dict[str, Any]) -> None:
        self._replies.append(message)
        self._ready.set()

    async def take(self) -> list[dict[str, Any]]:
        """Wait until something is pending, then return all of it (oldest kinds first)."""
        await self._ready.wait()
        self._ready = anyio.Event()
        batch: list[dict[str, Any]] = list(self._replies)
        self._replies.clear()
        if self._hosts_changed:
            batch.append({"type": "hosts-changed", "payload": None})
            self._hosts_changed = False
        batch.extend({"type": "vms-changed", "payload": {"hostId": h}} for h in self._vms_changed)
        self._vms_changed.clear()
        for update in self._stats.values():
            batch.append(
                {
                    "type": "vm-stats-updated",
                    "payload": {
                        "hostId": update.host_id,
                        "vmName": update.vm_name,
                        "stats": stats_payload(update.sample, update.rates),
                    },
                }
            )
        self._stats.clear()
        batch.extend(
            {"type": "task-updated", "payload": _TASKS.unstructure(task)}
            for task in self._tasks.values()
        )
        self._tasks.clear()
        return batch


class _ClientTooSlowError(Exception):
    pass


class WebSocketResource:
    """Falcon responder for ``/ws``; one instance serves every connection."""

    def __init__(
        self,
        manager: Virtumancer | Callable[[], Virtumancer],
        config: ServerConfig,
        *,
        send_timeout: float = 10.0,
    ) -> None:
        self._manager = manager
        self._config = config
        self._send_timeout = send_timeout
        #: Connections open now (for tests and benchmarks).
        self.connections = 0

    def _vm(self) -> Virtumancer:
        manager = self._manager
        return manager() if callable(manager) else manager

    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        """A plain GET: say that this is a WebSocket endpoint."""
        resp.status = 426
        resp.set_header("Upgrade", "websocket")
        resp.content_type = falcon.MEDIA_JSON
        resp.data = error_body("upgrade_required", "this is a WebSocket endpoint")

    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        """Authenticate, accept, then serve the connection until either side closes it."""
        try:
            authenticate_websocket(req, self._config)
        except (falcon.HTTPUnauthorized, falcon.HTTPForbidden) as refusal:
            await refuse_http_error(req, ws, refusal)  # HTTP 401/403 with the JSON error body
            return
        vm = self._vm()
        outbox = _Outbox()
        subscriptions: dict[tuple[str, str], StatsSubscription] = {}
        # Subscribe before accepting so a change right after the handshake is not missed.
        async with vm.subscribe_notifications() as notifications:
            await ws.accept()
            self.connections += 1
            WS_CLIENTS.inc()
            try:
                async with anyio.create_task_group() as tg:

                    async def forward() -> None:
                        async for notification in notifications:
                            if isinstance(notification, TaskUpdated):
                                with contextlib.suppress(NotFoundError):
                                    outbox.task(await vm.get_task(notification.task_id))
                                continue
                            outbox.notify(notification)

                    async def write() -> None:
                        try:
                            await self._write(ws, outbox)
                        except _ClientTooSlowError:
                            _log.info("closing a WebSocket client that stopped reading")
                            with anyio.move_on_after(1.0):
                                await ws.close(CLOSE_TOO_SLOW)
                        except WebSocketDisconnected:
                            pass
                        tg.cancel_scope.cancel()

                    tg.start_soon(forward)
                    tg.start_soon(write)
                    await self._read(ws, vm, outbox, subscriptions)
                    tg.cancel_scope.cancel()
            finally:
                self.connections -= 1
                WS_CLIENTS.dec()
                for subscription in subscriptions.values():
                    subscription.close()

    async def _write(self, ws: falcon.asgi.WebSocket, outbox: _Outbox) -> None:
        while True:
            for message in await outbox.take():
                try:
                    text = _dumps(message)
                except ValueError:  # NaN/inf in a rate: skip the sample, keep the socket
                    _log.warning("dropping an unserialisable %s message", message.get("type"))
                    continue
                with anyio.move_on_after(self._send_timeout) as scope:
                    await ws.send_text(text)
                if scope.cancelled_caught:
                    raise _ClientTooSlowError

    async def _read(
        self,
        ws: falcon.asgi.WebSocket,
        vm: Virtumancer,
        outbox: _Outbox,
        subscriptions: dict[tuple[str, str], StatsSubscription],
    ) -> None:
        while True:
            try:
                text = await ws.receive_text()
            except WebSocketDisconnected:
                return
            except PayloadTypeError:
                outbox.reply(_error("invalid_message", "messages must be JSON text frames"))
                continue
            try:
                reply = await self._handle(text, vm, outbox, subscriptions)
            except Exception:
                # A message must never close the socket, whatever the library raised.
                _log.exception("a /ws message failed")
                reply = _error("internal_error", "the message could not be handled")
            if reply is not None:
                outbox.reply(reply)

    async def _handle(
        self,
        text: str,
        vm: Virtumancer,
        outbox: _Outbox,
        subscriptions: dict[tuple[str, str], StatsSubscription],
    ) -> dict[str, Any] | None:
        if len(text) > _MAX_MESSAGE_CHARS:
            return _error("invalid_message", f"message longer than {_MAX_MESSAGE_CHARS} characters")
        try:
            message = decode_json(text, what="the message", field="message")
        except InvalidInputError as exc:
            return _error("invalid_json", exc.message)
        if not isinstance(message, dict):
            return _error("invalid_message", "message must be a JSON object", field="type")
        kind = message.get("type")
        if kind not in (_SUBSCRIBE, _UNSUBSCRIBE):
            return _error(
                "unknown_type",
                f"unknown message type {kind!r}; expected {_SUBSCRIBE!r} or {_UNSUBSCRIBE!r}",
                field="type",
            )
        payload = message.get("payload")
        if not isinstance(payload, dict):
            return _error("invalid_payload", "payload must be an object", field="payload")
        for name in ("hostId", "vmName"):
            value = payload.get(name)
            if not isinstance(value, str) or not value:
                return _error(
                    "invalid_payload",
                    f"payload.{name} must be a non-empty string",
                    field=f"payload.{name}",
                )
            try:
                check_text(value, f"payload.{name}")
            except InvalidInputError as exc:
                return _error("invalid_payload", exc.message, field=f"payload.{name}")
        host_id: str = payload["hostId"]
        vm_name: str = payload["vmName"]
        key = (host_id, vm_name)
        if kind == _UNSUBSCRIBE:
            subscription = subscriptions.pop(key, None)
            if subscription is not None:
                subscription.close()
                outbox.forget_stats(host_id, vm_name)
            return None
        if key in subscriptions:
            return None
        if len(subscriptions) >= MAX_SUBSCRIPTIONS:
            return _error(
                "too_many_subscriptions",
                f"at most {MAX_SUBSCRIPTIONS} VMs per connection",
                hostId=host_id,
                vmName=vm_name,
            )
        try:
            subscriptions[key] = await vm.stats.subscribe(host_id, vm_name, outbox.stats)
        except VirtumancerError as exc:
            # The library error's own code (``not_found``, ``host_unavailable``, ``timeout``...).
            return _error(exc.code, str(exc), hostId=host_id, vmName=vm_name)
        return None


def add_routes(
    app: falcon.asgi.App[Any, Any],
    manager: Virtumancer | Callable[[], Virtumancer],
    config: ServerConfig,
    *,
    send_timeout: float = 10.0,
    path: str = "/ws",
) -> WebSocketResource:
    """Add the ``/ws`` route (or ``path``) to ``app`` and return its resource.

    ``manager`` is the running :class:`~virtumancer.manager.Virtumancer`, or a function
    returning it (for apps that open it in their lifespan, after routes are added).
    ``send_timeout`` is how long one message may wait for a client that does not read
    before that client is closed (code :data:`CLOSE_TOO_SLOW`).
    """
    resource = WebSocketResource(manager, config, send_timeout=send_timeout)
    app.add_route(path, resource)
    return resource
