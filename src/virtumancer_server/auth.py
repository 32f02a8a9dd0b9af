"""Bearer-token auth for HTTP routes, and the check every WebSocket route calls.

HTTP: every route except ``/api/v1/health`` and the static page (``/``, ``/static/...``,
which hold no data) needs ``Authorization: Bearer <token>``. ``POST /api/v1/session`` trades
that header for an HttpOnly session cookie that WebSockets accept.

WebSockets: :func:`authenticate_websocket` accepts the same header, a ``token`` query
parameter or the session cookie, and checks ``Origin`` against the origin the server was
reached at plus :attr:`ServerConfig.allowed_origins`.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final, NoReturn
from urllib.parse import urlsplit

import falcon
import falcon.asgi

from virtumancer_server.config import ServerConfig
from virtumancer_server.errors import UpgradeDeniedError, error_body

__all__ = [
    "PUBLIC_PATHS",
    "SESSION_COOKIE",
    "AuthMiddleware",
    "authenticate_websocket",
    "check_origin",
    "deny_websocket",
    "session_value",
]

SESSION_COOKIE: Final = "virtumancer_session"
#: Paths that never need a token (the static page holds no data; it asks for the token).
PUBLIC_PATHS: Final = frozenset({"/api/v1/health", "/", "/index.html", "/favicon.ico"})
_PUBLIC_PREFIXES: Final = ("/static/",)
_DENIAL_EXTENSION: Final = "websocket.http.response"
_CODE_BY_STATUS: Final = {401: "unauthorized", 403: "forbidden"}
_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def session_value(token: str) -> str:
    """Return the session cookie value derived from ``token`` (not the token itself)."""
    return hmac.new(token.encode(), b"virtumancer-session-v1", hashlib.sha256).hexdigest()


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _bearer(req: falcon.Request | falcon.asgi.Request) -> str | None:
    header = req.get_header("Authorization")
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _unauthorized(message: str) -> falcon.HTTPUnauthorized:
    return falcon.HTTPUnauthorized(title="Unauthorized", description=message, challenges=["Bearer"])


def is_public(path: str) -> bool:
    """Return whether ``path`` is served without a token."""
    return path in PUBLIC_PATHS or path.startswith(_PUBLIC_PREFIXES)


class AuthMiddleware:
    """Refuse HTTP requests without the Bearer token (WebSocket routes check for themselves)."""

    def __init__(self, config: ServerConfig) -> None:
        self._token = config.token

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if self._token is None or is_public(req.path):
            return
        presented = _bearer(req)
        if presented is None:
            raise _unauthorized("missing Authorization: Bearer <token> header")
        if not _equal(presented, self._token):
            raise _unauthorized("invalid token")


def _origin_key(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    secure = scheme in {"https", "wss"}
    try:
        parts = urlsplit(f"//{netloc}")
        host = (parts.hostname or "").lower()
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return None
    if not host:
        return None
    return ("https" if secure else "http", host, port)


def check_origin(req: falcon.asgi.Request, config: ServerConfig) -> bool:
    """Return whether the request's ``Origin`` (if any) is the served origin or allowed.

    Requests without ``Origin`` (non-browser clients) pass: the token is what protects them.
    """
    origin = req.get_header("Origin")
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if origin in config.allowed_origins:
        return True
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return False
    served_host = req.get_header("Host") or ""
    served = _origin_key(req.scheme, served_host)
    return served is not None and served == _origin_key(parts.scheme, parts.netloc)


def authenticate_websocket(req: falcon.asgi.Request, config: ServerConfig) -> None:
    """Check a WebSocket upgrade's credentials and ``Origin``; call it before ``accept()``.

    Accepts ``Authorization: Bearer <token>``, a ``token`` query parameter or the session
    cookie. Raises :class:`falcon.HTTPForbidden` for a foreign origin and
    :class:`falcon.HTTPUnauthorized` for missing or wrong credentials; pass either to
    :func:`deny_websocket` to answer with the HTTP status (left to Falcon, they become close
    codes 3403 / 3401, which uvicorn turns into a bare HTTP 403).
    """
    if not check_origin(req, config):
        raise falcon.HTTPForbidden(title="Forbidden", description="origin not allowed")
    token = config.token
    if token is None:
        return
    presented = _bearer(req)
    if presented is not None and _equal(presented, token):
        return
    query_token = req.get_param("token")
    if query_token is not None and _equal(query_token, token):
        return
    cookies = req.get_cookie_values(SESSION_COOKIE) or []
    expected = session_value(token)
    if any(_equal(value, expected) for value in cookies):
        return
    raise _unauthorized("missing or invalid credentials")


async def deny_websocket(
    req: falcon.asgi.Request, ws: falcon.asgi.WebSocket, refusal: falcon.HTTPError
) -> NoReturn:
    """Refuse an upgrade with ``refusal``'s status and the API's JSON error body.

    Without this, a close before ``accept()`` reaches the client as a bare HTTP 403 whatever
    the reason (uvicorn's answer), so a missing token looked like a foreign origin. Uses the
    ASGI WebSocket Denial Response extension when the server offers it, else closes with
    3000 + status. Raises :class:`UpgradeDeniedError` once the refusal went out.
    """
    status = refusal.status_code
    message = refusal.description or refusal.title or "refused"
    extensions = req.scope.get("extensions") or {}
    if _DENIAL_EXTENSION not in extensions:
        await ws.close(3000 + status, message[:120])
        raise UpgradeDeniedError
    body = error_body(_CODE_BY_STATUS.get(status, "forbidden"), message)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    # Falcon has no public call for the denial extension; the WebSocket keeps the ASGI send.
    send = ws._asgi_send
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": body, "more_body": False})
    raise UpgradeDeniedError
