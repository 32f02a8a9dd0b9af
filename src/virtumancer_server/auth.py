"""Bearer-token auth and roles for HTTP routes, and the check every WebSocket route calls.

HTTP: every route except the public rows of the route table (``/api/v1/health`` and the
API reference page ``/api/v1/docs``) and the static page (``/``, ``/static/...``, which hold
no data) needs ``Authorization: Bearer <token>``: the server's own token
(:attr:`ServerConfig.token`, the bootstrap admin) or an API token from the database
(``vmt_...``, checked by :class:`virtumancer.TokenService`). Unknown, expired or revoked
tokens get 401; a token whose role is below what :mod:`virtumancer_server.permissions` asks
for the route gets 403 naming the role. ``POST /api/v1/session`` trades the header for an
HttpOnly session cookie that WebSockets accept: ``<subject>.<HMAC>``, where the subject is the
token's id (or ``bootstrap``) and the HMAC is keyed by the server's token, so the cookie
carries who it is for (and so its role) without carrying a secret.

While a request runs, :data:`virtumancer.current_actor` names its token (``bootstrap`` for
the server's own), so the activity feed records who made each change.

WebSockets: :func:`authenticate_websocket` accepts the same header, a ``token`` query
parameter or the session cookie, and checks ``Origin`` against the origin the server was
reached at plus :attr:`ServerConfig.allowed_origins`.
"""

from __future__ import annotations

import hashlib
import hmac
from contextvars import Token
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import attrs
import falcon
import falcon.asgi

from virtumancer import BOOTSTRAP_ACTOR, ApiToken, Role, current_actor
from virtumancer_server.config import ServerConfig
from virtumancer_server.errors import CODE_BY_STATUS, refuse_upgrade
from virtumancer_server.permissions import WEBSOCKET, required_role
from virtumancer_server.routes import ROUTES

__all__ = [
    "PUBLIC_PATHS",
    "SESSION_COOKIE",
    "AuthMiddleware",
    "Authenticator",
    "Principal",
    "TokenVerifier",
    "authenticate_websocket",
    "check_origin",
    "check_role",
    "refuse_http_error",
    "session_value",
]

SESSION_COOKIE: Final = "virtumancer_session"
#: Paths that never need a token (the static page holds no data; it asks for the token).
PUBLIC_PATHS: Final = frozenset(
    {route.template for route in ROUTES if route.public} | {"/", "/index.html", "/favicon.ico"}
)
_PUBLIC_PREFIXES: Final = ("/static/",)
#: Where the read-only metrics token (and ``--metrics-open``) apply; nowhere else.
METRICS_PATH: Final = "/metrics"

_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def session_value(key: str, subject: str = BOOTSTRAP_ACTOR) -> str:
    """Return the session cookie value for ``subject`` (a token id or ``bootstrap``).

    ``key`` is the server's own token: it signs, it is never part of the value.
    """
    mac = hmac.new(key.encode(), f"virtumancer-session-v2:{subject}".encode(), hashlib.sha256)
    return f"{subject}.{mac.hexdigest()}"


class TokenVerifier(Protocol):
    """What auth needs from :class:`virtumancer.TokenService` (or the facade)."""

    async def authenticate_token(self, secret: str) -> ApiToken | None: ...

    async def authenticate_token_id(self, token_id: str) -> ApiToken | None: ...


@attrs.frozen(kw_only=True)
class Principal:
    """Who a request acts for: a role, the actor name the activity feed records, a subject.

    ``subject`` is what a session cookie names: the token id, or ``bootstrap``.
    """

    actor: str
    role: Role
    subject: str


BOOTSTRAP: Final = Principal(actor=BOOTSTRAP_ACTOR, role=Role.ADMIN, subject=BOOTSTRAP_ACTOR)
#: Who a request made with the metrics token acts for.
METRICS_PRINCIPAL: Final = Principal(actor="metrics", role=Role.VIEWER, subject="metrics")


def _principal(token: ApiToken) -> Principal:
    return Principal(actor=token.name, role=token.role, subject=token.id)


class Authenticator:
    """Turn presented credentials into a :class:`Principal` (or ``None``).

    ``tokens`` checks database tokens; without it only the server's own token counts.
    """

    def __init__(self, config: ServerConfig, tokens: TokenVerifier | None = None) -> None:
        self._key = config.token
        self._tokens = tokens

    @property
    def enabled(self) -> bool:
        """Whether credentials are needed at all (not ``--no-auth``)."""
        return self._key is not None

    async def from_secret(self, secret: str) -> Principal | None:
        """Return who ``secret`` (a Bearer or ``token`` query value) stands for."""
        if self._key is not None and _equal(secret, self._key):
            return BOOTSTRAP
        if self._tokens is None:
            return None
        token = await self._tokens.authenticate_token(secret)
        return None if token is None else _principal(token)

    async def from_cookie(self, value: str) -> Principal | None:
        """Return who a session cookie value stands for (its token must still be valid)."""
        if self._key is None:
            return None
        subject, _, _mac = value.rpartition(".")
        if not subject or not _equal(value, session_value(self._key, subject)):
            return None
        if subject == BOOTSTRAP_ACTOR:
            return BOOTSTRAP
        if self._tokens is None:
            return None
        token = await self._tokens.authenticate_token_id(subject)
        return None if token is None else _principal(token)

    async def from_request(self, req: falcon.asgi.Request, *, websocket: bool) -> Principal | None:
        """Return who a request's header (or, for WebSockets, query or cookie) stands for."""
        presented = _bearer(req)
        if presented is not None:
            return await self.from_secret(presented)
        if not websocket:
            return None
        query_token = req.get_param("token")
        if query_token is not None:
            return await self.from_secret(query_token)
        for value in req.get_cookie_values(SESSION_COOKIE) or []:
            principal = await self.from_cookie(value)
            if principal is not None:
                return principal
        return None


