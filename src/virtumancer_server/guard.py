"""What keeps web pages out: ``Host``/``Origin`` checks without a token, JSON-only writes.

With ``--no-auth`` the service trusts whoever reaches the loopback port, and a web page
can: by DNS rebinding (its own name resolving to 127.0.0.1, so the browser sends
``Host: evil.example``) and by cross-site "simple" requests (a form or a ``text/plain``
fetch, sent without a CORS preflight). So, without a token, :class:`HostOriginGuard`

- accepts only a loopback ``Host`` (``localhost``, ``127.0.0.1``, ``[::1]``...) on the
  bound port, on HTTP routes and WebSocket upgrades alike (403);
- refuses any method but GET/HEAD/OPTIONS whose ``Origin`` is present and is neither the
  served origin nor an allowed one (403).

In every mode it answers 415 to an API write (POST/PUT/PATCH/DELETE) that carries a
non-JSON ``Content-Type``: a form can then post nothing, with or without a token. A write
without a body (and so without a content type) is left alone.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlsplit

import falcon
import falcon.asgi

from virtumancer_server.auth import check_origin, refuse_http_error
from virtumancer_server.config import ServerConfig, is_loopback
from virtumancer_server.errors import AlreadyAnsweredError

__all__ = ["SAFE_METHODS", "HostOriginGuard", "loopback_host_allowed"]

#: Methods a browser page may send anywhere without harm (no state changes here).
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_API_PREFIX: Final = "/api/"


def loopback_host_allowed(host_header: str | None, port: int) -> bool:
    """Return whether ``Host`` names a loopback address or ``localhost`` on ``port``."""
    if not host_header:
        return False
    try:
        parts = urlsplit(f"//{host_header.strip()}")
        name = parts.hostname or ""
        given_port = parts.port or 80
    except ValueError:
        return False
    name = name.rstrip(".")
    return given_port == port and (
        is_loopback(name) or name.lower().endswith(".localhost") or name.lower() == "localhost"
    )


class HostOriginGuard:
    """Falcon middleware: the checks in the module doc."""

    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self._guard_host = config.no_auth

    def _refusal(self, req: falcon.asgi.Request) -> falcon.HTTPForbidden | None:
        if not self._guard_host:
            return None
        # The port the connection really reached (uvicorn's scope), which is the bound one.
        server = req.scope.get("server")
        port = server[1] if server and server[1] else self._config.port
        if not loopback_host_allowed(req.get_header("Host"), port):
            return falcon.HTTPForbidden(
                title="Forbidden",
                description="without a token only a loopback Host on the bound port is accepted",
            )
        if req.method not in SAFE_METHODS and not check_origin(req, self._config):
            return falcon.HTTPForbidden(title="Forbidden", description="origin not allowed")
        return None

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        refusal = self._refusal(req)
        if refusal is not None:
            raise refusal
        if req.method in SAFE_METHODS or not req.path.startswith(_API_PREFIX):
            return
        content_type = req.get_header("Content-Type")
        if content_type is None:
            return
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != falcon.MEDIA_JSON:
            raise falcon.HTTPUnsupportedMediaType(
                title="Unsupported Media Type",
                description="the request body must be application/json",
            )

    async def process_request_ws(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        refusal = self._refusal(req)
        if refusal is not None:
            await refuse_http_error(req, ws, refusal)
            raise AlreadyAnsweredError  # stop here: the refusal went out
