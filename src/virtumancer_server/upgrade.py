"""Refusing a WebSocket upgrade with a real HTTP status and the API's JSON error body.

Falcon answers a close before ``accept()`` with ``websocket.close`` (code 3000 + status),
which servers turn into a bare HTTP 403. The ASGI *WebSocket Denial Response* extension
(``websocket.http.response.start``/``.body``) carries any status and a body, and uvicorn
offers it. :func:`refuse_upgrade` is the one way a route refuses: it leaves the answer in the
connection's ASGI scope (which Falcon's ``req.scope`` is) and closes through Falcon's public
``ws.close``; :class:`App`, a thin wrapper around Falcon's ASGI entry point, turns that
pre-accept close into the denial response when the server offers the extension. Elsewhere
(Falcon's test client) the close code stays the answer. See docs/adr/0011.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import falcon
import falcon.asgi

from virtumancer_server.errors import REFUSAL_SCOPE_KEY, refuse_upgrade

__all__ = ["DENIAL_EXTENSION", "App", "refuse_upgrade"]

DENIAL_EXTENSION: Final = "websocket.http.response"

Message = MutableMapping[str, Any]


class _DenialSend:
    """The ``send`` of one WebSocket connection: a refused close becomes an HTTP response."""

    def __init__(self, scope: Message, send: Callable[[Message], Awaitable[None]]) -> None:
        self._scope = scope
        self._send = send
        self._accepted = False

    async def __call__(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "websocket.accept":
            self._accepted = True
        elif kind == "websocket.close" and not self._accepted:
            refusal = self._scope.pop(REFUSAL_SCOPE_KEY, None)
            if refusal is not None:
                await self._deny(*refusal)
                return
        await self._send(message)

    async def _deny(self, status: int, body: bytes) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await self._send(
            {"type": "websocket.http.response.start", "status": status, "headers": headers}
        )
        await self._send({"type": "websocket.http.response.body", "body": body})


class App(falcon.asgi.App):  # type: ignore[type-arg]
    """Falcon's ASGI app, with refused upgrades answered as HTTP responses (module doc)."""

    async def __call__(  # type: ignore[override]
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope.get("type") == "websocket" and DENIAL_EXTENSION in (scope.get("extensions") or {}):
            send = _DenialSend(scope, send)
        await super().__call__(scope, receive, send)  # type: ignore[arg-type]
