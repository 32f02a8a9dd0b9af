"""One table from Virtumancer's exception tree to HTTP status, and the JSON error body.

The status of an error is the table's, except that a route may answer an unreachable host
with another status (its ``unavailable_status`` column in :mod:`virtumancer_server.routes`).

Every error leaves the server as ``{"error": {"code": ..., "message": ..., "field": ...}}``:
``code`` is machine-readable, ``message`` is for a person, ``field`` names the offending input
(or is null). Bodies never carry stack traces, SQL or credentials: unexpected exceptions are
logged and answered with a generic 500.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Final

import falcon
import falcon.asgi

from virtumancer import (
    ConflictError,
    HostUnavailableError,
    InvalidInputError,
    NotFoundError,
    OperationTimeoutError,
    VirtumancerError,
)
from virtumancer_server.routes import ROUTES

_ROUTES: Final = {(route.method, route.template): route for route in ROUTES}

__all__ = [
    "CODE_BY_STATUS",
    "REFUSAL_SCOPE_KEY",
    "STATUS_BY_ERROR",
    "AlreadyAnsweredError",
    "error_body",
    "install_error_handlers",
    "message_with_context",
    "one_line",
    "refuse_upgrade",
    "status_for",
]

logger = logging.getLogger(__name__)

#: Longest message an error body carries (libvirt/ssh can pass on whole screens of text).
MESSAGE_LIMIT: Final = 200
#: Banner decoration (ssh's "@@@@..." frames) that carries no meaning.
_DECORATION: Final = re.compile(r"([@#*=~_-])\1{2,}")

#: The one table: the most specific class in an exception's MRO decides its status.
STATUS_BY_ERROR: Final[dict[type[VirtumancerError], int]] = {
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 400,
    OperationTimeoutError: 503,
    HostUnavailableError: 503,
    VirtumancerError: 500,
}

#: The ``code`` of errors that do not come from the library (Falcon's and the auth layer's).
CODE_BY_STATUS: Final = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    426: "upgrade_required",
    500: "internal_error",
    503: "host_unavailable",
}


class AlreadyAnsweredError(Exception):
    """Raised once the answer (or the close) already went out, or nobody is left to send it
    to (a refused upgrade in middleware, a browser gone mid-relay): nothing more is sent."""


def message_with_context(exc: VirtumancerError) -> str:
    """Return ``exc.message`` plus the host and VM it concerns when the message omits them.

    libvirt's own texts ("Domain not found") and short library messages ("no such host")
    do not say which host or VM was meant; the error body should.
    """
    message = one_line(exc.message)
    context = [
        f"{label} {_clip(value)!r}"
        for label, value in (("VM", exc.vm_name), ("host", exc.host_id))
        if value is not None and value not in message
    ]
    return f"{message} ({', '.join(context)})" if context else message


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Return the first meaningful line of ``text``, stripped and cut to ``limit`` characters.

    Texts passed on from libvirt or ssh may span many lines (an ssh warning banner, ...);
    an error body keeps one clear line. A first line that only introduces the next one
    ("Cannot recv data:") is joined with it.
    """
    lines = [_DECORATION.sub("", line).strip(" \t@#*|") for line in text.splitlines()]
    meaningful = [line for line in lines if any(ch.isalnum() for ch in line)]
    if not meaningful:
        return _clip(text.strip(), limit)
    first = meaningful[0]
    if first.endswith(":") and len(meaningful) > 1:
        first = f"{first} {meaningful[1]}"
    return _clip(" ".join(first.split()), limit)


def _clip(value: str, limit: int = 80) -> str:
    # A name taken from the URL is echoed back, but not a 5,000-character one.
    return value if len(value) <= limit else f"{value[:limit]}..."


def error_body(code: str, message: str, field: str | None = None) -> bytes:
    """Return the JSON bytes of an error body."""
    document = {"error": {"code": code, "message": one_line(message), "field": field}}
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def status_for(exc: VirtumancerError, method: str, uri_template: str | None) -> int:
    """Return the HTTP status of ``exc`` raised by ``method uri_template``."""
    if isinstance(exc, HostUnavailableError) and uri_template is not None:
        route = _ROUTES.get((method, uri_template))
        if route is not None:
            return route.unavailable_status
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


#: Where :func:`refuse_upgrade` leaves its answer in the connection's ASGI scope.
REFUSAL_SCOPE_KEY: Final = "virtumancer.refusal"


async def refuse_upgrade(
    req: falcon.asgi.Request,
    ws: falcon.asgi.WebSocket,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
) -> None:
    """Refuse the upgrade of ``ws`` with ``status`` and ``{"error": {code, message, field}}``.

    The one way a WebSocket route refuses. The answer waits in the ASGI scope (Falcon's
    ``req.scope``) for :class:`virtumancer_server.upgrade.App` to send it as an HTTP response;
    the close (3000 + status) is what clients see where the server cannot send one.
    """
    req.scope[REFUSAL_SCOPE_KEY] = (status, error_body(code, message, field))
    await ws.close(3000 + status, one_line(message, 120))


async def _handle_error(
    req: falcon.asgi.Request,
    resp: falcon.asgi.Response | None,
    exc: Exception,
    params: Any,
    ws: falcon.asgi.WebSocket | None = None,
) -> None:
    """Answer any exception but Falcon's own HTTP errors: the table, or a generic 500."""
    if isinstance(exc, AlreadyAnsweredError):
        return
    if isinstance(exc, VirtumancerError):
        status = status_for(exc, "WEBSOCKET" if resp is None else req.method, req.uri_template)
        code, message, field = exc.code, message_with_context(exc), exc.field
        if status >= 500:
            logger.warning("%s %s failed: %s", req.method, req.path, exc)
    else:
        logger.error("unexpected error in %s %s", req.method, req.path, exc_info=exc)
        status, code, message, field = 500, "internal_error", "internal server error", None
    if resp is not None:
        resp.status = status
        resp.content_type = falcon.MEDIA_JSON
        resp.data = error_body(code, message, field)
    elif ws is not None and ws.unaccepted:
        await refuse_upgrade(req, ws, status, code, message, field)
    elif ws is not None and not ws.closed:
        await ws.close(3000 + status, one_line(message, 120))


def _serialize_http_error(
    req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError
) -> None:
    status = exc.status_code
    code = CODE_BY_STATUS.get(status, "error")
    message = exc.description or _default_message(req, resp, status) or exc.title or "error"
    # A body that is too large or not JSON is the body's fault: name it like a 400 would.
    field = "body" if status in (413, 415) else None
    resp.content_type = falcon.MEDIA_JSON
    resp.data = error_body(code, message, field)


def _default_message(req: falcon.Request, resp: falcon.Response, status: int) -> str | None:
    # Falcon's own 404/405 carry only a title ("404 Not Found"); say what was not found.
    if status == 404:
        return f"no such route: {req.method} {req.path}"
    if status == 405:
        allowed = resp.get_header("Allow")
        suffix = f" (allowed: {allowed})" if allowed else ""
        return f"{req.method} is not allowed on {req.path}{suffix}"
    return None


def install_error_handlers(app: falcon.asgi.App[Any, Any]) -> None:
    """Route every exception through the table and the JSON error body."""
    # Falcon keeps its own handlers for HTTPError/HTTPStatus (the more specific classes).
    app.add_error_handler(Exception, _handle_error)
    app.set_error_serializer(_serialize_http_error)
