"""The generic REST endpoint: one Falcon resource per path, one responder per table row.

A responder reads the row's request type from the body (structured by
:func:`~virtumancer_server.requests.structure_request`) and its query parameters, calls the
row's library method with the path parameters and the request's arguments, and sends the
result as JSON with the row's status. The few routes that do more than that (a cached VM
list, the host conflict checks, the session cookie...) have a responder in :data:`CUSTOM`,
keyed by operation id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import attrs
import falcon
import falcon.asgi

from virtumancer import (
    ConflictError,
    DeviceScope,
    InvalidInputError,
    Virtumancer,
    host_info_payload,
)
from virtumancer_server.auth import SESSION_COOKIE, session_value
from virtumancer_server.cache import ResponseCache, accepts_gzip
from virtumancer_server.config import ServerConfig
from virtumancer_server.requests import RequestBody, structure_request
from virtumancer_server.resources._common import Json, read_json_object
from virtumancer_server.routes import Route

__all__ = ["CUSTOM", "MAX_ACTIVITY_LIMIT", "Context", "Endpoint", "parse_limit"]

Request = falcon.asgi.Request
Response = falcon.asgi.Response

MAX_ACTIVITY_LIMIT: Final = 1000
_HEALTH_BODY: Final = b'{"ok":true}'


@attrs.frozen(kw_only=True)
class Context:
    """What responders share: the facade, the JSON writer, the VM-list cache, the config."""

    manager: Virtumancer
    json: Json
    cache: ResponseCache
    config: ServerConfig
    documents: Mapping[str, bytes] = attrs.field(factory=dict)


def parse_limit(req: Request, default: int = 10) -> int:
    """Return the ``limit`` query parameter (1..1000, default 10); else 400 naming it."""
    values = req.get_param_as_list("limit")
    if values is None:
        return default
    if len(values) != 1:
        raise InvalidInputError("limit must be given once", field="limit")
    raw = values[0]
    # The length check comes first: int() refuses (ValueError) beyond 4,300 digits.
    if (
        len(raw) > len(str(MAX_ACTIVITY_LIMIT))
        or not raw.isascii()
        or not raw.isdigit()
        or not 1 <= int(raw) <= MAX_ACTIVITY_LIMIT
    ):
        raise InvalidInputError(
            f"limit must be an integer from 1 to {MAX_ACTIVITY_LIMIT}", field="limit"
        )
    return int(raw)


def _flag(name: str) -> Callable[[Request], bool]:
    def parse(req: Request) -> bool:
        values = req.get_param_as_list(name)
        if values is None:
            return False
        if len(values) != 1 or values[0] not in ("true", "false"):
            raise InvalidInputError(f"{name} must be given once, as true or false", field=name)
        return values[0] == "true"

    return parse


def _scope(req: Request) -> DeviceScope | None:
    values = req.get_param_as_list("scope")
    if values is None:
        return None
    choices = [member.value for member in DeviceScope]
    if len(values) != 1 or values[0] not in choices:
        raise InvalidInputError(
            f"scope must be given once, as one of {', '.join(choices)}", field="scope"
        )
    return DeviceScope(values[0])


_QUERY: Final[Mapping[str, Callable[[Request], object]]] = {
    "limit": parse_limit,
    "delete_storage": _flag("delete_storage"),
    "force": _flag("force"),
    "start": _flag("start"),
    "scope": _scope,
    "children": _flag("children"),
    "delete_volumes": _flag("delete_volumes"),
}

#: A custom responder: (context, row, request, response, library arguments) -> None.
Responder = Callable[[Context, Route, Request, Response, dict[str, Any]], Awaitable[None]]


async def _list_vms(
    ctx: Context, route: Route, req: Request, resp: Response, args: dict[str, Any]
) -> None:
    # The encoded body is cached until the VM list changes (gzipped too, for who accepts it).
    async def encoded() -> bytes:
        return ctx.json.dumps(await ctx.manager.list_vms(**args))

    wants_gzip = accepts_gzip(req.get_header("Accept-Encoding"))
    body, coding = await ctx.cache.get_or_compute_encoded(
        ("vms", args["host_id"]), encoded, accept_gzip=wants_gzip
    )
    resp.content_type = falcon.MEDIA_JSON
    resp.vary = ("Accept-Encoding",)
    if coding is not None:
        resp.set_header("Content-Encoding", coding)
    resp.data = body


async def _host_info(
    ctx: Context, route: Route, req: Request, resp: Response, args: dict[str, Any]
) -> None:
    ctx.json.send(resp, host_info_payload(await ctx.manager.host_info(**args)))


async def _add_host(
    ctx: Context, route: Route, req: Request, resp: Response, args: dict[str, Any]
) -> None:
    host_id, uri = args["host_id"], args["uri"]
    hosts = await ctx.manager.list_hosts()
    if any(existing.id == host_id for existing in hosts):
        raise ConflictError(
            f"a host with id {host_id!r} already exists", field="id", host_id=host_id
        )
    for existing in hosts:
        if existing.uri == uri:
            # Two ids on one hypervisor would fight over the same domains' records.
            raise ConflictError(
                f"uri {uri!r} is already configured as host {existing.id!r}",
                field="uri",
                host_id=existing.id,
            )
    try:
        record = await ctx.manager.add_host(host_id, uri)
    except ConflictError as exc:
        raise ConflictError(
            f"a host with id {host_id!r} already exists", field="id", host_id=host_id
        ) from exc
    ctx.json.send(resp, record)


async def _create_token(
    ctx: Context, route: Route, req: Request, resp: Response, args: dict[str, Any]
) -> None:
    try:
        created = await ctx.manager.create_token(**args)
    except ConflictError as exc:
        raise ConflictError(exc.message, field="name") from exc
    resp.cache_control = ["no-store"]
    ctx.json.send(resp, created, status=route.status)


async def _health(
    ctx: Context, route: Route, req: Request, resp: Response, args: dict[str, Any]
) -> None:
    resp.content_type = falcon.MEDIA_JSON
    if req.method == "HEAD":
        # Uptime probes often send HEAD (``curl -I``): same status, no body.
        resp.content_length = len(_HEALTH_BODY)
    else:
        resp.data = _HEALTH_BODY


async def _readiness(
    ctx: Context, route: Route, req: Request, resp: Response, args: dict[str, Any]
) -> None:
    readiness = await ctx.manager.readiness()
    resp.cache_control = ["no-store"]
    ctx.json.send(resp, readiness, status=200 if readiness.ready else 503)


async def _create_session(
    ctx: Context, route: Route, req: Request, resp: Response, args: dict[str, Any]
) -> None:
    # Trade the Bearer token for a session cookie (for WebSockets); it names the token (its
    # id), so WebSockets know its role.
    principal = req.context.get("principal")
    if ctx.config.token is not None and principal is not None:
        resp.set_cookie(
            SESSION_COOKIE,
            session_value(ctx.config.token, principal.subject),
            path="/",
            secure=req.scheme == "https",
            http_only=True,
            same_site="Strict",
        )
    resp.status = falcon.HTTP_204


async def _delete_session(
    ctx: Context, route: Route, req: Request, resp: Response, args: dict[str, Any]
) -> None:
    resp.unset_cookie(SESSION_COOKIE, path="/", same_site="Strict")
    resp.status = falcon.HTTP_204


async def _document(
    ctx: Context, route: Route, req: Request, resp: Response, args: dict[str, Any]
) -> None:
    resp.content_type = route.media_type
    resp.data = ctx.documents[route.operation_id]


async def _metrics(
    ctx: Context, route: Route, req: Request, resp: Response, args: dict[str, Any]
) -> None:
    import anyio

    # prometheus_client is the web layer's, imported by the first scrape only.
    from virtumancer_server.metrics import render_metrics

    families = await ctx.manager.metrics_snapshot()
    # Thousands of series take a few ms to format: not on the event loop.
    resp.data = await anyio.to_thread.run_sync(render_metrics, families)
    resp.content_type = route.media_type


#: Responders of the rows that do more than "call, then send JSON" (by operation id).
CUSTOM: Final[Mapping[str, Responder]] = {
    "list_vms": _list_vms,
    "get_host_info": _host_info,
    "add_host": _add_host,
    "create_token": _create_token,
    "get_health": _health,
    "get_readiness": _readiness,
    "create_session": _create_session,
    "delete_session": _delete_session,
    "get_openapi_document": _document,
    "get_api_reference": _document,
    "get_metrics": _metrics,
}


class Endpoint:
    """The Falcon resource of one path: an ``on_<method>`` responder per table row."""

    def __init__(self, ctx: Context, routes: tuple[Route, ...]) -> None:
        #: What the responders share (tests read the VM-list cache through it).
        self.context = ctx
        self._ctx = ctx
        self.routes = {route.method: route for route in routes}
        for route in routes:
            setattr(self, f"on_{route.method.lower()}", self._responder(route))
        get = self.routes.get("GET")
        if get is not None and get.operation_id == "get_health":
            self.on_head = self._responder(get)

    def _responder(self, route: Route) -> Callable[..., Awaitable[None]]:
        ctx = self._ctx
        custom = CUSTOM.get(route.operation_id)

        async def respond(req: Request, resp: Response, **params: str) -> None:
            args: dict[str, Any] = dict(params)
            for name in route.query:
                args[name] = _QUERY[name](req)
            if route.request is not None:
                body = await read_json_object(req, ctx.config.max_body_bytes)
                request: RequestBody = structure_request(body, route.request)
                args.update(request.arguments())
            if custom is not None:
                await custom(ctx, route, req, resp, args)
                return
            assert route.call is not None
            result = await getattr(ctx.manager, route.call)(**args)
            if route.response is None:
                resp.status = route.status
            else:
                ctx.json.send(resp, result, status=route.status)

        respond.__doc__ = f"{route.method} {route.template}: {route.summary}."
        return respond