def check_role(principal: Principal, method: str, uri_template: str | None) -> None:
    """Raise 403 (naming the role needed) if ``principal`` may not call this route."""
    if uri_template is None:
        return  # no route: the 404/405 follows
    needed = required_role(method, uri_template)
    if not principal.role.allows(needed):
        raise falcon.HTTPForbidden(
            title="Forbidden",
            description=f"this needs the {needed} role; token {principal.actor!r} "
            f"has the {principal.role} role",
        )


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
    """Refuse HTTP requests without a valid token or role; name the actor while they run.

    WebSocket upgrades are only identified here (``req.context.principal``); each WebSocket
    route refuses for itself with :func:`authenticate_websocket`, so that refusals are real
    HTTP answers.
    """

    def __init__(self, config: ServerConfig, tokens: TokenVerifier | None = None) -> None:
        self._auth = Authenticator(config, tokens)
        self._config = config

    async def process_request(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        if not self._auth.enabled or is_public(req.path):
            return
        presented = _bearer(req)
        if req.path == METRICS_PATH:
            if self._config.metrics_open:
                return
            metrics_token = self._config.metrics_token
            if presented and metrics_token and _equal(presented, metrics_token):
                req.context.principal = METRICS_PRINCIPAL
                return
        if presented is None:
            raise _unauthorized("missing Authorization: Bearer <token> header")
        principal = await self._auth.from_secret(presented)
        if principal is None:
            raise _unauthorized("invalid, expired or revoked token")
        req.context.principal = principal
        req.context.actor_reset = current_actor.set(principal.actor)

    async def process_resource(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        resource: object,
        params: dict[str, Any],
    ) -> None:
        principal: Principal | None = req.context.get("principal")
        if principal is not None:
            check_role(principal, req.method, req.uri_template)

    async def process_response(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        resource: object,
        req_succeeded: bool,
    ) -> None:
        reset: Token[str | None] | None = req.context.get("actor_reset")
        if reset is not None:
            current_actor.reset(reset)

    async def process_request_ws(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        if not self._auth.enabled:
            return
        principal = await self._auth.from_request(req, websocket=True)
        req.context.identified = True
        req.context.principal = principal
        if principal is not None:
            # The connection's task ends with the socket: nothing to reset.
            current_actor.set(principal.actor)


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
    """Check a WebSocket upgrade's credentials, role and ``Origin``; call it before ``accept()``.

    Accepts ``Authorization: Bearer <token>``, a ``token`` query parameter or the session
    cookie. Raises :class:`falcon.HTTPForbidden` for a foreign origin or a role below what
    the route needs and :class:`falcon.HTTPUnauthorized` for missing or wrong credentials;
    pass either to :func:`refuse_http_error` to answer with the HTTP status.

    Behind :class:`AuthMiddleware` the credentials were already looked up (database tokens
    included); without it only the server's own token is accepted.
    """
    if not check_origin(req, config):
        raise falcon.HTTPForbidden(title="Forbidden", description="origin not allowed")
    token = config.token
    if token is None:
        return
    if req.context.get("identified"):
        principal: Principal | None = req.context.get("principal")
        if principal is None:
            raise _unauthorized("missing or invalid credentials")
        check_role(principal, WEBSOCKET, req.uri_template)
        return
    presented = _bearer(req)
    if presented is not None and _equal(presented, token):
        return
    query_token = req.get_param("token")
    if query_token is not None and _equal(query_token, token):
        return
    cookies = req.get_cookie_values(SESSION_COOKIE) or []
    expected = session_value(token, BOOTSTRAP_ACTOR)
    if any(_equal(value, expected) for value in cookies):
        return
    raise _unauthorized("missing or invalid credentials")


async def refuse_http_error(
    req: falcon.asgi.Request, ws: falcon.asgi.WebSocket, refusal: falcon.HTTPError
) -> None:
    """Refuse an upgrade with ``refusal``'s status and the API's JSON error body."""
    status = refusal.status_code
    code = refusal.code if isinstance(refusal.code, str) else CODE_BY_STATUS.get(status, "error")
    await refuse_upgrade(req, ws, status, code, refusal.description or refusal.title or "refused")
